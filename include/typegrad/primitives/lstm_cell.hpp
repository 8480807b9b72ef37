#pragma once
// The LSTM cell's element-wise part as one kernel (PyTorch's fused LSTM cell, cuDNN's pointwise step).
// Shapes: gates [B, 4H] (pre-activations of i, f, g, o in that order), c [B, H] -> [B, 2H] = [h', c'].
//   i, f, o = sigmoid(gates_i, gates_f, gates_o),  g = tanh(gates_g)
//   c' = f c + i g,   h' = o tanh(c')
// VJP, with t = tanh(c') and dc'' = dc' + dh' o (1 - t^2):
//   d gates_i = dc'' g i (1 - i),  d gates_f = dc'' c f (1 - f),  d gates_g = dc'' i (1 - g^2),
//   d gates_o = dh' t o (1 - o),   dc = dc'' f
// Written as ordinary element-wise expressions, the gate activations are shared by c' and h' and
// slices of one buffer: the regions evaluate each several times, forward and backward, and do not
// vectorise across the slices. Here each element of each gate is read once, and the activations are
// recomputed in the backward pass rather than stored.
#include "typegrad/core/backend.hpp"
#include "typegrad/core/errors.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/primitives/sigmoid.hpp"
#include "typegrad/primitives/tanh.hpp"

