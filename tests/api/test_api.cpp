// The public API: value_and_grad, check_gradients (it must catch a wrong VJP), user-defined primitives,
// run-time argument checks, several batch sizes from one model.
#include "support.hpp"

using namespace tgtest;

namespace {
// A user-defined element-wise primitive: y = x^3, dy/dx = 3x^2. No library file is touched.
struct cube {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  TG_HD T operator()(T x) const {
    return x * x * x;
  }
  template <std::size_t, class T>
  TG_HD T d(T, T x) const {
    return T(3) * x * x;
  }
};
template <class X>
auto cube_of(X&& x) {
  return tg::map(cube{}, std::forward<X>(x));
}

// The same primitive with a wrong derivative: the checker must report it.
struct wrong_cube : cube {
  template <std::size_t, class T>
  TG_HD T d(T, T x) const {
    return T(2) * x * x;
  }
};

// A user-defined kernel primitive: cumulative sum along the last axis of a 2-D tensor.
//   y[r, j] = sum_{k <= j} x[r, k];   VJP: dx[r, k] = sum_{j >= k} dy[r, j]
template <class X>
struct CumSum : tg::kernel_node<typename X::value_type, typename X::shape_type, X> {
  using T = typename X::value_type;
  static constexpr std::size_t R = X::shape_type::dims[0], C = X::shape_type::dims[1];
  template <class... X2>
  using rebind = CumSum<X2...>;
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    for (std::size_t r = 0; r < R; ++r) {
      T s = 0;
      for (std::size_t j = 0; j < C; ++j) y[r * C + j] = s += this->template in<Id, 0>(c, r * C + j);
    }
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (CumSum::template wants_grad<Id, 0, Ctx>()) {
      const T* g = this->template out_grad<Id>(c);
      for (std::size_t r = 0; r < R; ++r) {
        T s = 0;
        for (std::size_t k = C; k-- > 0;) this->template add_grad<Id, 0>(c, r * C + k, s += g[r * C + k]);
      }
    }
  }
};
template <class X>
auto cumsum(X&& x) {
  static_assert(tg::expr_t<X>::shape_type::rank == 2, "cumsum: needs a 2-D operand");
  return CumSum<tg::expr_t<X>>{{{}, {tg::as_expr(std::forward<X>(x))}}};
}
}  // namespace

TEST_CASE("value_and_grad returns the value and the gradient of every argument", "[integration]") {
  tg::Tensor<double, 3> x{1.0, -2.0, 0.5};
  tg::Tensor<double, 3> y{0.5, 4.0, -1.0};
  auto r = tg::value_and_grad([](auto a, auto b) { return tg::sum(a * a * b); }, x, y);
  CHECK(r.value == Approx(0.5 + 16.0 - 0.25));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(r.grad<0>()[i] == Approx(2 * x[i] * y[i]));
    CHECK(r.grad<1>()[i] == Approx(x[i] * x[i]));
  }
}

TEST_CASE("user-defined primitives plug into the engine", "[integration]") {
  auto x = random<double, 3, 5>();
  SECTION("an element-wise primitive, fused with its neighbours") {
    TG_CHECK_GRADIENTS(tgtest::check_gradients([](auto v) { return tg::sum(tg::tanh(cube_of(v) * 0.3)); }, x), 1e-6);
    auto p = tg::compile_inference<tg::Input<double, 3, 5>>([](auto v) { return tg::tanh(cube_of(v) * 0.3); });
    static_assert(decltype(p)::kernel_count == 1);
    auto out = p(x);
    for (std::size_t i = 0; i < 15; ++i) CHECK(out[i] == Approx(std::tanh(x[i] * x[i] * x[i] * 0.3)));
  }
  SECTION("a kernel primitive over a fused operand") {
    TG_CHECK_GRADIENTS(tgtest::check_gradients([](auto v) { return tg::sum(tg::tanh(cumsum(v * v))); }, x), 1e-6);
  }
}

TEST_CASE("check_gradients catches a wrong derivative", "[integration]") {
  auto x = random<double, 4>(0.5, 2);
  const auto r = tgtest::check_gradients([](auto v) { return tg::sum(tg::map(wrong_cube{}, v)); }, x);
  INFO(r);
  CHECK_FALSE(r.passes(1e-3));
  CHECK(r.where == "argument 0");
  CHECK(r.analytic == Approx(2 * x[r.element] * x[r.element]));
  CHECK(r.numeric == near(3 * x[r.element] * x[r.element], 1e-6));
  // in float, whose check allows more rounding (floor 0.1, no recheck below 3.5e-4)
  const auto rf = tgtest::check_gradients_in<float>([](auto v) { return tg::sum(tg::map(wrong_cube{}, v)); }, x);
  INFO(rf);
  CHECK_FALSE(rf.passes(1e-3));
  CHECK(rf.analytic == Approx(2 * x[rf.element] * x[rf.element]).epsilon(1e-5));
}

// The two ways one step h fails a right gradient; check_gradients measures such elements again at other steps
TEST_CASE("check_gradients passes a right gradient where x +- h straddles a kink", "[integration]") {
  // relu' is 1 at 3e-6 and 0 at -4e-6; at h = 1e-5 central differences give 0.65 and 0.3
  const tg::Tensor<double, 4> x{3e-6, -4e-6, 0.5, -0.5};
  const auto r = tgtest::check_gradients([](auto v) { return tg::sum(tg::relu(v)); }, x);
  INFO(r);
  CHECK(r.passes(1e-6));
}

TEST_CASE("check_gradients passes a right gradient of a loss whose rounding h cannot resolve", "[integration]") {
  // loss = 3e5 + sum(w x): an ulp of the loss (5.8e-11) over 2h = 2e-5 is up to 2.9e-6 of a gradient w ~ 1
  const tg::Tensor<double, 8> w{0.71, -0.93, 1.17, 0.38, -0.52, 0.86, -1.24, 0.65};
  tg::Tensor<double, 8> x;
  for (std::size_t i = 0; i < 8; ++i) x[i] = 0.1 * double(i) - 0.35;
  const auto r = tgtest::check_gradients([&](auto v) { return tg::sum(v * w) + 3e5; }, x);
  INFO(r);
  CHECK(r.passes(1e-6));
}

TEST_CASE("one model serves programs compiled for several batch sizes", "[integration]") {
  tg::Linear<6, 4, double> fc(3);
  auto model = [&](auto x) { return tg::softmax<1>(fc(x)); };
  auto batch8 = tg::compile_inference<tg::Input<double, 8, 6>>(model);
  auto batch1 = tg::compile_inference<tg::Input<double, 1, 6>>(model);
  auto x = random<double, 8, 6>();
  auto out8 = batch8(x);
  for (std::size_t b = 0; b < 8; ++b) {
    auto out1 = batch1(tg::view<1, 6>(x.data() + b * 6));
    for (std::size_t k = 0; k < 4; ++k) CHECK(out1[k] == near(out8(b, k), 1e-12));
  }
}

TEST_CASE("arguments are checked", "[integration]") {
  auto p = tg::compile_inference<tg::Input<float, 2, 3>>([](auto x) { return tg::exp(x); });
  std::vector<float> too_short(5, 1.0f);
  CHECK_THROWS_WITH(p(too_short), Catch::Contains("argument 0 has 5 elements") && Catch::Contains("[2, 3]"));
  std::vector<float> right(6, 0.0f);
  CHECK(p(right)[5] == 1.0f);
  // a zero-copy view of user memory
  float raw[6] = {0, 0, 0, 0, 0, 1};
  CHECK(p(tg::view<2, 3>(raw))(1, 2) == Approx(std::exp(1.0f)));
}
