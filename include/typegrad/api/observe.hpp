#pragma once
// tg::observed(program): the same program, built to call a hook after each kernel, for the tools that look at
// every kernel's result while a step runs (tg::check_finite, tg::LayerStats). Observation is chosen at compile
// time: a program that is not observed has no hook, no branch and no memory for one (tests/api/test_observe.cpp),
// and an observed one runs the same kernels, plus one test of an empty std::function per kernel while no tool is
// attached.
//   auto step = tg::observed(tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(loss));
#include "typegrad/core/program.hpp"

namespace tg {

template <class Root, bool Train, class Backend, class... Specs>
auto observed(const BasicProgram<Root, Train, Backend, Specs...>& program) {
  return BasicProgram<Root, Train, observing<unobserved_t<Backend>>, Specs...>(program.expression());
}

template <class Program>
inline constexpr bool is_observed_v = observes_v<typename Program::backend>;

namespace detail {
// Adds f after whatever hook the program already has (a tool attached earlier keeps running).
template <class Program, class F>
void chain_kernel_hook(Program& program, F f) {
  static_assert(is_observed_v<Program>,
                "typegrad: this tool watches every kernel of a step, so it needs an observed program: "
                "auto step = tg::observed(tg::compile<...>(...)) (api/observe.hpp)");
  if constexpr (is_observed_v<Program>) {
    auto before = program.kernel_hook_in_use();
    program.after_each_kernel([before = std::move(before), f = std::move(f)](const auto& p, std::size_t id, bool bwd) {
      if (before) before(p, id, bwd);
      f(p, id, bwd);
    });
  }
}
}  // namespace detail

}  // namespace tg
