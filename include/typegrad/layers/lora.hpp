#pragma once
// LoRA (Hu et al. 2021): a frozen weight W adapted by a trainable low-rank product,
//   y = x W^T + b + (alpha / r) (x A^T) B^T,   A [r, In] (PyTorch's default Linear init), B [Out, r] (zero)
// (the adapter's product accumulated into the base product's buffer: tg::matmul_sum)
// so training starts from the pretrained function and learns r (In + Out) numbers per projection. W and b are
// frozen at compile time (no gradient code for them). Names follow the base layer plus PEFT's adapter names
// (`linear1.weight`, `linear1.lora_A.weight`, `linear1.lora_B.weight`), so a pretrained checkpoint loads into the
// adapted model by name (the adapters are its only missing tensors) and `tg::save_adapters` writes the adapters
// alone as PEFT does. `merged()` gives the plain layer with W + (alpha / r) B A for inference.
//   LoraLinear<In, Out, Rank>                     a Linear with an adapter
//   LoraMultiHeadAttention<E, Heads, Causal, Rank> in_proj (q, k, v together) and out_proj adapted
//   LoraTransformerBlock<E, Heads, Hidden, Causal, Rank>  TransformerEncoderBlock with its four projections
//                                                 adapted and its LayerNorms frozen
#include "typegrad/core/transform.hpp"
#include "typegrad/layers/attention.hpp"
#include "typegrad/layers/layer_norm.hpp"
#include "typegrad/layers/linear.hpp"
#include "typegrad/layers/residual.hpp"
#include "typegrad/layers/transformer.hpp"
#include "typegrad/primitives/matmul_sum.hpp"
#include "typegrad/primitives/relu.hpp"

namespace tg {

namespace detail {
// B A for an adapter (lora_B [Out, r], lora_A [r, In]): the [Out, In] update, on the host
template <class T, std::size_t Out, std::size_t R, std::size_t In>
void add_low_rank(Parameter<T, Out, In>& w, const Parameter<T, Out, R>& b, const Parameter<T, R, In>& a, double scale) {
  for (std::size_t o = 0; o < Out; ++o)
    for (std::size_t i = 0; i < In; ++i) {
      double s = 0;
      for (std::size_t k = 0; k < R; ++k) s += double(b.value[o * R + k]) * double(a.value[k * In + i]);
      w.value[o * In + i] += T(scale * s);
    }
}

// x W^T + b + (s x A^T) B^T with W and b frozen: the adapter's product accumulates into the base projection's
// buffer (tg::matmul_sum), so the adapter adds activations of [rows, r] only, not [rows, Out]
template <class X, class W, class Bias, class Down, class Up>
auto adapted_projection(const X& h, const W& weight, const Bias& bias, const Down& lora_A, const Up& lora_B,
                        double scaling) {
  return matmul_sum(h, transpose(freeze(weight)), lora_A(h) * scaling, transpose(lora_B.weight)) + freeze(bias);
}
}  // namespace detail

// An adapter's B: x -> x B^T, B [Out, r], zero-initialised (PEFT's lora_B, a Linear without bias)
template <std::size_t Rank, std::size_t Out, class T = float>
struct LoraUp {
  BOOST_HANA_DEFINE_STRUCT(LoraUp, (Parameter<T, Out, Rank>, weight));
  LoraUp() { init::zeros(weight); }
  void reset_parameters(init::Generator&) { init::zeros(weight); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return matmul(std::forward<X>(x), transpose(weight));
  }
};

template <std::size_t In, std::size_t Out, std::size_t Rank, class T = float>
struct LoraLinear {
  static_assert(Rank >= 1 && Rank <= (In < Out ? In : Out), "tg::LoraLinear: the rank must be in [1, min(In, Out)]");
  BOOST_HANA_DEFINE_STRUCT(LoraLinear, (Parameter<T, Out, In>, weight), (Parameter<T, Out>, bias),
                           (Linear<In, Rank, T, false>, lora_A), (LoraUp<Rank, Out, T>, lora_B));
  double scaling = 1.0;  // alpha / r (PEFT's lora_alpha / r)
  template <class S>
  static constexpr bool accepts = S::rank >= 1 && S::dims[S::rank - 1] == In;

