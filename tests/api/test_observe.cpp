// tg::observed and tg::LayerStats: observation is a compile-time choice (nothing in a program without it), and
// the statistics match values computed by hand.
#include <cmath>
#include <fstream>
#include <functional>

#include "support.hpp"
#include "typegrad/api/layer_stats.hpp"

namespace {
struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<3, 4, double>, fc), (tg::Parameter<double, 4, 1>, v));
  Net() { std::fill(v.data(), v.data() + 4, 1.0); }
};

// loss = sum(relu(fc(x)) v) with v = 1: the ReLU's output is materialised (the matmul reads its buffer)
auto make_step(Net& net) {
  return tg::compile<tg::Input<double, 5, 3>>([&](auto x) { return tg::sum(tg::matmul(tg::relu(net.fc(x)), net.v)); });
}
using Plain = decltype(make_step(std::declval<Net&>()));
using Observed = decltype(tg::observed(std::declval<const Plain&>()));
using Hook = Observed::kernel_hook;

template <class P>
concept has_hook = requires(P& p) {
  p.after_each_kernel(Hook{});
};

// mean, population standard deviation, max |x|, zero fraction of n values
struct Expected {
  double mean = 0, stddev = 0, max_abs = 0, zeros = 0;
};
Expected expected(const std::vector<double>& v) {
  Expected e;
  for (double x : v) e.mean += x / double(v.size());
  for (double x : v) {
    e.stddev += (x - e.mean) * (x - e.mean) / double(v.size());
    e.max_abs = std::max(e.max_abs, std::abs(x));
    e.zeros += (x == 0) / double(v.size());
  }
  e.stddev = std::sqrt(e.stddev);
  return e;
}
void check_row(const tg::TensorStats& r, const Expected& e) {
  INFO(r.name << " " << r.what);
  CHECK(r.mean == Approx(e.mean).margin(1e-12));
  CHECK(r.stddev == Approx(e.stddev).margin(1e-9));
  CHECK(r.max_abs == Approx(e.max_abs).margin(1e-12));
  CHECK(r.zero_fraction == Approx(e.zeros).margin(1e-12));
}
}  // namespace

// A program that is not observed holds no hook and cannot be given one; observing adds exactly the hook.
static_assert(!tg::is_observed_v<Plain> && tg::is_observed_v<Observed>);
static_assert(!has_hook<Plain> && has_hook<Observed>);
static_assert(sizeof(Observed) >= sizeof(Plain) + sizeof(std::function<void()>));
static_assert(sizeof(Observed) - sizeof(Plain) <= sizeof(Hook) + alignof(Hook));
// ... and observation does not change the compiled program: the same context (kernels) and plan
static_assert(std::is_same_v<Plain::context_type, Observed::context_type>);

TEST_CASE("LayerStats: output and gradient statistics match values computed by hand", "[integration]") {
  Net net;
  const double w[4][3] = {{1, -1, 0.5}, {-2, 0.25, 1}, {0.5, 0.5, -0.5}, {0, 0, 0}};
  const double b[4] = {0.1, -0.3, 0.2, 0};
  for (std::size_t o = 0; o < 4; ++o) {
    net.fc.bias.data()[o] = b[o];
    for (std::size_t i = 0; i < 3; ++i) net.fc.weight.data()[o * 3 + i] = w[o][i];
  }
  tg::Tensor<double, 5, 3> x;
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(double(i) + 0.5) * 2;

  // by hand: y = x W^T + b, r = relu(y); loss = sum r (v = 1); dW[o][i] = sum_n [y_no > 0] x_ni, db[o] = sum_n [y_no >
  // 0]
  std::vector<double> relu_out, dw(12, 0), db(4, 0);
  for (std::size_t n = 0; n < 5; ++n)
    for (std::size_t o = 0; o < 4; ++o) {
      double y = b[o];
      for (std::size_t i = 0; i < 3; ++i) y += x(n, i) * w[o][i];
      relu_out.push_back(y > 0 ? y : 0);
      for (std::size_t i = 0; i < 3; ++i) dw[o * 3 + i] += y > 0 ? x(n, i) : 0;
      db[o] += y > 0 ? 1 : 0;
    }

  auto step = tg::observed(make_step(net));
  tg::LayerStats stats(step, net);
  step(x);  // not recorded
  CHECK(stats.rows().empty());
  const double loss = stats.record(step, 7, x);
  double sum = 0;
  for (double r : relu_out) sum += r;
  CHECK(loss == Approx(sum));

  const auto rows = stats.last();
  const tg::TensorStats* relu = nullptr;
  const tg::TensorStats* weight = nullptr;
  const tg::TensorStats* bias = nullptr;
  for (const auto& r : rows) {
    CHECK(r.step == 7);
    if (r.what.find("relu [5, 4]") != std::string::npos) relu = &r;
    if (r.name == "fc.weight") weight = &r;
    if (r.name == "fc.bias") bias = &r;
  }
  REQUIRE(relu);
  REQUIRE(weight);
  REQUIRE(bias);
  CHECK(relu->name == "fc");  // the region after fc's matmul reads fc.bias
  CHECK(relu->count == 20);
  check_row(*relu, expected(relu_out));
  CHECK(relu->zero_fraction > 0.2);  // the zero row of W makes dead units
  check_row(*weight, expected(dw));
  check_row(*bias, expected(db));

  const auto csv = tgtest::scratch_file("stats.csv");
  stats.write_csv(csv);
  std::ifstream in(csv);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  CHECK(header == "step,name,tensor,count,mean,std,max_abs,zero_fraction");
  CHECK(first.rfind("7,", 0) == 0);
}

TEST_CASE("observed programs compute what the plain program computes", "[integration]") {
  Net net;
  tg::init::initialize(net, 3);
  auto plain = make_step(net);
  auto watched = tg::observed(plain);
  tg::Tensor<double, 5, 3> x;
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::cos(double(i));
  std::size_t kernels = 0;
  watched.after_each_kernel([&](const auto&, std::size_t, bool) { ++kernels; });
  CHECK(plain(x) == watched(x));
  CHECK(kernels > 0);
  for (std::size_t k = 0; k < 12; ++k)
    CHECK(plain.grad(net.fc.weight).data()[k] == watched.grad(net.fc.weight).data()[k]);
}
