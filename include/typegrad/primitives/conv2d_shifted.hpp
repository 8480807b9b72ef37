#pragma once
// Host conv2d at stride 1 with many taps per output (C kh kw > 32: a ResNet's 3x3 layers), without im2col; conv2d.hpp
// takes this path with libxsmm when C and O are whole 32-byte vectors and there are <= 1.5 anchors per output.
// One image is zero-padded on a grid of Hp x Wp positions. The output anchored at grid position q = i Wp + j reads
// position q + t for tap t = ki Wp + kj, so over the run of anchors q < Lq = (Ho - 1) Wp + Wo each tap is one plain
// product with a shifted operand (W_t = W[:, :, ki, kj], xp the padded image):
//   y[o][q]       = sum over taps t of  W_t[o][:] . xp[:][q + t]
//   dx[c][p]      = sum over taps t of  W_t[:][c] . dyz[:][p - t]   (p on the grid, dyz = dy at its anchors, else 0)
//   dW_t[o][c]   += sum over q of       dyz[o][q] xp[c][q + t]
// Why: im2col writes kh kw copies of every image (twice a training step: the backward pass rebuilds them) and
// col2im adds them back; here the forward and dx tap sums are one libxsmm batch-reduce kernel each, whose output
// stays in registers over the kh kw products, and dW reads the image in place. The anchors j >= Wo in each row
// of the grid are computed and dropped: Lq / (Ho Wo) - 1 extra work (7% on 28 x 28, 25% on 7 x 7).
//
// Two layouts of the padded image, chosen by the number of output channels (shifted_conv below):
// - channels-last (shifted_conv_cl): xp [grid][C]; the products' vectorised dimension is the channels. Five
//   transposes per image and step (x and y forward; dy, x and dx backward).
// - channels-first (shifted_conv_cf): xp [C][grid], the tensor's own layout; the products run along the grid's
//   positions (Lq of them). One transpose per image and step (x, for dW, which wants positions as its sum).
// Measured on Zen 3, ResNet-20's convolutions over a batch of 64 (forward / backward, ms, two runs): 16 channels on
// 28 x 28 5.0 / 10.1 and 4.5 / 9.0 channels-last, 4.2 / 9.4 and 3.8 / 8.8 channels-first; 32 on 14 x 14 4.3 / 8.4
// and 4.5 / 8.9 against 5.0 / 8.4 and 5.3 / 8.8; 64 on 7 x 7 5.6 / 10.8 and 5.8 / 11.6 against 6.3 / 10.8 and
// 6.6 / 11.7: channels-first wins where the output channels fill at most two 32-byte vectors.
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "typegrad/core/blas.hpp"
#include "typegrad/core/threads.hpp"

