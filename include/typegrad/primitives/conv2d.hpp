#pragma once
// y[n, o] = sum_c W[o, c] (*) x[n, c] (+ b[o])  (cross-correlation, stride S, zero padding P), NCHW,
// W [O, C, kh, kw], b [O] as PyTorch. Per image: im2col(x_n) -> cols_n [C kh kw, Ho Wo], y_n = W cols_n (GEMM).
// VJP: dW^T += cols_n dy_n^T (GEMM; dy_n is transposed, the smaller operand), dcols_n = W^T dy_n (GEMM)
//      scattered back by col2im into dx_n, db[o] += sum over n and pixels of dy[n, o].
// The host recomputes cols_n in the backward pass rather than keeping every image's: they are kh kw times the
// input (29 MB for one of ResNet-20's first-stage convolutions at batch 64) and were read back from memory,
// while one image's cols stay in cache between its im2col and its two GEMMs.
// The bias is an operand of the kernel rather than a broadcast add after it: the add's region backward
// would scatter into b element by element (index arithmetic, not vectorised) in every pooling/ReLU pass.
#include <algorithm>
#include <utility>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/blas.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/primitives/conv2d_columns.hpp"
#include "typegrad/primitives/conv2d_direct.hpp"
#include "typegrad/primitives/conv2d_winograd.hpp"

