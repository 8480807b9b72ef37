// Optimizers against independent implementations of their published update formulas (PyTorch docs),
// on loss = sum(w^3 / 3 + a w), whose gradient w^2 + a changes every step.
#include "support.hpp"

using namespace tgtest;

namespace {
constexpr std::size_t n = 4;
struct Problem {
  tg::Parameter<double, n> w;
  tg::Tensor<double, n> a{0.3, -0.5, 0.8, -0.1};
  Problem() {
    const double init[n] = {0.5, -1.0, 0.25, 2.0};
    std::copy(init, init + n, w.value.begin());
  }
  auto program() {
    return tg::compile<tg::Input<double, 1>>([this](auto) { return tg::sum(w * w * w / 3.0 + w * a); });
  }
};

// reference: runs `rule(w, g, state, t)` for `steps` steps with g = w^2 + a
template <class Rule>
std::vector<double> reference(Rule rule, int steps) {
  Problem p;
  std::vector<double> w(p.w.value.begin(), p.w.value.end()), s1(n, 0), s2(n, 0);
  for (int t = 1; t <= steps; ++t)
    for (std::size_t i = 0; i < n; ++i) rule(w[i], w[i] * w[i] + p.a[i], s1[i], s2[i], t);
  return w;
}

template <class Rule, class Schedule>
std::vector<double> run(Rule rule, Schedule schedule, int steps, tg::optim::Options o = {}) {
  Problem p;
  auto program = p.program();
  auto opt = tg::optim::make(program, rule, schedule, o);
  tg::Tensor<double, 1> unused(0.0);
  for (int t = 0; t < steps; ++t) {
    program(unused);
    opt.update(program);
  }
  return {p.w.value.begin(), p.w.value.end()};
}

void check_close(const std::vector<double>& got, const std::vector<double>& expected) {
  for (std::size_t i = 0; i < n; ++i) CHECK(got[i] == near(expected[i], 1e-12));
}
}  // namespace

TEST_CASE("SGD with weight decay", "[integration]") {
  const double lr = 0.1, wd = 0.01;
  check_close(run(tg::optim::Sgd{wd}, tg::sched::Constant{lr}, 5),
              reference([&](double& w, double g, double&, double&, int) { w -= lr * (g + wd * w); }, 5));
}

TEST_CASE("momentum and Nesterov", "[integration]") {
  const double lr = 0.05, mu = 0.9;
  check_close(run(tg::optim::Momentum{mu, 0, false}, tg::sched::Constant{lr}, 6),
              reference([&](double& w, double g, double& v, double&, int) {
                v = mu * v + g;
                w -= lr * v;
              }, 6));
  check_close(run(tg::optim::Momentum{mu, 0, true}, tg::sched::Constant{lr}, 6),
              reference([&](double& w, double g, double& v, double&, int) {
                v = mu * v + g;
                w -= lr * (g + mu * v);
              }, 6));
}

TEST_CASE("Adagrad and RMSprop", "[integration]") {
  const double lr = 0.1;
  check_close(run(tg::optim::Adagrad{}, tg::sched::Constant{lr}, 5),
              reference([&](double& w, double g, double& s, double&, int) {
                s += g * g;
                w -= lr * g / (std::sqrt(s) + 1e-10);
              }, 5));
  check_close(run(tg::optim::RMSprop{}, tg::sched::Constant{lr}, 5),
              reference([&](double& w, double g, double& s, double&, int) {
                s = 0.99 * s + 0.01 * g * g;
                w -= lr * g / (std::sqrt(s) + 1e-8);
              }, 5));
}

TEST_CASE("Adam and AdamW", "[integration]") {
  const double lr = 0.01;
  auto adam = [&](double wd, bool decoupled) {
    return [=](double& w, double g, double& m, double& v, int t) {
      if (decoupled) w -= lr * wd * w;
      const double d = decoupled ? g : g + wd * w;
      m = 0.9 * m + 0.1 * d;
      v = 0.999 * v + 0.001 * d * d;
      w -= lr * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
    };
  };
  check_close(run(tg::optim::Adam{}, tg::sched::Constant{lr}, 7), reference(adam(0, false), 7));
  check_close(run(tg::optim::Adam{0.9, 0.999, 1e-8, 0.05}, tg::sched::Constant{lr}, 7), reference(adam(0.05, false), 7));
  check_close(run(tg::optim::AdamW{}, tg::sched::Constant{lr}, 7), reference(adam(0.01, true), 7));
}

