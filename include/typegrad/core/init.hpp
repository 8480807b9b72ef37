#pragma once
// Parameter initialisation from one random stream (same seed, bitwise the same parameters).
//   A layer with random parameters declares reset_parameters(Generator&) (PyTorch's name). Constructed with
//   a seed it draws from its own Generator(seed); default-constructed it draws from default_generator(), one
//   stream for the process (PyTorch's global generator, re-seeded by manual_seed), so two default layers
//   differ. initialize(model, seed) re-draws a whole model from one Generator(seed), module by module in
//   walk order (composite layers constructed with a seed do this).
//   kaiming_uniform: U(-b, b), b = gain sqrt(3 / fan_in)      kaiming_normal: N(0, gain^2 / fan_in)
//   xavier_uniform:  U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))   xavier_normal: N(0, 2 gain^2 / (fan_in + fan_out))
// fan_in = dims[1] * receptive field, fan_out = dims[0] * receptive field (PyTorch's convention for
// [out, in, ...] weights). Samples come from std::mt19937_64 through our own transforms, so they do not
// depend on the standard library's distribution implementations.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

#include <mutex>

#include "typegrad/core/module.hpp"
#include "typegrad/core/tensor.hpp"

namespace tg::init {

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : engine_(seed) {}
  double uniform01() { return double(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  double normal() {  // Box-Muller
    const double u1 = 1.0 - uniform01(), u2 = uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

template <class P>
struct fans {
  using S = typename P::shape_type;
  static constexpr std::size_t receptive = S::rank > 2 ? S::size / (S::dims[0] * S::dims[1]) : 1;
  static constexpr std::size_t in = S::rank >= 2 ? S::dims[1] * receptive : S::size;
  static constexpr std::size_t out = S::rank >= 2 ? S::dims[0] * receptive : S::size;
};

template <class P>
void uniform(P& p, double lo, double hi, Generator& g) {
  for (auto& v : p.value) v = static_cast<typename P::value_type>(g.uniform(lo, hi));
}
template <class P>
void normal(P& p, double mean, double stddev, Generator& g) {
  for (auto& v : p.value) v = static_cast<typename P::value_type>(mean + stddev * g.normal());
}
template <class P>
void constant(P& p, double value) {
  for (auto& v : p.value) v = static_cast<typename P::value_type>(value);
}
template <class P>
void zeros(P& p) {
  constant(p, 0.0);
}
template <class P>
void ones(P& p) {
  constant(p, 1.0);
}
template <class P>
void kaiming_uniform(P& p, Generator& g, double gain = std::sqrt(2.0)) {
  const double b = gain * std::sqrt(3.0 / double(fans<P>::in));
  uniform(p, -b, b, g);
}
template <class P>
void kaiming_normal(P& p, Generator& g, double gain = std::sqrt(2.0)) {
  normal(p, 0.0, gain / std::sqrt(double(fans<P>::in)), g);
}
template <class P>
void xavier_uniform(P& p, Generator& g, double gain = 1.0) {
  const double b = gain * std::sqrt(6.0 / double(fans<P>::in + fans<P>::out));
  uniform(p, -b, b, g);
}
template <class P>
void xavier_normal(P& p, Generator& g, double gain = 1.0) {
  normal(p, 0.0, gain * std::sqrt(2.0 / double(fans<P>::in + fans<P>::out)), g);
}
// The process-wide stream of default-constructed layers, and its lock (layers may be built on several threads).
inline Generator& default_generator() {
  static Generator g(0);
  return g;
}
inline std::mutex& default_generator_mutex() {
  static std::mutex m;
  return m;
}
// Re-seeds the stream default-constructed layers draw from.
inline void manual_seed(std::uint64_t seed) {
  const std::lock_guard lock(default_generator_mutex());
  default_generator() = Generator(seed);
}
// layer.reset_parameters(g) from the default stream (a default constructor's body)
template <class Layer>
void from_default_stream(Layer& layer) {
  const std::lock_guard lock(default_generator_mutex());
  layer.reset_parameters(default_generator());
}
// layer.reset_parameters(Generator(seed)) (a seeded leaf constructor's body)
template <class Layer>
void from_seed(Layer& layer, std::uint64_t seed) {
  Generator g(seed);
  layer.reset_parameters(g);
}

// Every module of `model` that has reset_parameters draws from g, in walk order (parents first, members in
// declaration order): one stream for the whole model.
template <class Model>
void initialize(Model& model, Generator& g) {
  for_each_module(model, [&](const std::string&, auto& m) {
    if constexpr (requires { m.reset_parameters(g); }) m.reset_parameters(g);
  });
}
template <class Model>
void initialize(Model& model, std::uint64_t seed) {
  Generator g(seed);
  initialize(model, g);
}

// PyTorch's default for Linear and Conv2d: kaiming_uniform with a = sqrt(5) (bound 1/sqrt(fan_in)) for the
// weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
template <class W, class B>
void torch_default(W& weight, B* bias, Generator& g) {
  const double b = 1.0 / std::sqrt(double(fans<W>::in));
  uniform(weight, -b, b, g);
  if (bias) uniform(*bias, -b, b, g);
}

}  // namespace tg::init
