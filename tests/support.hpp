#pragma once
// Test helpers: fresh random inputs each run; the seed is printed on failure and can be fixed with TG_SEED.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "typegrad/typegrad.hpp"
#ifdef TYPEGRAD_TEST_DEVICE
#include "typegrad/device.hpp"
#endif

namespace tgtest {

// The gradient checks of the backend under test: the host, or (TYPEGRAD_TEST_DEVICE, the same test
// sources built against the Thrust backend) the device.
#ifdef TYPEGRAD_TEST_DEVICE
using tg::device::check_gradients;
using tg::device::check_gradients_in;
#else
using tg::check_gradients;
using tg::check_gradients_in;
#endif

// The forward pass of f on the backend under test: p(host arguments...) -> the output on the host. On the
// device, arguments are copied up, the output is copied back, and so are parameters and layer state
// (running statistics) after every call, so the host objects show what the device program did.
#ifdef TYPEGRAD_TEST_DEVICE
template <class Program>
struct DeviceInference {
  std::unique_ptr<tg::device::Parameters> store;
  Program program;
  template <class... Args>
  auto operator()(const Args&... host) {
    auto y = tg::device::to_host(program(tg::device::detail::upload_argument(host)...));
    store->download();
    return y;
  }
};
template <class... Specs, class F>
auto compile_inference(F&& f) {
  auto store = std::make_unique<tg::device::Parameters>();
  auto program = tg::device::compile_inference<Specs...>(*store, std::forward<F>(f));
  return DeviceInference<decltype(program)>{std::move(store), std::move(program)};
}
#else
using tg::compile_inference;
#endif

inline std::uint64_t run_seed() {
  static const std::uint64_t seed = [] {
    if (const char* s = std::getenv("TG_SEED")) return std::uint64_t(std::strtoull(s, nullptr, 10));
    return std::uint64_t(std::random_device{}());
  }();
  return seed;
}

inline std::mt19937_64& rng() {
  static std::mt19937_64 g(run_seed());
  return g;
}

// Uniform in [lo, hi], but at least `gap` away from every kink in `kinks` (for relu, abs, clamp, ...).
template <class Kinks>
double random_away_from(double lo, double hi, const Kinks& kinks, double gap) {
  std::uniform_real_distribution<double> u(lo, hi);
  for (;;) {
    const double x = u(rng());
    bool too_close = false;
    for (double k : kinks) too_close = too_close || std::abs(x - k) < gap;
    if (!too_close) return x;
  }
}

template <class Tensor, class Kinks = std::initializer_list<double>>
Tensor random_tensor(double lo = -2, double hi = 2, const Kinks& kinks = {}, double gap = 1e-2) {
  Tensor t;
  for (auto& v : t) v = static_cast<typename Tensor::value_type>(random_away_from(lo, hi, kinks, gap));
  return t;
}

template <class T, std::size_t... D>
tg::Tensor<T, D...> random(double lo = -2, double hi = 2, std::initializer_list<double> kinks = {}) {
  return random_tensor<tg::Tensor<T, D...>>(lo, hi, kinks);
}

template <class T, class S>
tg::TensorOf<T, S> random_of(double lo = -2, double hi = 2, std::initializer_list<double> kinks = {}) {
  return random_tensor<tg::TensorOf<T, S>>(lo, hi, kinks);
}

// Uniform in [lo, hi], every element at least `gap` from every other and from the kinks: inputs of
// max and max-pooling, whose derivative jumps where two candidates tie.
template <class T, std::size_t... D>
tg::Tensor<T, D...> random_distinct(double lo = -2, double hi = 2, std::initializer_list<double> kinks = {},
                                    double gap = 1e-3) {
  tg::Tensor<T, D...> t;
  std::vector<double> taken(kinks);
  for (auto& v : t) {
    v = static_cast<T>(random_away_from(lo, hi, taken, gap));
    taken.push_back(double(v));
  }
  return t;
}

// Draws until `acceptable(draw())` holds: random inputs kept clear of the points where the function under
// test is not smooth (a tie in a max, a ReLU at zero) or badly conditioned.
template <class Draw, class Acceptable>
auto draw_until(Draw draw, Acceptable acceptable) {
  for (int attempt = 0; attempt < 1000; ++attempt)
    if (auto t = draw(); acceptable(t)) return t;
  throw std::runtime_error("draw_until: no acceptable draw in 1000 attempts");
}

// Uniform in [lo, hi] and at least 1e-2 away from every element of `other`: operands of minimum, maximum
// and comparisons, whose derivatives jump where the two are equal.
template <class T, class S, class Other>
tg::TensorOf<T, S> random_apart_from(const Other& other, double lo = -2, double hi = 2) {
  return random_tensor<tg::TensorOf<T, S>>(lo, hi, std::vector<double>(other.begin(), other.end()));
}

// Equal within `tolerance`, relative for values of magnitude above 1 and absolute below (a sum of
// O(1) random terms can be near zero, where a purely relative bound only measures rounding noise).
inline Approx near(double expected, double tolerance) { return Approx(expected).epsilon(tolerance).margin(tolerance); }

#define TG_CHECK_GRADIENTS(result, tolerance)                                    \
  do {                                                                           \
    const auto tg_r = (result);                                                  \
    INFO("seed " << tgtest::run_seed() << " (set TG_SEED to repeat): " << tg_r); \
    CHECK(tg_r.passes(tolerance));                                               \
  } while (0)

// Checks d/dargs of loss = sum(f(args) * w) for random weights w (so each output element counts
// differently): in double against double central differences (< 1e-6), and in float against double
// central differences (< 1e-3).
template <class F, class... Args>
void check_primitive(F f, const Args&... args) {
  using S = typename decltype(tg::detail::trace<tg::detail::spec_of_t<Args>...>(f))::shape_type;
  const auto w = random_of<double, S>();
  const auto wf = tg::detail::converted<tg::TensorOf<float, S>>(w);
  auto loss = [&](auto... x) {
    auto y = f(x...);
    if constexpr (std::is_same_v<typename decltype(y)::value_type, float>)
      return tg::sum(y * wf);
    else
      return tg::sum(y * w);
  };
  TG_CHECK_GRADIENTS(tgtest::check_gradients(loss, args...), 1e-6);
  TG_CHECK_GRADIENTS(tgtest::check_gradients_in<float>(loss, args...), 1e-3);
}

// d/d(input and every parameter) of sum(layer(x) * w), w random: the gradient check for a layer
template <class Layer, class X>
void check_layer(const Layer& layer, const X& x) {
  using S = typename decltype(layer(tg::as_expr(tg::InputLeaf<0, double, typename X::shape_type, true>{})))::shape_type;
  const auto w = random_of<double, S>();
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(layer(v) * w); }, x), 1e-6);
}

