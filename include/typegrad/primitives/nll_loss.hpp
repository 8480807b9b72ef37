#pragma once
// Mean negative log-likelihood of log-probabilities [B, C] at class labels:
//   L = -1/B sum_b logp[b, y_b]      VJP: dlogp[b, k] = -g/B [k == y_b]
#include "typegrad/core/backend.hpp"
#include "typegrad/core/inputs.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/primitives/label_loss.hpp"

namespace tg {
namespace op {
struct nll_loss {};
}  // namespace op

template <class X, class Y>
struct NllLoss : kernel_node<typename X::value_type, shape<>, X, Y> {
  using op_type = op::nll_loss;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  static constexpr std::uint32_t nondifferentiable_children = 0b10;
  static constexpr std::size_t B = X::shape_type::dims[0], C = X::shape_type::dims[1];
  template <class... K2>
  using rebind = NllLoss<K2...>;

  static constexpr bool runs_on_device = true;

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    const auto* y = this->template in_data<Id, 1>(c);
    const auto minus_log_p =
        TG_BODY((std::size_t, std::size_t b) { return -this->template in<Id, 0>(c, b * C + std::size_t(y[b])); });
    Ctx::backend::segmented_reduce(launch::reduction, 1, B, minus_log_p, detail::plus_op{}, T(0),
                                   this->template out<Id>(c), T(B));
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (NllLoss::template wants_grad<Id, 0, Ctx>()) {
      const auto* y = this->template in_data<Id, 1>(c);
      const T* dl = this->template out_grad<Id>(c);
      const auto label_grad =
          TG_BODY((std::size_t b) { this->template add_grad<Id, 0>(c, b * C + std::size_t(y[b]), -dl[0] / T(B)); });
      Ctx::backend::for_each(launch::elementwise, B, label_grad);
    }
  }
};

template <tensor_operand X, class Y>
auto nll_loss(X&& log_probs, Y&& labels) {
  return detail::class_label_loss<NllLoss, op::nll_loss>(std::forward<X>(log_probs), std::forward<Y>(labels));
}
}  // namespace tg
