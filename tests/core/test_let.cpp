// tg::let and tg::residual: a value used several times is held once in the type, computed once, and its
// gradient is the sum over its uses.
#include "support.hpp"

using namespace tgtest;

namespace {

// h -> h + tanh(h W^T + b): a residual block on [B, 4]
template <class T>
struct Block {
  tg::Linear<4, 4, T> fc;
  explicit Block(std::uint64_t seed) : fc(seed) {}
  auto operator()(auto h) const { return tg::residual([&](auto v) { return tg::tanh(fc(v)); })(h); }
};

template <std::size_t N, class T>
auto stack(const std::array<Block<T>, 16>& blocks, auto x) {
  if constexpr (N == 0)
    return x;
  else
    return blocks[N - 1](stack<N - 1>(blocks, x));
}
}  // namespace

TEST_CASE("let: a value used 2, 3 and 4 times gets the sum of its uses' gradients", "[gradcheck]") {
  auto x = random<double, 3, 4>(-1, 1);
  auto y = random<double, 3, 4>(-1, 1);
  check_primitive([](auto a, auto b) { return tg::let(tg::tanh(a * b), [](auto h) { return h * h; }); }, x, y);
  check_primitive([](auto a, auto b) { return tg::let(tg::tanh(a + b), [](auto h) { return h * h - h * 0.5; }); }, x, y);
  check_primitive([](auto a, auto b) { return tg::let(a * b, [](auto h) { return h * h * tg::exp(h) + h; }); }, x, y);
}

TEST_CASE("let: nested bindings, the inner body using the outer value", "[gradcheck]") {
  auto x = random<double, 3, 4>(-1, 1);
  check_primitive(
      [](auto a) {
        return tg::let(tg::tanh(a), [](auto h) {
          return tg::let(h * 2.0 + 1.0, [&](auto k) { return h * k + tg::tanh(k) * h - k; });
        });
      },
      x);
  // the inner let binds a reference itself
  check_primitive([](auto a) { return tg::let(a * a, [](auto h) { return tg::let(h, [&](auto k) { return h * k + k; }); }); },
                  x);
}

TEST_CASE("let: a value shared by kernels and fused regions", "[gradcheck]") {
  tg::Linear<4, 5, double> fc1(1);
  tg::Linear<5, 5, double> fc2(2);
  auto x = random<double, 3, 4>(-1, 1);
  // h is a GEMM output read by another GEMM, by a softmax and by an element-wise region
  auto f = [&](auto a) {
    return tg::sum(tg::let(fc1(a), [&](auto h) { return tg::tanh(fc2(h)) * h + tg::softmax<1>(h) - h * h; }));
  };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
  // the bound value is an element-wise region (materialised because it is bound)
  auto g = [&](auto a) {
    return tg::sum(tg::let(tg::tanh(a) * 2.0, [&](auto h) { return fc1(h) * tg::sum(h) + tg::sum(h * h); }));
  };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(g, x), 1e-6);
}

TEST_CASE("let: bound to an input or a parameter; the bound value needs no gradient itself", "[gradcheck]") {
  tg::Linear<4, 4, double> fc(3);
  tg::Parameter<double, 4> p;
  for (auto& v : p.value) v = std::uniform_real_distribution<double>(-1, 1)(rng());
  auto x = random<double, 3, 4>(-1, 1);
  const auto w = random<double, 3, 4>(-1, 1);
  TG_CHECK_GRADIENTS(tgtest::check_gradients(
                         [&](auto a) { return tg::sum(tg::let(a, [&](auto h) { return fc(h) * h + tg::tanh(h); })); }, x),
                     1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients(
                         [&](auto a) { return tg::sum(tg::let(p, [&](auto w) { return a * w + w * w; })); }, x),
                     1e-6);
  // x is a constant input: the bound value tanh(x) gets no adjoint, but the GEMMs reading it need its
  // value in their backward pass (dW = dy^T h), after the let itself has run
  auto step = tg::compile<tg::Input<double, 3, 4>>([&](auto a) {
    return tg::sum(tg::let(tg::tanh(a), [&](auto h) { return tg::tanh(fc(h)) * tg::tanh(fc(h * h)); }));
  });
  TG_CHECK_GRADIENTS(tgtest::check_gradients(
                         [&](auto a) {
                           return tg::sum(tg::let(tg::tanh(a) * 1.0, [&](auto h) {
                             return tg::tanh(fc(h)) * tg::tanh(fc(h * h));
                           }));
                         },
                         x),
                     1e-6);
  // the same with the GEMM's backward further from the let: kernels after it (two softmaxes) have adjoints that
  // start once the let's reader has run, and would take the bound value's memory if its life ended there
  auto deep = tg::compile<tg::Input<double, 3, 4>>([&](auto a) {
    return tg::sum(tg::let(tg::tanh(a) * 1.0, [&](auto h) { return tg::softmax<1>(tg::softmax<1>(fc(h))) * w; }));
  });
  auto deep_plain = tg::compile<tg::Input<double, 3, 4>>(
      [&](auto a) { return tg::sum(tg::softmax<1>(tg::softmax<1>(fc(tg::tanh(a) * 1.0))) * w); });
  deep(x);
  deep_plain(x);
  for (std::size_t i = 0; i < 16; ++i) CHECK(deep.grad(fc.weight)[i] == near(deep_plain.grad(fc.weight)[i], 1e-12));
  step(x);
  const auto dw = step.grad(fc.weight);
  // the same gradient from the program without let
  auto plain = tg::compile<tg::Input<double, 3, 4>>([&](auto a) {
    return tg::sum(tg::tanh(fc(tg::tanh(a))) * tg::tanh(fc(tg::tanh(a) * tg::tanh(a))));
  });
  plain(x);
  const auto dw_plain = plain.grad(fc.weight);
  for (std::size_t i = 0; i < 16; ++i) CHECK(dw[i] == near(dw_plain[i], 1e-12));
}

