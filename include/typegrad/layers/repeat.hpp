#pragma once
// tg::Repeat<N, Block>: N blocks of one type, each with its own weights, applied in sequence:
//   y = block_{N-1}( ... block_1(block_0(x)) ... )
// The block is traced on its own input leaf, so every block has the same expression type and the same
// generated forward and backward code: the compile time does not grow with N (JAX's scan over layers).
// At run time each block is a program instance of that one type, with its own workspace (its activations
// stay there for the backward pass, nothing is recomputed); the output of block t is read in place by block
// t + 1, and each block writes its parameter gradients straight into its slices of the enclosing program's slots
// (assigned, so never cleared, where the block uses the parameter once and the slot has no other writer). Nothing is
// copied at the ends: the last block writes this node's output, each block's backward pass reads its output's
// adjoint where it lies, and block 0 writes dx when it writes its input's slot as this node must (both =, or +=).
// Parameters walk as a PyTorch ModuleList: blocks.0.fc.weight, blocks.1.fc.weight, ...
//   tg::freeze_first<K>(repeat)(x): blocks 0..K-1 frozen; their program has no parameter-gradient code.
//   tg::freeze_blocks<B, E>(repeat)(x): blocks B..E-1 frozen.
//   tg::checkpoint(repeat)(x): activation checkpointing: the blocks share one workspace and only each block's
//   input is kept; the backward pass recomputes block t's forward from it before block t's backward (the last
//   block's activations are still there). Memory: one block's workspace + (N - 1) inputs instead of N
//   workspaces; time: N - 1 extra block forwards per step. Gradients are the same (tests/layers/test_checkpoint).
#include <array>
#include <memory>
#include <vector>

#include "typegrad/core/init.hpp"
#include "typegrad/core/transform.hpp"
#include "typegrad/primitives/scan.hpp"

namespace tg {
namespace op {
struct repeat {};
}  // namespace op

// Blocks applied in sequence; Body is one block's expression on ScanLeaf<0> (its input). Children: the input
// X, then one StackedParamLeaf per parameter occurrence of the block (core/leaves.hpp): block t's gradient of
// parameter k lies at t in child 1 + k's gradient slot. The node's type holds the block count as a number
// only, so the enclosing program does not grow with it.
template <std::size_t Blocks, class Body, class X, class... Ps>
struct RepeatNode : kernel_node<typename X::value_type, typename X::shape_type, X, Ps...> {
  using op_type = op::repeat;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  using S = typename X::shape_type;
  static constexpr bool needs_child_buffers = true;
  static constexpr bool mergeable = false;      // owns run-time state
  static constexpr bool runs_on_device = true;  // when the block's kernels do (checked by its program)
  template <class Backend>
  using block_program = BasicProgram<Body, true, Backend, InputSpec<T, S, true>>;
  // Does a block's program assign parameter occurrence K's gradient (used once in the block: assigned_adjoints,
  // core/plan_adjoints.hpp)? Its plan's choice does not depend on the backend (only working-memory sizes do).
  static constexpr bool block_assigns_parameter(std::size_t K) {
    constexpr auto& p = plan_v<Body, true, false>;
    for (std::size_t k = 0, seen = 0; k < tree_size_v<Body>; ++k)
      if (p.is_param[k] && seen++ == K) return p.adj_assigned[k];
    return false;
  }
  // dx: block 0's input gradient, or one copy of it; parameter k's stacked gradient: block t's slice by block t,
  // when the blocks assign theirs (then no clear before the backward pass and the weight-gradient GEMMs run beta 0)
  static constexpr std::uint32_t assigns_child_adjoints = [] {
    std::uint32_t m = 1u;
    for (std::size_t k = 0; k < sizeof...(Ps) && k + 1 < 32; ++k)
      if (block_assigns_parameter(k)) m |= 1u << (k + 1);
    return m;
  }();
  // ... unless the enclosing program adds to that slot (the stack used twice; a Repeat inside a scan's body): block
  // t then assigns its own gradient, which is added into slice t after its backward pass
  template <std::size_t Id, std::size_t K, class Ctx>
  static constexpr bool adds_block_gradient = block_assigns_parameter(K) &&
                                              !RepeatNode::template assigns_grad<Id, 1 + K, Ctx>();

