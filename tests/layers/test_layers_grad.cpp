// Every layer: numerical gradient check (double) w.r.t. its input and every parameter, and its forward
// value against the formula where the layer is more than one primitive.
#include <algorithm>

#include "support.hpp"

using namespace tgtest;


TEST_CASE("Linear, with and without bias", "[gradcheck]") {
  check_layer(tg::Linear<5, 3, double>{std::uint64_t(rng()())}, random<double, 4, 5>());
  check_layer(tg::Linear<5, 3, double, false>{std::uint64_t(rng()())}, random<double, 2, 4, 5>());
}

TEST_CASE("Conv2d with stride and padding", "[gradcheck]") {
  check_layer(tg::Conv2d<2, 3, 3, 2, 1, double>{std::uint64_t(rng()())}, random<double, 2, 2, 6, 5>());
  check_layer(tg::Conv2d<1, 2, 3, 1, 0, double>{std::uint64_t(rng()())}, random<double, 1, 1, 5, 5>());
}

TEST_CASE("pooling, flatten and activation layers in a Sequential", "[gradcheck]") {
  tg::Sequential<tg::Conv2d<1, 2, 3, 1, 1, double>, tg::ReLU, tg::MaxPool2d<2>, tg::Flatten, tg::Linear<8, 3, double>,
                 tg::Tanh>
      net;
  // inputs whose convolution keeps clear of ReLU's kink and of ties inside a pooling window
  auto conv = tgtest::compile_inference<tg::Input<double, 2, 1, 4, 4>>([&](auto v) { return net.get<0>()(v); });
  const auto x = draw_until([] { return random<double, 2, 1, 4, 4>(-2, 2); }, [&](const auto& t) {
    const auto c = conv(t);
    for (std::size_t plane = 0; plane < 4; ++plane)
      for (std::size_t wi = 0; wi < 2; ++wi)
        for (std::size_t wj = 0; wj < 2; ++wj) {
          std::vector<double> window;
          for (std::size_t a = 0; a < 2; ++a)
            for (std::size_t b = 0; b < 2; ++b) window.push_back(c[plane * 16 + (2 * wi + a) * 4 + 2 * wj + b]);
          std::sort(window.begin(), window.end());
          for (double v : window)
            if (std::abs(v) < 1e-3) return false;
          if (window[3] > 0 && window[3] - window[2] < 1e-3) return false;
        }
    return true;
  });
  check_layer(net, x);
  tg::Sequential<tg::AvgPool2d<2>, tg::Flatten, tg::GELU, tg::LeakyReLU, tg::Sigmoid> pools;
  check_layer(pools, random<double, 2, 3, 4, 4>(-2, 2, {0.0}));
}

TEST_CASE("LayerNorm", "[gradcheck]") {
  tg::LayerNorm<6, double> ln;
  tg::init::Generator g{std::uint64_t(rng()())};
  tg::init::normal(ln.weight, 1.0, 0.3, g);
  tg::init::normal(ln.bias, 0.0, 0.3, g);
  auto x = random<double, 3, 6>();
  check_layer(ln, x);
  auto p = tgtest::compile_inference<tg::Input<double, 3, 6>>([&](auto v) { return ln(v); });
  auto y = p(x);
  for (std::size_t r = 0; r < 3; ++r) {
    double m = 0, v = 0;
    for (std::size_t k = 0; k < 6; ++k) m += x(r, k) / 6;
    for (std::size_t k = 0; k < 6; ++k) v += (x(r, k) - m) * (x(r, k) - m) / 6;
    for (std::size_t k = 0; k < 6; ++k)
      CHECK(y(r, k) == near((x(r, k) - m) / std::sqrt(v + 1e-5) * ln.weight.value[k] + ln.bias.value[k], 1e-12));
  }
}

