#pragma once
// Mean cross-entropy of logits [B, C] against class labels y in [0, C):
//   L = 1/B sum_b (logsumexp(x_b) - x_b[y_b])      VJP: dx_b = g/B (softmax(x_b) - onehot(y_b))
// with dx_b[y_b] = -g/B sum_{k != y_b} softmax(x_b)_k (no cancellation in 1 - p for a confident sample).
// The logits may be an element-wise region (computed inside this kernel).
#include <cmath>
#include <limits>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/fast_math.hpp"
#include "typegrad/core/inputs.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/row_sums.hpp"
#include "typegrad/primitives/label_loss.hpp"

namespace tg {
namespace op {
struct cross_entropy {};
}  // namespace op

template <class X, class Y>
struct CrossEntropy : kernel_node<typename X::value_type, shape<>, X, Y> {
  static constexpr std::uint32_t assigns_child_adjoints = 1u;  // dlogits: one add_grad per element
  using op_type = op::cross_entropy;                           // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  template <class... K2>
  using rebind = CrossEntropy<K2...>;
  static constexpr std::uint32_t nondifferentiable_children = 0b10;
  static constexpr std::size_t B = X::shape_type::dims[0], C = X::shape_type::dims[1];

  static constexpr bool runs_on_device = true;

  // logsumexp(x_b) = m + log s, m = max_k x_bk, s = 1 + r with r = sum of e_k = exp(x_bk - m) over k with
  // x_bk < m plus (ties - 1). Kept as (m, log1p(r)): forming m + log s first, or log(1 + r) after rounding 1 + r,
  // loses the low bits of a confident sample's tiny log s (~1e-7 relative in double at a max logit of 36). The
  // forward pass keeps each row's log1p(r) and its e_k (1 at the maximum) for the backward pass: p_k = e_k
  // exp(-log1p(r)), one exp per row there instead of 2 C (MLP's 64 x 10 logits, Intel 0xA7: backward 16.7-18.6 ->
  // 1.3-2.1 us). A row's logits go into e first (the logits region computed once, in a loop of its own), then the
  // maximum and the sums in 16 partial results (core/row_sums.hpp): the GPT's 1024 x 96 logits 1009 -> 180 us.
  struct RowLse {
    T max, log_sum;
  };
  static constexpr std::size_t scratch_bytes = B * (C + 1) * sizeof(T);  // log1p(r) per row, then e [B][C]
  template <std::size_t Id, class Ctx>
  TG_HD RowLse row_lse(const Ctx& c, std::size_t b, T* e) const {
    for (std::size_t k = 0; k < C; ++k) e[k] = this->template in_row<Id, 0, C>(c, b, k);
    const T m = detail::row_max<T, C>([&](std::size_t k) { return e[k]; });
    T r, ties;
    detail::row_sums<T, C>(
        [&](std::size_t k) {
          const T v = e[k], ek = math::exp_nonpositive_of(v - m);  // 1 at the maximum (v - m <= 0)
          e[k] = ek;
          return detail::two_values<T>{math::select_of(v == m, T(0), ek), math::select_of(v == m, T(1), T(0))};
        },
        r, ties);
    return {m, std::log1p(r + (ties - 1))};
  }
  template <std::size_t Id, class Ctx>
  static T* saved_log_sums(const Ctx& c) {
    return CrossEntropy::template scratch<T, Id>(c);
  }
  template <std::size_t Id, class Ctx>
  static T* saved_exps(const Ctx& c) {
    return saved_log_sums<Id>(c) + B;
  }

  // one reduction over the rows: sum_b (lse_b - x_b[y_b]) / B
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    const auto* y = this->template in_data<Id, 1>(c);
    T* log_sums = saved_log_sums<Id>(c);
    T* exps = saved_exps<Id>(c);
    const auto row_loss = TG_BODY((std::size_t, std::size_t b) {
      const RowLse r = row_lse<Id>(c, b, exps + b * C);
      log_sums[b] = r.log_sum;
      return (r.max - this->template in<Id, 0>(c, b * C + std::size_t(y[b]))) + r.log_sum;
    });
    Ctx::backend::segmented_reduce(launch::reduction, 1, B, row_loss, detail::plus_op{}, T(0),
                                   this->template out<Id>(c), T(B));
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (CrossEntropy::template wants_grad<Id, 0, Ctx>()) {
      const auto* y = this->template in_data<Id, 1>(c);
      const T* dl = this->template out_grad<Id>(c);
      const T* log_sums = saved_log_sums<Id>(c);
      const T* exps = saved_exps<Id>(c);
      const auto row_grad = TG_BODY((std::size_t b) {
        const T g = dl[0] / T(B);
        const T inv_s = math::exp_of(-log_sums[b]);  // 1 / s
        const std::size_t target = std::size_t(y[b]);
        const T* e = exps + b * C;
        // 1 - p_target, summed rather than subtracted (p_target may be 1 - 1e-8)
        const T others =
            detail::row_sum<T, C>([&](std::size_t k) { return math::select_of(k == target, T(0), e[k] * inv_s); });
        // clang-format off
        TG_IVDEP
        for (std::size_t k = 0; k < C; ++k)
          this->template add_grad<Id, 0>(c, b * C + k,
                                         math::select_of(k == target, -g * others, g * (e[k] * inv_s)));
        // clang-format on
      });
      Ctx::backend::for_each(launch::elementwise, B, row_grad);
    }
  }
};

template <tensor_operand X, class Y>
auto cross_entropy(X&& logits, Y&& labels) {
  return detail::class_label_loss<CrossEntropy, op::cross_entropy>(std::forward<X>(logits), std::forward<Y>(labels));
}
}  // namespace tg
