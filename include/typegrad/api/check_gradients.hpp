#pragma once
// Verifies a program's gradients against central differences:
//   numeric_i = (f(x + h e_i) - f(x - h e_i)) / 2h,   error_i = |analytic_i - numeric_i| / max(|a|, |n|, floor)
// over every element of every differentiable argument and every trainable parameter the function uses.
// One step cannot serve every element: the loss's rounding error divided by 2h grows as h shrinks, and the chance
// that [x - h, x + h] straddles a kink of a ReLU or max somewhere inside the network grows with h (a network of
// ReLUs and BatchNorm straddled one in ~5% of runs of a 767-element check at h = 1e-5). So an element whose error
// at h exceeds `recheck_above` is measured again at 10h and at h/10 and h/100, and its error is the smallest of
// the four. A wrong gradient is wrong at every step; rounding and a straddled kink are not.
#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "typegrad/api/value_and_grad.hpp"

namespace tg {

struct GradientCheck {
  double worst_error = 0;   // the largest relative error found
  std::string where = "-";  // "argument 1" or "parameter 0"
  std::size_t element = 0;  // flat index of the worst element
  double analytic = 0, numeric = 0;
  std::size_t checked = 0;  // elements compared
  bool passes(double tolerance) const { return checked > 0 && worst_error < tolerance; }
};

inline std::ostream& operator<<(std::ostream& os, const GradientCheck& r) {
  return os << "worst relative error " << r.worst_error << " at " << r.where << " element " << r.element
            << " (analytic " << r.analytic << ", numeric " << r.numeric << ") over " << r.checked << " elements";
}

struct GradientCheckOptions {
  double step = 1e-5;             // h
  double floor = 1e-2;            // denominators below this count as absolute error
  double recheck_above = 1.5e-8;  // errors above this are measured again at other steps (sqrt of double's epsilon)
};

// The options for an analytic gradient computed in T. Its own rounding is not rechecked: only errors above
// sqrt(epsilon of T). For float (and narrower) the floor is 0.1: a float sum of n terms of size ~1 is off by
// ~eps sqrt(n) whatever its result (the OMP device's dW of a 2 x 16 x 20 convolution, 640 terms summed in order:
// 1.03e-5 on a gradient of 0.0038)
template <class T>
GradientCheckOptions gradient_check_options_for() {
  GradientCheckOptions o;
  o.recheck_above = std::max(o.recheck_above, std::sqrt(double(std::numeric_limits<T>::epsilon())));
  if constexpr (sizeof(T) <= 4) o.floor = 0.1;
  return o;
}

namespace detail {
inline double relative_error(double a, double n, const GradientCheckOptions& o) {
  return std::abs(a - n) / std::max({std::abs(a), std::abs(n), o.floor});
}

template <class T>
double central_difference(T* x, std::size_t i, double h, auto&& eval) {
  const T saved = x[i];
  x[i] = static_cast<T>(saved + h);
  const double up = static_cast<double>(eval());
  x[i] = static_cast<T>(saved - h);
  const double down = static_cast<double>(eval());
  x[i] = saved;
  return (up - down) / (2 * h);
}

// Compares analytic d loss / d x[i] with central differences of eval() (the loss at x), at o.step and, where they
// disagree by more than o.recheck_above, at 10h, h/10 and h/100 (see the top of this file). The element's error
// is its smallest over the steps; r keeps the worst element.
template <class T>
void compare(GradientCheck& r, double analytic, T* x, std::size_t i, auto&& eval, const GradientCheckOptions& o,
             const std::string& where) {
  double numeric = central_difference(x, i, o.step, eval);
  double e = relative_error(analytic, numeric, o);
  for (const double scale : {10.0, 0.1, 0.01}) {
    if (!(e > o.recheck_above)) break;  // a NaN error is rechecked too
    const double n = central_difference(x, i, o.step * scale, eval);
    if (const double en = relative_error(analytic, n, o); en < e || std::isnan(e)) e = en, numeric = n;
  }
  ++r.checked;
  if (e > r.worst_error || std::isnan(e)) {
    r.worst_error = std::isnan(e) ? INFINITY : e;
    r.where = where;
    r.element = i;
    r.analytic = analytic;
    r.numeric = numeric;
  }
}

template <class Dst, class Src>
Dst converted(const Src& s) {
  Dst d;
  for (std::size_t i = 0; i < Src::size(); ++i) d[i] = static_cast<typename Dst::value_type>(s[i]);
  return d;
}
template <class T, class A>
auto as_type(const A& a) {
  if constexpr (requires { typename A::spec; } || std::is_integral_v<typename A::value_type>)
    return a;  // labels and indices stay integers
  else
    return converted<TensorOf<T, typename A::shape_type>>(a);
}
}  // namespace detail

namespace detail {
// Compares the gradients of every non-label argument with central differences of `evaluate`.
template <class VG, class Evaluate, class... Args>
void check_arguments(GradientCheck& r, const VG& vg, std::tuple<Args...>& xs, Evaluate&& evaluate,
                     const GradientCheckOptions& o) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          auto& x = std::get<I>(xs);
          using A = std::remove_cvref_t<decltype(x)>;
          if constexpr (!requires { typename A::spec; } && !std::is_integral_v<typename A::value_type>) {
            const auto g = vg.template grad<I>();
            for (std::size_t i = 0; i < x.size(); ++i)
              compare(r, double(g[i]), x.data(), i, evaluate, o, "argument " + std::to_string(I));
          }
        }(),
        ...);
  }
  (std::index_sequence_for<Args...>{});
}

// The loss of f at xs, forward only, from the program type value_and_grad(f, xs...) builds: one program type per
// check (an evaluation program would be a third instantiation of f beside the double and float training programs
// of check_primitive-style tests: compile time, not run time, dominates the test suite).
template <class F, class... Args>
auto evaluator(F& f, std::tuple<Args...>& xs) {
  using P = differentiation_program<F, Args...>;
  return [program = std::make_shared<P>(trace<spec_of_t<Args>...>(f)), &xs] {
    return std::apply([&](const auto&... a) { return program->evaluate(a...); }, xs);
  };
}
}  // namespace detail

// Analytic and numeric gradients both in the arguments' own element type (use double): w.r.t. every
// argument and every trainable parameter that f uses.
template <class F, class... Args>
GradientCheck check_gradients(F&& f, const Args&... args) {
  const GradientCheckOptions o{};
  auto vg = value_and_grad(f, args...);
  std::tuple<Args...> xs{args...};
  auto evaluate = [&] { return std::apply([&](const auto&... a) { return vg.program->evaluate(a...); }, xs); };
  GradientCheck r;
  detail::check_arguments(r, vg, xs, evaluate, o);
  std::size_t p = 0;
  vg.program->for_each_gradient([&](auto* data, const auto* g, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      detail::compare(r, double(g[i]), data, i, evaluate, o, "parameter " + std::to_string(p));
    ++p;
  });
  return r;
}

// Analytic gradient in T (e.g. float) against central differences in double, w.r.t. the arguments
// (given in double). f must not use parameters, whose element type is fixed.
template <class T, class F, class... Args>
GradientCheck check_gradients_in(F&& f, const Args&... args) {
  const auto o = gradient_check_options_for<T>();
  auto vg = value_and_grad(f, detail::as_type<T>(args)...);
  std::tuple<Args...> xs{args...};
  GradientCheck r;
  detail::check_arguments(r, vg, xs, detail::evaluator(f, xs), o);
  return r;
}

}  // namespace tg
