#pragma once
// Base of nodes that run as whole-buffer kernels (matmul, reductions, softmax, losses, user primitives).
// A kernel reads children element by element through in<>() -- a child that is an element-wise region
// is computed on the fly, fused into the kernel -- or, when it declares needs_child_buffers, through
// in_data<>(). It sends adjoints with add_grad<>() (element) or grad_data<>() (buffer).
#include "typegrad/core/expr.hpp"
#include "typegrad/core/fused_loops.hpp"

namespace tg {

template <class T, class S, class... C>
struct kernel_node : node_tag {
  using value_type = T;
  using shape_type = S;
  static constexpr node_kind kind = node_kind::kernel;
  children<C...> kids;

  template <std::size_t K>
  using child_type = std::tuple_element_t<K, std::tuple<C...>>;
  template <std::size_t Id, std::size_t K>
  static constexpr std::size_t cid = child_id<Id, kernel_node, K>();

  // value of element i of child K
  template <std::size_t Id, std::size_t K, class Ctx>
  TG_HD TG_INLINE auto in(const Ctx& c, std::size_t i) const {
    return detail::value<cid<Id, K>>(child<K>(kids), c, i);
  }
  // element k of row r of child K, rows of L elements (its last axis): an operand broadcast along the leading
  // axes (attention's mask, a bias) is then read at column k, where a flat index's i % L keeps a host loop over
  // k scalar (row_index, shape.hpp)
  template <std::size_t Id, std::size_t K, std::size_t L, class Ctx>
  TG_HD TG_INLINE auto in_row(const Ctx& c, std::size_t r, std::size_t k) const {
    if constexpr (!Ctx::backend::is_device && !Ctx::materialised(cid<Id, K>) && detail::row_length<child_type<K>> == L)
      return detail::value<cid<Id, K>>(child<K>(kids), c, row_index<L>{r, k});
    else
      return in<Id, K>(c, r * L + k);
  }
  // whole buffer of child K (needs_child_buffers = true, or a child known to be materialised)
  template <std::size_t Id, std::size_t K, class Ctx>
  const auto* in_data(const Ctx& c) const {
    static_assert(Ctx::materialised(cid<Id, K>), "typegrad: in_data needs a materialised child");
    return static_cast<const typename child_type<K>::value_type*>(c.val[cid<Id, K>]);
  }
  // does child K receive a gradient in this program?
  template <std::size_t Id, std::size_t K, class Ctx>
  static constexpr bool wants_grad() {
    return Ctx::needs_adjoint(cid<Id, K>);
  }
  // adds g to the adjoint of element i of child K
  template <std::size_t Id, std::size_t K, class Ctx>
  TG_HD TG_INLINE void add_grad(const Ctx& c, std::size_t i, typename child_type<K>::value_type g) const {
    detail::accumulate<cid<Id, K>>(child<K>(kids), c, i, g);
  }
  // is child K's adjoint assigned by this kernel (=, the buffer is not cleared; plan.hpp) rather than added to?
  // Only for children named in the kernel's `assigns_child_adjoints`: its backward then writes each element once
  template <std::size_t Id, std::size_t K, class Ctx>
  static constexpr bool assigns_grad() {
    return Ctx::assigns_adjoint(cid<Id, K>);
  }
  // the adjoint buffer of child K (materialised children only), to accumulate into with += (or to assign)
  template <std::size_t Id, std::size_t K, class Ctx>
  auto* grad_data(const Ctx& c) const {
    static_assert(Ctx::materialised(cid<Id, K>), "typegrad: grad_data needs a materialised child");
    return static_cast<typename child_type<K>::value_type*>(c.adj[cid<Id, K>]);
  }
  // this kernel's working memory (declare `static constexpr std::size_t scratch_bytes`), as U[]
  template <class U, std::size_t Id, class Ctx>
  static U* scratch(const Ctx& c) {
    return static_cast<U*>(c.scratch[Id]);
  }
  template <std::size_t Id, class Ctx>
  static T* out(const Ctx& c) {
    return static_cast<T*>(c.val[Id]);
  }
  template <std::size_t Id, class Ctx>
  static const T* out_grad(const Ctx& c) {
    return static_cast<const T*>(c.adj[Id]);
  }
};

}  // namespace tg
