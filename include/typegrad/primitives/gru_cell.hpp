#pragma once
// The GRU cell's element-wise part as one kernel (PyTorch's fused GRU cell, cuDNN's pointwise step).
// Shapes: gx = x W_ih^T + b_ih [B, 3H], gh = h W_hh^T + b_hh [B, 3H] (r, z, n in that order), h [B, H]
// -> h' [B, H]:
//   r = sigmoid(gx_r + gh_r),  z = sigmoid(gx_z + gh_z),  n = tanh(gx_n + r gh_n)
//   h' = (1 - z) n + z h
// VJP for dh', with dn = dh' (1 - z) (1 - n^2):
//   d gx_n = dn,  d gh_n = dn r,  d gx_r = d gh_r = dn gh_n r (1 - r),
//   d gx_z = d gh_z = dh' (h - n) z (1 - z),  dh = dh' z
// Written as ordinary element-wise expressions, r, z and gh are used several times and read through slices:
// the regions evaluate them several times, forward and backward. Here each element is read once, and the
// activations are recomputed in the backward pass rather than stored.
#include "typegrad/core/backend.hpp"
#include "typegrad/core/errors.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/primitives/sigmoid.hpp"
#include "typegrad/primitives/tanh.hpp"

namespace tg {
namespace op {
struct gru_cell {};
}  // namespace op

template <class Gx, class Gh, class H0>
struct GruCellNode : kernel_node<typename Gx::value_type, typename H0::shape_type, Gx, Gh, H0> {
  using op_type = op::gru_cell;  // its name in tools (inspect.hpp)
  using T = typename Gx::value_type;
  static constexpr std::size_t batch = H0::shape_type::dims[0], H = H0::shape_type::dims[1];
  template <class... K2>
  using rebind = GruCellNode<K2...>;
  static constexpr bool needs_child_buffers = true;  // plain rows: the loops vectorise
  static constexpr bool runs_on_device = true;