namespace tg {
namespace op {
struct conv2d {};
}  // namespace op

template <std::size_t Stride, std::size_t Padding>
struct conv_geometry {};

namespace detail {
template <class X, class W, std::size_t S, std::size_t P>
struct conv_shape {
  static constexpr std::size_t N = X::dims[0], C = X::dims[1], H = X::dims[2], Wd = X::dims[3];
  static constexpr std::size_t O = W::dims[0], KH = W::dims[2], KW = W::dims[3];
  static constexpr bool fits = H + 2 * P >= KH && Wd + 2 * P >= KW && S > 0;
  static constexpr std::size_t Ho = fits ? (H + 2 * P - KH) / S + 1 : 1;
  static constexpr std::size_t Wo = fits ? (Wd + 2 * P - KW) / S + 1 : 1;
  using type = shape<N, O, Ho, Wo>;
};
template <class... B>
struct bias_shape {
  using type = shape<>;
};
template <class B>
struct bias_shape<B> {
  using type = typename expr_t<B>::shape_type;
};
}  // namespace detail

template <class X, class W, std::size_t S, std::size_t P, class... Bias>
struct Conv2dNode;
namespace detail {
template <std::size_t S, std::size_t P, class X, class W, class... Bias>
struct conv_rebind {
  using type = Conv2dNode<X, W, S, P, Bias...>;
};
}  // namespace detail

template <class X, class W, std::size_t S, std::size_t P, class... Bias>
struct Conv2dNode : kernel_node<typename X::value_type,
                                typename detail::conv_shape<typename X::shape_type, typename W::shape_type, S, P>::type,
                                X, W, Bias...> {
  using op_type = op::conv2d;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  using G = detail::conv_shape<typename X::shape_type, typename W::shape_type, S, P>;
  static constexpr bool needs_child_buffers = true;
  static constexpr std::uint32_t assigns_child_adjoints = 1u;  // dx: every path writes each element's sum once
  static constexpr bool has_bias = sizeof...(Bias) == 1;
  static constexpr std::size_t rows = G::C * G::KH * G::KW, cols_n = G::Ho * G::Wo;
  template <class... K2>
  using rebind = typename detail::conv_rebind<S, P, K2...>::type;
  static constexpr int O = int(G::O), R = int(rows), P2 = int(cols_n);
  // dW^T += cols_n dy_n^T vectorises over O, fast where O is whole 32-byte vectors (Op == O). Elsewhere dy_n^T
  // would be padded to Op columns (libxsmm runs a ragged dimension far slower: LeNet's O 10 at 14 GFLOP/s, padded
  // to 16 at 36 real), computed for nothing: LeNet's 20 channels in 24 columns ran dW^T at 64% of peak with
  // AVX-512. There dW += dy_n cols_n^T instead (dw_from_rows), from cols_n^T built directly (im2row), vectorised
  // over C kh kw. Intel 0xA7, 64 images: im2col, transposes and dW^T 499 us -> im2row and dW 399 us; LeNet's
  // second convolution backward 945 -> 842-889 us
  static constexpr int Op = int((G::O * sizeof(T) + 31) / 32 * 32 / sizeof(T));
  static constexpr bool dw_from_rows = Op > O;
  using Forward = blas::gemm_kernel<T, false, false, O, P2, R, R, P2, P2, 0>;   // y_n = W cols_n
  using GradWT = blas::gemm_kernel<T, false, false, R, Op, P2, P2, Op, Op, 1>;  // dW^T += cols_n dy_n^T
  using GradW = blas::gemm_kernel<T, false, false, O, R, P2, P2, R, R, 1>;      // dW += dy_n cols_n^T
  using GradCols = blas::gemm_kernel<T, true, false, R, P2, O, R, P2, P2, 0>;   // dcols_n = W^T dy_n
  static_assert(Forward::scratch_elements + GradWT::scratch_elements + GradCols::scratch_elements +
                    GradW::scratch_elements ==
                0);
  using Columns = detail::conv_columns<T, G, S, P>;  // im2col, im2row and col2im (conv2d_columns.hpp)
  static constexpr std::size_t batch_cols = G::N * rows * cols_n;
  // The host runs the images in a fixed number of groups (a thread takes whole groups). dW is summed per group
  // (its images in order), then over the groups in order: results do not depend on the thread count.
  static constexpr std::size_t groups = G::N < 8 ? G::N : 8;
  // host scratch per group: one image's cols [rows][pixels], dy_n^T [pixels][Op], dW^T [rows][Op] (dw_from_rows:
  // cols or cols^T with im2row's slack, dW [O][rows]); without a backward pass, the cols alone
  // Few taps (C kh kw <= 32) at stride 1 run direct (conv2d_direct.hpp) on the host: per group, the image zero-padded
  // (when P > 0), dcols (when dx is wanted) and dW [O][rows]
  static constexpr bool direct = detail::has_vector_extensions && S == 1 && rows <= 32;
  static constexpr std::size_t Hp = G::H + 2 * P, Wp = G::Wd + 2 * P, image_p = G::C * Hp * Wp;
  using Direct = detail::direct_conv<T, G::C, Hp, Wp, G::O, G::KH, G::KW>;
  // ... over flat positions with AVX-512, and for AVX2's dW where a row of outputs is ragged (Flat::preferred; the
  // forward pass only with AVX-512: with AVX2 direct_conv's scalar row ends cost less than Flat's copies). Then the
  // image is always copied, followed by the zeros its reads run into and a work area (wide outputs, or dy with its
  // rows Wp apart), and dW per group holds a partial sum per vector lane.
  using Flat = detail::flat_conv<T, G::C, Hp, Wp, G::O, G::KH, G::KW>;
  static constexpr bool flat = direct && Flat::preferred, flat_forward = flat && Flat::wide;
  // Flat's work area and each group's scratch start on a cache line: dW's and the forward pass's loads of the work
  // area are then aligned (LeNet's first layer backward 260 -> 234 us a batch, Intel 0xCF)
  static constexpr std::size_t cache_line = 64 / sizeof(T);  // elements
  static constexpr std::size_t round_to_line(std::size_t n) { return (n + cache_line - 1) / cache_line * cache_line; }
  static constexpr std::size_t flat_work_offset = round_to_line(image_p + Flat::overrun);
  static constexpr std::size_t padded_image = flat    ? round_to_line(flat_work_offset + Flat::work_elements)
                                              : P > 0 ? image_p
                                                      : 0;
  // More taps at stride 1 (with libxsmm) run as shifted products on a padded image (conv2d_shifted.hpp: channels
  // first or last by the output channels), or for 3x3 kernels with padding 1 by Winograd's F(2x2, 3x3)
  // (conv2d_winograd.hpp), when C and O are whole 32-byte vectors (the products' vectorised dimensions: LeNet's
  // 10 -> 20 channels ran 3x slower) and the grid's anchors are at most 1.5 times the outputs; scratch: its regions
  // per group, then the weights by tap (Winograd: transformed)
  using Shifted = detail::many_tap_conv<T, G::C, G::H, G::Wd, P, G::O, G::KH, G::KW>;
  static constexpr bool shifted = detail::has_batch_reduce_gemm && S == 1 && !direct && G::C * sizeof(T) % 32 == 0 &&
                                  G::O * sizeof(T) % 32 == 0 && 2 * Shifted::Lq <= 3 * cols_n;
  static constexpr std::size_t dw_lanes = flat ? Flat::dw_lanes : 1;  // dW partial sums per weight, per group
  // On the flat path the bias joins the copy of each image's outputs, and db's sums (per group, per lane) the copy of
  // its dy that dW reads, where a pass over the whole batch's outputs each way would read them back from memory
  // (LeNet's first layer: 64 x 10 x 24 x 24 floats)
  static constexpr bool flat_bias = flat && has_bias;
  template <std::size_t Id, class Ctx>
  static constexpr bool flat_bias_grad =
      flat_bias && !Ctx::backend::is_device && Conv2dNode::template wants_grad<Id, 1, Ctx>() &&
      Conv2dNode::template wants_grad<Id, 2, Ctx>();
  static constexpr std::size_t db_elements = flat_bias ? G::O * dw_lanes : 0;
  static constexpr std::size_t group_elements =
      direct         ? round_to_line(padded_image + rows * cols_n + G::O * rows * dw_lanes + db_elements)
      : shifted      ? Shifted::group_elements
      : dw_from_rows ? rows * cols_n + Columns::row_slack + G::O * rows
                     : rows * cols_n + cols_n * Op + rows * Op;
  static constexpr std::size_t forward_group = direct    ? padded_image
                                               : shifted ? Shifted::forward_elements
                                                         : rows * cols_n;
  static constexpr std::size_t weight_elements = shifted ? Shifted::weight_elements : 0;
  static constexpr std::size_t scratch_bytes = (groups * group_elements + weight_elements) * sizeof(T);
  static constexpr std::size_t forward_scratch_bytes = (groups * forward_group + weight_elements) * sizeof(T);
  static constexpr std::size_t first_image(std::size_t k) { return G::N * k / groups; }

  // Device backends run the whole batch at once: im2col of every image (one pass), one batched GEMM;
  // backward: dW += dy' cols'^T as one GEMM over all images (dy' = dy as [O, N Ho Wo]), dcols by one
  // batched GEMM, col2im as one gather pass (each input element sums its windows: no atomics).
  static constexpr bool runs_on_device = true;
  static constexpr std::size_t image = G::C * G::H * G::Wd;
  static constexpr std::size_t device_scratch_bytes = (batch_cols + G::O * G::N * cols_n + G::O) * sizeof(T);

  // y[n, o, :] += b[o]; the host splits it by images, as the convolution before it (each part's images are
  // still in its cache)
  template <std::size_t Id, class Ctx>
  void add_bias(const Ctx& c, T* y) const {
    if constexpr (has_bias) {
      const T* b = this->template in_data<Id, 2>(c);
      Ctx::backend::template for_each_grid<G::N, G::O, cols_n, true>(
          launch::elementwise,
          TG_BODY_OF_VALUES((std::size_t e, std::size_t, std::size_t o, std::size_t) { y[e] += b[o]; }));
    }
  }
  // db[o] += sum over n and pixels of dy[n, o] (on devices the per-channel sums go to the scratch's last O
  // elements first)
  template <std::size_t Id, class Ctx>
  void bias_gradient(const Ctx& c, const T* g) const {
    if constexpr (has_bias && Conv2dNode::template wants_grad<Id, 2, Ctx>()) {
      T* db = this->template grad_data<Id, 2>(c);
      if constexpr (Ctx::backend::is_device) {
        T* sums = this->template scratch<T, Id>(c) + batch_cols + G::O * G::N * cols_n;
        const auto dy_value = TG_BODY_OF_VALUES(
            (std::size_t o, std::size_t r) { return g[(r / cols_n * G::O + o) * cols_n + r % cols_n]; });
        Ctx::backend::segmented_reduce(launch::reduction, G::O, G::N * cols_n, dy_value, detail::plus_op{}, T(0), sums);
        Ctx::backend::for_each(launch::elementwise, G::O, TG_BODY_OF_VALUES((std::size_t o) { db[o] += sums[o]; }));
      } else {
        // 16 partial sums per channel: one chain of float adds would run at one add per latency
        constexpr std::size_t lanes = 16, whole = cols_n / lanes * lanes;
        detail::parallel_for(G::O, G::O * G::N * cols_n >= 32 * 1024 ? 1 : G::O, [&](std::size_t o0, std::size_t o1) {
          for (std::size_t o = o0; o < o1; ++o) {
            T part[lanes] = {}, s = 0;
            for (std::size_t n = 0; n < G::N; ++n) {
              const T* gp = g + (n * G::O + o) * cols_n;
              for (std::size_t p = 0; p < whole; p += lanes)
                for (std::size_t l = 0; l < lanes; ++l) part[l] += gp[p + l];
              for (std::size_t p = whole; p < cols_n; ++p) s += gp[p];
            }
            for (std::size_t l = 0; l < lanes; ++l) s += part[l];
            db[o] += s;
          }
        });
      }
    }
  }
  using BatchGradW = blas::gemm_kernel<T, false, false, O, R, int(G::N* cols_n), int(G::N* cols_n), R, R, 1>;

  // x value under column `pix` of im2col row `row` of image n (0 in the padding)
  static TG_HD TG_INLINE T window_value(const T* x, std::size_t n, std::size_t row, std::size_t pix) {
    const std::size_t ch = row / (G::KH * G::KW), ki = row / G::KW % G::KH, kj = row % G::KW;
    const std::ptrdiff_t r = std::ptrdiff_t(pix / G::Wo * S + ki) - std::ptrdiff_t(P);
    const std::ptrdiff_t q = std::ptrdiff_t(pix % G::Wo * S + kj) - std::ptrdiff_t(P);
    return (r >= 0 && r < std::ptrdiff_t(G::H) && q >= 0 && q < std::ptrdiff_t(G::Wd))
               ? x[n * image + (ch * G::H + std::size_t(r)) * G::Wd + std::size_t(q)]
               : T(0);
  }

  // image x_n itself, or its zero-padded copy in `buffer` (followed by Flat's overrun zeros and work area)
  static const T* padded(const T* xn, T* buffer) {
    if constexpr (P == 0 && !flat) {
      return xn;
    } else {
      detail::pad_image<T, G::C, G::H, G::Wd, P, flat ? Flat::overrun : 0>(xn, buffer);
      return buffer;
    }
  }
  static T* flat_work(T* buffer) { return buffer + flat_work_offset; }
  // the host's backward passes (conv2d_host_backward.hpp): dW per group of images, then over the groups in order
  template <std::size_t Id, class Ctx>
  void backward_direct(Ctx& c, const T* x, const T* w, const T* g) const;
  template <std::size_t Id, class Ctx>
  void backward_columns(Ctx& c, const T* x, const T* w, const T* g) const;
  template <std::size_t Lanes, std::size_t Count = G::O* rows>
  static void add_group_sums(const T* dw0, T* dw);

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* x = this->template in_data<Id, 0>(c);
    const T* w = this->template in_data<Id, 1>(c);
    T* y = this->template out<Id>(c);
    T* col = this->template scratch<T, Id>(c);
    if constexpr (Bk::is_device) {
      const auto im2col = TG_BODY((std::size_t e) {  // cols [N][rows][pix]
        col[e] = window_value(x, e / (rows * cols_n), e / cols_n % rows, e % cols_n);
      });
      Bk::for_each(launch::elementwise, batch_cols, im2col);
      Bk::template gemm<Forward, G::N, 0, rows * cols_n, G::O * cols_n>(w, col, y, nullptr);
    } else {
      // group k's cols (padded image when direct) at k stride: the first part of its training scratch, or the
      // inference scratch's k-th
      constexpr std::size_t stride = Ctx::needs_adjoint(Id) ? group_elements : forward_group;
      [[maybe_unused]] const T* b = nullptr;  // the bias, added by Flat::forward
      if constexpr (has_bias && flat_forward) b = this->template in_data<Id, 2>(c);
      if constexpr (shifted) {
        Shifted::template forward_batch<G::N, groups>(x, w, col, stride, y);
      } else {
        detail::parallel_for(groups, 1, [&](std::size_t k0, std::size_t k1) {
          for (std::size_t k = k0; k < k1; ++k)
            for (std::size_t n = first_image(k); n < first_image(k + 1); ++n) {
              if constexpr (flat_forward) {
                T* buffer = col + k * stride;
                Flat::forward(padded(x + n * image, buffer), w, y + n * G::O * cols_n, flat_work(buffer), b);
              } else if constexpr (direct) {
                Direct::forward(padded(x + n * image, col + k * stride), w, y + n * G::O * cols_n);
              } else {
                Columns::im2col(x + n * image, col + k * stride);
                Forward::run(w, col + k * stride, y + n * G::O * cols_n, nullptr);
              }
            }
        });
      }
    }
    if constexpr (Bk::is_device || !flat_forward) add_bias<Id>(c, y);
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* x = this->template in_data<Id, 0>(c);  // both backends rebuild the cols from x
    const T* w = this->template in_data<Id, 1>(c);
    const T* g = this->template out_grad<Id>(c);
    T* col = this->template scratch<T, Id>(c);
    if constexpr (!flat_bias_grad<Id, Ctx>) bias_gradient<Id>(c, g);
    if constexpr (Bk::is_device) {
      if constexpr (Conv2dNode::template wants_grad<Id, 1, Ctx>()) {
        T* gp = col + batch_cols;
        const auto im2col_transposed = TG_BODY((std::size_t e) {  // cols^T [N pix][rows]
          col[e] = window_value(x, e / (cols_n * rows), e % rows, e / rows % cols_n);
        });
        Bk::for_each(launch::elementwise, batch_cols, im2col_transposed);
        const auto dy_transposed = TG_BODY((std::size_t e) {  // dy' [O][N pix]
          const std::size_t o = e / (G::N * cols_n), n = e / cols_n % G::N;
          gp[e] = g[(n * G::O + o) * cols_n + e % cols_n];
        });
        Bk::for_each(launch::elementwise, G::O * G::N * cols_n, dy_transposed);
        Bk::template gemm<BatchGradW>(gp, col, this->template grad_data<Id, 1>(c), nullptr);
      }
      if constexpr (Conv2dNode::template wants_grad<Id, 0, Ctx>()) {
        T* dx = this->template grad_data<Id, 0>(c);
        Bk::template gemm<GradCols, G::N, 0, G::O * cols_n, rows * cols_n>(w, g, col, nullptr);
        const auto col2im = TG_BODY((std::size_t e) {
          const std::size_t n = e / image, ch = e / (G::H * G::Wd) % G::C, h = e / G::Wd % G::H, wd = e % G::Wd;
          T sum = 0;
          for (std::size_t ki = 0; ki < G::KH; ++ki) {
            const std::ptrdiff_t rs = std::ptrdiff_t(h + P) - std::ptrdiff_t(ki);
            if (rs < 0 || rs % std::ptrdiff_t(S) != 0 || std::size_t(rs) / S >= G::Ho) continue;
            for (std::size_t kj = 0; kj < G::KW; ++kj) {
              const std::ptrdiff_t qs = std::ptrdiff_t(wd + P) - std::ptrdiff_t(kj);
              if (qs < 0 || qs % std::ptrdiff_t(S) != 0 || std::size_t(qs) / S >= G::Wo) continue;
              const std::size_t row = (ch * G::KH + ki) * G::KW + kj;
              sum += col[(n * rows + row) * cols_n + std::size_t(rs) / S * G::Wo + std::size_t(qs) / S];
            }
          }
          // a plain conditional: nvcc's extended lambdas may not first-capture dx inside an if constexpr
          dx[e] = (Conv2dNode::template assigns_grad<Id, 0, Ctx>() ? T(0) : dx[e]) + sum;
        });
        Bk::for_each(launch::elementwise, G::N * image, col2im);
      }
    } else if constexpr (direct) {
      backward_direct<Id>(c, x, w, g);
    } else if constexpr (shifted) {
      T* dx = nullptr;
      T* dw = nullptr;
      if constexpr (Conv2dNode::template wants_grad<Id, 0, Ctx>()) dx = this->template grad_data<Id, 0>(c);
      if constexpr (Conv2dNode::template wants_grad<Id, 1, Ctx>()) dw = this->template grad_data<Id, 1>(c);
      Shifted::template backward_batch<G::N, groups, Conv2dNode::template assigns_grad<Id, 0, Ctx>()>(x, g, w, col, dx,
                                                                                                      dw);
    } else {
      backward_columns<Id>(c, x, w, g);
    }
  }
};

