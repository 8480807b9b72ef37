#pragma once
// Recurrent layers over [batch, time, features], run with tg::scan (the type does not grow with time).
// Weights in PyTorch's layout, order and names: weight_ih_l0 [G H, F], weight_hh_l0 [G H, H], bias_ih_l0,
// bias_hh_l0 [G H], so a PyTorch state_dict of nn.RNN / nn.LSTM / nn.GRU (one layer, batch_first) loads as is.
//   RNN:  h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
//   LSTM: (i, f, g, o) = split(x W_ih^T + b_ih + h W_hh^T + b_hh);  i, f, o = sigmoid, g = tanh
//         c' = f c + i g;  h' = o tanh(c')            carry [B, 2H] = [h, c]
//   GRU:  (r, z) = sigmoid(split(x W_ih^T + b_ih + h W_hh^T + b_hh)[0:2H])
//         n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn));  h' = (1 - z) n + z h
// Each returns the hidden states of every step, [batch, time, H]; the initial state is zero.
#include "typegrad/core/init.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/primitives/add.hpp"
#include "typegrad/primitives/concat.hpp"
#include "typegrad/primitives/gru_cell.hpp"
#include "typegrad/primitives/lstm_cell.hpp"
#include "typegrad/primitives/matmul.hpp"
#include "typegrad/primitives/operators.hpp"
#include "typegrad/primitives/permute.hpp"
#include "typegrad/primitives/scan.hpp"
#include "typegrad/primitives/sigmoid.hpp"
#include "typegrad/primitives/slice.hpp"
#include "typegrad/primitives/tanh.hpp"

