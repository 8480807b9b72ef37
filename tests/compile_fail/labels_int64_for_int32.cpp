// Mistake: PyTorch's int64 labels passed where tg::Labels<B, C> (int32) is declared: the bytes would be misread.
// expect: argument_element_type_differs<tg::op::training_step, tg::Labels<2, 3>, int, long int, false>
// expect: declare the input with the argument's type .int64 labels: tg::Labels<batch, classes, std::int64_t>. or convert
#include <cstdint>
#include <typegrad/typegrad.hpp>
#include <vector>
int main() {
#ifdef TG_CORRECTED
  using Y = tg::Labels<2, 3, std::int64_t>;
#else
  using Y = tg::Labels<2, 3>;
#endif
  auto step = tg::compile<tg::Input<float, 2, 3>, Y>([](auto x, auto y) { return tg::cross_entropy(x, y); });
  std::vector<float> x(6, 0.5f);
  std::vector<std::int64_t> y{0, 2};
  return step(x, y) > 0 ? 0 : 1;
}
