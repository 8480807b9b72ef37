// The engine's structure: one node per distinct computation (CSE), correct node identity, weight tying,
// frozen parameters without gradient code, fused regions and the workspace plan.
#include "support.hpp"

using namespace tgtest;

namespace {
// A user-defined kernel primitive that counts its forward evaluations: y = x^2, VJP dx = 2 x dy.
int counted_forward_calls = 0;
template <class X>
struct CountedSquare : tg::kernel_node<typename X::value_type, typename X::shape_type, X> {
  using T = typename X::value_type;
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    ++counted_forward_calls;
    for (std::size_t i = 0; i < X::shape_type::size; ++i) {
      const T v = this->template in<Id, 0>(c, i);
      this->template out<Id>(c)[i] = v * v;
    }
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (CountedSquare::template wants_grad<Id, 0, Ctx>())
      for (std::size_t i = 0; i < X::shape_type::size; ++i)
        this->template add_grad<Id, 0>(c, i, T(2) * this->template in<Id, 0>(c, i) * this->template out_grad<Id>(c)[i]);
  }
};
template <class X>
auto counted_square(X&& x) {
  return CountedSquare<tg::expr_t<X>>{{{}, {tg::as_expr(std::forward<X>(x))}}};
}
}  // namespace

TEST_CASE("a subexpression used several times is computed once", "[static]") {
  auto x = random<double, 4, 3>();
  auto f = [](auto v) {
    auto h = counted_square(v * 0.5);
    return tg::sum(h * h + h - tg::tanh(h));
  };
  auto step = tg::compile<tg::Variable<double, 4, 3>>(f);
  counted_forward_calls = 0;
  step(x);
  CHECK(counted_forward_calls == 1);
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);

  SECTION("an element-wise subexpression is materialised once instead of recomputed") {
    auto g = [](auto v) {
      auto h = tg::map(counted_tanh{}, v * 2.0);
      return h * h + h;
    };
    auto p = tg::compile_inference<tg::Input<double, 4, 3>>(g);
    counted_elements = 0;
    p(x);
    CHECK(counted_elements == 12);
    TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(g(v)); }, x), 1e-6);
  }
}

TEST_CASE("two different layers of the same type on the same input are two nodes", "[static]") {
  tg::Linear<3, 2, double> fc1(1), fc2(2);
  auto x = random<double, 5, 3>();
  auto f = [&](auto v) { return tg::sum(fc1(v) * tg::tanh(fc2(v))); };
  auto step = tg::compile<tg::Input<double, 5, 3>>(f);
  using P = decltype(step);
  static_assert(std::is_same_v<decltype(fc1(tg::InputLeaf<0, double, tg::shape<5, 3>, false>{})),
                               decltype(fc2(tg::InputLeaf<0, double, tg::shape<5, 3>, false>{}))>,
                "the two layers' subexpressions have one type");
  // the first matmul occurrence stays its own node: nothing was merged into it or from it
  std::size_t merged = 0;
  for (std::size_t k = 0; k < P::node_count; ++k) merged += step.canonical(k) != k;
  CHECK(merged == 1);  // only the input leaf x, used twice
  TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
}

TEST_CASE("a parameter used twice (weight tying) is one leaf whose gradient is the sum", "[static]") {
  tg::Linear<3, 3, double> fc(7);
  auto x = random<double, 4, 3>();
  auto tied = tg::compile<tg::Input<double, 4, 3>>([&](auto v) { return tg::sum(tg::tanh(fc(tg::tanh(fc(v))))); });
  const double loss = tied(x);
  // the same network with two separate copies of the weights
  tg::Linear<3, 3, double> first(7), second(7);
  auto untied =
      tg::compile<tg::Input<double, 4, 3>>([&](auto v) { return tg::sum(tg::tanh(second(tg::tanh(first(v))))); });
  CHECK(untied(x) == near(loss, 1e-14));
  const auto g = tied.grad(fc.weight);
  const auto g1 = untied.grad(first.weight);
  const auto g2 = untied.grad(second.weight);
  for (std::size_t i = 0; i < 9; ++i) CHECK(g[i] == near(g1[i] + g2[i], 1e-12));
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(fc(tg::tanh(fc(v))))); }, x), 1e-6);
}