// Every element of an adjoint the plan assigns (or writes in place over another) is written: the step run twice in a
// workspace full of NaN gives the same input gradient as a fresh program, bit for bit, all finite
template <class Program, class... Args>
void check_in_poisoned_workspace(Program& step, Program& fresh, const Args&... args) {
  auto poisoned = tg::host_backend::allocate(Program::workspace_bytes);
  std::fill_n(reinterpret_cast<double*>(poisoned.get()), Program::workspace_bytes / sizeof(double),
              std::numeric_limits<double>::quiet_NaN());
  step.share_workspace(poisoned);
  step(args...);
  step(args...);
  fresh(args...);
  const auto dx = step.template grad_input<0>(), dx_fresh = fresh.template grad_input<0>();
  for (std::size_t i = 0; i < dx.size(); ++i) {
    REQUIRE(std::isfinite(dx[i]));
    CHECK(dx[i] == dx_fresh[i]);
  }
}

#ifndef TYPEGRAD_TEST_DEVICE
// f(x)'s value and gradient the same on 1 and 2 threads (tg::set_num_threads), bit for bit
template <class F, class X>
void check_same_on_1_and_2_threads(F f, const X& x) {
  const auto run = [&](std::size_t threads) {
    tg::detail::thread_pool::instance().resize(threads);  // 2 parts even on 1 CPU
    auto r = tg::value_and_grad(f, x);
    tg::set_num_threads(1);
    return r;
  };
  const auto one = run(1), two = run(2);
  CHECK(one.value == two.value);
  std::size_t differ = 0;
  for (std::size_t e = 0; e < x.size(); ++e) differ += one.template grad<0>()[e] != two.template grad<0>()[e];
  CHECK(differ == 0);
}
#endif

// An element-wise op that counts how many elements it computed: y = tanh(x) (tests that a shared value is
// evaluated once).
inline std::size_t counted_elements = 0;
struct counted_tanh {
  static constexpr std::size_t arity = 1;
  static constexpr std::uint32_t nondifferentiable_args = 0;
  template <class T>
  T operator()(T x) const {
    ++counted_elements;
    return std::tanh(x);
  }
  template <std::size_t, class T>
  T d(T y, T) const {
    return T(1) - y * y;
  }
};

// A file path in a directory of this test process's own, removed when the process exits.
inline std::filesystem::path scratch_file(const std::string& name) {
  struct Dir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("typegrad-test-" + std::to_string(::getpid()));
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path / name;
}

}  // namespace tgtest