namespace tg {

namespace detail {
template <std::size_t F, std::size_t H, std::size_t Gates, class T>
struct recurrent_weights {
  // PyTorch's names for layer 0 of nn.RNN / nn.LSTM / nn.GRU, held by the layer itself (names_inline)
  BOOST_HANA_DEFINE_STRUCT(recurrent_weights, (Parameter<T, Gates * H, F>, weight_ih_l0),
                           (Parameter<T, Gates * H, H>, weight_hh_l0), (Parameter<T, Gates * H>, bias_ih_l0),
                           (Parameter<T, Gates * H>, bias_hh_l0));
  static constexpr bool names_inline = true;
  // PyTorch: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))
  recurrent_weights() { init::from_default_stream(*this); }
  explicit recurrent_weights(std::uint64_t seed) { init::from_seed(*this, seed); }
  void reset_parameters(init::Generator& g) {
    const double b = 1.0 / std::sqrt(double(H));
    init::uniform(weight_ih_l0, -b, b, g);
    init::uniform(weight_hh_l0, -b, b, g);
    init::uniform(bias_ih_l0, -b, b, g);
    init::uniform(bias_hh_l0, -b, b, g);
  }
  // x W_ih^T + b_ih for every step at once, [B, T, F] -> [B, T, G H]: one GEMM of B T rows outside the
  // recurrence (as cuDNN and PyTorch do); only h W_hh^T stays inside it.
  auto input_part(auto xs) const { return matmul(xs, transpose(weight_ih_l0)) + bias_ih_l0; }
  auto hidden_part(auto h) const { return matmul(h, transpose(weight_hh_l0)) + bias_hh_l0; }
  // RNN and LSTM add both biases outside the recurrence, so the step's region has no broadcast operand
  auto input_part_with_both_biases(auto xs) const { return input_part(xs) + bias_hh_l0; }
  auto hidden_product(auto h) const { return matmul(h, transpose(weight_hh_l0)); }
};

// runs cell(carry, g_t) over time, g = project(xs) computed time-major (the permute moves the narrower
// input, not the projection): xs [B, T, F] -> carries [B, T, C]
template <std::size_t C, class Cell, class Project, class X>
auto run_over_time(const Cell& cell, const Project& project, X&& xs) {
  using S = typename expr_t<X>::shape_type;
  using T = typename expr_t<X>::value_type;
  static const Tensor<T, S::dims[0], C> zero(T(0));
  return permute<1, 0, 2>(scan(cell, zero, project(permute<1, 0, 2>(std::forward<X>(xs)))));
}

template <std::size_t F, class S>
constexpr bool is_sequence_of() {
  return S::rank == 3 && S::dims[2] == F;
}
}  // namespace detail

template <std::size_t F, std::size_t H, class T = float>
struct RNN {
  BOOST_HANA_DEFINE_STRUCT(RNN, (detail::recurrent_weights<F, H, 1, T>, cell));
  template <class S>
  static constexpr bool accepts = detail::is_sequence_of<F, S>();
  RNN() = default;
  explicit RNN(std::uint64_t seed) : cell(seed) {}
  auto step(auto h, auto gx) const { return tanh(gx + cell.hidden_product(h)); }  // gx = x W_ih^T + b_ih + b_hh
  template <tensor_operand X>
  auto operator()(X&& xs) const {
    static_assert(detail::require<error::layer_does_not_accept_input<RNN, typename expr_t<X>::shape_type,
                                                                     accepts<typename expr_t<X>::shape_type>>>);
    if constexpr (accepts<typename expr_t<X>::shape_type>)
      return detail::run_over_time<H>([&](auto h, auto gx) { return step(h, gx); },
                                      [&](auto x) { return cell.input_part_with_both_biases(x); }, std::forward<X>(xs));
    else
      return invalid_expression{};
  }
};

template <std::size_t F, std::size_t H, class T = float>
struct LSTM {
  BOOST_HANA_DEFINE_STRUCT(LSTM, (detail::recurrent_weights<F, H, 4, T>, cell));
  template <class S>
  static constexpr bool accepts = detail::is_sequence_of<F, S>();
  LSTM() = default;
  explicit LSTM(std::uint64_t seed) : cell(seed) {}
  // carry = [h, c] along features
  auto step(auto carry, auto gx) const {  // gx = x W_ih^T + b_ih + b_hh
    auto h = slice<1, 0, H>(carry);
    auto c = slice<1, H, 2 * H>(carry);
    return lstm_cell(gx + cell.hidden_product(h), c);
  }
  template <tensor_operand X>
  auto operator()(X&& xs) const {
    static_assert(detail::require<error::layer_does_not_accept_input<LSTM, typename expr_t<X>::shape_type,
                                                                     accepts<typename expr_t<X>::shape_type>>>);
    if constexpr (accepts<typename expr_t<X>::shape_type>)
      return slice<2, 0, H>(detail::run_over_time<2 * H>([&](auto c, auto gx) { return step(c, gx); },
                                                         [&](auto x) { return cell.input_part_with_both_biases(x); },
                                                         std::forward<X>(xs)));
    else
      return invalid_expression{};
  }
};

template <std::size_t F, std::size_t H, class T = float>
struct GRU {
  BOOST_HANA_DEFINE_STRUCT(GRU, (detail::recurrent_weights<F, H, 3, T>, cell));
  template <class S>
  static constexpr bool accepts = detail::is_sequence_of<F, S>();
  GRU() = default;
  explicit GRU(std::uint64_t seed) : cell(seed) {}
  auto step(auto h, auto gx) const { return gru_cell(gx, cell.hidden_part(h), h); }  // gx = x W_ih^T + b_ih
  template <tensor_operand X>
  auto operator()(X&& xs) const {
    static_assert(detail::require<error::layer_does_not_accept_input<GRU, typename expr_t<X>::shape_type,
                                                                     accepts<typename expr_t<X>::shape_type>>>);
    if constexpr (accepts<typename expr_t<X>::shape_type>)
      return detail::run_over_time<H>([&](auto h, auto gx) { return step(h, gx); },
                                      [&](auto x) { return cell.input_part(x); }, std::forward<X>(xs));
    else
      return invalid_expression{};
  }
};

}  // namespace tg
