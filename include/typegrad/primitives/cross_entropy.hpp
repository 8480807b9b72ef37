#pragma once
// Mean cross-entropy of logits [B, C] against class labels y in [0, C):
//   L = 1/B sum_b (logsumexp(x_b) - x_b[y_b])      VJP: dx_b = g/B (softmax(x_b) - onehot(y_b))
// The logits may be an element-wise region (computed inside this kernel).
#include <cmath>
#include <limits>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/inputs.hpp"
#include "typegrad/core/fast_math.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/primitives/label_loss.hpp"

namespace tg {
namespace op {
struct cross_entropy {};
}  // namespace op

template <class X, class Y>
struct CrossEntropy : kernel_node<typename X::value_type, shape<>, X, Y> {
  using T = typename X::value_type;
  template <class... K2>
  using rebind = CrossEntropy<K2...>;
  static constexpr std::uint32_t nondifferentiable_children = 0b10;
  static constexpr std::size_t B = X::shape_type::dims[0], C = X::shape_type::dims[1];

  static constexpr bool runs_on_device = true;

  template <std::size_t Id, class Ctx>
  TG_HD T row_lse(const Ctx& c, std::size_t b) const {
    T m = -std::numeric_limits<T>::infinity();
    for (std::size_t k = 0; k < C; ++k) {
      const T v = this->template in<Id, 0>(c, b * C + k);
      m = v > m ? v : m;
    }
    T s = 0;
    for (std::size_t k = 0; k < C; ++k) s += math::exp_of(this->template in<Id, 0>(c, b * C + k) - m);
    return m + std::log(s);
  }

  // one reduction over the rows: sum_b (lse_b - x_b[y_b]) / B
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    const std::int32_t* y = this->template in_data<Id, 1>(c);
    Ctx::backend::segmented_reduce(
        launch::reduction, 1, B,
        TG_BODY(std::size_t, std::size_t b) { return row_lse<Id>(c, b) - this->template in<Id, 0>(c, b * C + std::size_t(y[b])); },
        detail::plus_op{}, T(0), this->template out<Id>(c), T(B));
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (CrossEntropy::template wants_grad<Id, 0, Ctx>()) {
      const std::int32_t* y = this->template in_data<Id, 1>(c);
      const T* dl = this->template out_grad<Id>(c);
      Ctx::backend::for_each(launch::elementwise, B, TG_BODY(std::size_t b) {
        const T g = dl[0] / T(B);
        const T lse = row_lse<Id>(c, b);
        for (std::size_t k = 0; k < C; ++k) {
          const T p = math::exp_of(this->template in<Id, 0>(c, b * C + k) - lse);
          this->template add_grad<Id, 0>(c, b * C + k, g * (p - (std::size_t(y[b]) == k ? T(1) : T(0))));
        }
      });
    }
  }
};

template <tensor_operand X, class Y>
auto cross_entropy(X&& logits, Y&& labels) {
  return detail::class_label_loss<CrossEntropy, op::cross_entropy>(std::forward<X>(logits), std::forward<Y>(labels));
}
}  // namespace tg