TEST_CASE("let: a shared element-wise value is computed once in the forward pass", "[static]") {
  auto x = random<double, 4, 3>();
  auto p = tg::compile_inference<tg::Input<double, 4, 3>>(
      [](auto v) { return tg::let(tg::map(counted_tanh{}, v * 2.0), [](auto h) { return h * h + h - h * 3.0; }); });
  counted_elements = 0;
  p(x);
  CHECK(counted_elements == 12);
}

TEST_CASE("residual: a stack of N blocks has a type that grows linearly in N", "[static]") {
  using X = tg::InputLeaf<0, double, tg::shape<2, 4>, true>;
  std::array<Block<double>, 16> blocks{Block<double>(1), Block<double>(2), Block<double>(3), Block<double>(4),
                                       Block<double>(5), Block<double>(6), Block<double>(7), Block<double>(8),
                                       Block<double>(9), Block<double>(10), Block<double>(11), Block<double>(12),
                                       Block<double>(13), Block<double>(14), Block<double>(15), Block<double>(16)};
  constexpr std::size_t one = tg::tree_size_v<decltype(stack<1>(blocks, X{}))>;
  constexpr std::size_t two = tg::tree_size_v<decltype(stack<2>(blocks, X{}))>;
  constexpr std::size_t sixteen = tg::tree_size_v<decltype(stack<16>(blocks, X{}))>;
  static_assert(sixteen - one == 15 * (two - one), "each block adds the same number of rows");
  static_assert(sixteen < 16 * one, "rows grow with the distinct nodes, not with the paths");

  auto x = random<double, 2, 4>(-1, 1);
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(stack<16>(blocks, v))); }, x),
                     1e-6);
}

namespace {
// A kernel that is never merged (like scan, which owns run-time state) and counts its forward passes: y = 2 x.
int unmerged_forward_calls = 0;
template <class X>
struct UnmergedDouble : tg::kernel_node<typename X::value_type, typename X::shape_type, X> {
  using T = typename X::value_type;
  static constexpr bool mergeable = false;
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    ++unmerged_forward_calls;
    for (std::size_t i = 0; i < X::shape_type::size; ++i) this->template out<Id>(c)[i] = T(2) * this->template in<Id, 0>(c, i);
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (UnmergedDouble::template wants_grad<Id, 0, Ctx>())
      for (std::size_t i = 0; i < X::shape_type::size; ++i) this->template add_grad<Id, 0>(c, i, T(2) * this->template out_grad<Id>(c)[i]);
  }
};
template <class X>
auto unmerged_double(X&& x) {
  return UnmergedDouble<tg::expr_t<X>>{{{}, {tg::as_expr(std::forward<X>(x))}}};
}
}  // namespace

TEST_CASE("let: losses evaluate their prediction once, even a kernel that is never merged", "[static]") {
  // mse(p, t) = mean((p - t)^2) used p - t twice: a scan under it (an LSTM) ran twice per step
  auto x = random<double, 4, 3>();
  auto t = random<double, 4, 3>();
  auto mse_step = tg::compile<tg::Variable<double, 4, 3>>([&](auto v) { return tg::mse(unmerged_double(v), t); });
  auto huber_step = tg::compile<tg::Variable<double, 4, 3>>([&](auto v) { return tg::huber(unmerged_double(v), t); });
  auto bce_step = tg::compile<tg::Variable<double, 4, 3>>(
      [&](auto v) { return tg::binary_cross_entropy_with_logits(unmerged_double(v), t); });
  unmerged_forward_calls = 0;
  mse_step(x);
  CHECK(unmerged_forward_calls == 1);
  unmerged_forward_calls = 0;
  huber_step(x);
  CHECK(unmerged_forward_calls == 1);
  unmerged_forward_calls = 0;
  bce_step(x);
  CHECK(unmerged_forward_calls == 1);
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::huber(unmerged_double(v), t); }, x), 1e-6);
}

