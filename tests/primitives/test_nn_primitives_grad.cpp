// Numerical gradient checks of the network primitives: conv2d (stride, padding), pooling, gather, nll_loss.
#include "support.hpp"

using namespace tgtest;

TEST_CASE("conv2d", "[gradcheck]") {
  SECTION("stride 1, no padding") {
    check_primitive([](auto x, auto w) { return tg::conv2d(x, w); }, random<double, 2, 3, 6, 5>(),
                    random<double, 4, 3, 3, 3>());
  }
  SECTION("stride 2, padding 1") {
    check_primitive([](auto x, auto w) { return tg::conv2d<2, 1>(x, w); }, random<double, 2, 2, 7, 6>(),
                    random<double, 3, 2, 3, 3>());
  }
  SECTION("non-square kernel over an element-wise operand") {
    check_primitive([](auto x, auto w) { return tg::conv2d<1, 2>(tg::tanh(x), w); }, random<double, 1, 2, 5, 5>(),
                    random<double, 2, 2, 2, 4>());
  }
  SECTION("value matches a direct loop") {
    auto x = random<double, 1, 2, 4, 4>();
    auto w = random<double, 3, 2, 3, 3>();
    auto p = tgtest::compile_inference<tg::Input<double, 1, 2, 4, 4>, tg::Input<double, 3, 2, 3, 3>>(
        [](auto a, auto b) { return tg::conv2d<1, 1>(a, b); });
    auto y = p(x, w);
    for (std::size_t o = 0; o < 3; ++o)
      for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) {
          double s = 0;
          for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t a = 0; a < 3; ++a)
              for (std::size_t b = 0; b < 3; ++b) {
                const long r = long(i + a) - 1, q = long(j + b) - 1;
                if (r >= 0 && r < 4 && q >= 0 && q < 4) s += x(0, c, std::size_t(r), std::size_t(q)) * w(o, c, a, b);
              }
          CHECK(y(0, o, i, j) == Approx(s).epsilon(1e-12));
        }
  }
}

TEST_CASE("pooling", "[gradcheck]") {
  SECTION("max_pool2d 2x2") { check_primitive([](auto x) { return tg::max_pool2d<2>(x); }, random<double, 2, 3, 4, 6>()); }
  SECTION("max_pool2d 3, stride 2, over relu") {
    check_primitive([](auto x) { return tg::max_pool2d<3, 2>(tg::relu(x)); }, random<double, 1, 2, 7, 7>(-2, 2, {0.0}));
  }
  SECTION("avg_pool2d 2x2") { check_primitive([](auto x) { return tg::avg_pool2d<2>(x); }, random<double, 2, 2, 4, 4>()); }
}

TEST_CASE("gather (embedding lookup)", "[gradcheck]") {
  tg::Tensor<std::int32_t, 2, 3> index{4, 0, 4, 1, 2, 4};  // repeated rows accumulate
  auto table = random<double, 5, 3>();
  auto f = [](auto t, auto i) { return tg::gather(t, i); };
  check_primitive(f, table, index);
  SECTION("an index out of range is an error naming it") {
    index[5] = 5;
    CHECK_THROWS_WITH(tg::value_and_grad([&](auto t, auto i) { return tg::sum(tg::gather(t, i)); }, table, index),
                      Catch::Contains("index 5 at position 5"));
  }
}

TEST_CASE("nll_loss on log_softmax equals cross_entropy", "[gradcheck]") {
  auto logits = random<double, 4, 6>(-3, 3);
  tg::ClassLabels<4, 6> y;
  std::uniform_int_distribution<int> cls(0, 5);
  for (auto& v : y) v = cls(rng());
  auto nll = [](auto x, auto labels) { return tg::nll_loss(tg::log_softmax<1>(x), labels); };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(nll, logits, y), 1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients_in<float>(nll, logits, y), 1e-3);
  auto ce = [](auto x, auto labels) { return tg::cross_entropy(x, labels); };
  CHECK(tg::value_and_grad(nll, logits, y).value == Approx(tg::value_and_grad(ce, logits, y).value).epsilon(1e-12));
}

TEST_CASE("layer_norm", "[gradcheck]") {
  check_primitive([](auto x, auto g, auto b) { return tg::layer_norm(x, g, b); }, random<double, 3, 2, 5>(),
                  random<double, 5>(0.5, 1.5), random<double, 5>());
  check_primitive([](auto x, auto g, auto b) { return tg::layer_norm(x * x, g, b, 1e-3); }, random<double, 4, 3>(),
                  random<double, 3>(0.5, 1.5), random<double, 3>());
}
