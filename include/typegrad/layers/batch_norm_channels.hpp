#pragma once
// BatchNorm's host passes (layers/batch_norm.hpp): one channel at a time over [Images, C, Inner], its sums and then
// its outputs, with relu and a residual fused when the node has them.
#include <cmath>
#include <cstddef>
#include <utility>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/threads.hpp"

namespace tg {
namespace detail {
// BatchNorm's host passes over one shape [Images, C, Inner] (Inner >= lanes), on raw buffers: every node of the shape
// shares them, so a ResNet-20 compiles them for its 3 shapes rather than its 13 BatchNorm nodes. One channel at a
// time, its sums and then its outputs (they find the channel in cache, with no index division); channels split
// over threads. Each sum has a fixed order (lanes partial sums along the runs), whatever the thread count.
template <class T, std::size_t Images, std::size_t C, std::size_t Inner>
struct batch_norm_channels {
  static constexpr std::size_t n = Images * Inner, lanes = 16, size = Images * C * Inner;
  // f(i) for the flat index i of each of channel ch's values, in memory order
  template <class F>
  static TG_INLINE void for_channel(std::size_t ch, F&& f) {
    for (std::size_t im = 0; im < Images; ++im) {
      const std::size_t base = (im * C + ch) * Inner;
      for (std::size_t p = 0; p < Inner; ++p) f(base + p);
    }
  }
  // the sums of f(i) and of g(i) over channel ch's values, in one pass (the backward pass's two sums read dy once)
  template <class F, class Fg>
  static TG_INLINE std::pair<T, T> channel_sums(std::size_t ch, F&& f, Fg&& g) {
    constexpr std::size_t whole = Inner / lanes * lanes;
    T part_f[lanes] = {}, part_g[lanes] = {}, sum_f = 0, sum_g = 0;
    for (std::size_t im = 0; im < Images; ++im) {
      const std::size_t base = (im * C + ch) * Inner;
      for (std::size_t p = 0; p < whole; p += lanes)
        for (std::size_t l = 0; l < lanes; ++l) {
          part_f[l] += f(base + p + l);
          part_g[l] += g(base + p + l);
        }
      if constexpr (whole < Inner)  // no empty tail loop: GCC warned of it (-Waggressive-loop-optimizations)
        for (std::size_t p = whole; p < Inner; ++p) {
          sum_f += f(base + p);
          sum_g += g(base + p);
        }
    }
    for (std::size_t l = 0; l < lanes; ++l) {
      sum_f += part_f[l];
      sum_g += part_g[l];
    }
    return {sum_f, sum_g};
  }
  // the sum of f(i) over channel ch's values (g = 0 folds away)
  template <class F>
  static TG_INLINE T channel_sum(std::size_t ch, F&& f) {
    return channel_sums(ch, f, [](std::size_t) { return T(0); }).first;
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
    detail::parallel_for(C, size >= host_backend::parallel_elements ? 1 : C, [&](std::size_t c0, std::size_t c1) {
      for (std::size_t ch = c0; ch < c1; ++ch) {
        if (train) {
          const T mu = channel_sum(ch, [&](std::size_t i) { return x[i]; }) / T(n);
          const auto square = [&](std::size_t i) {
            const T d = x[i] - mu;
            return d * d;
          };
          const T var = channel_sum(ch, square) / T(n);
          mean[ch] = mu;
          invstd[ch] = T(1) / std::sqrt(var + eps);
          update_running(rm[ch], rv[ch], mu, var, m);
        } else {
          mean[ch] = rm[ch];
          invstd[ch] = T(1) / std::sqrt(rv[ch] + eps);
        }
        const T a = affine_a(gamma[ch], invstd[ch]), b = affine_b(beta[ch], mean[ch], a);
        if constexpr (Residual)
          for_channel(ch, [&](std::size_t i) { y[i] = activate<Relu>(affine(a, x[i], b) + r[i]); });
        else
          for_channel(ch, [&](std::size_t i) { y[i] = activate<Relu>(affine(a, x[i], b)); });
      }
    });
  }
  // sg = sum(g) and sgx = sum(g xhat) per channel, g the adjoint of the normalised value; with Relu, relu's mask
  // from y (the output) when there is a residual, else from affine(a, x, b), which the pass reads anyway (one
  // stream of three fewer from memory); dx and the residual's dr = g (when not null) assigned or added to
  template <bool Relu, bool Residual>
  static void backward(const T* x, const T* dy, const T* y, const T* gamma, const T* beta, const T* mean,
                       const T* invstd, T* sg, T* sgx, T* dx, bool assign_dx, T* dr, bool assign_dr, bool train) {
    detail::parallel_for(C, size >= host_backend::parallel_elements ? 1 : C, [&](std::size_t c0, std::size_t c1) {
      for (std::size_t ch = c0; ch < c1; ++ch) {
        const T mu = mean[ch], is = invstd[ch];
        const T a = affine_a(gamma[ch], is), b = affine_b(beta[ch], mu, a);
        const auto g = [&](std::size_t i) {
          if constexpr (Relu && !Residual) return through_activation<true>(dy[i], affine(a, x[i], b));
          return through_activation<Relu>(dy[i], Relu ? y[i] : T(0));
        };
        const auto [sum_g, sum_gx] = channel_sums(
            ch, [&](std::size_t i) { return g(i); }, [&](std::size_t i) { return g(i) * (x[i] - mu); });
        sg[ch] = sum_g;
        sgx[ch] = sum_gx * is;
        if (dr) {  // the channel's dy and y are still in cache
          if (assign_dr)
            for_channel(ch, [&](std::size_t i) { dr[i] = g(i); });
          else
            for_channel(ch, [&](std::size_t i) { dr[i] += g(i); });
        }
        if (!dx) continue;
        const dx_terms k = dx_coefficients(gamma[ch], is, sg[ch], sgx[ch], train);
        if (assign_dx)
          for_channel(ch, [&](std::size_t i) { dx[i] = k.a * g(i) + k.b * (x[i] - mu) + k.d; });
        else
          for_channel(ch, [&](std::size_t i) { dx[i] += k.a * g(i) + k.b * (x[i] - mu) + k.d; });
      }
    });
  }
};
}  // namespace detail
}  // namespace tg