namespace tg::detail {

#ifdef TYPEGRAD_HAVE_LIBXSMM
inline constexpr bool has_batch_reduce_gemm = true;
#else
inline constexpr bool has_batch_reduce_gemm = false;
#endif

// The padded grid of C input channels of H x W, zero padding P, KH x KW kernels at stride 1, O output channels.
template <std::size_t C_, std::size_t H_, std::size_t W_, std::size_t P_, std::size_t O_, std::size_t KH,
          std::size_t KW>
struct shifted_grid {
  static constexpr std::size_t C = C_, H = H_, W = W_, P = P_, O = O_;
  static constexpr std::size_t Hp = H + 2 * P, Wp = W + 2 * P, Ho = Hp - KH + 1, Wo = Wp - KW + 1, taps = KH * KW;
  static constexpr std::size_t Lq = (Ho - 1) * Wp + Wo;  // output anchors q = i Wp + j
  static constexpr std::size_t Lx = (H - 1) * Wp + W;    // input positions p0 + (i Wp + j), p0 = P Wp + P
  static constexpr std::size_t p0 = P * Wp + P, last_tap = (KH - 1) * Wp + KW - 1;
  static constexpr std::size_t grid = Hp * Wp, dy_rows = last_tap + grid;  // dyz[last_tap + q]: dy at anchor q
  static constexpr std::size_t weight_elements = taps * C * O;             // the weights by tap
  static constexpr std::size_t tap(std::size_t k) { return k / KW * Wp + k % KW; }
  // the grid position read by tap k: anchor + tap(k) forward; for dx, position p reads dyz[p + last_tap - tap(k)]
  template <bool Backward>
  static constexpr std::size_t shift(std::size_t k) {
    return Backward ? last_tap + p0 - tap(k) : tap(k);
  }
};

// Column-major c (M x N, leading dimension M) = sum over taps k of a_k (M x K, lda) b_k (K x N, ldb): the weights'
// operand (a when WeightsFirst, else b) advances by one tap's weights per k, the other is the image shifted by
// Grid::shift<Backward>(k) positions of Step elements. One libxsmm batch-reduce kernel, dispatched once per shape.
template <class T, class Grid, bool Backward, bool WeightsFirst, std::size_t M, std::size_t N, std::size_t K,
          std::size_t LDA, std::size_t LDB, std::size_t Step>
void tap_sum(const T* a, const T* b, T* c) {
  constexpr std::size_t taps = Grid::taps;
  constexpr auto weight_at = [](std::size_t k) { return k * (WeightsFirst ? M : N) * K; };
  constexpr auto shifted_at = [](std::size_t k) { return Grid::template shift<Backward>(k) * Step; };
#ifdef TYPEGRAD_HAVE_LIBXSMM
  static const auto kernel = [] {
    const libxsmm_blasint m = M, n = N, k = K, lda = LDA, ldb = LDB, ldc = M;
    const T alpha = 1, beta = 0;
    const int flags = LIBXSMM_GEMM_FLAG_NONE;
    if constexpr (std::is_same_v<T, float>)
      return libxsmm_smmdispatch_reducebatch_offs(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
    else
      return libxsmm_dmmdispatch_reducebatch_offs(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
  }();
  static const auto offsets = [&] {
    struct {
      unsigned long long a[taps], b[taps];
    } o{};
    for (std::size_t k = 0; k < taps; ++k) {
      o.a[k] = (WeightsFirst ? weight_at(k) : shifted_at(k)) * sizeof(T);
      o.b[k] = (WeightsFirst ? shifted_at(k) : weight_at(k)) * sizeof(T);
    }
    return o;
  }();
  if (kernel) {
    const unsigned long long count = taps;
    return kernel(a, b, c, &count, offsets.a, offsets.b);
  }
#endif
  // the same sum as row-major c^T [N][M] = b_k^T [N][K] a_k^T [K][M], accumulated over k
  const auto a_at = [&](std::size_t k) { return a + (WeightsFirst ? weight_at(k) : shifted_at(k)); };
  const auto b_at = [&](std::size_t k) { return b + (WeightsFirst ? shifted_at(k) : weight_at(k)); };
  blas::gemm_kernel<T, false, false, int(N), int(M), int(K), int(LDB), int(LDA), int(M), 0>::run_serial(
      b_at(0), a_at(0), c, nullptr);
  for (std::size_t k = 1; k < taps; ++k)
    blas::gemm_kernel<T, false, false, int(N), int(M), int(K), int(LDB), int(LDA), int(M), 1>::run_serial(
        b_at(k), a_at(k), c, nullptr);
}

// Kernel0 (C = A B) where `assign`, else Kernel1 (C += A B): a group's partial dW is assigned by its first image, so
// that the group's scratch needs no clearing of it
template <class Kernel0, class Kernel1, class T>
TG_INLINE void assign_or_add(bool assign, const T* a, const T* b, T* c) {
  if (assign)
    Kernel0::run_serial(a, b, c, nullptr);
  else
    Kernel1::run_serial(a, b, c, nullptr);
}

// The batch's N images in `groups` fixed groups (a thread takes whole groups; image n of group k for n in
// [N k / groups, N (k + 1) / groups)), for a layout Impl (its forward, backward, scratch sizes and dW layout).
template <class Impl, class T, class G>
struct shifted_batches : G {
  using G::C, G::H, G::W, G::O, G::Ho, G::Wo;
  // scratch: `groups` regions of `stride` elements, then the weights by tap
  template <std::size_t N, std::size_t Groups>
  static void forward_batch(const T* x, const T* w, T* scratch, std::size_t stride, T* y) {
    T* wt = scratch + Groups * stride;
    Impl::template weights_by_tap<false>(w, wt);
    parallel_for(Groups, 1, [&](std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k) {
        std::fill(scratch + k * stride, scratch + k * stride + Impl::cleared_forward, T(0));  // padding stays 0
        for (std::size_t n = N * k / Groups; n < N * (k + 1) / Groups; ++n)
          Impl::forward(x + n * C * H * W, wt, scratch + k * stride, y + n * O * Ho * Wo);
      }
    });
  }
  // dw [O][C][KH KW] += (when given) the batch's dW, summed per group (its images in order), then over the groups
  // in order: the same sums whatever the thread count; dx += (= with AssignDx; when given) the batch's dx. A layout
  // whose groups sum dW in another form (Winograd's dU) adds it to dw itself (Impl::add_weight_grad).
  template <std::size_t N, std::size_t Groups, bool AssignDx = false>
  static void backward_batch(const T* x, const T* dy, const T* w, T* scratch, T* dx, T* dw) {
    constexpr std::size_t group = Impl::group_elements, taps = G::taps, dwt_at = group - taps * C * O;
    constexpr bool own_sums = requires { Impl::add_weight_grad(scratch, group, Groups, dw); };
    T* wt = scratch + Groups * group;
    if (dx) Impl::template weights_by_tap<true>(w, wt);
    parallel_for(Groups, 1, [&](std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k) {
        T* s = scratch + k * group;
        std::fill(s, s + Impl::cleared_backward, T(0));
        for (std::size_t n = N * k / Groups; n < N * (k + 1) / Groups; ++n)  // the first assigns the group's dW
          Impl::template backward<AssignDx>(x + n * C * H * W, dy + n * O * Ho * Wo, wt, s,
                                            dx ? dx + n * C * H * W : nullptr, dw != nullptr, n == N * k / Groups);
      }
    });
    if (!dw) return;
    if constexpr (own_sums) {
      Impl::add_weight_grad(scratch, group, Groups, dw);
    } else {
      for (std::size_t o = 0; o < O; ++o)
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t k = 0; k < taps; ++k) {
            T sum = 0;
            for (std::size_t g = 0; g < Groups; ++g) sum += scratch[g * group + dwt_at + Impl::dw_at(k, o, c)];
            dw[(o * C + c) * taps + k] += sum;
          }
    }
  }
};