TEST_CASE("a frozen parameter gets no gradient code", "[static]") {
  tg::Linear<4, 3, double> body(1);
  tg::Linear<3, 2, double> head(2);
  auto x = random<double, 5, 4>();
  auto trainable = tg::compile<tg::Input<double, 5, 4>>([&](auto v) { return tg::sum(head(tg::relu(body(v)))); });
  auto frozen =
      tg::compile<tg::Input<double, 5, 4>>([&](auto v) { return tg::sum(head(tg::relu(tg::frozen(body)(v)))); });
  using Trainable = decltype(trainable);
  using Frozen = decltype(frozen);
  static_assert(Trainable::gradient_leaf_count == 4);
  static_assert(Frozen::gradient_leaf_count == 2, "only the head's weight and bias get gradients");
  static_assert(Frozen::adjoint_count < Trainable::adjoint_count);
  // no occurrence of the frozen layer's subtree has an adjoint (its matmul has no backward kernel)
  static_assert([] {
    for (std::size_t k = 0; k < Frozen::node_count; ++k)
      if (Frozen::plan.is_param[k] && Frozen::plan.elements[k] == 12 && Frozen::plan.needs_adjoint[k]) return false;
    return true;
  }());
  CHECK(frozen(x) == near(trainable(x), 1e-14));
  CHECK_FALSE(frozen.has_grad(body.weight));
  CHECK(frozen.has_grad(head.weight));
  CHECK_THROWS_WITH(frozen.grad(body.weight), Catch::Contains("frozen"));
  const auto gf = frozen.grad(head.weight);
  const auto gt = trainable.grad(head.weight);
  for (std::size_t i = 0; i < 6; ++i) CHECK(gf[i] == near(gt[i], 1e-12));

  SECTION("gradients still flow through a frozen layer to its input") {
    TG_CHECK_GRADIENTS(
        tgtest::check_gradients([&](auto v) { return tg::sum(head(tg::relu(tg::frozen(body)(v * v)))); }, x), 1e-6);
  }
}

TEST_CASE("element-wise chains are fused into the kernel that produces or consumes them", "[static]") {
  using X = tg::Input<float, 8, 16>;
  // matmul, then one pass for bias + relu
  auto dense = tg::compile_inference<X>([](auto x) {
    static tg::Parameter<float, 4, 16> w;
    static tg::Parameter<float, 4> b;
    return tg::relu(tg::matmul(x, tg::transpose(w)) + b);
  });
  static_assert(decltype(dense)::kernel_count == 2);
  // eight element-wise ops and a reduction: one kernel
  auto chain = tg::compile_inference<X>(
      [](auto x) { return tg::sum(tg::tanh(tg::exp(x * 0.5f) - tg::sigmoid(x) * 2.0f + tg::gelu(x)) / 3.0f); });
  static_assert(decltype(chain)::kernel_count == 1);
  // an element-wise chain alone: one kernel, which the training program also runs backward as one pass
  auto ew = tg::compile<tg::Variable<float, 8, 16>>([](auto x) { return tg::mean(tg::exp(x) * x + 1.0f); });
  static_assert(decltype(ew)::kernel_count == 1);
  tg::Tensor<float, 8, 16> v(0.5f);
  CHECK(chain(v)[0] ==
        Approx(8 * 16 *
               std::tanh(std::exp(0.25) - 2 / (1 + std::exp(-0.5)) + 0.25 * (1 + std::erf(0.5 / std::sqrt(2.0)))) / 3)
            .epsilon(1e-5));
}

