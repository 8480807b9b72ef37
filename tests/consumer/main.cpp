// Uses the installed headers: one gradient, checked against its formula d/dx sum(x^2) = 2x.
#include <typegrad/typegrad.hpp>

#include <cmath>

int main() {
  tg::Tensor<double, 3> x{1.0, -2.0, 0.5};
  auto r = tg::value_and_grad([](auto v) { return tg::sum(v * v); }, x);
  const auto g = r.grad<0>();
  for (std::size_t i = 0; i < 3; ++i)
    if (std::abs(g[i] - 2 * x[i]) > 1e-12) return 1;
  return r.value == 5.25 ? 0 : 1;
}