// Channels-last: per group xp [grid][C], then y^T [Lq][O] (forward) or dyz [dy_rows][O] and dx^T [Lx][C]
// (backward), one image channels-last without the grid's padding (whole-image transposes: rows of 7 or 14 pixels
// are not whole 8 x 8 blocks), then dW^T [taps][C][O].
template <class T, class G>
struct shifted_conv_cl : shifted_batches<shifted_conv_cl<T, G>, T, G> {
  using G::C, G::H, G::W, G::O, G::grid, G::dy_rows, G::Lq, G::Lx, G::p0, G::last_tap, G::Ho, G::Wo, G::Wp, G::taps;
  using G::tap;
  static constexpr bool channels_first = false;
  static constexpr std::size_t compact = std::max(H * W * C, Ho* Wo* O);
  static constexpr std::size_t forward_elements = grid * C + Lq * O + compact;
  static constexpr std::size_t group_elements = grid * C + dy_rows * O + Lx * C + compact + taps * C * O;
  static constexpr std::size_t cleared_forward = grid * C, cleared_backward = grid * C + dy_rows * O;
  static constexpr std::size_t dw_at(std::size_t k, std::size_t o, std::size_t c) { return (k * C + c) * O + o; }

  // wt[k][c][o] (forward) or wt[k][o][c] (backward) = w[o][c][k] (w: [O][C][KH KW])
  template <bool Backward>
  static void weights_by_tap(const T* w, T* wt) {
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t k = 0; k < taps; ++k)
          wt[Backward ? (k * O + o) * C + c : (k * C + c) * O + o] = w[(o * C + c) * taps + k];
  }
  // xp[(i + P) Wp + P + j][c] = x[c][i][j] through tmp [H W][C]
  static void load_image(const T* x, T* xp, T* tmp) {
    blas::detail::transpose<int(C), int(H * W)>(x, int(H * W), tmp, int(C));
    for (std::size_t i = 0; i < H; ++i) std::copy(tmp + i * W * C, tmp + (i + 1) * W * C, xp + (p0 + i * Wp) * C);
  }

  // y [O][Ho][Wo] of one image x [C][H][W]; wt from weights_by_tap<false>; scratch: a cleared group's
  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* yt = xp + grid * C;
    T* tmp = yt + Lq * O;
    load_image(x, xp, tmp);
    // column-major y^T (O x Lq) = sum_k wt_k (O x C) xp_k (C x Lq)
    tap_sum<T, G, false, true, O, Lq, C, O, C, C>(wt, xp, yt);
    for (std::size_t i = 0; i < Ho; ++i) std::copy(yt + i * Wp * O, yt + (i * Wp + Wo) * O, tmp + i * Wo * O);
    blas::detail::transpose<int(Ho * Wo), int(O)>(tmp, int(O), y, int(Ho * Wo));
  }

  // one image's dW^T (= for the group's first image, else +=; the group's [taps][C][O] after the scratch's other parts)
  // and dx (+=, or = with AssignDx; when dx is given) from x [C][H][W] and dy [O][Ho][Wo]; wt from weights_by_tap<true>
  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w, bool first) {
    T* xp = scratch;
    T* dyz = xp + grid * C;
    T* dxt = dyz + dy_rows * O;
    T* tmp = dxt + Lx * C;
    T* dwt = tmp + compact;
    blas::detail::transpose<int(O), int(Ho * Wo)>(dy, int(Ho * Wo), tmp, int(O));
    for (std::size_t i = 0; i < Ho; ++i)
      std::copy(tmp + i * Wo * O, tmp + (i + 1) * Wo * O, dyz + (last_tap + i * Wp) * O);
    if (grad_w) {
      load_image(x, xp, tmp);
      for (std::size_t k = 0; k < taps; ++k)  // dW_k^T [C][O] (+)= xp[q + t_k][C]^T dyz[q][O] over q < Lq
        assign_or_add<blas::gemm_kernel<T, true, false, int(C), int(O), int(Lq), int(C), int(O), int(O), 0>,
                      blas::gemm_kernel<T, true, false, int(C), int(O), int(Lq), int(C), int(O), int(O), 1>>(
            first, xp + tap(k) * C, dyz + last_tap * O, dwt + k * C * O);
    }
    if (dx) {
      // column-major dx^T (C x Lx) = sum_k wt_k (C x O) dyz_k (O x Lx)
      tap_sum<T, G, true, true, C, Lx, O, C, O, O>(wt, dyz, dxt);
      for (std::size_t i = 0; i < H; ++i) std::copy(dxt + i * Wp * C, dxt + (i * Wp + W) * C, tmp + i * W * C);
      blas::detail::transpose<int(H * W), int(C), !AssignDx>(tmp, int(C), dx, int(H * W));
    }
  }
};