  // One element: the three gate pre-activations from x and from h, and h ...
  TG_HD static T cell(T xr, T xz, T xn, T hr, T hz, T hn, T h) {
    const T r = op::sigmoid{}(xr + hr), z = op::sigmoid{}(xz + hz), n = op::tanh{}(xn + r * hn);
    return n + z * (h - n);
  }
  // ... and its VJP for the adjoint dy of h' (d gx_r = d gh_r and d gx_z = d gh_z: one value each)
  struct adjoints {
    T r, z, xn, hn, h;
  };
  TG_HD static adjoints cell_vjp(T xr, T xz, T xn, T hr, T hz, T hn, T h, T dy) {
    const T r = op::sigmoid{}(xr + hr), z = op::sigmoid{}(xz + hz), n = op::tanh{}(xn + r * hn);
    const T dn = dy * (T(1) - z) * (T(1) - n * n);
    return {dn * hn * r * (T(1) - r), dy * (h - n) * z * (T(1) - z), dn, dn * r, dy * z};
  }
  // Host rows (x, g = rows of gx and gh, h of the state, y of the output): the loops live in functions with
  // restrict pointers, so they vectorise without run-time alias checks.
  static void forward_row(const T* TG_RESTRICT x, const T* TG_RESTRICT g, const T* TG_RESTRICT h, T* TG_RESTRICT y) {
    for (std::size_t j = 0; j < H; ++j) y[j] = cell(x[j], x[H + j], x[2 * H + j], g[j], g[H + j], g[2 * H + j], h[j]);
  }
  template <bool ToGx, bool ToGh, bool ToH>
  static void backward_row(const T* TG_RESTRICT x, const T* TG_RESTRICT g, const T* TG_RESTRICT h,
                           const T* TG_RESTRICT dy, T* TG_RESTRICT dx, T* TG_RESTRICT dg, T* TG_RESTRICT dh) {
    for (std::size_t j = 0; j < H; ++j) {
      const adjoints d = cell_vjp(x[j], x[H + j], x[2 * H + j], g[j], g[H + j], g[2 * H + j], h[j], dy[j]);
      if constexpr (ToGx) {
        dx[j] += d.r;
        dx[H + j] += d.z;
        dx[2 * H + j] += d.xn;
      }
      if constexpr (ToGh) {
        dg[j] += d.r;
        dg[H + j] += d.z;
        dg[2 * H + j] += d.hn;
      }
      if constexpr (ToH) dh[j] += d.h;
    }
  }
  // one element of the device loop (a function: nvcc's lambdas cannot first capture inside if constexpr)
  template <bool ToGx, bool ToGh, bool ToH>
  TG_HD static void add_adjoints(const adjoints& d, T* dx, T* dg, T* dh, std::size_t b, std::size_t j) {
    if constexpr (ToGx) {
      dx[b * 3 * H + j] += d.r;
      dx[b * 3 * H + H + j] += d.z;
      dx[b * 3 * H + 2 * H + j] += d.xn;
    }
    if constexpr (ToGh) {
      dg[b * 3 * H + j] += d.r;
      dg[b * 3 * H + H + j] += d.z;
      dg[b * 3 * H + 2 * H + j] += d.hn;
    }
    if constexpr (ToH) dh[b * H + j] += d.h;
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& ctx) const {
    const T* gx = this->template in_data<Id, 0>(ctx);
    const T* gh = this->template in_data<Id, 1>(ctx);
    const T* h = this->template in_data<Id, 2>(ctx);
    T* y = this->template out<Id>(ctx);
    if constexpr (Ctx::backend::is_device) {
      const auto unit = TG_BODY_OF_VALUES((std::size_t, std::size_t, std::size_t b, std::size_t j) {
        const T* x = gx + b * 3 * H;
        const T* g = gh + b * 3 * H;
        y[b * H + j] = cell(x[j], x[H + j], x[2 * H + j], g[j], g[H + j], g[2 * H + j], h[b * H + j]);
      });
      Ctx::backend::template for_each_grid<1, batch, H>(launch::elementwise, unit);
    } else {
      for (std::size_t b = 0; b < batch; ++b) forward_row(gx + b * 3 * H, gh + b * 3 * H, h + b * H, y + b * H);
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& ctx) const {
    constexpr bool to_gx = GruCellNode::template wants_grad<Id, 0, Ctx>();
    constexpr bool to_gh = GruCellNode::template wants_grad<Id, 1, Ctx>();
    constexpr bool to_h = GruCellNode::template wants_grad<Id, 2, Ctx>();
    if constexpr (to_gx || to_gh || to_h) {
      const T* gx = this->template in_data<Id, 0>(ctx);
      const T* gh = this->template in_data<Id, 1>(ctx);
      const T* h = this->template in_data<Id, 2>(ctx);
      const T* dy = this->template out_grad<Id>(ctx);
      T* dgx = nullptr;
      T* dgh = nullptr;
      T* dh = nullptr;
      if constexpr (to_gx) dgx = this->template grad_data<Id, 0>(ctx);
      if constexpr (to_gh) dgh = this->template grad_data<Id, 1>(ctx);
      if constexpr (to_h) dh = this->template grad_data<Id, 2>(ctx);
      if constexpr (Ctx::backend::is_device) {
        const auto unit_grad = TG_BODY_OF_VALUES((std::size_t, std::size_t, std::size_t b, std::size_t j) {
          const T* x = gx + b * 3 * H;
          const T* g = gh + b * 3 * H;
          const adjoints d =
              cell_vjp(x[j], x[H + j], x[2 * H + j], g[j], g[H + j], g[2 * H + j], h[b * H + j], dy[b * H + j]);
          add_adjoints<to_gx, to_gh, to_h>(d, dgx, dgh, dh, b, j);
        });
        Ctx::backend::template for_each_grid<1, batch, H>(launch::elementwise, unit_grad);
      } else {
        for (std::size_t b = 0; b < batch; ++b)
          backward_row<to_gx, to_gh, to_h>(gx + b * 3 * H, gh + b * 3 * H, h + b * H, dy + b * H,
                                           dgx ? dgx + b * 3 * H : dgx, dgh ? dgh + b * 3 * H : dgh,
                                           dh ? dh + b * H : dh);
      }
    }
  }
};

// tg::gru_cell(gx, gh, h): gx = x W_ih^T + b_ih and gh = h W_hh^T + b_hh [B, 3H] in the order r, z, n; h [B, H];
// returns h' [B, H].
template <tensor_operand Gx, tensor_operand Gh, tensor_operand H0>
auto gru_cell(Gx&& gx, Gh&& gh, H0&& h) {
  if constexpr (any_invalid_v<Gx, Gh, H0>) {
    return invalid_expression{};
  } else {
    using SX = typename expr_t<Gx>::shape_type;
    using SG = typename expr_t<Gh>::shape_type;
    using SH = typename expr_t<H0>::shape_type;
    constexpr bool ok = [] {
      if constexpr (SX::rank == 2 && SG::rank == 2 && SH::rank == 2)
        return SX::dims[0] == SH::dims[0] && SG::dims[0] == SH::dims[0] && SX::dims[1] == 3 * SH::dims[1] &&
               SG::dims[1] == 3 * SH::dims[1];
      else
        return false;
    }();
    static_assert(detail::require<error::gru_cell_shapes_differ<op::gru_cell, SX, SG, SH, ok>>);
    using T = typename expr_t<Gx>::value_type;
    constexpr bool same_types =
        std::is_same_v<T, typename expr_t<Gh>::value_type> && std::is_same_v<T, typename expr_t<H0>::value_type>;
    using Other = std::conditional_t<std::is_same_v<T, typename expr_t<Gh>::value_type>,
                                     typename expr_t<H0>::value_type, typename expr_t<Gh>::value_type>;
    static_assert(detail::require<error::element_types_differ<op::gru_cell, T, Other, same_types>>);
    if constexpr (ok && same_types)
      return GruCellNode<expr_t<Gx>, expr_t<Gh>, expr_t<H0>>{
          {{}, {as_expr(std::forward<Gx>(gx)), as_expr(std::forward<Gh>(gh)), as_expr(std::forward<H0>(h))}}};
    else
      return invalid_expression{};
  }
}
}  // namespace tg
