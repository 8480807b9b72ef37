#pragma once
// BatchNorm's host passes (layers/batch_norm.hpp): one channel at a time over [Images, C, Inner], its sums and then
// its outputs, with relu and a residual fused when the node has them.
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/threads.hpp"

namespace tg {
namespace detail {
// Channels of a BatchNorm pass together through every pass, in blocks of at most 192 KB: one channel at a time
// when a channel is that large (its values stay in cache from one pass to the next: ResNet's 16 x 28 x 28 channel
// is 200 KB), else several, so that a pass reads image by image the block's runs one after another rather than a
// channel's runs of a few cache lines a step apart (7 x 7 runs: 196 bytes every 12.5 KB). ResNet-20's step, Intel
// 0xA7: 83.5 -> 80.3 ms; the 7 x 7 x 64 passes forward / backward 82 / 124 -> 59 / 77 us (192 KB: 96 and 512 were
// slower on 14 x 14 x 32).
template <class T, std::size_t Images, std::size_t C, std::size_t Inner>
constexpr std::size_t batch_norm_block() {
  constexpr std::size_t channel_bytes = Images * Inner * sizeof(T), fit = 192 * 1024 / channel_bytes;
  constexpr std::size_t most = C < 64 ? C : 64;  // the block's partial sums live on the stack: 8 KB of floats at most
  return fit < 1 ? 1 : fit < most ? fit : most;
}

// BatchNorm's host passes over one shape [Images, C, Inner] (Inner >= lanes), on raw buffers: every node of the shape
// shares them, so a ResNet-20 compiles them for its 3 shapes rather than its 13 BatchNorm nodes. A block of
// channels at a time (above), its sums and then its outputs (they find the block in cache, with no index division);
// channels split over threads. Each sum has a fixed order (lanes partial sums along a channel's runs, images in
// order), whatever the block and the thread count.
template <class T, std::size_t Images, std::size_t C, std::size_t Inner,
          std::size_t Block = batch_norm_block<T, Images, C, Inner>()>
struct batch_norm_channels {
  static constexpr std::size_t n = Images * Inner, lanes = 16, size = Images * C * Inner, block = Block;
  // for each channel ch of [c0, c1), image by image (one channel: memory order): body = f(ch), then body(i) for
  // the flat index i of each of the run's values (f makes the channel's constants locals of the loop)
  template <class F>
  static TG_INLINE void for_runs(std::size_t c0, std::size_t c1, F&& f) {
    for (std::size_t im = 0; im < Images; ++im)
      for (std::size_t ch = c0; ch < c1; ++ch) {
        const std::size_t base = (im * C + ch) * Inner;
        const auto body = f(ch);
        for (std::size_t p = 0; p < Inner; ++p) body(base + p);
      }
  }
  // the sums of f(ch)(i) and of g(ch)(i) over each channel ch of [c0, c1) (at most `block`), into sf[ch - c0] and
  // sg[ch - c0], in one pass (the backward pass's two sums read dy once). A channel's sums run in a fixed order
  // (lanes partial sums along its runs, images in order), whatever the block and the thread count.
  struct no_sum {};  // as g: the sums of f alone (sg unused)
  template <class F, class Fg>
  static TG_INLINE void channel_sums(std::size_t c0, std::size_t c1, F&& f, Fg&& g, T* sf, T* sg) {
    constexpr std::size_t whole = Inner / lanes * lanes;
    constexpr bool two = !std::is_same_v<std::decay_t<Fg>, no_sum>;
    T part_f[block][lanes] = {}, part_g[block][lanes] = {};
    for (std::size_t k = 0; k < c1 - c0; ++k) {
      sf[k] = T(0);
      if constexpr (two) sg[k] = T(0);
    }
    for (std::size_t im = 0; im < Images; ++im)
      for (std::size_t ch = c0; ch < c1; ++ch) {
        const std::size_t base = (im * C + ch) * Inner, k = ch - c0;
        const auto fc = f(ch);
        T pf[lanes], pg[lanes];  // in registers along the run
        for (std::size_t l = 0; l < lanes; ++l) pf[l] = part_f[k][l], pg[l] = part_g[k][l];
        if constexpr (two) {
          const auto gc = g(ch);
          for (std::size_t p = 0; p < whole; p += lanes) {
            // clang-format off
            TG_LANES_LOOP
            for (std::size_t l = 0; l < lanes; ++l) {
              pf[l] += fc(base + p + l);
              pg[l] += gc(base + p + l);
            }
            // clang-format on
          }
          if constexpr (whole < Inner)  // no empty tail loop: GCC warned of it (-Waggressive-loop-optimizations)
            for (std::size_t p = whole; p < Inner; ++p) {
              sf[k] += fc(base + p);
              sg[k] += gc(base + p);
            }
        } else {
          for (std::size_t p = 0; p < whole; p += lanes)
            for (std::size_t l = 0; l < lanes; ++l) pf[l] += fc(base + p + l);
          if constexpr (whole < Inner)
            for (std::size_t p = whole; p < Inner; ++p) sf[k] += fc(base + p);
        }
        for (std::size_t l = 0; l < lanes; ++l) part_f[k][l] = pf[l], part_g[k][l] = pg[l];
      }
    for (std::size_t k = 0; k < c1 - c0; ++k)
      for (std::size_t l = 0; l < lanes; ++l) {
        sf[k] += part_f[k][l];
        if constexpr (two) sg[k] += part_g[k][l];
      }
  }
  // f(c0, c1) for the part's channels [p0, p1) in blocks
  template <class F>
  static TG_INLINE void for_blocks(std::size_t p0, std::size_t p1, F&& f) {
    for (std::size_t c0 = p0; c0 < p1; c0 += block) f(c0, c0 + block < p1 ? c0 + block : p1);
  }