// Channels-first: per group xp [C][grid], then y [O][Lq] (forward) or dyz [O][dy_rows], dx [C][Lx], one image
// channels-last on the grid xl [grid][C] and its unpadded transpose (for dW), then dW [taps][O][C] (backward).
template <class T, class G>
struct shifted_conv_cf : shifted_batches<shifted_conv_cf<T, G>, T, G> {
  using G::C, G::H, G::W, G::O, G::grid, G::dy_rows, G::Lq, G::Lx, G::p0, G::last_tap, G::Ho, G::Wo, G::Wp, G::taps;
  using G::tap;
  using Cl = shifted_conv_cl<T, G>;  // its load_image: the channels-last copy for dW
  static constexpr bool channels_first = true;
  static constexpr std::size_t forward_elements = grid * C + O * Lq;
  static constexpr std::size_t group_elements = dy_rows * O + Lx * C + grid * C + H * W * C + taps * O * C;
  static constexpr std::size_t cleared_forward = grid * C, cleared_backward = dy_rows * O + Lx * C + grid * C;
  static constexpr std::size_t dw_at(std::size_t k, std::size_t o, std::size_t c) { return (k * O + o) * C + c; }

  // wt[k][o][c] (forward) or wt[k][c][o] (backward) = w[o][c][k]: the forward's are weights_by_tap<true> of Cl's
  template <bool Backward>
  static void weights_by_tap(const T* w, T* wt) {
    Cl::template weights_by_tap<!Backward>(w, wt);
  }

  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* yt = xp + grid * C;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < H; ++i)
        std::copy(x + (c * H + i) * W, x + (c * H + i + 1) * W, xp + c * grid + p0 + i * Wp);
    // column-major y^T (Lq x O) = sum_k xp_k (Lq x C, columns a grid apart) wt_k (C x O)
    tap_sum<T, G, false, false, Lq, O, C, grid, C, 1>(xp, wt, yt);
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t i = 0; i < Ho; ++i)
        std::copy(yt + o * Lq + i * Wp, yt + o * Lq + i * Wp + Wo, y + (o * Ho + i) * Wo);
  }

  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w, bool first) {
    T* dyz = scratch;
    T* dxt = dyz + dy_rows * O;
    T* xl = dxt + Lx * C;
    T* tmp = xl + grid * C;
    T* dwt = tmp + H * W * C;
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t i = 0; i < Ho; ++i)
        std::copy(dy + (o * Ho + i) * Wo, dy + (o * Ho + i + 1) * Wo, dyz + o * dy_rows + last_tap + i * Wp);
    if (grad_w) {
      Cl::load_image(x, xl, tmp);
      for (std::size_t k = 0; k < taps; ++k)  // dW_k [O][C] (+)= dyz[o][q] xl[q + t_k][c] over q < Lq
        assign_or_add<blas::gemm_kernel<T, false, false, int(O), int(C), int(Lq), int(dy_rows), int(C), int(C), 0>,
                      blas::gemm_kernel<T, false, false, int(O), int(C), int(Lq), int(dy_rows), int(C), int(C), 1>>(
            first, dyz + last_tap, xl + tap(k) * C, dwt + k * O * C);
    }
    if (dx) {
      // column-major dx^T (Lx x C) = sum_k dyz_k (Lx x O, columns dy_rows apart) wt_k (O x C)
      tap_sum<T, G, true, false, Lx, C, O, dy_rows, O, 1>(dyz, wt, dxt);
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < H; ++i) {
          const T* from = dxt + c * Lx + i * Wp;
          T* to = dx + (c * H + i) * W;
          for (std::size_t j = 0; j < W; ++j) to[j] = (AssignDx ? T(0) : to[j]) + from[j];
        }
    }
  }
};

// channels-first where the output channels fill at most two 32-byte vectors (see the measurements above)
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t O, std::size_t KH,
          std::size_t KW>
using shifted_conv = std::conditional_t<O * sizeof(T) <= 64, shifted_conv_cf<T, shifted_grid<C, H, W, P, O, KH, KW>>,
                                        shifted_conv_cl<T, shifted_grid<C, H, W, P, O, KH, KW>>>;

}  // namespace tg::detail