TEST_CASE("learning-rate schedules", "[integration]") {
  CHECK(tg::sched::Step{1.0, 10, 0.5}(10) == 1.0);
  CHECK(tg::sched::Step{1.0, 10, 0.5}(11) == 0.5);
  CHECK(tg::sched::Exponential{2.0, 0.9}(3) == Approx(2.0 * 0.81));
  tg::sched::Cosine cosine{1.0, 100, 0.1};
  CHECK(cosine(1) == Approx(1.0));
  CHECK(cosine(51) == Approx(0.55));
  CHECK(cosine(101) == Approx(0.1));
  auto warm = tg::sched::warmup(10, cosine);
  CHECK(warm(5) == Approx(0.5 * cosine(5)));
  CHECK(warm(20) == Approx(cosine(20)));
  // a schedule drives the optimizer: SGD with lr(t) = 0.1 * 0.5^(t-1)
  check_close(run(tg::optim::Sgd{}, tg::sched::Exponential{0.1, 0.5}, 4),
              reference([](double& w, double g, double&, double&, int t) { w -= 0.1 * std::pow(0.5, t - 1) * g; }, 4));
}

TEST_CASE("gradient clipping by global norm", "[integration]") {
  Problem p;
  auto program = p.program();
  auto opt = tg::optim::make(program, tg::optim::Sgd{}, tg::sched::Constant{1.0}, {.clip_norm = 0.5});
  const std::vector<double> before(p.w.value.begin(), p.w.value.end());
  tg::Tensor<double, 1> unused(0.0);
  program(unused);
  double gnorm = 0;
  for (std::size_t i = 0; i < n; ++i) gnorm += std::pow(before[i] * before[i] + p.a[i], 2);
  opt.update(program);
  CHECK(opt.last_gradient_norm() == Approx(std::sqrt(gnorm)));
  double moved = 0;
  for (std::size_t i = 0; i < n; ++i) moved += std::pow(p.w.value[i] - before[i], 2);
  CHECK(std::sqrt(moved) == Approx(0.5).epsilon(1e-5));
}

TEST_CASE("gradient accumulation over k micro-batches equals one step on their mean", "[integration]") {
  tg::Parameter<double, 3> w;
  w.value = tg::Tensor<double, 3>{1.0, 2.0, 3.0};
  auto program = tg::compile<tg::Input<double, 3>>([&](auto x) { return tg::sum(w * x); });  // gradient x
  auto opt = tg::optim::make(program, tg::optim::Sgd{}, tg::sched::Constant{0.1}, {.accumulate = 3});
  const tg::Tensor<double, 3> xs[3] = {{1, 0, 2}, {4, 1, 0}, {1, -4, 1}};
  program(xs[0]);
  CHECK_FALSE(opt.update(program));
  program(xs[1]);
  CHECK_FALSE(opt.update(program));
  CHECK(w.value[0] == 1.0);
  program(xs[2]);
  CHECK(opt.update(program));
  CHECK(w.value[0] == Approx(1.0 - 0.1 * 2.0));
  CHECK(w.value[1] == Approx(2.0 - 0.1 * -1.0));
  CHECK(w.value[2] == Approx(3.0 - 0.1 * 1.0));
}

TEST_CASE("frozen parameters have no optimizer state and are never touched", "[integration]") {
  tg::Linear<4, 3, double> body(1);
  tg::Linear<3, 2, double> head(2);
  auto step = tg::compile<tg::Input<double, 5, 4>>([&](auto x) { return tg::sum(head(tg::tanh(tg::frozen(body)(x)))); });
  using Opt = decltype(tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{0.1}));
  static_assert(Opt::trainable_elements == 3 * 2 + 2, "state only for the head");
  auto opt = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{0.1});
  const auto frozen_before = body.weight.value;
  const auto head_before = head.weight.value;
  auto x = random<double, 5, 4>();
  for (int i = 0; i < 3; ++i) {
    step(x);
    opt.update(step);
  }
  CHECK(std::memcmp(frozen_before.data(), body.weight.value.data(), 12 * sizeof(double)) == 0);
  CHECK(std::memcmp(head_before.data(), head.weight.value.data(), 6 * sizeof(double)) != 0);
}