// tg::conv2d<Stride, Padding>(x, w [, b]): x [N, C, H, W], w [O, C, kh, kw], b [O].
template <std::size_t Stride = 1, std::size_t Padding = 0, tensor_operand XX, tensor_operand XW, tensor_operand... XB>
requires(sizeof...(XB) <= 1) auto conv2d(XX&& x, XW&& w, XB&&... b) {
  if constexpr (any_invalid_v<XX, XW, XB...>) {
    return invalid_expression{};
  } else {
    using SX = typename expr_t<XX>::shape_type;
    using SW = typename expr_t<XW>::shape_type;
    constexpr bool ranks = SX::rank == 4 && SW::rank == 4;
    static_assert(detail::require<error::needs_rank<op::conv2d, SX, SX::rank == 4>>);
    static_assert(detail::require<error::needs_rank<op::conv2d, SW, SW::rank == 4>>);
    if constexpr (!ranks) {
      return invalid_expression{};
    } else {
      constexpr bool channels = SX::dims[1] == SW::dims[1];
      static_assert(detail::require<error::conv2d_channels_differ<op::conv2d, SX, SW, channels>>);
      constexpr bool fits = detail::conv_shape<SX, SW, Stride, Padding>::fits;
      static_assert(detail::require<error::window_does_not_fit<op::conv2d, SX, conv_geometry<Stride, Padding>, fits>>);
      constexpr bool bias_fits = (std::is_same_v<typename expr_t<XB>::shape_type, shape<SW::dims[0]>> && ...);
      static_assert(detail::require<
                    error::conv2d_bias_size<op::conv2d, SW, typename detail::bias_shape<XB...>::type, bias_fits>>);
      if constexpr (channels && fits && bias_fits)
        return Conv2dNode<expr_t<XX>, expr_t<XW>, Stride, Padding, expr_t<XB>...>{
            {{}, {as_expr(std::forward<XX>(x)), as_expr(std::forward<XW>(w)), as_expr(std::forward<XB>(b))...}}};
      else
        return invalid_expression{};
    }
  }
}
}  // namespace tg

#include "typegrad/primitives/conv2d_host_backward.hpp"  // NOLINT: the definitions of the host backward passes