  std::array<Body, Blocks> bodies;  // block t's expression (its parameters' addresses)
  void* state = nullptr;            // Programs<Backend>, owned by the program that runs this node (see prepare)
  bool checkpoint = false;          // tg::checkpoint: one shared workspace, forwards recomputed in the backward pass

  template <class Backend>
  struct Programs {
    std::vector<block_program<Backend>> blocks;
    typename Backend::buffer shared;  // checkpointing: the workspace every block runs in
    typename Backend::buffer inputs;  // checkpointing: the inputs of blocks 1..N-1
  };

  // Called by the enclosing program's constructor, which keeps what it returns.
  template <class Backend>
  std::shared_ptr<void> prepare() {
    auto programs = std::make_shared<Programs<Backend>>();
    programs->blocks.reserve(Blocks);
    for (const auto& b : bodies) programs->blocks.emplace_back(b);
    if (checkpoint) {
      programs->shared = Backend::allocate(block_program<Backend>::workspace_bytes);
      programs->inputs = Backend::allocate((Blocks - 1) * S::size * sizeof(T));
      for (auto& p : programs->blocks) p.share_workspace(programs->shared);
    }
    state = programs.get();
    return programs;
  }
  template <class Ctx>
  auto& programs() const {
    return *static_cast<Programs<typename Ctx::backend>*>(state);
  }

  template <class Backend>
  std::size_t nested_workspace_bytes() const {
    const auto& programs = *static_cast<const Programs<Backend>*>(state);
    std::size_t bytes = checkpoint ? block_program<Backend>::workspace_bytes + (Blocks - 1) * S::size * sizeof(T) : 0;
    for (const auto& p : programs.blocks) bytes += p.total_workspace_bytes();
    return bytes;
  }

  // Rebuilt with its children mapped (frozen parameters, device copies): the blocks' leaves are mapped alike.
  template <class F>
  auto rebuild_with(F&& f) const {
    using B2 = decltype(f(bodies[0]));
    const auto& kids = this->kids;
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      RepeatNode<Blocks, B2, decltype(f(child<K>(kids)))...> r;
      r.kids = {f(child<K>(kids))...};
      r.checkpoint = checkpoint;
      for (std::size_t t = 0; t < Blocks; ++t) r.bodies[t] = f(bodies[t]);
      return r;
    }
    (std::make_index_sequence<1 + sizeof...(Ps)>{});
  }

  // to[i] += from[i] (a device body is not defined inside a generic lambda: nvcc refuses it)
  template <class B>
  static void add_into(T* to, const T* from, std::size_t n) {
    B::for_each(launch::elementwise, n, TG_BODY_OF_VALUES((std::size_t i) { to[i] += from[i]; }));
  }