TEST_CASE("early stopping", "[integration]") {
  tg::optim::EarlyStopping stop(2, 0.01);
  CHECK_FALSE(stop.observe(1.0));
  CHECK_FALSE(stop.observe(0.8));
  CHECK_FALSE(stop.observe(0.795));  // not better by min_delta: 1 bad check
  CHECK(stop.observe(0.9));          // 2 bad checks
  CHECK(stop.best() == 0.8);
}

namespace {
template <class T>
void fill_random(std::vector<T>& v) {
  std::uniform_real_distribution<double> u(-1, 1);
  for (auto& x : v) x = T(u(rng()));
}
// the same rule, applied one element at a time (lane_wise off)
template <class Rule>
struct one_at_a_time : Rule {
  static constexpr bool lane_wise = false;
  one_at_a_time at_step(std::size_t t) const { return {tg::optim::rule_at_step(static_cast<const Rule&>(*this), t)}; }
};
template <class T, class Rule>
void check_lanes_against_elements(Rule rule, std::size_t size) {
  static_assert(tg::optim::lane_wise_rule<Rule, T> && !tg::optim::lane_wise_rule<one_at_a_time<Rule>, T>);
  std::vector<T> w(size), g(size), state(Rule::slots * size, T(0));
  fill_random(w);
  fill_random(g);
  auto w1 = w, state1 = state;
  for (std::size_t t = 1; t <= 3; ++t) {
    tg::optim::apply(rule, w.data(), g.data(), state.data(), size, T(0.01), t, T(0.5));
    tg::optim::apply(one_at_a_time<Rule>{rule}, w1.data(), g.data(), state1.data(), size, T(0.01), t, T(0.5));
  }
  for (std::size_t i = 0; i < size; ++i) REQUIRE(double(w[i]) == near(double(w1[i]), 1e-6));
  for (std::size_t i = 0; i < state.size(); ++i) REQUIRE(double(state[i]) == near(double(state1[i]), 1e-6));
}
}  // namespace

// 11 and 3 elements: whole blocks of lanes and a zero-padded last block, or the padded block alone
TEST_CASE("update rules on lanes give the element-wise results", "[integration]") {
  static_assert(!tg::optim::lane_wise_rule<tg::optim::Sgd, float> &&
                !tg::optim::lane_wise_rule<tg::optim::Momentum, float>);
  static_assert(tg::optim::lanes<float>::size * sizeof(float) == tg::optim::lane_bytes);
  for (std::size_t size : {11, 3, 64}) {
    check_lanes_against_elements<double>(tg::optim::AdamW{}, size);
    check_lanes_against_elements<float>(tg::optim::Adam{0.9, 0.999, 1e-8, 0.05}, size);
    check_lanes_against_elements<double>(tg::optim::RMSprop{}, size);
    check_lanes_against_elements<float>(tg::optim::Adagrad{}, size);
  }
}

// A range split over threads ends its parts in partial blocks that one thread runs as whole ones: the same bits.
TEST_CASE("AdamW on lanes: the same bits on 1 and 2 threads", "[integration]") {
  constexpr std::size_t size = 40003;  // parts [0, 20001) and [20001, 40003) on 2 threads
  std::vector<float> g(size);
  fill_random(g);
  std::vector<float> w[2], state[2];
  for (std::size_t threads : {1, 2}) {
    tg::detail::thread_pool::instance().resize(threads);  // 2 parts even on 1 CPU
    auto& wt = w[threads - 1];
    auto& st = state[threads - 1];
    wt.assign(size, 0.5f);
    st.assign(2 * size, 0.0f);
    for (std::size_t t = 1; t <= 3; ++t)
      tg::optim::apply(tg::optim::AdamW{}, wt.data(), g.data(), st.data(), size, 1e-3f, t);
  }
  tg::set_num_threads(1);
  REQUIRE(std::memcmp(w[0].data(), w[1].data(), size * sizeof(float)) == 0);
  REQUIRE(std::memcmp(state[0].data(), state[1].data(), 2 * size * sizeof(float)) == 0);
}
