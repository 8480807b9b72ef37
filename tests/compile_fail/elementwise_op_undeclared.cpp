// Mistake: a user-defined element-wise op (docs/extending.md) without nondifferentiable_args.
// expect: elementwise_op_undeclared<.*cube, false>
// expect: declares static constexpr std::size_t arity
#include <cstdint>
#include <typegrad/typegrad.hpp>
// y = x^3
struct cube {
  static constexpr std::size_t arity = 1;
#ifdef TG_CORRECTED
  static constexpr std::uint32_t nondifferentiable_args = 0;
#endif
  template <class T>
  T operator()(T x) const {
    return x * x * x;
  }
  template <std::size_t, class T>
  T d(T, T x) const {
    return T(3) * x * x;
  }
};
int main() {
  auto p = tg::compile_inference<tg::Input<float, 4>>([](auto x) { return tg::map(cube{}, x); });
  (void)p;
}
