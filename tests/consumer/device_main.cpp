// Uses the installed device headers (typegrad::device): one gradient on the device backend, checked against its
// formula d/dx sum(x^2) = 2x.
#include <typegrad/device.hpp>
#include <typegrad/typegrad.hpp>

#include <cmath>

int main() {
  tg::Tensor<float, 3> x{1.0f, -2.0f, 0.5f};
  tg::device::Parameters params;
  auto step = tg::device::compile<tg::Variable<float, 3>>(params, [](auto v) { return tg::sum(v * v); });
  const float value = step(tg::device::to_device(x));
  const auto g = tg::device::to_host(step.template grad_input<0>());
  for (std::size_t i = 0; i < 3; ++i)
    if (std::abs(g[i] - 2 * x[i]) > 1e-6f) return 1;
  return value == 5.25f ? 0 : 1;
}