  LoraLinear() { init::from_default_stream(*this); }
  explicit LoraLinear(std::uint64_t seed) { init::initialize(*this, seed); }
  // the base as PyTorch's Linear; A initialises itself as PyTorch's Linear (PEFT's kaiming_uniform(a = sqrt 5)),
  // B as zero (tg::init visits them after this)
  void reset_parameters(init::Generator& g) { init::torch_default(weight, &bias, g); }
  template <tensor_operand X>
  auto operator()(X&& x) const {
    return let(std::forward<X>(x),
               [this](auto h) { return detail::adapted_projection(h, weight, bias, lora_A, lora_B, scaling); });
  }
  // the plain Linear computing the same: W + (alpha / r) B A
  Linear<In, Out, T> merged() const {
    Linear<In, Out, T> l;
    l.weight = weight;
    l.bias = bias;
    detail::add_low_rank(l.weight, lora_B.weight, lora_A.weight, scaling);
    return l;
  }
};

template <std::size_t E, std::size_t Heads, bool Causal, std::size_t Rank, class T = float>
struct LoraMultiHeadAttention {
  using Base = MultiHeadAttention<E, Heads, Causal, T>;
  // nn.MultiheadAttention's names, the in_proj adapter on the module itself (lora_A [r, E], lora_B [3E, r])
  BOOST_HANA_DEFINE_STRUCT(LoraMultiHeadAttention, (Parameter<T, 3 * E, E>, in_proj_weight),
                           (Parameter<T, 3 * E>, in_proj_bias), (LoraLinear<E, E, Rank, T>, out_proj),
                           (Linear<E, Rank, T, false>, lora_A), (LoraUp<Rank, 3 * E, T>, lora_B));
  double scaling = 1.0;
  template <class S>
  static constexpr bool accepts = Base::template accepts<S>;

  LoraMultiHeadAttention() { init::from_default_stream(*this); }
  explicit LoraMultiHeadAttention(std::uint64_t seed) { init::initialize(*this, seed); }
  void reset_parameters(init::Generator& g) {  // as MultiHeadAttention; the adapters initialise themselves
    init::xavier_uniform(in_proj_weight, g);
    init::zeros(in_proj_bias);
  }
  template <tensor_operand X, class... Masks>
  auto operator()(X&& x, const Masks&... masks) const {
    const auto in_projection = [this](auto&& x2) {
      return let(std::forward<decltype(x2)>(x2), [this](auto h) {
        return detail::adapted_projection(h, in_proj_weight, in_proj_bias, lora_A, lora_B, scaling);
      });
    };
    return Base::attend(std::forward<X>(x), in_projection, out_proj, masks...);
  }
  Base merged() const {
    Base m;
    m.in_proj_weight = in_proj_weight;
    m.in_proj_bias = in_proj_bias;
    detail::add_low_rank(m.in_proj_weight, lora_B.weight, lora_A.weight, scaling);
    m.out_proj = out_proj.merged();
    return m;
  }
};

// Pre-LN block (layers/transformer.hpp) with LoRA on in_proj, out_proj, linear1 and linear2; LayerNorms frozen.
template <std::size_t E, std::size_t Heads, std::size_t Hidden, bool Causal, std::size_t Rank, class T = float>
struct LoraTransformerBlock {
  BOOST_HANA_DEFINE_STRUCT(LoraTransformerBlock, (LayerNorm<E, T>, norm1),
                           (LoraMultiHeadAttention<E, Heads, Causal, Rank, T>, self_attn), (LayerNorm<E, T>, norm2),
                           (LoraLinear<E, Hidden, Rank, T>, linear1), (LoraLinear<Hidden, E, Rank, T>, linear2));
  template <class S>
  static constexpr bool accepts = S::rank == 3 && S::dims[2] == E;
  LoraTransformerBlock() = default;
  explicit LoraTransformerBlock(std::uint64_t seed) { init::initialize(*this, seed); }
  // every adapter's alpha / r
  void set_scaling(double s) { self_attn.scaling = self_attn.out_proj.scaling = linear1.scaling = linear2.scaling = s; }
  template <tensor_operand X, class... Masks>
  auto operator()(X&& x, const Masks&... masks) const {
    auto attend = residual([&](auto h) { return self_attn(frozen(norm1)(h), masks...); });
    auto feed_forward = residual([this](auto h) { return linear2(relu(linear1(frozen(norm2)(h)))); });
    return feed_forward(attend(std::forward<X>(x)));
  }
  TransformerEncoderBlock<E, Heads, Hidden, Causal, T> merged() const {
    TransformerEncoderBlock<E, Heads, Hidden, Causal, T> b;
    b.norm1 = norm1;
    b.norm2 = norm2;
    b.self_attn = self_attn.merged();
    b.linear1 = linear1.merged();
    b.linear2 = linear2.merged();
    return b;
  }
};

}  // namespace tg
