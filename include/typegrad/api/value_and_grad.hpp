#pragma once
// One-off differentiation: auto r = tg::value_and_grad(f, x, y); r.value, r.grad<0>(), r.grad(param).
// Builds a program for these argument shapes (heap allocation), so use tg::compile in hot loops.
#include <memory>

#include "typegrad/api/compile.hpp"

namespace tg {

namespace detail {
template <class Arg>
struct spec_of;
template <class T, class S>
struct spec_of<TensorOf<T, S>> {
  using type = InputSpec<T, S, !std::is_integral_v<T>>;  // integer tensors (indices) get no gradient
};
template <std::size_t B, std::size_t C, class Int>
struct spec_of<ClassLabels<B, C, Int>> {
  using type = Labels<B, C, Int>;
};
template <class Arg>
using spec_of_t = typename spec_of<std::remove_cvref_t<Arg>>::type;

template <class F, class... Args>
using differentiation_program =
    Program<decltype(trace<spec_of_t<Args>...>(std::declval<F&>())), true, spec_of_t<Args>...>;
}  // namespace detail

template <class P>
struct ValueAndGrad {
  typename P::value_type value;
  std::unique_ptr<P> program;
  template <std::size_t I>
  auto grad() const {
    return program->template grad_input<I>();
  }
  template <class T, std::size_t... D>
  auto grad(const Parameter<T, D...>& p) const {
    return program->grad(p);
  }
};

template <class F, class... Args>
auto value_and_grad(F&& f, const Args&... args) {
  using P = detail::differentiation_program<F, Args...>;
  static_assert(detail::require<error::loss_must_be_scalar<op::value_and_grad, typename P::output_shape,
                                                           P::output_shape::rank == 0>>);
  auto program = std::make_unique<P>(detail::trace<detail::spec_of_t<Args>...>(f));
  const auto v = (*program)(args...);
  return ValueAndGrad<P>{v, std::move(program)};
}

}  // namespace tg