  // running_mean <- (1 - m) running_mean + m mean, running_var <- (1 - m) running_var + m var n / (n - 1)
  static TG_HD TG_INLINE void update_running(T& rm, T& rv, T mean, T var, T m) {
    rm = (1 - m) * rm + m * mean;
    rv = (1 - m) * rv + m * var * T(n) / T(n > 1 ? n - 1 : 1);
  }
  // dx = gamma invstd / n (n g - sg - xhat sgx) = a g + b (x - mean) + d in training (sgx = sum(g xhat));
  // gamma invstd g in eval mode
  struct dx_terms {
    T a, b, d;
  };
  static TG_HD TG_INLINE dx_terms dx_coefficients(T gamma, T invstd, T sg, T sgx, bool train) {
    const T a = gamma * invstd;
    if (!train) return {a, T(0), T(0)};
    return {a, -a * invstd * sgx / T(n), -a * sg / T(n)};
  }

  // The normalised value before a residual and relu: v = a x + b with a = gamma invstd, b = beta - mean a. One
  // definition for the forward pass and for the backward pass's relu mask (a x + b > 0 exactly where y > 0, so a
  // BatchNorm + ReLU with no residual reads x for it, not y): explicit fmas (b's too) where the target has them,
  // so that both passes round alike whatever the compiler contracts.
  static TG_INLINE T affine_a(T gamma, T invstd) { return gamma * invstd; }
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  static TG_INLINE T affine_b(T beta, T mean, T a) { return std::fma(-mean, a, beta); }
  static TG_INLINE T affine(T a, T x, T b) { return std::fma(a, x, b); }
#else
  static TG_INLINE T affine_b(T beta, T mean, T a) { return beta - mean * a; }
  static TG_INLINE T affine(T a, T x, T b) { return a * x + b; }
#endif

  // the output of a normalised value v, and the adjoint that reaches v from the output's adjoint g (Relu: relu fused)
  template <bool Relu>
  static TG_HD TG_INLINE T activate(T v) {
    if constexpr (Relu) return v > T(0) ? v : T(0);  // as op::relu
    return v;
  }
  template <bool Relu>
  static TG_HD TG_INLINE T through_activation(T g, T y) {
    if constexpr (Relu) return y > T(0) ? g : T(0);  // y > 0 exactly where v > 0
    return g;
  }