// On the host conv2d holds one image's im2col columns (C kh kw x Ho Wo) per image group (8 groups) and, when a
// backward pass follows, a transposed dy and a dW^T per group; max-pool keeps the positions of its maxima only for
// a backward pass. A convolution with few taps (C kh kw <= 32, stride 1) runs direct: no columns at all.
TEST_CASE("working memory kept for the backward pass only when one follows", "[static]") {
  tg::Parameter<float, 8, 4, 3, 3> w;  // 36 taps: im2col + GEMM
  auto train = tg::compile<tg::Input<float, 64, 4, 16, 16>>(
      [&](auto x) { return tg::sum(tg::max_pool2d<2>(tg::conv2d(x, w))); });
  auto infer = tg::compile_inference<tg::Input<float, 64, 4, 16, 16>>(
      [&](auto x) { return tg::max_pool2d<2>(tg::conv2d(x, w)); });
  constexpr std::size_t image_cols = (4 * 3 * 3) * (14 * 14) * sizeof(float);
  constexpr std::size_t conv_out = 64 * 8 * 14 * 14 * sizeof(float), pool_out = 64 * 8 * 7 * 7 * sizeof(float);
  constexpr std::size_t backward_only = 8 * (14 * 14 * 8 + 36 * 8) * sizeof(float) + pool_out;  // dy^T, dW^T, maxima
  // 4 * 64: the buffers' 64-byte alignment
  static_assert(decltype(infer)::workspace_bytes <= 8 * image_cols + conv_out + pool_out + 4 * 64);
  static_assert(decltype(train)::workspace_bytes >= decltype(infer)::workspace_bytes + backward_only);
  const tg::Tensor<float, 64, 4, 16, 16> x(0.5f);
  CHECK(std::isfinite(train(x)));
  CHECK(std::isfinite(infer(x)[0]));

  tg::Parameter<float, 8, 3, 3, 3> w3;  // 27 taps: direct, the output and the pooling's alone
  auto infer3 = tg::compile_inference<tg::Input<float, 64, 3, 16, 16>>(
      [&](auto v) { return tg::max_pool2d<2>(tg::conv2d(v, w3)); });
  static_assert(decltype(infer3)::workspace_bytes <= conv_out + pool_out + 4 * 64);
  CHECK(std::isfinite(infer3(tg::Tensor<float, 64, 3, 16, 16>(0.5f))[0]));
}

TEST_CASE("the workspace reuses buffers whose lifetimes do not overlap", "[static]") {
  tg::Linear<784, 256> fc1(1);
  tg::Linear<256, 128> fc2(2);
  tg::Linear<128, 10> fc3(3);
  auto step = tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy(fc3(tg::relu(fc2(tg::relu(fc1(x))))), y); });
  auto infer =
      tg::compile_inference<tg::Input<float, 64, 784>>([&](auto x) { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); });
  using S = decltype(step);
  using I = decltype(infer);
  WARN("MLP 784-256-128-10, batch 64, training step: workspace "
       << S::workspace_bytes << " bytes vs naive " << S::naive_workspace_bytes
       << " bytes; inference: " << I::workspace_bytes << " vs " << I::naive_workspace_bytes);
  static_assert(S::workspace_bytes < S::naive_workspace_bytes);
  static_assert(I::workspace_bytes < I::naive_workspace_bytes);
  // plan invariants: buffers live at the same time never overlap in memory (checked over all pairs)
  static_assert([] {
    constexpr auto& p = S::plan;
    for (std::size_t a = 0; a < S::node_count; ++a)
      for (std::size_t b = 0; b < S::node_count; ++b) {
        if (a == b || p.kernel_pos[a] == tg::no_node || p.kernel_pos[b] == tg::no_node) continue;
        // a value read by a later kernel must not be overwritten by that later kernel's output
        if (p.reader[a] == b) {
          const std::size_t sa = tg::detail::round_up(p.elements[a] * p.elem_bytes[a]);
          const std::size_t sb = tg::detail::round_up(p.elements[b] * p.elem_bytes[b]);
          if (p.val_offset[a] < p.val_offset[b] + sb && p.val_offset[b] < p.val_offset[a] + sa) return false;
        }
      }
    return true;
  }());
}

namespace {
// adjoint buffers of a program (the root's excluded) and how many of them the plan assigns
template <class Program>
constexpr std::pair<std::size_t, std::size_t> assigned_adjoints() {
  constexpr auto& p = Program::plan;
  std::size_t assigned = 0, buffers = 0;
  for (std::size_t k = 0; k < Program::node_count; ++k) {
    if (p.kernel_pos[k] == tg::no_node || !p.needs_adjoint[k] || p.parent[k] == tg::no_node) continue;
    ++buffers;
    assigned += p.adj_assigned[k];
  }
  return {buffers, assigned};
}

}  // namespace

