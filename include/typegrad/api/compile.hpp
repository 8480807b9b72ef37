#pragma once
// tg::compile<Specs...>(f): trace f once on symbolic inputs; the result's type is the whole program.
#include "typegrad/core/inputs.hpp"
#include "typegrad/core/program.hpp"

namespace tg {

namespace detail {
template <class... Specs, class F>
auto trace(F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) { return as_expr(f(typename Specs::template leaf<I>{}...)); }
  (std::index_sequence_for<Specs...>{});
}
}  // namespace detail

// A training step: step(args...) runs forward and backward and returns the loss; step.grad(param)
// gives the gradient. The loss must be a scalar.
template <class... Specs, class F>
auto compile(F&& f) {
  using E = decltype(detail::trace<Specs...>(f));
  static_assert(detail::require<error::loss_must_be_scalar<op::training_step, typename E::shape_type,
                                                           E::shape_type::rank == 0 || any_invalid_v<E>>>);
  if constexpr (any_invalid_v<E> || E::shape_type::rank != 0)
    return invalid_expression{};  // the mistake was reported where it was made
  else
    return Program<E, true, Specs...>(detail::trace<Specs...>(f));
}

// Forward only: program(args...) returns a view of the output. No adjoints, a smaller workspace.
template <class... Specs, class F>
auto compile_inference(F&& f) {
  using E = decltype(detail::trace<Specs...>(f));
  if constexpr (any_invalid_v<E>)
    return invalid_expression{};
  else
    return Program<E, false, Specs...>(detail::trace<Specs...>(f));
}

}  // namespace tg
