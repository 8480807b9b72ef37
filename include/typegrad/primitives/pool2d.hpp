#pragma once
// 2-D pooling over windows K x K with stride S (NCHW, no padding):
//   max: y = max over the window;  VJP: dy goes to the first maximal element of the window (recorded by
//        the forward pass)
//   avg: y = mean over the window; VJP: dy / K^2 to every element of the window
// The operand may be an element-wise region (e.g. relu(conv)), computed inside the pooling kernel. On the host,
// 2 x 2 max windows over a buffer run by blocks of windows in vector registers (max_row_2x2, assign_row_2x2).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct max_pool2d {};
struct avg_pool2d {};
}  // namespace op

template <std::size_t Kernel, std::size_t Stride>
struct pool_geometry {};

template <class Kind, class X, std::size_t K, std::size_t S>
struct Pool2d : kernel_node<typename X::value_type,
                            shape<X::shape_type::dims[0], X::shape_type::dims[1], (X::shape_type::dims[2] - K) / S + 1,
                                  (X::shape_type::dims[3] - K) / S + 1>,
                            X> {
  using op_type = Kind;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  using SX = typename X::shape_type;
  static constexpr std::size_t planes = SX::dims[0] * SX::dims[1], H = SX::dims[2], W = SX::dims[3];
  static constexpr std::size_t Ho = (H - K) / S + 1, Wo = (W - K) / S + 1;
  static constexpr bool is_max = std::is_same_v<Kind, op::max_pool2d>;
  template <class... K2>
  using rebind = Pool2d<Kind, K2..., K, S>;
  static constexpr bool runs_on_device = true;
  static TG_HD TG_INLINE std::size_t at(std::size_t p, std::size_t r, std::size_t q) { return (p * H + r) * W + q; }

  // Windows that tile the input (K == S, no rows or columns left over) write each element of dx once: a max-pool's
  // backward pass then assigns dx (dy at each window's maximum, 0 elsewhere) and its buffer is never cleared
  static constexpr bool tiles = K == S && H % K == 0 && W % K == 0;
  static constexpr std::uint32_t assigns_child_adjoints = is_max && tiles ? 1u : 0u;

  // max: the forward pass records where each maximum came from, for the backward pass (if one follows)
  static constexpr std::size_t scratch_bytes = is_max ? planes * Ho * Wo * sizeof(std::uint32_t) : 0;
  static constexpr std::size_t forward_scratch_bytes = 0;
  static_assert(SX::size <= 0xffffffffu, "typegrad: max_pool2d records input positions in 32 bits");

  // one body per output element o = (p, i, j); 2 x 2 max windows over a buffer on the host: one body per output row,
  // in blocks of windows (max_row_2x2)
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    std::uint32_t* arg = this->template scratch<std::uint32_t, Id>(c);
#if defined(__GNUC__) && !defined(__CUDACC__)
    if constexpr (is_max && K == 2 && S == 2 && !Ctx::backend::is_device &&
                  Ctx::materialised(Pool2d::template cid<Id, 0>)) {
      const T* x = this->template in_data<Id, 0>(c);
      over_output_rows<typename Ctx::backend>([&](std::size_t p, std::size_t i) {
        max_row_2x2<Ctx::needs_adjoint(Id)>(x + at(p, 2 * i, 0), y + (p * Ho + i) * Wo, arg + (p * Ho + i) * Wo,
                                            std::uint32_t(at(p, 2 * i, 0)));
      });
      return;
    }
#endif
    const auto window = TG_BODY((std::size_t o, std::size_t p, std::size_t i, std::size_t j) {
      T acc = is_max ? -std::numeric_limits<T>::infinity() : T(0);
      std::size_t best = at(p, i * S, j * S);
      for (std::size_t a = 0; a < K; ++a)
        for (std::size_t b = 0; b < K; ++b) {
          const std::size_t idx = at(p, i * S + a, j * S + b);
          const T v = this->template in<Id, 0>(c, idx);
          if constexpr (is_max) {  // the first maximal element (strict >), chosen without branches
            best = v > acc ? idx : best;
            acc = v > acc ? v : acc;
          } else {
            acc += v;
          }
        }
      y[o] = is_max ? acc : acc / T(K * K);
      if (is_max && Ctx::needs_adjoint(Id)) arg[o] = std::uint32_t(best);
    });
    Ctx::backend::template for_each_grid<planes, Ho, Wo, true>(launch::elementwise, window);
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (is_max && Ctx::materialised(Pool2d::template cid<Id, 0>) &&
                  Pool2d::template assigns_grad<Id, 0, Ctx>()) {
      assign_max_grad<typename Ctx::backend>(this->template grad_data<Id, 0>(c), this->template out_grad<Id>(c),
                                             this->template scratch<std::uint32_t, Id>(c));
    } else if constexpr (Pool2d::template wants_grad<Id, 0, Ctx>()) {
      const T* g = this->template out_grad<Id>(c);
      const std::uint32_t* arg = this->template scratch<std::uint32_t, Id>(c);
      // planes may run on several threads when dx is a buffer (a fused region could share a broadcast leaf)
      constexpr bool split = Ctx::materialised(Pool2d::template cid<Id, 0>);
      const auto window_grad = TG_BODY((std::size_t o, std::size_t p, std::size_t i, std::size_t j) {
        const auto& ctx = c;  // captured here: nvcc's lambdas cannot first capture inside if constexpr
        const std::uint32_t* const where = arg;
        const T go = g[o];
        // through an element-wise operand, a buffer below it may be assigned by this kernel
        // (assigns_child_adjoints): every element of each window then receives its value once, 0 off the maximum
        if constexpr (is_max && tiles && !Ctx::materialised(Pool2d::template cid<Id, 0>)) {
          for (std::size_t a = 0; a < K; ++a)
            for (std::size_t b = 0; b < K; ++b) {
              const std::size_t e = at(p, i * S + a, j * S + b);
              this->template add_grad<Id, 0>(ctx, e, e == where[o] ? go : T(0));
            }
        } else if constexpr (is_max) {
          this->template add_grad<Id, 0>(ctx, where[o], go);
        } else {
          const T share = go / T(K * K);
          for (std::size_t a = 0; a < K; ++a)
            for (std::size_t b = 0; b < K; ++b) this->template add_grad<Id, 0>(ctx, at(p, i * S + a, j * S + b), share);
        }
      });
      Ctx::backend::template for_each_grid<planes, Ho, Wo, split>(launch::elementwise, window_grad);
    }
  }

  // dx[e] = dy[o] where e is window o's recorded maximum, else 0 (windows that tile the input)
  template <class Backend>
  void assign_max_grad(T* dx, const T* g, const std::uint32_t* arg) const {  // (nvcc's device bodies capture *this)
#if defined(__GNUC__) && !defined(__CUDACC__)
    if constexpr (!Backend::is_device && K == 2) {
      over_output_rows<Backend>([&](std::size_t p, std::size_t i) {
        for (std::size_t a = 0; a < 2; ++a)
          assign_row_2x2(dx + at(p, 2 * i + a, 0), g + (p * Ho + i) * Wo, arg + (p * Ho + i) * Wo,
                         std::uint32_t(at(p, 2 * i + a, 0)));
      });
      return;
    }
#endif
    const auto window = TG_BODY((std::size_t o, std::size_t p, std::size_t i, std::size_t j) {
      for (std::size_t a = 0; a < K; ++a)
        for (std::size_t b = 0; b < K; ++b) {
          const std::size_t e = at(p, i * K + a, j * K + b);
          dx[e] = e == arg[o] ? g[o] : T(0);
        }
    });
    Backend::template for_each_grid<planes, Ho, Wo, true>(launch::elementwise, window);
  }