TEST_CASE("Embedding", "[gradcheck]") {
  tg::Embedding<7, 3, double> emb{std::uint64_t(rng()())};
  tg::Tensor<std::int32_t, 2, 4> index{1, 6, 1, 0, 3, 3, 3, 5};
  const auto w = random<double, 2, 4, 3>();
  auto f = [&](auto i) { return tg::sum(emb(i) * w); };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, index), 1e-6);
}

// mean and biased variance of channel c of an [N, C, inner] tensor, written out
template <std::size_t N, std::size_t C, std::size_t Inner, class X>
std::pair<double, double> channel_statistics(const X& x, std::size_t c) {
  double m = 0, v = 0;
  for (std::size_t b = 0; b < N; ++b)
    for (std::size_t k = 0; k < Inner; ++k) m += x[(b * C + c) * Inner + k] / (N * Inner);
  for (std::size_t b = 0; b < N; ++b)
    for (std::size_t k = 0; k < Inner; ++k) v += std::pow(x[(b * C + c) * Inner + k] - m, 2) / (N * Inner);
  return {m, v};
}

TEST_CASE("BatchNorm in training mode: batch statistics, running statistics, gradient", "[gradcheck]") {
  tg::BatchNorm2d<3, double> bn;
  tg::init::Generator g{std::uint64_t(rng()())};
  tg::init::normal(bn.weight, 1.0, 0.3, g);
  tg::init::normal(bn.bias, 0.0, 0.3, g);
  auto x = random<double, 4, 3, 2, 2>();
  check_layer(bn, x);
  SECTION("values and running statistics") {
    tg::BatchNorm2d<3, double> fresh;
    auto p = tgtest::compile_inference<tg::Input<double, 4, 3, 2, 2>>([&](auto v) { return fresh(v); });
    auto y = p(x);
    for (std::size_t c = 0; c < 3; ++c) {
      const auto [m, v] = channel_statistics<4, 3, 4>(x, c);
      CHECK(y[(1 * 3 + c) * 4 + 2] == near((x[(1 * 3 + c) * 4 + 2] - m) / std::sqrt(v + 1e-5), 1e-10));
      CHECK(fresh.running_mean[c] == near(0.1 * m, 1e-12));
      CHECK(fresh.running_var[c] == near(0.9 + 0.1 * v * 16 / 15, 1e-12));
    }
    SECTION("eval mode uses the running statistics") {
      tg::set_training(fresh, false);
      auto e = p(x);
      const double expected = (x[5] - fresh.running_mean[1]) / std::sqrt(fresh.running_var[1] + 1e-5);
      CHECK(e[5] == near(expected, 1e-10));
      TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(fresh(v))); }, x), 1e-6);
    }
  }
}