  // the input of block t under checkpointing (block 0's is the node's input, alive until this node's backward)
  template <std::size_t Id, class Ctx>
  const T* block_input(Ctx& c, std::size_t t) const {
    if (t == 0) return this->template in_data<Id, 0>(c);
    return reinterpret_cast<const T*>(programs<Ctx>().inputs.get()) + (t - 1) * S::size;
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    auto& progs = programs<Ctx>().blocks;
    const T* h = this->template in_data<Id, 0>(c);
    progs[Blocks - 1].redirect_output(this->template out<Id>(c));  // the last block writes this node's output
    for (std::size_t t = 0; t < Blocks; ++t) {
      h = progs[t].evaluate_at(h);         // block t reads block t-1's output where it lies
      if (checkpoint && t + 1 < Blocks) {  // the shared workspace is block t + 1's too: keep its input apart
        T* kept = const_cast<T*>(block_input<Id>(c, t + 1));
        Ctx::backend::copy(kept, h, S::size * sizeof(T));
        h = kept;
      }
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    using B = typename Ctx::backend;
    auto& progs = programs<Ctx>().blocks;
    // block t's parameter k writes its gradient at t in child 1 + k's slot (assigns it, or adds to it, as the slot
    // is written), or its own, added there after its backward pass (adds_block_gradient)
    const auto for_each_parameter = [&](auto&& f) {
      [&]<std::size_t... K>(std::index_sequence<K...>) {
        (
            [&] {
              if constexpr (RepeatNode::template wants_grad<Id, 1 + K, Ctx>()) {
                using Leaf = typename RepeatNode::template child_type<1 + K>;
                f(std::integral_constant<std::size_t, K>{}, Leaf::block_shape::size,
                  static_cast<typename Leaf::value_type*>(c.adj[RepeatNode::template cid<Id, 1 + K>]));
              }
            }(),
            ...);
      }
      (std::index_sequence_for<Ps...>{});
    };
    for_each_parameter([&]<std::size_t K>(std::integral_constant<std::size_t, K>, std::size_t each, T* slot) {
      if constexpr (!adds_block_gradient<Id, K, Ctx>)
        for (std::size_t t = 0; t < Blocks; ++t) progs[t].redirect_parameter_gradient(K, slot + t * each);
    });
    // Block 0 writes dx itself when it writes its input's gradient as this node's must be written: both assign,
    // or both add (block_program's slot is then never cleared)
    constexpr bool wants_dx = RepeatNode::template wants_grad<Id, 0, Ctx>();
    constexpr bool assigns_dx = wants_dx && RepeatNode::template assigns_grad<Id, 0, Ctx>();
    constexpr bool block_writes_dx = wants_dx && assigns_dx == block_program<B>::template input_gradient_assigned<0>;
    if constexpr (block_writes_dx) progs[0].template redirect_input_gradient<0>(this->template grad_data<Id, 0>(c));
    const T* g = this->template out_grad<Id>(c);  // each block reads its output's adjoint where it lies
    for (std::size_t t = Blocks; t-- > 0;) {
      if (checkpoint && t + 1 < Blocks) progs[t].evaluate_at(block_input<Id>(c, t));  // recompute its activations
      progs[t].backward_reading(g);
      g = progs[t].template grad_input<0>().data();
      for_each_parameter([&]<std::size_t K>(std::integral_constant<std::size_t, K>, std::size_t each, T* slot) {
        if constexpr (adds_block_gradient<Id, K, Ctx>)
          add_into<B>(slot + t * each, static_cast<const T*>(progs[t].parameter_gradient(K)), each);
      });
    }
    if constexpr (wants_dx && !block_writes_dx) {
      T* dx = this->template grad_data<Id, 0>(c);
      if constexpr (assigns_dx)
        B::copy(dx, g, S::size * sizeof(T));
      else
        add_into<B>(dx, g, S::size);
    }
  }
};

namespace detail {
// whether an expression draws random numbers in its forward pass (dropout): recomputing it would not repeat them
template <class N>
constexpr bool draws_random() {
  if constexpr (requires { N::draws_random; })
    return true;
  else if constexpr (N::kind != node_kind::external)
    return []<std::size_t... K>(std::index_sequence<K...>) { return (draws_random<child_t<N, K>>() || ... || false); }
  (std::make_index_sequence<child_count_v<N>>{});
  else return false;
}

// Blocks [Begin, End) of r applied to x, as one RepeatNode; Frozen: their parameters frozen.
// Checkpoint: tg::checkpoint's activation checkpointing
template <std::size_t Begin, std::size_t End, bool Frozen, class R, class X, bool Checkpoint = false>
auto repeat_range(const R& r, X&& x, std::bool_constant<Checkpoint> = {}) {
  using EX = expr_t<X>;
  if constexpr (any_invalid_v<EX>) {
    return invalid_expression{};
  } else if constexpr (Begin == End) {
    return as_expr(std::forward<X>(x));
  } else {
    using T = typename EX::value_type;
    using S = typename EX::shape_type;
    auto trace = [&](std::size_t b) {
      auto e = as_expr(r.blocks[b](ScanLeaf<0, T, S, false>{}));  // each block its own parameters
      if constexpr (Frozen)
        return freeze(e);
      else
        return e;
    };
    using Body = decltype(trace(0));
    if constexpr (any_invalid_v<Body>) {
      return invalid_expression{};  // the block's mistake was reported where it was made
    } else {
      constexpr bool keeps = std::is_same_v<typename Body::shape_type, S>;
      static_assert(require<error::block_changes_shape<op::repeat, S, typename Body::shape_type, keeps>>);
      static_assert(uses_only_scan_inputs<Body>(),
                    "typegrad: Repeat: a block may use its input, parameters and constants only");
      constexpr std::size_t M = End - Begin;
      std::array<Body, M> bodies;
      for (std::size_t t = 0; t < M; ++t) bodies[t] = trace(Begin + t);
      using Leaves = decltype(parameter_leaves(bodies[0]));  // one block's parameter occurrences, in post-order
      std::array<Leaves, M> leaves;
      for (std::size_t t = 0; t < M; ++t) leaves[t] = parameter_leaves(bodies[t]);
      return [&]<std::size_t... K>(std::index_sequence<K...>) {
        auto stacked = [&]<std::size_t k>(std::integral_constant<std::size_t, k>) {
          using L = std::tuple_element_t<k, Leaves>;
          StackedParamLeaf<M, typename L::value_type, typename L::shape_type, L::wants_grad> s;
          for (std::size_t t = 0; t < M; ++t) s.blocks[t] = std::get<k>(leaves[t]).data;
          return s;
        };
        RepeatNode<M, Body, EX, decltype(stacked(std::integral_constant<std::size_t, K>{}))...> n;
        n.kids = {as_expr(std::forward<X>(x)), stacked(std::integral_constant<std::size_t, K>{})...};
        n.bodies = bodies;
        static_assert(!(Checkpoint && draws_random<Body>()),
                      "tg::checkpoint: a block draws random numbers (dropout): its recomputed forward pass would "
                      "draw other ones, so the gradients would not be those of the step");
        n.checkpoint = Checkpoint;
        return n;
      }
      (std::make_index_sequence<std::tuple_size_v<Leaves>>{});
    }
  }
}
}  // namespace detail

template <std::size_t N, class Block>
struct Repeat {
  static constexpr bool is_module_list = true;  // walks as blocks.0, blocks.1, ... (core/module.hpp)
  std::array<Block, N> blocks;