TEST_CASE("an adjoint with one writer that covers every element is assigned, not cleared and added to", "[static]") {
  // Map's children of the output's size are pushed once per element; a broadcast operand is not
  using Full = tg::InputLeaf<0, double, tg::shape<3, 4>, true>;
  using Row = tg::InputLeaf<1, double, tg::shape<4>, true>;
  static_assert(decltype(tg::as_expr(Full{}) + tg::as_expr(Row{}))::assigns_child_adjoints == 1u);
  static_assert(decltype(tg::as_expr(Full{}) * tg::as_expr(Full{}))::assigns_child_adjoints == 3u);
  static_assert(decltype(tg::reshape<4, 3>(Full{}))::assigns_child_adjoints == 1u);
  static_assert(decltype(tg::slice<1, 0, 2>(Full{}))::assigns_child_adjoints == 0u);

  SECTION("a residual block between convolutions of three kinds (shifted products, im2col, direct)") {
    tg::Conv2d<4, 4, 3, 1, 1, double> c0{std::uint64_t(rng()())}, cb{std::uint64_t(rng()())};
    tg::Conv2d<4, 3, 3, 1, 1, double> c2{std::uint64_t(rng()())};
    tg::Conv2d<3, 2, 3, 1, 1, double> c3{std::uint64_t(rng()())};
    tg::BatchNorm2d<4, double> bn0, bn1;
    auto f = [&](auto x) {
      auto block = tg::let(c0(x), [&](auto h) { return tg::relu(bn1(cb(tg::relu(bn0(h))))) + h; });
      return tg::sum(tg::tanh(c3(tg::relu(c2(block)))));
    };
    auto step = tg::compile<tg::Variable<double, 2, 4, 6, 6>>(f);
    auto fresh = tg::compile<tg::Variable<double, 2, 4, 6, 6>>(f);
    // assigned: c0's output (bound by the let: by its last reader, the block's region; relu(bn0)'s dx adds),
    // relu(bn0)'s output, one kernel (by cb's dx), cb's output (relu(bn1)'s dx), relu(bn1)'s output (the block's
    // region), the block (c2's dx), c2's output (the relu region), that region (c3's dx). Not: c3's output (the
    // root's reduction declares nothing).
    static_assert(assigned_adjoints<decltype(step)>() == std::pair<std::size_t, std::size_t>{8, 7});
    auto x = random<double, 2, 4, 6, 6>(-1, 1);
    check_in_poisoned_workspace(step, fresh, x);
    const auto same_gradient = [&](const auto& w) {
      const auto g = step.grad(w);
      const auto g_fresh = fresh.grad(w);
      for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == g_fresh[i]);
    };
    same_gradient(c0.weight);
    same_gradient(cb.weight);
    same_gradient(c3.weight);
    TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
  }

  SECTION("a pre-LayerNorm Transformer block under cross-entropy") {
    tg::TransformerEncoderBlock<8, 2, 16, true, double> block{std::uint64_t(rng()())};
    tg::LayerNorm<8, double> norm;
    auto f = [&](auto x, auto labels) { return tg::cross_entropy(tg::reshape<8, 8>(norm(block(x))), labels); };
    auto step = tg::compile<tg::Variable<double, 2, 4, 8>, tg::Labels<8, 8>>(f);
    auto fresh = tg::compile<tg::Variable<double, 2, 4, 8>, tg::Labels<8, 8>>(f);
    // every one: among them the projections' inputs (their dA), the in-projection (the attention kernel writes
    // each element of dq, dk and dv once), the attention's output (the out-projection), the block's output (the
    // final LayerNorm), and the first residual's sum, bound by the second residual (by its last reader, the second
    // residual's add; the second LayerNorm's dx adds). (Before the attention kernel, q, k and v sliced the
    // in-projection, and a slice writes part of its operand's adjoint: that one was cleared and added to.)
    constexpr auto counts = assigned_adjoints<decltype(step)>();
    static_assert(counts.second == counts.first);
    auto x = random<double, 2, 4, 8>(-1, 1);
    tg::Tensor<std::int32_t, 8> labels;
    for (std::size_t i = 0; i < 8; ++i) labels[i] = std::int32_t((3 * i + 1) % 8);
    check_in_poisoned_workspace(step, fresh, x, labels);
    // An element left unwritten may hold a stale finite value where the plan reuses memory: central differences
    // of the loss (no adjoint involved) find it; measured as check_gradients does (re-measured at other steps
    // where x +- h straddles a kink of the feed-forward's ReLU)
    const auto dx = step.grad_input<0>();
    const std::vector<double> analytic(dx.begin(), dx.end());
    tg::GradientCheck r;
    for (std::size_t i = 0; i < x.size(); ++i)
      tg::detail::compare(
          r, analytic[i], x.data(), i, [&] { return fresh(x, labels); }, tg::GradientCheckOptions{}, "argument 0");
    TG_CHECK_GRADIENTS(r, 1e-6);
  }
}