  // y = act(gamma (x - mean) invstd + beta [+ r]); in training mean and invstd from the batch (and the running
  // statistics updated), else from the running statistics
  template <bool Relu, bool Residual>
  static void forward(const T* x, const T* r, const T* gamma, const T* beta, T* y, T* mean, T* invstd, T* rm, T* rv,
                      T eps, T m, bool train) {
    detail::parallel_for(C, size >= host_backend::parallel_elements ? 1 : C, [&](std::size_t p0, std::size_t p1) {
      for_blocks(p0, p1, [&](std::size_t c0, std::size_t c1) {
        T a[block], b[block], s[block];
        if (train) {
          channel_sums(
              c0, c1, [&](std::size_t) { return [x](std::size_t i) { return x[i]; }; }, no_sum{}, s, nullptr);
          for (std::size_t ch = c0; ch < c1; ++ch) mean[ch] = s[ch - c0] / T(n);
          const auto square = [&](std::size_t ch) {
            return [x, mu = mean[ch]](std::size_t i) {
              const T d = x[i] - mu;
              return d * d;
            };
          };
          channel_sums(c0, c1, square, no_sum{}, s, nullptr);
          for (std::size_t ch = c0; ch < c1; ++ch) {
            const T var = s[ch - c0] / T(n);
            invstd[ch] = T(1) / std::sqrt(var + eps);
            update_running(rm[ch], rv[ch], mean[ch], var, m);
          }
        } else {
          for (std::size_t ch = c0; ch < c1; ++ch) {
            mean[ch] = rm[ch];
            invstd[ch] = T(1) / std::sqrt(rv[ch] + eps);
          }
        }
        for (std::size_t ch = c0; ch < c1; ++ch) {
          a[ch - c0] = affine_a(gamma[ch], invstd[ch]);
          b[ch - c0] = affine_b(beta[ch], mean[ch], a[ch - c0]);
        }
        for_runs(c0, c1, [&](std::size_t ch) {
          return [x, r, y, ac = a[ch - c0], bc = b[ch - c0]](std::size_t i) {
            (void)r;  // read with a residual only
            const T v = affine(ac, x[i], bc);
            if constexpr (Residual)
              y[i] = activate<Relu>(v + r[i]);
            else
              y[i] = activate<Relu>(v);
          };
        });
      });
    });
  }
  // sg = sum(g) and sgx = sum(g xhat) per channel, g the adjoint of the normalised value; with Relu, relu's mask
  // from y (the output) when there is a residual, else from affine(a, x, b), which the pass reads anyway (one
  // stream of three fewer from memory); dx and the residual's dr = g (when not null) assigned or added to
  template <bool Relu, bool Residual>
  static void backward(const T* x, const T* dy, const T* y, const T* gamma, const T* beta, const T* mean,
                       const T* invstd, T* sg, T* sgx, T* dx, bool assign_dx, T* dr, bool assign_dr, bool train) {
    detail::parallel_for(C, size >= host_backend::parallel_elements ? 1 : C, [&](std::size_t p0, std::size_t p1) {
      for_blocks(p0, p1, [&](std::size_t c0, std::size_t c1) {
        T a[block], b[block];
        for (std::size_t ch = c0; ch < c1; ++ch) {
          a[ch - c0] = affine_a(gamma[ch], invstd[ch]);
          b[ch - c0] = affine_b(beta[ch], mean[ch], a[ch - c0]);
        }
        // the adjoint of channel ch's normalised values
        const auto g = [&](std::size_t ch) {
          return [x, dy, y, ac = a[ch - c0], bc = b[ch - c0]](std::size_t i) {
            (void)x, (void)y, (void)ac, (void)bc;  // the mask reads either x or y
            if constexpr (Relu && !Residual) return through_activation<true>(dy[i], affine(ac, x[i], bc));
            return through_activation<Relu>(dy[i], Relu ? y[i] : T(0));
          };
        };
        const auto gx = [&](std::size_t ch) {
          return [gc = g(ch), x, mu = mean[ch]](std::size_t i) { return gc(i) * (x[i] - mu); };
        };
        channel_sums(c0, c1, g, gx, sg + c0, sgx + c0);
        for (std::size_t ch = c0; ch < c1; ++ch) sgx[ch] *= invstd[ch];
        // dr = g and dx from the block's dy, x (and y), still in cache
        if (dr)
          for_runs(c0, c1, [&](std::size_t ch) {
            return [gc = g(ch), dr, assign_dr](std::size_t i) { dr[i] = assign_dr ? gc(i) : dr[i] + gc(i); };
          });
        if (!dx) return;
        dx_terms terms[block];  // once per channel, not per run
        for (std::size_t ch = c0; ch < c1; ++ch)
          terms[ch - c0] = dx_coefficients(gamma[ch], invstd[ch], sg[ch], sgx[ch], train);
        for_runs(c0, c1, [&](std::size_t ch) {
          return [gc = g(ch), k = terms[ch - c0], x, dx, mu = mean[ch], assign_dx](std::size_t i) {
            const T d = k.a * gc(i) + k.b * (x[i] - mu) + k.d;
            dx[i] = assign_dx ? d : dx[i] + d;
          };
        });
      });
    });
  }
};
}  // namespace detail
}  // namespace tg