  Repeat() = default;
  // every block's parameters from one stream Generator(seed), block 0 first
  explicit Repeat(std::uint64_t seed) { init::initialize(*this, seed); }

  static constexpr std::size_t size() { return N; }
  Block& operator[](std::size_t i) { return blocks[i]; }
  const Block& operator[](std::size_t i) const { return blocks[i]; }

  template <tensor_operand X>
  auto operator()(X&& x) const {
    return detail::repeat_range<0, N, false>(*this, std::forward<X>(x));
  }
};

// Blocks Begin..End-1 of r frozen, the others trainable: tg::freeze_blocks<2, 4>(model.blocks)(x). Up to three
// nodes (trainable, frozen, trainable), two block programs: the compile time still does not depend on N.
template <std::size_t Begin, std::size_t End, std::size_t N, class Block>
auto freeze_blocks(const Repeat<N, Block>& r) {
  static_assert(Begin <= End && End <= N, "tg::freeze_blocks<Begin, End>: need Begin <= End <= the number of blocks");
  return [&r]<tensor_operand X>(X&& x) {
    return detail::repeat_range<End, N, false>(
        r, detail::repeat_range<Begin, End, true>(r, detail::repeat_range<0, Begin, false>(r, std::forward<X>(x))));
  };
}
// Activation checkpointing over the blocks of r: tg::checkpoint(model.blocks)(x) (see the top of this file).
template <std::size_t N, class Block>
auto checkpoint(const Repeat<N, Block>& r) {
  return [&r]<tensor_operand X>(X&& x) {
    return detail::repeat_range<0, N, false>(r, std::forward<X>(x), std::true_type{});
  };
}

// Blocks 0..K-1 of r frozen (fine-tuning the top of a pretrained stack): tg::freeze_first<K>(model.blocks)(x).
template <std::size_t K, std::size_t N, class Block>
auto freeze_first(const Repeat<N, Block>& r) {
  return freeze_blocks<0, K>(r);
}

}  // namespace tg