TEST_CASE("let: a let whose body is a kernel runs in its buffers; the first writer of a bound value assigns",
          "[gradcheck]") {
  // ResNet blocks, one kernel at the top of each: h -> relu(bn1(h) + h) (one kernel reads h twice: it adds into
  // h's adjoint, which is cleared first), then h -> relu(bn2(relu(bn2a(h))) + h), whose let binds the first block
  // (the last kernel to read h assigns its adjoint, bn2a's dx adds); a third BatchNorm reads the second block
  tg::BatchNorm2d<3, double> bn1, bn2a, bn2, bn3;
  tg::init::Generator g{std::uint64_t(rng()())};
  for (auto* bn : {&bn1, &bn2a, &bn2, &bn3}) {
    tg::init::normal(bn->weight, 1.0, 0.3, g);
    tg::init::normal(bn->bias, 0.0, 0.3, g);
  }
  const auto x = random<double, 2, 3, 4, 5>(-1, 2);
  const auto w = random<double, 2, 3, 4, 5>();
  const auto block1 = [&](auto h) { return tg::relu(bn1(h) + h); };
  const auto block2 = [&](auto h) { return tg::relu(bn2(tg::relu(bn2a(h))) + h); };
  const auto relu = [](auto e) { return tg::map(tg::op::relu{}, e); };
  const auto mapped1 = [&](auto h) { return relu(tg::map(tg::op::add{}, bn1(h), h)); };
  const auto mapped2 = [&](auto h) { return relu(tg::map(tg::op::add{}, bn2(relu(bn2a(h))), h)); };
  auto f = [&](auto v) { return tg::sum(bn3(tg::let(tg::let(v * 1.5, block1), block2)) * w); };
  auto mapped = [&](auto v) { return tg::sum(bn3(tg::let(tg::let(v * 1.5, mapped1), mapped2)) * w); };
  auto step = tg::compile<tg::Variable<double, 2, 3, 4, 5>>(f);
  auto fresh = tg::compile<tg::Variable<double, 2, 3, 4, 5>>(f);
  auto reference = tg::compile<tg::Variable<double, 2, 3, 4, 5>>(mapped);
  constexpr auto aliases = [](const auto& p) {
    std::size_t n = 0;
    for (std::size_t k : p.alias_of) n += k != tg::no_node;
    return n;
  };
  static_assert(aliases(decltype(step)::plan) == 2);       // both lets
  static_assert(aliases(decltype(reference)::plan) == 0);  // their bodies are element-wise regions
  // bound values whose adjoint is assigned by its first writer: the first block (in block2), not v * 1.5 (in block1)
  constexpr auto assigned_bound_values = [](const auto& p) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < std::size(p.parent); ++k)
      n += p.parent[k] != tg::no_node && p.binds[p.parent[k]] && p.index_in_parent[k] == 0 && p.adj_assigned[k];
    return n;
  };
  static_assert(assigned_bound_values(decltype(step)::plan) == 1);
  // in a workspace full of NaN: every value and adjoint the step reads was written in this step
  auto poisoned = tg::host_backend::allocate(decltype(step)::workspace_bytes);
  std::fill_n(reinterpret_cast<double*>(poisoned.get()), decltype(step)::workspace_bytes / sizeof(double),
              std::numeric_limits<double>::quiet_NaN());
  step.share_workspace(poisoned);
  const double loss = step(x), fresh_loss = fresh(x), reference_loss = reference(x);
  CHECK(loss == fresh_loss);
  CHECK(loss == near(reference_loss, 1e-12));
  const auto dx = step.grad_input<0>(), dx_fresh = fresh.grad_input<0>(), dx_reference = reference.grad_input<0>();
  for (std::size_t i = 0; i < dx.size(); ++i) {
    REQUIRE(std::isfinite(dx[i]));
    CHECK(dx[i] == dx_fresh[i]);
    CHECK(dx[i] == near(dx_reference[i], 1e-12));
  }
  auto infer = tg::compile_inference<tg::Input<double, 2, 3, 4, 5>>(
      [&](auto v) { return bn3(tg::let(tg::let(v * 1.5, block1), block2)); });
  auto infer_reference = tg::compile_inference<tg::Input<double, 2, 3, 4, 5>>(
      [&](auto v) { return bn3(tg::let(tg::let(v * 1.5, mapped1), mapped2)); });
  static_assert(aliases(decltype(infer)::plan) == 2);  // no backward pass: the values' lifetimes alone
  const auto y = infer(x), y_reference = infer_reference(x);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == near(y_reference[i], 1e-12));
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
}