#if defined(__GNUC__) && !defined(__CUDACC__)
  // f(p, i) for each output row, the planes split across threads from parallel_elements *input* elements (what a
  // row reads: K^2 elements per output). Counted in outputs, LeNet's second pooling ([64, 20, 8, 8] -> 20,480
  // outputs) stayed on one thread and read half its input from the other core's cache after the split convolution
  template <class Backend, class F>
  static void over_output_rows(const F& f) {
    const auto part = [&](std::size_t p0, std::size_t p1) {
      for (std::size_t p = p0; p < p1; ++p)
        for (std::size_t i = 0; i < Ho; ++i) f(p, i);
    };
    detail::parallel_for(planes, planes * H * W >= Backend::parallel_elements ? 1 : planes, part);
  }
  // One input row of 2 x 2 windows, a vector at a time: each window's dy and recorded position repeated for its two
  // columns, compared with the columns' positions, selected by the mask. LeNet's first pooling layer (64 images,
  // Intel 0xCF): 69 us where clearing dx and adding dy at each maximum took 103 us; written element by element,
  // GCC left the compare-and-select scalar with a branch per element (1.1 ms).
  using bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  // Blocks of windows sized to 32-byte vectors (or the build's widest, if narrower): the backward pass writes a block's
  // row of dx (2 N elements) as one vector, the forward pass keeps N maxima in one. They were sized to 64-byte rows of
  // dx; LeNet's first pooling in a training step (bench/kernel_times, Intel 0xCF, one thread, alternated): AVX-512
  // forward 73-79 -> 67-68 us, backward 66-70 -> 62-65 us; an AVX2 build (-march=znver3) forward 144 -> 116 us,
  // backward 250 -> 69 us (GCC had split the 64-byte vectors and shuffled their lanes through memory). On 2 threads
  // the AVX-512 backward measured 2-3 us slower (42-48 -> 46-50 us)
  static constexpr std::size_t block_bytes = host_vector_bytes < 32 ? host_vector_bytes : 32;
  static constexpr std::size_t max_windows = block_bytes / sizeof(T), assign_windows = block_bytes / 2 / sizeof(T);
  static_assert(max_windows <= 8, "pool2d: the rows' last blocks are of 4, 2 and 1 windows");
  // windows past a row's whole blocks, in blocks of 4, 2 and 1 by its bits
  static constexpr std::size_t max_rest = Wo % max_windows, assign_rest = Wo % assign_windows;
  // N windows (a power of 2, at most assign_windows): 2 N elements of dx. Vectors of the block's exact size: filling a
  // wider one through memory stalled on store forwarding (2.5x slower)
  template <std::size_t N, std::size_t... L>
  static TG_INLINE void assign_block(T* dx, const T* g, const std::uint32_t* arg, std::uint32_t first,
                                     std::index_sequence<L...>) {
    typedef T values __attribute__((vector_size(N * sizeof(T)), aligned(sizeof(T)), may_alias));
    typedef std::uint32_t positions __attribute__((vector_size(N * 4), aligned(4), may_alias));
    typedef T outputs __attribute__((vector_size(2 * N * sizeof(T))));
    typedef T outputs_unaligned __attribute__((vector_size(2 * N * sizeof(T)), aligned(sizeof(T)), may_alias));
    typedef bits masks __attribute__((vector_size(2 * N * sizeof(T))));
    const values gv = *reinterpret_cast<const values*>(g);
    const positions pv = *reinterpret_cast<const positions*>(arg);
    const outputs gw = __builtin_shufflevector(gv, gv, (L / 2)...);  // each window's dy for its two columns
    const masks where = __builtin_convertvector(__builtin_shufflevector(pv, pv, (L / 2)...), masks);
    const masks column = masks{bits(L)...} + bits(first);
    *reinterpret_cast<outputs_unaligned*>(dx) = (outputs)((masks)gw & (masks)(where == column));
  }
  template <std::size_t N>
  static TG_INLINE void assign_blocks(std::size_t count, T*& dx, const T*& g, const std::uint32_t*& arg,
                                      std::uint32_t& first) {
    for (std::size_t k = 0; k < count; ++k, dx += 2 * N, g += N, arg += N, first += 2 * N)
      assign_block<N>(dx, g, arg, first, std::make_index_sequence<2 * N>{});
  }
  // y = the maxima of N windows (a power of 2, at most max_windows) of the rows at x0 and x0 + W, arg = where they are
  // (the first maximal element: the same comparisons in the same order as the element-by-element body). Each row's 2 N
  // inputs are loaded as two N-vectors and split into even and odd columns by two-input shuffles: loaded as one 2 N-
  // vector, an AVX2 build split it and shuffled through memory
  template <bool Record, std::size_t N, std::size_t... L>
  static TG_INLINE void max_block(const T* x0, T* y, std::uint32_t* arg, std::uint32_t first,
                                  std::index_sequence<L...>) {
    typedef T values __attribute__((vector_size(N * sizeof(T))));
    typedef T values_unaligned __attribute__((vector_size(N * sizeof(T)), aligned(sizeof(T)), may_alias));
    typedef bits masks __attribute__((vector_size(N * sizeof(T))));
    typedef std::uint32_t positions __attribute__((vector_size(N * 4)));
    typedef std::uint32_t positions_unaligned __attribute__((vector_size(N * 4), aligned(4), may_alias));
    const auto load = [](const T* p) { return *reinterpret_cast<const values_unaligned*>(p); };
    const values top0 = load(x0), top1 = load(x0 + N), bottom0 = load(x0 + W), bottom1 = load(x0 + W + N);
    const values candidates[4] = {__builtin_shufflevector(top0, top1, (2 * L)...),
                                  __builtin_shufflevector(top0, top1, (2 * L + 1)...),
                                  __builtin_shufflevector(bottom0, bottom1, (2 * L)...),
                                  __builtin_shufflevector(bottom0, bottom1, (2 * L + 1)...)};
    const masks origin = masks{bits(2 * L)...} + bits(first);
    constexpr bits offset[4] = {0, 1, W, W + 1};
    values acc = values{} - std::numeric_limits<T>::infinity();
    masks best = origin;
    for (std::size_t k = 0; k < 4; ++k) {
      const masks better = candidates[k] > acc;
      best = better ? origin + offset[k] : best;
      acc = better ? candidates[k] : acc;
    }
    *reinterpret_cast<values_unaligned*>(y) = acc;
    if constexpr (Record) *reinterpret_cast<positions_unaligned*>(arg) = __builtin_convertvector(best, positions);
  }
  template <bool Record>
  static TG_INLINE void max_row_2x2(const T* x0, T* y, std::uint32_t* arg, std::uint32_t first) {
    const auto blocks = [&]<std::size_t N>(std::integral_constant<std::size_t, N>, std::size_t count) {
      for (std::size_t k = 0; k < count; ++k, x0 += 2 * N, y += N, arg += N, first += 2 * N)
        max_block<Record, N>(x0, y, arg, first, std::make_index_sequence<N>{});
    };
    blocks(std::integral_constant<std::size_t, max_windows>{}, Wo / max_windows);
    if constexpr ((max_rest & 4) != 0) blocks(std::integral_constant<std::size_t, 4>{}, 1);
    if constexpr ((max_rest & 2) != 0) blocks(std::integral_constant<std::size_t, 2>{}, 1);
    if constexpr ((max_rest & 1) != 0) blocks(std::integral_constant<std::size_t, 1>{}, 1);
  }
  // one input row: whole blocks, then blocks of 4, 2 and 1 windows for the rest
  static TG_INLINE void assign_row_2x2(T* dx, const T* g, const std::uint32_t* arg, std::uint32_t first) {
    assign_blocks<assign_windows>(Wo / assign_windows, dx, g, arg, first);
    if constexpr ((assign_rest & 4) != 0) assign_blocks<4>(1, dx, g, arg, first);
    if constexpr ((assign_rest & 2) != 0) assign_blocks<2>(1, dx, g, arg, first);
    if constexpr ((assign_rest & 1) != 0) assign_blocks<1>(1, dx, g, arg, first);
  }
