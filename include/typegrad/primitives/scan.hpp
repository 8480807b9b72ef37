#pragma once
// scan: h_t = body(h_{t-1}, x_t) for t = 1..T with time along axis 0 of xs; the result stacks h_1..h_T
// ([T, carry dims...]). The body is traced once on its own leaves, so the node's type -- and the compile
// time -- do not depend on T. Backward is BPTT: for t = T..1, run the body's generated backward at step t from
// the adjoint dh_t = dy_t + (carry adjoint from step t+1). A training program gives each step a body program of
// its own while their working memory together stays under tg::scan_keep_bytes() (64 MB unless set), so step
// t's activations are still there; past that, and in inference programs, one body program runs every step and
// the backward pass recomputes step t's forward first (the last step's is still in place).
// The body's parameters become children of the scan node, so the enclosing program owns their
// gradients (tying, freezing and grad() work as anywhere else).
#include <atomic>
#include <memory>
#include <vector>

#include "typegrad/core/kernel.hpp"
#include "typegrad/core/program.hpp"

namespace tg {
namespace op {
struct scan {};
}  // namespace op

namespace detail {
inline std::atomic<std::size_t>& scan_keep_limit() {
  static std::atomic<std::size_t> bytes{std::size_t(64) << 20};
  return bytes;
}
}  // namespace detail
// The working memory a training program's scan may spend on keeping every step's activations (one body program
// per step) instead of recomputing each step's forward in the backward pass; read when a program is built.
// 0: always recompute (least memory).
inline void set_scan_keep_bytes(std::size_t bytes) { detail::scan_keep_limit() = bytes; }
inline std::size_t scan_keep_bytes() { return detail::scan_keep_limit(); }

// The body's own leaves: its carry (argument 0) and the input slice x_t (argument 1). A program traced on them
// (a scan's or a Repeat's body) is nested. A scan's steps share their parameters, whose gradients accumulate into
// the enclosing program's slots over the steps (redirect_parameter_gradient), so its plan never assigns them
// (plan.hpp); a Repeat's blocks have their own (SharedParameters false): each block's gradients are its own.
template <std::size_t I, class T, class S, bool SharedParameters = true>
struct ScanLeaf : InputLeaf<I, T, S, true> {
  static constexpr bool body_input = true;
  static constexpr bool shared_parameters = SharedParameters;
};

namespace detail {
template <class N>
auto parameter_leaves(const N& n) {
  if constexpr (is_param_leaf_v<N>) {
    return std::tuple<N>{n};
  } else {
    return apply_children([](const auto&... k) { return std::tuple_cat(parameter_leaves(k)...); }, n.kids);
  }
}

template <class N>
constexpr bool uses_only_scan_inputs() {
  if constexpr (N::kind != node_kind::external) {
    return []<std::size_t... K>(std::index_sequence<K...>) {
      return (uses_only_scan_inputs<child_t<N, K>>() && ... && true);
    }(std::make_index_sequence<child_count_v<N>>{});
  } else if constexpr (N::input_index == std::size_t(-1)) {
    return true;  // parameters and constants
  } else {
    return std::is_base_of_v<InputLeaf<N::input_index, typename N::value_type, typename N::shape_type, true>, N> &&
           !std::is_same_v<InputLeaf<N::input_index, typename N::value_type, typename N::shape_type, true>, N>;
  }
}

template <class S>
struct time_slice_shape;
template <std::size_t T0, std::size_t... D>
struct time_slice_shape<shape<T0, D...>> {
  using type = shape<D...>;
};

// The body's programs on one backend and the carry/seed buffers, owned by one scan node of one program: one
// program per step when the enclosing program trains and all steps' working memory fits in scan_keep_bytes()
// (each keeps its step's activations for the backward pass), else one program for every step.
template <class Program>
struct scan_state {
  using Backend = typename Program::backend;
  using T = typename Program::value_type;
  std::vector<std::unique_ptr<Program>> programs;
  typename Backend::buffer seed, carry;
  std::size_t carry_bytes;
  template <class Body>
  scan_state(const Body& body, std::size_t h, std::size_t steps, bool train)
      : seed(Backend::allocate(h * sizeof(T))), carry(Backend::allocate(h * sizeof(T))), carry_bytes(h * sizeof(T)) {
    programs.push_back(std::make_unique<Program>(body));
    if (train && steps > 1 && steps * programs[0]->total_workspace_bytes() <= scan_keep_bytes())
      while (programs.size() < steps) programs.push_back(std::make_unique<Program>(body));
  }
  bool keeps_steps() const { return programs.size() > 1; }
  Program& at(std::size_t step) { return *programs[keeps_steps() ? step : 0]; }
  std::size_t bytes() const {
    std::size_t b = 2 * carry_bytes;
    for (const auto& p : programs) b += p->total_workspace_bytes();
    return b;
  }
};
}  // namespace detail

template <class Body, class H0, class Xs, class... Ps>
struct Scan : kernel_node<typename H0::value_type,
                          typename detail::stacked_shape<Xs::shape_type::dims[0], typename H0::shape_type>::type, H0,
                          Xs, Ps...> {
  using op_type = op::scan;  // its name in tools (inspect.hpp)
  using T = typename H0::value_type;
  using HS = typename H0::shape_type;
  using XS = typename detail::time_slice_shape<typename Xs::shape_type>::type;
  static constexpr std::size_t steps = Xs::shape_type::dims[0];
  static constexpr std::size_t H = HS::size, X = XS::size;
  static constexpr bool needs_child_buffers = true;
  static constexpr bool mergeable = false;      // owns run-time state
  static constexpr bool runs_on_device = true;  // when its body's kernels do (checked by the body's program)
  template <class Backend>
  using body_program = BasicProgram<Body, true, Backend, InputSpec<T, HS, true>, InputSpec<T, XS, true>>;
  template <class Backend>
  using state_type = detail::scan_state<body_program<Backend>>;

  Body body;
  void* state = nullptr;  // state_type<Backend>, owned by the program that runs this node (see prepare)

  // Called by the enclosing program's constructor, which keeps what it returns: the body becomes a program (or one
  // per step, when the enclosing program trains: detail::scan_state) on the same backend.
  template <class Backend, bool Train>
  std::shared_ptr<void> prepare() {
    auto owned = std::make_shared<state_type<Backend>>(body, H, steps, Train);
    state = owned.get();
    return owned;
  }
  // the body programs' working memory and the carry buffers (counted by the enclosing program's
  // total_workspace_bytes)
  template <class Backend>
  std::size_t nested_workspace_bytes() const {
    return static_cast<const state_type<Backend>*>(state)->bytes();
  }
  template <class Ctx>
  auto& state_for() const {
    return *static_cast<state_type<typename Ctx::backend>*>(state);
  }

  // Rebuilt with its children mapped (device copies, frozen parameters): the body's leaves are mapped alike.
  template <class F>
  auto rebuild_with(F&& f) const {
    auto b = f(body);
    const auto& kids = this->kids;
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      Scan<decltype(b), decltype(f(child<K>(kids)))...> r;
      r.kids = {f(child<K>(kids))...};
      r.body = b;
      return r;
    }(std::make_index_sequence<2 + sizeof...(Ps)>{});
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using B = typename Ctx::backend;
    auto& st = state_for<Ctx>();
    const T* h = this->template in_data<Id, 0>(c);
    const T* xs = this->template in_data<Id, 1>(c);
    T* hs = this->template out<Id>(c);
    for (std::size_t t = 0; t < steps; ++t) {
      B::copy(hs + t * H, st.at(t).evaluate_at(h, xs + t * X), H * sizeof(T));
      h = hs + t * H;
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    using B = typename Ctx::backend;
    auto& st = state_for<Ctx>();
    // the body accumulates its parameters' gradients straight into this program's gradient slots
    for (auto& p : st.programs) [&]<std::size_t... K>(std::index_sequence<K...>) {
        ((Scan::template wants_grad<Id, 2 + K, Ctx>()
              ? p->redirect_parameter_gradient(K, c.adj[Scan::template cid<Id, 2 + K>])
              : void()),
         ...);
      }(std::index_sequence_for<Ps...>{});
    const T* h0 = this->template in_data<Id, 0>(c);
    const T* xs = this->template in_data<Id, 1>(c);
    const T* hs = this->template out<Id>(c);
    const T* g = this->template out_grad<Id>(c);
    T* seed = reinterpret_cast<T*>(st.seed.get());
    T* carry = reinterpret_cast<T*>(st.carry.get());
    B::zero(carry, H * sizeof(T));
    for (std::size_t t = steps; t-- > 0;) {
      const T* gt = g + t * H;
      B::for_each(launch::elementwise, H, TG_BODY_OF_VALUES((std::size_t i) { seed[i] = gt[i] + carry[i]; }));
      auto& p = st.at(t);
      if (!st.keeps_steps() && t + 1 < steps) p.evaluate_at(t ? hs + (t - 1) * H : h0, xs + t * X);  // recompute
      p.backward_from(seed);
      B::copy(carry, p.template grad_input<0>().data(), H * sizeof(T));
      if constexpr (Scan::template wants_grad<Id, 1, Ctx>()) {
        const T* dx = p.template grad_input<1>().data();
        T* dxs = this->template grad_data<Id, 1>(c) + t * X;
        B::for_each(launch::elementwise, X, TG_BODY_OF_VALUES((std::size_t i) { dxs[i] += dx[i]; }));
      }
    }
    if constexpr (Scan::template wants_grad<Id, 0, Ctx>()) {
      T* dh0 = this->template grad_data<Id, 0>(c);
      B::for_each(launch::elementwise, H, TG_BODY_OF_VALUES((std::size_t i) { dh0[i] += carry[i]; }));
    }
  }
};

// tg::scan(body, h0, xs): body(h, x_t) -> h' with h' of h's shape; xs has time along axis 0.
template <class F, tensor_operand XH, tensor_operand XX>
auto scan(F&& body, XH&& h0, XX&& xs) {
  using EH = expr_t<XH>;
  using EX = expr_t<XX>;
  if constexpr (any_invalid_v<EH, EX>) {
    return invalid_expression{};
  } else {
    using SX = typename EX::shape_type;
    static_assert(detail::require<error::scan_needs_time_axis<op::scan, SX, SX::rank >= 1>>);
    using T = typename EH::value_type;
    using HS = typename EH::shape_type;
    using XS = typename detail::time_slice_shape<SX>::type;
    auto b = as_expr(body(ScanLeaf<0, T, HS>{}, ScanLeaf<1, T, XS>{}));
    using B = decltype(b);
    constexpr bool same = std::is_same_v<typename B::shape_type, HS>;
    static_assert(detail::require<error::scan_body_changes_carry_shape<op::scan, HS, typename B::shape_type, same>>);
    static_assert(detail::uses_only_scan_inputs<B>(),
                  "typegrad: scan: the body may use its carry, its input slice, parameters and constants, but not "
                  "the enclosing program's inputs (pass them through xs)");
    auto params = detail::parameter_leaves(b);
    return std::apply(
        [&](auto... p) {
          Scan<B, EH, EX, decltype(p)...> s;
          s.kids = {as_expr(std::forward<XH>(h0)), as_expr(std::forward<XX>(xs)), p...};
          s.body = b;
          return s;
        },
        params);
  }
}
}  // namespace tg
