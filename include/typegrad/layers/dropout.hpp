#pragma once
// Dropout(p): in training mode y = x m / (1 - p) with m ~ Bernoulli(1 - p) drawn from the layer's seeded
// generator (same seed and same steps, same masks); in evaluation mode y = x.  VJP: dx = dy m / (1 - p).
#include <cstdint>
#include <random>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/module.hpp"

namespace tg {

struct Dropout {
  double p = 0.5;
  bool training = true;
  std::mt19937_64 generator{0};
  explicit Dropout(double rate = 0.5, std::uint64_t seed = 0) : p(rate), generator(seed) {
    if (!(rate >= 0 && rate < 1)) throw std::invalid_argument("tg::Dropout: p must be in [0, 1)");
  }
  template <class S>
  static constexpr bool accepts = true;
  template <tensor_operand X>
  auto operator()(X&& x) const;
};

namespace op {
struct dropout {};
}  // namespace op

template <class X>
struct DropoutNode : kernel_node<typename X::value_type, typename X::shape_type, X> {
  using op_type = op::dropout;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  static constexpr bool mergeable = false;     // two dropouts of one input draw different masks
  static constexpr bool draws_random = true;  // a second forward would draw another mask (tg::checkpoint refuses)
  template <class... K2>
  using rebind = DropoutNode<K2...>;
  static constexpr std::size_t scratch_bytes = X::shape_type::size;  // the mask, kept for backward
  Dropout* layer = nullptr;
  template <class R>
  void copy_payload_to(R& r) const {
    r.layer = layer;
  }

  static constexpr bool runs_on_device = true;
  static constexpr std::size_t n = X::shape_type::size;

  // Counter-based draw for device backends (no sequential generator state): splitmix64 of (seed + i).
  static TG_HD TG_INLINE std::uint64_t hash(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    T* y = this->template out<Id>(c);
    const bool train = layer->training;
    const T scale = T(1) / T(1 - layer->p);
    const std::uint64_t threshold = std::uint64_t(layer->p * 18446744073709551616.0);  // p 2^64
    std::uint8_t* mask = this->template scratch<std::uint8_t, Id>(c);
    if constexpr (Bk::is_device) {  // one draw from the layer's generator per step, then a hash per element
      const std::uint64_t seed = train ? layer->generator() : 0;
      const auto mask_and_scale = TG_BODY((std::size_t i) {
        const T v = this->template in<Id, 0>(c, i);
        mask[i] = !train || hash(seed + i) >= threshold;
        y[i] = !train ? v : mask[i] ? v * scale : T(0);
      });
      Bk::for_each(launch::elementwise, n, mask_and_scale);
    } else if (!train) {
      for (std::size_t i = 0; i < n; ++i) y[i] = this->template in<Id, 0>(c, i);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        mask[i] = layer->generator() >= threshold;
        y[i] = mask[i] ? this->template in<Id, 0>(c, i) * scale : T(0);
      }
    }
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (DropoutNode::template wants_grad<Id, 0, Ctx>()) {
      const T* g = this->template out_grad<Id>(c);
      const bool train = layer->training;
      const T scale = T(1) / T(1 - layer->p);
      const std::uint8_t* mask = this->template scratch<std::uint8_t, Id>(c);
      const auto masked_grad = TG_BODY((std::size_t i) {
        if (!train || mask[i]) this->template add_grad<Id, 0>(c, i, train ? g[i] * scale : g[i]);
      });
      Ctx::backend::for_each(launch::elementwise, n, masked_grad);
    }
  }
};

template <tensor_operand X>
auto Dropout::operator()(X&& x) const {
  DropoutNode<expr_t<X>> n{{{}, {as_expr(std::forward<X>(x))}}};
  n.layer = const_cast<Dropout*>(this);
  return n;
}

}  // namespace tg