#endif
};

namespace detail {
template <class Kind, std::size_t K, std::size_t S, class X>
auto pool2d(X&& x) {
  if constexpr (any_invalid_v<X>) {
    return invalid_expression{};
  } else {
    using SX = typename expr_t<X>::shape_type;
    static_assert(require<error::needs_rank<Kind, SX, SX::rank == 4>>);
    if constexpr (SX::rank != 4) {
      return invalid_expression{};
    } else {
      constexpr bool fits = K > 0 && S > 0 && SX::dims[2] >= K && SX::dims[3] >= K;
      static_assert(require<error::window_does_not_fit<Kind, SX, pool_geometry<K, S>, fits>>);
      if constexpr (fits)
        return Pool2d<Kind, expr_t<X>, K, S>{{{}, {as_expr(std::forward<X>(x))}}};
      else
        return invalid_expression{};
    }
  }
}
}  // namespace detail

// tg::max_pool2d<K>(x) (stride K) or tg::max_pool2d<K, S>(x); x is [N, C, H, W].
template <std::size_t K, std::size_t S = K, tensor_operand X>
auto max_pool2d(X&& x) {
  return detail::pool2d<op::max_pool2d, K, S>(std::forward<X>(x));
}
template <std::size_t K, std::size_t S = K, tensor_operand X>
auto avg_pool2d(X&& x) {
  return detail::pool2d<op::avg_pool2d, K, S>(std::forward<X>(x));
}
}  // namespace tg