// 25 values per image and channel: the host runs BatchNorm channel by channel (runs of >= 16 values, a ragged
// end); the input once a buffer, once an element-wise expression fused into the kernel
TEST_CASE("BatchNorm over runs of values per channel: statistics, gradient, fused input", "[gradcheck]") {
  tg::BatchNorm2d<3, double> bn;
  tg::init::Generator g{std::uint64_t(rng()())};
  tg::init::normal(bn.weight, 1.0, 0.3, g);
  tg::init::normal(bn.bias, 0.0, 0.3, g);
  using node = tg::BatchNormNode<tg::Ref<0, double, tg::shape<4, 3, 5, 5>>, tg::Ref<1, double, tg::shape<3>>,
                                 tg::Ref<2, double, tg::shape<3>>, 3>;
  static_assert(node::by_channel);
  // the host passes depend on the shape alone: nodes of one shape over different inputs share one instantiation
  using over_a_map = tg::BatchNormNode<tg::Map<tg::op::relu, tg::Ref<3, double, tg::shape<4, 3, 5, 5>>>,
                                       tg::Ref<1, double, tg::shape<3>>, tg::Ref<2, double, tg::shape<3>>, 3>;
  static_assert(std::is_same_v<node::channels, over_a_map::channels>);
  static_assert(node::needs_child_buffers);  // the fused input below is computed once, into a buffer
  auto x = random<double, 4, 3, 5, 5>(-1, 3);
  check_layer(bn, x);
  // on two images: the OMP device variant's sums round differently from one evaluation to the next, and over
  // four images that rounding, divided by the central difference's step, reached 1.3e-6 in 1.7% of the runs
  const auto x2 = random<double, 2, 3, 5, 5>(-1, 3);
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(bn(v * v)) * v); }, x2), 1e-6);
  tg::BatchNorm2d<3, double> fresh;
  auto p = tgtest::compile_inference<tg::Input<double, 4, 3, 5, 5>>([&](auto v) { return fresh(v); });
  auto y = p(x);
  for (std::size_t c = 0; c < 3; ++c) {
    const auto [m, v] = channel_statistics<4, 3, 25>(x, c);
    for (std::size_t k : {0, 16, 24})
      CHECK(y[(3 * 3 + c) * 25 + k] == near((x[(3 * 3 + c) * 25 + k] - m) / std::sqrt(v + 1e-5), 1e-10));
    CHECK(fresh.running_mean[c] == near(0.1 * m, 1e-12));
    CHECK(fresh.running_var[c] == near(0.9 + 0.1 * v * 100 / 99, 1e-12));
  }
  tg::set_training(fresh, false);
  auto e = p(x);
  CHECK(e[30] == near((x[30] - fresh.running_mean[1]) / std::sqrt(fresh.running_var[1] + 1e-5), 1e-10));  // channel 1
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(fresh(v))); }, x), 1e-6);
}

// relu(bn(x)), bn(x) + r and relu(bn(x) + r) are one kernel each (a ResNet block's two BatchNorms)
namespace fused_batch_norm {
using X = tg::Ref<0, double, tg::shape<2, 3, 5, 5>>;
using P = tg::Ref<1, double, tg::shape<3>>;
using R = tg::Ref<2, double, tg::shape<2, 3, 5, 5>>;
tg::BatchNormNode<X, P, P, 3> bn();  // only in decltype
template <class N>
constexpr bool is_map = false;
template <class Op, class... C>
constexpr bool is_map<tg::Map<Op, C...>> = true;
template <bool Relu, bool Residual>
using fused_op =
    std::conditional_t<Residual, std::conditional_t<Relu, tg::op::batch_norm_add_relu, tg::op::batch_norm_add>,
                       std::conditional_t<Relu, tg::op::batch_norm_relu, tg::op::batch_norm>>;
template <class N, bool Relu, bool Residual>
constexpr bool is_fused = std::is_same_v<typename N::op_type, fused_op<Relu, Residual>> && (N::residual == Residual);
static_assert(is_fused<decltype(tg::relu(bn())), true, false>);
static_assert(is_fused<decltype(bn() + R{}), false, true>);
static_assert(is_fused<decltype(R{} + bn()), false, true>);  // either side
static_assert(is_fused<decltype(tg::relu(bn() + R{})), true, true>);
static_assert(is_fused<decltype(tg::relu(bn() + bn())), true, true>);  // a projection shortcut: another BatchNorm
// not fused: a number, a broadcast operand, a second residual, an add after the relu (relu(bn) + r is not
// relu(bn + r))
static_assert(is_map<decltype(bn() + 1.0)>);
static_assert(is_map<decltype(bn() + tg::Ref<3, double, tg::shape<5>>{})>);
static_assert(is_map<decltype((bn() + R{}) + R{})>);
static_assert(is_map<decltype(tg::relu(bn()) + R{})>);
}  // namespace fused_batch_norm

