#pragma once
// tg::check_gradients for the device backend: the analytic gradients of a device training program
// against central differences of a device program's forward pass (a double training program's evaluate(): the
// type check_gradients builds, so check_gradients_in<float> adds one instantiation, not two) (same options and error
// measure as api/check_gradients.hpp). Host arguments and parameters are perturbed and copied up before each
// evaluation, so every number compared was computed by device code.
#include "typegrad/api/check_gradients.hpp"
#include "typegrad/device/program.hpp"

namespace tg::device {

namespace detail {
template <class A>
auto upload_argument(const A& a) {
  return to_device(static_cast<const tg::TensorOf<typename A::value_type, typename A::shape_type>&>(a));
}
template <class A>
inline constexpr bool differentiable_argument_v = !requires { typename A::spec; } && !std::is_integral_v<typename A::value_type>;

// analytic gradients of `train` (already run) vs central differences of `evaluate` w.r.t. the arguments
template <class Train, class Evaluate, class... Args, class... Dev>
void check_arguments(GradientCheck& r, const Train& train, std::tuple<Args...>& xs, std::tuple<Dev...>& dxs,
                     Evaluate&& evaluate, const GradientCheckOptions& o) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using A = std::remove_cvref_t<decltype(std::get<I>(xs))>;
          if constexpr (differentiable_argument_v<A>) {
            auto& x = std::get<I>(xs);
            const auto g = to_host(train.template grad_input<I>());
            auto eval = [&] {
              std::get<I>(dxs).copy_from(x);
              return evaluate();
            };
            for (std::size_t i = 0; i < x.size(); ++i)
              tg::detail::compare(r, double(g[i]), x.data(), i, eval, o, "argument " + std::to_string(I));
            std::get<I>(dxs).copy_from(x);
          }
        }(),
        ...);
  }
  (std::index_sequence_for<Args...>{});
}
}  // namespace detail

template <class F, class... Args>
GradientCheck check_gradients(F&& f, const Args&... args) {
  const GradientCheckOptions o{};
  Parameters store;
  auto train = compile<tg::detail::spec_of_t<Args>...>(store, f);
  std::tuple<Args...> xs{args...};
  auto dxs = std::make_tuple(detail::upload_argument(args)...);
  std::apply([&](const auto&... d) { train(d...); }, dxs);
  auto evaluate = [&] { return std::apply([&](const auto&... d) { return train.evaluate(d...); }, dxs); };
  GradientCheck r;
  detail::check_arguments(r, train, xs, dxs, evaluate, o);
  std::size_t p = 0;
  train.for_each_gradient([&](auto* data, const auto* g, std::size_t n) {
    using T = std::remove_cvref_t<decltype(*data)>;
    std::vector<T> grad(n);
    thrust_backend::download(grad.data(), g, n * sizeof(T));
    T* host = static_cast<T*>(store.host_address(data));
    auto eval_param = [&] {
      store.upload(host);
      return evaluate();
    };
    for (std::size_t i = 0; i < n; ++i)
      tg::detail::compare(r, double(grad[i]), host, i, eval_param, o, "parameter " + std::to_string(p));
    store.upload(host);
    ++p;
  });
  return r;
}

// Analytic gradient in T (e.g. float) on the device against central differences in double (on the device).
template <class T, class F, class... Args>
GradientCheck check_gradients_in(F&& f, const Args&... args) {
  const auto o = gradient_check_options_for<T>();
  Parameters store;
  auto converted = std::make_tuple(tg::detail::as_type<T>(args)...);
  auto train = std::apply(
      [&](const auto&... c) { return compile<tg::detail::spec_of_t<decltype(c)>...>(store, f); }, converted);
  auto eval = compile<tg::detail::spec_of_t<Args>...>(store, f);  // check_gradients' program type: one instantiation
  auto dconv = std::apply([](const auto&... c) { return std::make_tuple(detail::upload_argument(c)...); }, converted);
  std::apply([&](const auto&... d) { train(d...); }, dconv);
  std::tuple<Args...> xs{args...};
  auto dxs = std::make_tuple(detail::upload_argument(args)...);
  auto evaluate = [&] { return std::apply([&](const auto&... d) { return eval.evaluate(d...); }, dxs); };
  GradientCheck r;
  detail::check_arguments(r, train, xs, dxs, evaluate, o);
  return r;
}

}  // namespace tg::device
