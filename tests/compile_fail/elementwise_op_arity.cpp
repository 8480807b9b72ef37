// Mistake: a user-defined element-wise op (docs/extending.md) declares one operand and is given two.
// expect: elementwise_op_arity_differs<.*scaled_difference, 1, 2, false>
// expect: number of operands other than the element-wise op's arity
#include <cstdint>
#include <typegrad/typegrad.hpp>
// y = 2 (a - b)
struct scaled_difference {
#ifdef TG_CORRECTED
  static constexpr std::size_t arity = 2;
#else
  static constexpr std::size_t arity = 1;
#endif
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  T operator()(T a, T b) const {
    return T(2) * (a - b);
  }
  template <std::size_t K, class T>
  T d(T, T, T) const {
    return K == 0 ? T(2) : T(-2);
  }
};
int main() {
  auto p = tg::compile_inference<tg::Input<float, 4>, tg::Input<float, 4>>(
      [](auto a, auto b) { return tg::map(scaled_difference{}, a, b); });
  (void)p;
}
