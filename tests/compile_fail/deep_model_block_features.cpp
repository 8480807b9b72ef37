// Mistake: block 7 of a 12-block residual model expects 48 features where the stream has 64. The one error
// names the operation and both shapes, and the whole diagnostic stays short although the expression below
// it is six blocks deep (no typegrad diagnostic prints a deep expression type).
// expect: matmul_inner_dims_differ<tg::op::matmul, tg::shape<32, 64>, tg::shape<48, 48>
// max-diagnostic-bytes: 20000
#include <typegrad/typegrad.hpp>

template <std::size_t F>
struct Block {
  tg::Linear<F, F> fc;
  template <class X>
  auto operator()(X&& x) const {
    return tg::residual([this](auto h) { return tg::relu(fc(h)); })(std::forward<X>(x));
  }
};

#ifdef TG_CORRECTED
constexpr std::size_t F7 = 64;
#else
constexpr std::size_t F7 = 48;
#endif

struct Model {
  Block<64> b0, b1, b2, b3, b4, b5;
  Block<F7> b6;
  Block<64> b7, b8, b9, b10, b11;
  template <class X>
  auto operator()(X&& x) const {
    return b11(b10(b9(b8(b7(b6(b5(b4(b3(b2(b1(b0(std::forward<X>(x)))))))))))));
  }
};

int main() {
  Model m;
  auto step = tg::compile<tg::Input<float, 32, 64>, tg::Input<float, 32, 64>>(
      [&](auto x, auto y) { return tg::mse(m(x), y); });
  (void)step;
}
