#pragma once
// y[i..., :] = table[index[i...], :] (embedding lookup); table [V, D], index an int32 tensor of any shape.
// VJP: dtable[index[i...], :] += dy[i..., :] (scatter-add; repeated indices accumulate). No gradient to index.
#include <stdexcept>
#include <string>

#include "typegrad/core/backend.hpp"
#include "typegrad/core/kernel.hpp"

namespace tg {
namespace op {
struct gather {};
}  // namespace op

namespace detail {
template <class Index, class Table>
struct gather_shape;
template <std::size_t... I, class Table>
struct gather_shape<shape<I...>, Table> {
  using type = shape<I..., Table::dims[1]>;
};
}  // namespace detail

template <class Table, class Index>
struct Gather : kernel_node<typename Table::value_type,
                            typename detail::gather_shape<typename Index::shape_type, typename Table::shape_type>::type,
                            Table, Index> {
  using op_type = op::gather;  // its name in tools (inspect.hpp)
  using T = typename Table::value_type;
  static constexpr std::uint32_t nondifferentiable_children = 0b10;
  static constexpr bool needs_child_buffers = true;
  static constexpr std::size_t V = Table::shape_type::dims[0], D = Table::shape_type::dims[1];
  static constexpr std::size_t count = Index::shape_type::size;
  template <class... K2>
  using rebind = Gather<K2...>;

  static constexpr bool runs_on_device = true;

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* table = this->template in_data<Id, 0>(c);
    const auto* index = this->template in_data<Id, 1>(c);
    T* y = this->template out<Id>(c);
    using I = std::remove_cvref_t<decltype(index[0])>;
    std::size_t i = 0;
    I v = 0;
    if constexpr (Bk::is_device) {
      i = Bk::first_outside(index, count, I(V));
      if (i < count) Bk::download(&v, index + i, sizeof v);
    } else {
      for (; i < count; ++i)
        if (index[i] < 0 || std::size_t(index[i]) >= V) {
          v = index[i];
          break;
        }
    }
    if (i < count)
      throw std::out_of_range("typegrad: gather: index " + std::to_string(v) + " at position " + std::to_string(i) +
                              " is outside the table's " + std::to_string(V) + " rows");
    Bk::for_each(launch::elementwise, count * D,
                 TG_BODY((std::size_t e) { y[e] = table[std::size_t(index[e / D]) * D + e % D]; }));
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (Gather::template wants_grad<Id, 0, Ctx>()) {
      const auto* index = this->template in_data<Id, 1>(c);
      const T* g = this->template out_grad<Id>(c);
      T* dt = this->template grad_data<Id, 0>(c);
      const auto scatter_add = TG_BODY((std::size_t e) {  // repeated rows add up
        accumulate_into<Ctx>(dt, std::size_t(index[e / D]) * D + e % D, g[e]);
      });
      Ctx::backend::for_each(launch::elementwise, count * D, scatter_add);
    }
  }
};

template <tensor_operand XT, tensor_operand XI>
auto gather(XT&& table, XI&& index) {
  if constexpr (any_invalid_v<XT, XI>) {
    return invalid_expression{};
  } else {
    using ST = typename expr_t<XT>::shape_type;
    using TI = typename expr_t<XI>::value_type;
    static_assert(detail::require<error::needs_rank<op::gather, ST, ST::rank == 2>>);
    static_assert(detail::require<error::indices_must_be_integers<op::gather, ST, TI, std::is_integral_v<TI>>>);
    if constexpr (ST::rank == 2 && std::is_integral_v<TI>)
      return Gather<expr_t<XT>, expr_t<XI>>{{{}, {as_expr(std::forward<XT>(table)), as_expr(std::forward<XI>(index))}}};
    else
      return invalid_expression{};
  }
}
}  // namespace tg
