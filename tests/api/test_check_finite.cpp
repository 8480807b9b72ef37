// tg::check_finite: the first kernel that produces a NaN or infinity is named, forward or backward.
#include <limits>

#include "support.hpp"
#include "typegrad/api/check_finite.hpp"
#include "typegrad/api/observe.hpp"

namespace {
struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<3, 4, double>, fc1), (tg::Linear<4, 2, double>, fc2));
  Net() : fc1(1), fc2(2) {}
  auto operator()(auto x) const { return fc2(tg::tanh(fc1(x))); }
};

// the error f throws (an empty one, with node no_node, when it throws none)
template <class F>
tg::NonFiniteError error_of(F&& f) {
  try {
    f();
  } catch (const tg::NonFiniteError& e) {
    return e;
  }
  return tg::NonFiniteError("", tg::no_node, false);
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("check_finite: a parameter holding NaN is named with the kernel that reads it", "[integration]") {
  Net net;
  auto step = tg::observed(tg::compile<tg::Input<double, 5, 3>, tg::Labels<5, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(net(x), y); }));
  tg::Tensor<double, 5, 3> x;
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = 0.1 * double(i);
  tg::Tensor<std::int32_t, 5> y;
  for (std::size_t i = 0; i < 5; ++i) y[i] = std::int32_t(i % 2);
  tg::check_finite(step, net);
  const double clean = step(x, y);  // all finite: no error, the same loss as unchecked
  tg::check_finite(step, false);
  CHECK(step(x, y) == clean);

  net.fc2.weight.data()[3] = std::numeric_limits<double>::quiet_NaN();
  CHECK_NOTHROW(step(x, y));  // off: the NaN passes silently
  tg::check_finite(step, net);
  const std::string e = error_of([&] { step(x, y); }).what();
  INFO(e);
  CHECK(has(e, "forward pass"));
  CHECK(has(e, "matmul [5, 2]"));
  CHECK(has(e, "(layer fc2)"));
  CHECK(has(e, "fc2.weight [2, 4], which already holds nan"));
}

TEST_CASE("check_finite: the operation that makes a NaN in the forward pass", "[integration]") {
  tg::Parameter<double, 4, 4> w;
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = 0.25;
  // log is its own kernel here (the matmul reads its whole buffer); x < 0 makes it NaN
  auto step = tg::observed(
      tg::compile<tg::Input<double, 2, 4>>([&](auto x) { return tg::sum(tg::matmul(tg::log(x * 2.0), w)); }));
  tg::check_finite(step);
  tg::Tensor<double, 2, 4> x;
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = 1.0 + double(i);
  CHECK_NOTHROW(step(x));
  x(1, 2) = -1;
  const auto e = error_of([&] { step(x); });
  INFO(e.what());
  CHECK(e.node != tg::no_node);
  CHECK_FALSE(e.backward);
  CHECK(has(e.what(), "kernel f0 log [2, 4] (fused with mul)"));
  CHECK(has(e.what(), "computed nan at element 6"));
}

TEST_CASE("check_finite: a NaN made only by the backward pass (sqrt at 0)", "[integration]") {
  tg::Parameter<double, 4> w;
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = 1.0;
  auto step = tg::observed(tg::compile<tg::Input<double, 4>>([&](auto x) { return tg::sum(tg::sqrt(x * w)); }));
  tg::check_finite(step);
  tg::Tensor<double, 4> x;
  x[0] = 1;
  x[1] = 4;
  x[2] = 0;  // sqrt(0) = 0 is finite; its derivative 1 / (2 sqrt(0)) is not
  x[3] = 9;
  const auto e = error_of([&] { step(x); });
  INFO(e.what());
  CHECK(e.backward);
  CHECK(has(e.what(), "backward pass"));
  CHECK(has(e.what(), "sqrt"));
  CHECK(has(e.what(), "to element 2 of the gradient of parameter [4]"));
}