namespace tg {
namespace op {
struct lstm_cell {};
}  // namespace op

template <class Gates, class C>
struct LstmCellNode
    : kernel_node<typename Gates::value_type,
                  shape<Gates::shape_type::dims[0], 2 * C::shape_type::dims[1]>, Gates, C> {
  using op_type = op::lstm_cell;  // its name in tools (inspect.hpp)
  using T = typename Gates::value_type;
  static constexpr std::size_t batch = C::shape_type::dims[0], H = C::shape_type::dims[1];
  template <class... K2>
  using rebind = LstmCellNode<K2...>;
  static constexpr bool needs_child_buffers = true;  // plain rows: the loops vectorise
  static constexpr bool runs_on_device = true;

  // One element: the four gate pre-activations and c in, (h', c') out ...
  struct values {
    T h, c;
  };
  TG_HD static values cell(T ai, T af, T ag, T ao, T c) {
    const T c_next = op::sigmoid{}(af) * c + op::sigmoid{}(ai) * op::tanh{}(ag);
    return {op::sigmoid{}(ao) * op::tanh{}(c_next), c_next};
  }
  // ... and its VJP for the adjoints (dh', dc') of the outputs
  struct adjoints {
    T i, f, g, o, c;
  };
  TG_HD static adjoints cell_vjp(T ai, T af, T ag, T ao, T c, T dh, T dc) {
    const T i = op::sigmoid{}(ai), f = op::sigmoid{}(af), g = op::tanh{}(ag), o = op::sigmoid{}(ao);
    const T t = op::tanh{}(f * c + i * g);
    const T dc_next = dc + dh * o * (T(1) - t * t);
    return {dc_next * g * i * (T(1) - i), dc_next * c * f * (T(1) - f), dc_next * i * (T(1) - g * g),
            dh * t * o * (T(1) - o), dc_next * f};
  }
  // Host rows (a = a row of gates, c of the cell state, y of the output [h', c']): the loops live in
  // functions with restrict pointers, so they vectorise without run-time alias checks.
  static void forward_row(const T* TG_RESTRICT a, const T* TG_RESTRICT c, T* TG_RESTRICT y) {
    for (std::size_t j = 0; j < H; ++j) {
      const values v = cell(a[j], a[H + j], a[2 * H + j], a[3 * H + j], c[j]);
      y[j] = v.h;
      y[H + j] = v.c;
    }
  }
  template <bool ToGates, bool ToC>
  TG_HD static void add_adjoints(const adjoints& d, T* da, T* dc, std::size_t b, std::size_t j) {
    if constexpr (ToGates) {
      da[b * 4 * H + j] += d.i;
      da[b * 4 * H + H + j] += d.f;
      da[b * 4 * H + 2 * H + j] += d.g;
      da[b * 4 * H + 3 * H + j] += d.o;
    }
    if constexpr (ToC) dc[b * H + j] += d.c;
  }
  template <bool ToGates, bool ToC>
  static void backward_row(const T* TG_RESTRICT a, const T* TG_RESTRICT c, const T* TG_RESTRICT dy,
                           T* TG_RESTRICT da, T* TG_RESTRICT dc) {
    for (std::size_t j = 0; j < H; ++j) {
      const adjoints d = cell_vjp(a[j], a[H + j], a[2 * H + j], a[3 * H + j], c[j], dy[j], dy[H + j]);
      if constexpr (ToGates) {
        da[j] += d.i;
        da[H + j] += d.f;
        da[2 * H + j] += d.g;
        da[3 * H + j] += d.o;
      }
      if constexpr (ToC) dc[j] += d.c;
    }
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& ctx) const {
    const T* gates = this->template in_data<Id, 0>(ctx);
    const T* c = this->template in_data<Id, 1>(ctx);
    T* y = this->template out<Id>(ctx);
    if constexpr (Ctx::backend::is_device) {
      const auto unit = TG_BODY_OF_VALUES((std::size_t, std::size_t, std::size_t b, std::size_t j) {
        const T* a = gates + b * 4 * H;
        const values v = cell(a[j], a[H + j], a[2 * H + j], a[3 * H + j], c[b * H + j]);
        y[b * 2 * H + j] = v.h;
        y[b * 2 * H + H + j] = v.c;
      });
      Ctx::backend::template for_each_grid<1, batch, H>(launch::elementwise, unit);
    } else {
      for (std::size_t b = 0; b < batch; ++b) forward_row(gates + b * 4 * H, c + b * H, y + b * 2 * H);
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& ctx) const {
    constexpr bool to_gates = LstmCellNode::template wants_grad<Id, 0, Ctx>();
    constexpr bool to_c = LstmCellNode::template wants_grad<Id, 1, Ctx>();
    if constexpr (to_gates || to_c) {
      const T* gates = this->template in_data<Id, 0>(ctx);
      const T* c = this->template in_data<Id, 1>(ctx);
      const T* dy = this->template out_grad<Id>(ctx);
      T* dgates = nullptr;
      T* dc = nullptr;
      if constexpr (to_gates) dgates = this->template grad_data<Id, 0>(ctx);
      if constexpr (to_c) dc = this->template grad_data<Id, 1>(ctx);
      if constexpr (Ctx::backend::is_device) {
        const auto unit_grad = TG_BODY_OF_VALUES((std::size_t, std::size_t, std::size_t b, std::size_t j) {
          const T* a = gates + b * 4 * H;
          const adjoints d = cell_vjp(a[j], a[H + j], a[2 * H + j], a[3 * H + j], c[b * H + j], dy[b * 2 * H + j],
                                      dy[b * 2 * H + H + j]);
          // a function, not if constexpr here: nvcc's lambdas cannot first capture inside if constexpr
          add_adjoints<to_gates, to_c>(d, dgates, dc, b, j);
        });
        Ctx::backend::template for_each_grid<1, batch, H>(launch::elementwise, unit_grad);
      } else {
        for (std::size_t b = 0; b < batch; ++b)
          backward_row<to_gates, to_c>(gates + b * 4 * H, c + b * H, dy + b * 2 * H,
                                       dgates ? dgates + b * 4 * H : dgates, dc ? dc + b * H : dc);
      }
    }
  }
};

// tg::lstm_cell(gates, c): gates [B, 4H] in the order i, f, g, o; c [B, H]; returns [B, 2H] = [h', c'].
template <tensor_operand G, tensor_operand C>
auto lstm_cell(G&& gates, C&& c) {
  if constexpr (any_invalid_v<G, C>) {
    return invalid_expression{};
  } else {
    using SG = typename expr_t<G>::shape_type;
    using SC = typename expr_t<C>::shape_type;
    constexpr bool ok = [] {
      if constexpr (SG::rank == 2 && SC::rank == 2)
        return SG::dims[0] == SC::dims[0] && SG::dims[1] == 4 * SC::dims[1];
      else
        return false;
    }();
    static_assert(detail::require<error::lstm_cell_shapes_differ<op::lstm_cell, SG, SC, ok>>);
    static_assert(detail::require<error::element_types_differ<op::lstm_cell, typename expr_t<G>::value_type,
                                                              typename expr_t<C>::value_type,
                                                              std::is_same_v<typename expr_t<G>::value_type,
                                                                             typename expr_t<C>::value_type>>>);
    if constexpr (ok && std::is_same_v<typename expr_t<G>::value_type, typename expr_t<C>::value_type>)
      return LstmCellNode<expr_t<G>, expr_t<C>>{{{}, {as_expr(std::forward<G>(gates)), as_expr(std::forward<C>(c))}}};
    else
      return invalid_expression{};
  }
}
}  // namespace tg