// The fused kernels against the same formulas through element-wise maps (tg::map skips the fusion), in training
// and eval mode; 25 values per image and channel (the host's passes by channel) and 4 (its segmented reductions)
template <std::size_t Inner>
void check_fused_batch_norm() {
  using S = tg::shape<2, 3, Inner, 1>;
  tg::BatchNorm2d<3, double> bn, twin;
  tg::init::Generator g{std::uint64_t(rng()())};
  tg::init::normal(bn.weight, 1.0, 0.3, g);
  tg::init::normal(bn.bias, 0.0, 0.3, g);
  twin.weight = bn.weight;
  twin.bias = bn.bias;
  const auto x = random_of<double, S>(-1, 3);
  const auto r = random_of<double, S>(-1, 1);
  const auto w = random_of<double, S>();
  // bn(x * x): the kernel reads an element-wise input; r * 1: the residual one
  auto fused = [&](auto v, auto u) {
    return tg::sum(tg::relu(bn(v * v) + u * 1.0) * w) + tg::sum(tg::relu(bn(v)) * w);
  };
  auto mapped = [&](auto v, auto u) {
    const auto relu = [](auto e) { return tg::map(tg::op::relu{}, e); };
    return tg::sum(relu(tg::map(tg::op::add{}, twin(v * v), u * 1.0)) * w) + tg::sum(relu(twin(v)) * w);
  };
  for (bool training : {true, false}) {
    tg::set_training(bn, training);
    tg::set_training(twin, training);
    twin.running_mean = bn.running_mean;  // the gradient check below ran bn alone
    twin.running_var = bn.running_var;
    const auto a = tg::value_and_grad(fused, x, r);
    const auto b = tg::value_and_grad(mapped, x, r);
    CHECK(a.value == near(b.value, 1e-12));
    for (std::size_t i = 0; i < S::size; ++i) {
      CHECK(a.template grad<0>()[i] == near(b.template grad<0>()[i], 1e-12));
      CHECK(a.template grad<1>()[i] == near(b.template grad<1>()[i], 1e-12));
    }
    for (std::size_t c = 0; c < 3; ++c) {
      CHECK(a.grad(bn.weight)[c] == near(b.grad(twin.weight)[c], 1e-12));
      CHECK(a.grad(bn.bias)[c] == near(b.grad(twin.bias)[c], 1e-12));
    }
    for (std::size_t c = 0; c < 3; ++c) {  // the fused node updates the running statistics once per pass, as bn
      CHECK(bn.running_mean[c] == near(twin.running_mean[c], 1e-12));
      CHECK(bn.running_var[c] == near(twin.running_var[c], 1e-12));
    }
    TG_CHECK_GRADIENTS(tgtest::check_gradients(fused, x, r), 1e-6);
  }
}

TEST_CASE("BatchNorm fused with relu and a residual: values, running statistics, gradient", "[gradcheck]") {
  check_fused_batch_norm<25>();
  check_fused_batch_norm<4>();
}

TEST_CASE("Dropout: seeded masks in training mode, identity in eval mode", "[integration]") {
  tg::Dropout drop(0.25, 42);
  auto x = random<double, 8, 16>(0.5, 2);
  auto f = [&](auto v) { return tg::sum(drop(v) * v); };  // d/dx = mask / (1-p) * x + y
  auto r = tg::value_and_grad(f, x);
  auto p = tgtest::compile_inference<tg::Input<double, 8, 16>>([&](auto v) { return drop(v); });
  tg::Dropout again(0.25, 42);
  auto q = tgtest::compile_inference<tg::Input<double, 8, 16>>([&](auto v) { return again(v); });
  const auto first = q(x);  // one forward pass: one mask
  const auto y1 = std::vector<double>(first.begin(), first.end());
  std::size_t kept = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK((y1[i] == 0 || y1[i] == Approx(x[i] / 0.75)));
    kept += y1[i] != 0;
  }
  CHECK(kept > 64);  // about 96 of 128 expected
  CHECK(kept < 124);
  tg::Dropout same_seed(0.25, 42);
  auto q2 = tgtest::compile_inference<tg::Input<double, 8, 16>>([&](auto v) { return same_seed(v); });
  const auto y2 = q2(x);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(y2[i] == y1[i]);
  tg::set_training(drop, false);
  auto e = p(x);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(e[i] == x[i]);
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);  // eval mode: deterministic
  (void)r;
}