namespace {
// gradient slots of a program (leaves whose gradient is kept: parameters, inputs that want one) and how many of
// them the plan assigns
template <class Program>
constexpr std::pair<std::size_t, std::size_t> assigned_gradient_slots() {
  constexpr auto& p = Program::plan;
  std::size_t slots = 0, assigned = 0;
  for (std::size_t k = 0; k < Program::node_count; ++k)
    if (tg::detail::has_gradient_slot(p, k)) ++slots, assigned += p.adj_assigned[k];
  return {slots, assigned};
}

// A second step's gradients are that step's alone: the same as a fresh program's after one step, bit for bit
template <class Program, class X, class... Layers>
void check_second_step(Program& step, Program& fresh, const X& x, const Layers&... layers) {
  step(x);
  step(x);
  fresh(x);
  const auto same = [&](const auto& g, const auto& g_fresh) {
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == g_fresh[i]);
  };
  same(step.template grad_input<0>(), fresh.template grad_input<0>());
  (same(step.grad(layers.weight), fresh.grad(layers.weight)), ...);
  (same(step.grad(layers.bias), fresh.grad(layers.bias)), ...);
}
}  // namespace

TEST_CASE("a gradient slot that one writer covers is assigned, not cleared and added to", "[static]") {
  SECTION("dense layers: x and each weight by a product with beta 0; the biases (broadcast) are added to") {
    tg::Linear<5, 4, double> fc1{std::uint64_t(rng()())};
    tg::Linear<4, 3, double> fc2{std::uint64_t(rng()())};
    auto f = [&](auto x) { return tg::sum(tg::tanh(fc2(tg::relu(fc1(x))))); };
    auto step = tg::compile<tg::Variable<double, 6, 5>>(f);
    auto fresh = tg::compile<tg::Variable<double, 6, 5>>(f);
    static_assert(assigned_gradient_slots<decltype(step)>() == std::pair<std::size_t, std::size_t>{5, 3});
    // cleared before each backward pass: the two biases' slots (fc2's weight lies between them)
    static_assert(tg::detail::added_gradient_slots(decltype(step)::plan).count == 2);
    const auto x = random<double, 6, 5>(-1, 1);
    check_second_step(step, fresh, x, fc1, fc2);
    TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
  }
  SECTION("a layer applied twice: its weight is one leaf with two writers, so its slot is cleared and added to") {
    tg::Linear<4, 4, double> fc{std::uint64_t(rng()())};
    auto f = [&](auto x) { return tg::sum(tg::tanh(fc(tg::relu(fc(x))))); };
    auto step = tg::compile<tg::Variable<double, 6, 4>>(f);
    auto fresh = tg::compile<tg::Variable<double, 6, 4>>(f);
    // x only: both occurrences of the weight (and of the bias) may be one leaf
    static_assert(assigned_gradient_slots<decltype(step)>() == std::pair<std::size_t, std::size_t>{5, 1});
    const auto x = random<double, 6, 4>(-1, 1);
    check_second_step(step, fresh, x, fc);
    TG_CHECK_GRADIENTS(tgtest::check_gradients(f, x), 1e-6);
  }
}
