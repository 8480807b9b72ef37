#pragma once
// A compiled program: the plan's schedule over one preallocated workspace (what each occurrence runs:
// core/run_kernel.hpp). Construction (once) resolves node identity, allocates and binds buffers
// (core/binding.hpp); a step allocates nothing.
#include <array>
#include <functional>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "typegrad/core/arguments.hpp"
#include "typegrad/core/binding.hpp"
#include "typegrad/core/context.hpp"
#include "typegrad/core/program_tables.hpp"
#include "typegrad/core/run_kernel.hpp"

namespace tg {

namespace detail {
struct no_kernel_hook {};  // what an unobserved program holds instead of a hook: nothing
}  // namespace detail

// The program on a backend (core/backend.hpp); tg::Program is the host one, tg::device::Program wraps the
// Thrust one (cuda/).
template <class Root, bool Train, class Backend, class... Specs>
class BasicProgram {
 public:
  using backend = Backend;
  // what node code runs on: an observed program (tg::observed) shares its base backend's kernels
  using node_backend = unobserved_t<Backend>;
  using root_type = Root;
  using value_type = typename Root::value_type;
  using output_shape = typename Root::shape_type;
  using context_type = Context<Root, Train, node_backend>;
  static constexpr std::size_t node_count = tree_size_v<Root>;
  static constexpr std::size_t root_id = node_count - 1;
  static constexpr const auto& plan = context_type::plan;
  static constexpr bool trains = Train;
  static constexpr std::size_t kernel_count = plan.kernel_count;
  static constexpr std::size_t workspace_bytes = plan.workspace_bytes;
  static constexpr std::size_t naive_workspace_bytes = plan.naive_bytes;
  static constexpr std::size_t adjoint_count = plan.adjoint_count;
  static constexpr std::size_t gradient_leaf_count = plan.grad_leaf_count;
  // the plan's tables (core/program_tables.hpp): input I's gradient occurrence, the output's buffers
  template <std::size_t I>
  static constexpr std::size_t input_leaf = detail::input_gradient_leaf<plan, I>;
  static constexpr const auto& root_buffers = detail::output_buffers<plan, root_id>;

  static_assert(Root::kind != node_kind::external && Root::kind != node_kind::inline_scalar,
                "typegrad: the program's result must be computed (not a bare input, parameter or number)");
  // A device loop carries a copy of its node, children included, and copies it again in device code, where a copy
  // constructor that is not trivial (a std::shared_ptr's) cannot run: nvcc then compiled the loop to nothing, silently.
  static_assert(!Backend::is_device ||
                    (std::is_trivially_copy_constructible_v<Root> && std::is_trivially_destructible_v<Root>),
                "typegrad: every node of a device program must be trivially copyable: keep a node's run-time state "
                "behind a plain pointer, owned by the program (what prepare() returns; tg::scan, tg::Repeat)");

  // Construction runs once: [[gnu::cold]] has GCC optimise it for size (~9% of an example's compile time).
  [[gnu::cold]] explicit BasicProgram(Root root) : root_(std::move(root)) {
    if constexpr (Backend::is_device) detail::check_device_support<root_id>(root_);
    workspace_ = Backend::allocate(plan.workspace_bytes);
    grads_ = Backend::allocate(plan.grad_bytes);
    Backend::zero(grads_.get(), plan.grad_bytes);  // slots that are assigned, and the padding, are never cleared
    if constexpr (Train && Backend::is_device) {   // the loss seed lives on the device: a step never waits on an upload
      const value_type one(1);
      seed_one_ = Backend::allocate(sizeof one);
      Backend::upload(seed_one_.get(), &one, sizeof one);
    }
    visit_nodes();
    bind_buffers(workspace_.get());
  }
  BasicProgram(const BasicProgram& o) : BasicProgram(o.root_) {}
  BasicProgram& operator=(const BasicProgram&) = delete;
  BasicProgram(BasicProgram&&) noexcept = default;  // the context points to owned memory and user data only

  // Runs the program on its arguments. Training programs also run the backward pass and return
  // the loss; inference programs return a view of the output (valid until the next call).
  template <class... Args>
  auto operator()(const Args&... args) {
    static_assert(sizeof...(Args) == sizeof...(Specs), "typegrad: a step takes one argument per declared input");
    bind_inputs(std::index_sequence_for<Args...>{}, args...);
    forward();
    if constexpr (Train) {
      static_assert(output_shape::rank == 0, "typegrad: operator() of a training program needs a scalar loss");
      if constexpr (Backend::is_device) {
        backward(reinterpret_cast<const value_type*>(seed_one_.get()), false);
      } else {
        const value_type one(1);
        backward(&one, true);
      }
      return scalar_output();
    } else {
      return output();
    }
  }

  // Forward pass only (a training program's output, e.g. the loss on a validation batch).
  template <class... Args>
  auto evaluate(const Args&... args) {
    bind_inputs(std::index_sequence_for<Args...>{}, args...);
    forward();
    if constexpr (output_shape::rank == 0)
      return scalar_output();
    else
      return output();
  }

  // The scalar result (copied from the backend's memory).
  value_type scalar_output() const {
    if constexpr (Backend::is_device) {
      value_type v;
      Backend::download(&v, ctx_.val[root_id], sizeof v);
      return v;
    } else {
      return static_cast<const value_type*>(ctx_.val[root_id])[0];
    }
  }

  TensorView<const value_type, output_shape> output() const {
    return TensorView<const value_type, output_shape>(static_cast<const value_type*>(ctx_.val[root_id]));
  }

  // Gradient of the loss w.r.t. a parameter used by this program (tied uses summed).
  template <class T, std::size_t... D>
  TensorView<const T, shape<D...>> grad(const Parameter<T, D...>& p) const {
    const void* g = find_gradient(p.data());
    if (!g)
      throw std::invalid_argument(
          "typegrad: grad(): this parameter is not a trainable leaf of the program "
          "(not used, or frozen)");
    return TensorView<const T, shape<D...>>(static_cast<const T*>(g));
  }
  template <class T, std::size_t... D>
  bool has_grad(const Parameter<T, D...>& p) const {
    return find_gradient(p.data()) != nullptr;
  }

  // Gradient w.r.t. the I-th input (declared as tg::Variable).
  template <std::size_t I>
  auto grad_input() const {
    constexpr std::size_t k = input_leaf<I>;
    static_assert(k != no_node, "typegrad: grad_input<I>: input I is not a tg::Variable used by the program");
    using N = std::remove_cvref_t<decltype(detail::node_at<k, root_id>(root_))>;
    return TensorView<const typename N::value_type, typename N::shape_type>(
        static_cast<const typename N::value_type*>(ctx_.adj[k]));
  }

  // Calls f(parameter data, gradient, element count) once per trainable parameter (tied uses once; each block
  // of a tg::Repeat once). Allocates nothing: an optimizer can run it every step.
  template <class F>
  void for_each_gradient(F&& f) const {
    for_each_trainable([&](auto, auto* data, const auto* g, std::size_t n, std::size_t) { f(data, g, n); });
  }

  // The trainable parameters of the program, known at compile time: f(std::integral_constant<K>, data,
  // gradient, count, first) once per parameter (tied occurrences once), K its occurrence index in the plan and
  // first the parameter's element offset in that occurrence's gradient slot (block t of a stacked leaf: t n).
  template <class F>
  void for_each_trainable(F&& f) const {
    detail::for_each_occurrence<root_id>(root_, [&]<std::size_t K>(const auto& n) {
      if constexpr (plan.is_param[K] && plan.needs_adjoint[K]) {
        using N = std::remove_cvref_t<decltype(n)>;
        using T = typename N::value_type;
        if (canon_[K] != K) return;
        const T* g = static_cast<const T*>(ctx_.adj[K]);
        if constexpr (is_stacked_param_leaf_v<N>) {
          constexpr std::size_t each = N::block_shape::size;
          for (std::size_t t = 0; t < N::stack; ++t)
            f(std::integral_constant<std::size_t, K>{}, n.blocks[t], g + t * each, each, t * each);
        } else {
          f(std::integral_constant<std::size_t, K>{}, n.data, g, plan.elements[K], std::size_t{0});
        }
      }
    });
  }

  // ---- for programs that run inside other programs (scan bodies) ----
  // Forward pass on inputs given as pointers into the backend's memory, in declaration order.
  template <class... P>
  const value_type* evaluate_at(const P*... inputs) {
    static_assert(sizeof...(P) == sizeof...(Specs), "typegrad: one pointer per declared input");
    std::size_t i = 0;
    ((bind_pointer(i++, inputs)), ...);
    forward();
    return static_cast<const value_type*>(ctx_.val[root_id]);
  }
  // Backward pass from a given adjoint of the output, in the backend's memory (after evaluate_at()).
  void backward_from(const value_type* seed) { backward(seed, false); }
  // ... read where it lies instead of copied into the workspace: the seed must not change during the pass.
  void backward_reading(const value_type* seed) {
    std::array<void*, root_buffers.size()> own;
    for (std::size_t q = 0; q < root_buffers.size(); ++q) {
      own[q] = ctx_.adj[root_buffers[q]];
      ctx_.adj[root_buffers[q]] = const_cast<value_type*>(seed);
    }
    backward(nullptr, false);
    for (std::size_t q = 0; q < root_buffers.size(); ++q) ctx_.adj[root_buffers[q]] = own[q];
  }
  // The output written to (and read back from, by the backward pass) external memory in the backend's: a tg::Repeat's
  // last block writes the enclosing program's buffer rather than being copied there.
  void redirect_output(value_type* value) {
    for (std::size_t k : root_buffers) ctx_.val[k] = value;
  }
  // Points input I's gradient (a tg::Variable) at external memory in the backend's, where the backward pass then
  // writes it: assigned if input_gradient_assigned holds for I, else added to (the target then holds what it adds to).
  template <std::size_t I>
  void redirect_input_gradient(void* target) {
    for (std::size_t k = 0; k < node_count; ++k) {
      if (plan.kind[k] == node_kind::external && plan.input_index[k] == I && plan.needs_adjoint[k])
        ctx_.adj[k] = target;
      if (plan.ref_target[k] != no_node) ctx_.adj[k] = ctx_.adj[plan.ref_target[k]];  // let references follow
    }
  }
  // Does the backward pass assign input I's gradient (=, its slot never cleared) rather than add to it? (An input
  // used twice is never assigned: plan_adjoints.hpp, leaf_repeated.)
  template <std::size_t I>
  static constexpr bool input_gradient_assigned = input_leaf<I> != no_node&& plan.adj_assigned[input_leaf<I>];
  // The gradient of the n-th parameter occurrence (post-order), where the backward pass writes it
  const void* parameter_gradient(std::size_t n) const {
    for (std::size_t k = 0, seen = 0; k < node_count; ++k)
      if (plan.is_param[k] && seen++ == n) return ctx_.adj[k];
    return nullptr;
  }
  // Points it at external memory, which the backward pass then assigns (where the plan assigns it: a Repeat's
  // block) or adds to (a scan's steps; never cleared here).
  void redirect_parameter_gradient(std::size_t n, void* target) {
    std::size_t seen = 0;
    for (std::size_t k = 0; k < node_count; ++k) {
      if (plan.is_param[k] && seen++ == n) ctx_.adj[k] = target;
      if (plan.ref_target[k] != no_node) ctx_.adj[k] = ctx_.adj[plan.ref_target[k]];  // let references follow
    }
  }

  // Runs in `shared` (the backend's memory, at least workspace_bytes) from now on and frees its own workspace:
  // programs whose activations are never needed at the same time share one (activation checkpointing,
  // layers/repeat.hpp). The gradient block stays the program's own.
  void share_workspace(typename Backend::buffer& shared) {
    workspace_ = typename Backend::buffer{};
    bind_buffers(shared.get());
    if (plan.workspace_bytes > 0) owns_workspace_ = false;
  }

  // Working memory in bytes (its own workspace and gradient block) including nested programs (tg::Repeat's blocks).
  std::size_t total_workspace_bytes() const {
    std::size_t bytes = (owns_workspace_ ? plan.workspace_bytes : 0) + plan.grad_bytes;
    detail::for_each_occurrence<root_id>(root_, [&]<std::size_t K>(const auto& n) {
      if constexpr (requires { n.template nested_workspace_bytes<node_backend>(); })
        bytes += n.template nested_workspace_bytes<node_backend>();
    });
    return bytes;
  }

  const Root& expression() const { return root_; }
  // Observed programs (tg::observed: their backend is `observing<B>`) call hook(program, id, backward) after
  // each kernel of the forward (backward = false) and backward pass, id its occurrence; an empty hook turns it
  // off. For tools (api/check_finite.hpp, api/layer_stats.hpp). Other programs have neither the hook nor a branch.
  using kernel_hook = std::function<void(const BasicProgram&, std::size_t, bool)>;
  void after_each_kernel(kernel_hook hook) requires observes_v<Backend> { after_kernel_ = std::move(hook); }
  const kernel_hook& kernel_hook_in_use() const requires observes_v<Backend> { return after_kernel_; }
  // The buffers of occurrence id in the backend's memory (valid while the program lives): for tools.
  const void* value_buffer(std::size_t id) const { return ctx_.val[id]; }
  const void* adjoint_buffer(std::size_t id) const { return ctx_.adj[id]; }
  // The gradient block: every trainable leaf's gradient slot in one buffer of the backend's memory, laid out by
  // the plan (padding between slots is zero). Reduced whole by data-parallel training (dist/data_parallel.hpp).
  void* gradient_block() { return grads_.get(); }
  static constexpr std::size_t gradient_block_bytes = plan.grad_bytes;
  // The gradient buffer of the trainable leaf whose data is at `data` (nullptr if none).
  const void* gradient_of(const void* data) const { return find_gradient(data); }
  // The occurrence that this occurrence was merged into (itself unless merged): for tests and tools.
  std::size_t canonical(std::size_t id) const { return canon_[id]; }

 private:
  const void* find_gradient(const void* data) const {
    for (std::size_t k = 0; k < node_count; ++k)
      if (plan.is_param[k] && plan.needs_adjoint[k] && ctx_.val[k] == data) return ctx_.adj[k];
    const void* found = nullptr;
    if constexpr (plan.has_stacked_parameters)  // a tg::Repeat's blocks: a walk over the stacked leaves
      for_each_gradient([&](const auto* d, const auto* g, std::size_t) {
        if (static_cast<const void*>(d) == data) found = g;
      });
    return found;
  }

  // The one walk over the occurrences at construction (core/binding.hpp): kernels with run-time state that
  // depends on the backend set it up (a scan: one body program per step when training), leaves point ctx_ at
  // their data, and identity is resolved (canon_).
  [[gnu::cold]] void visit_nodes() {
    for (std::size_t k = 0; k < node_count; ++k) canon_[k] = k;
    detail::NodeMerger merger;
    detail::for_each_occurrence<root_id>(root_, [&]<std::size_t K>(auto& n) {
      if constexpr (requires { n.template prepare<node_backend, Train>(); })
        nested_.push_back(n.template prepare<node_backend, Train>());
      else if constexpr (requires { n.template prepare<node_backend>(); })
        nested_.push_back(n.template prepare<node_backend>());
      if constexpr (std::remove_cvref_t<decltype(n)>::kind == node_kind::external && requires { n.data; })
        ctx_.val[K] = const_cast<void*>(static_cast<const void*>(n.data));
      detail::merge_occurrence<context_type, K>(n, merger, canon_.data());
    });
  }
  [[gnu::cold]] void bind_buffers(decltype(std::declval<typename Backend::buffer&>().get()) ws) {
    detail::bind_buffers(detail::buffer_tables(canon_, ctx_), ws, grads_.get());
  }

  // every occurrence of the input reads p
  void bind_pointer(std::size_t input, const void* p) {
    for (std::size_t k = 0; k < node_count; ++k)
      if (plan.kind[k] == node_kind::external && plan.input_index[k] == input) ctx_.val[k] = const_cast<void*>(p);
  }
  // ... each argument checked against its declared input first (core/arguments.hpp)
  template <std::size_t... I, class... Args>
  void bind_inputs(std::index_sequence<I...>, const Args&... args) {
    (bind_pointer(I, detail::checked_argument<I, std::tuple_element_t<I, std::tuple<Specs...>>, node_backend>(args)),
     ...);
  }

  template <std::size_t Id>
  TG_INLINE void run_forward() {
    if constexpr (plan.merge_candidate[Id])
      if (canon_[Id] != Id) return;
    detail::run_forward_kernel<Id>(detail::node_at<Id, root_id>(root_), ctx_);
    if constexpr (observes_v<Backend>)
      if (after_kernel_) after_kernel_(*this, Id, false);
  }

  template <std::size_t Id>
  TG_INLINE void run_backward() {
    if constexpr (plan.needs_adjoint[Id]) {
      clear_adjoints_at<2 * kernel_count - 1 - plan.kernel_pos[Id]>();  // also when this kernel is a merged copy
      if constexpr (plan.merge_candidate[Id])
        if (canon_[Id] != Id) return;
      detail::run_backward_kernel<Id>(detail::node_at<Id, root_id>(root_), ctx_);
      if constexpr (observes_v<Backend>)
        if (after_kernel_) after_kernel_(*this, Id, true);
    }
  }

  // The gradient block's slots that are added to, cleared before each backward pass
  void clear_gradients() {
    auto* block = static_cast<std::byte*>(static_cast<void*>(grads_.get()));
    for (const auto& [begin, end] : detail::cleared_gradient_ranges<plan>) Backend::zero(block + begin, end - begin);
  }

  // Clears the adjoints that start living at backward time T (their first writer runs now). The list and
  // the sizes are compile-time constants: small clears become a few stores instead of memset calls.
  template <std::size_t T>
  TG_INLINE void clear_adjoints_at() {
    static constexpr const auto& list = detail::adjoints_cleared_at<plan, root_id, T>;
    [&]<std::size_t... Q>(std::index_sequence<Q...>) { (clear_adjoint<list[Q]>(), ...); }
    (std::make_index_sequence<list[node_count]>{});
  }
  template <std::size_t K>
  TG_INLINE void clear_adjoint() {
    if constexpr (plan.merge_candidate[K])
      if (canon_[K] != K) return;
    Backend::zero(ctx_.adj[K], plan.elements[K] * plan.elem_bytes[K]);
  }

  void forward() {
    [&]<std::size_t... P>(std::index_sequence<P...>) { (run_forward<plan.kernels[P]>(), ...); }
    (std::make_index_sequence<plan.kernel_count>{});
  }

  // seed: the output's adjoint, in host memory (seed_on_host) or in the backend's
  void backward(const value_type* seed, bool seed_on_host) {
    if constexpr (plan.needs_adjoint[root_id]) {
      clear_gradients();
      if (seed_on_host)
        Backend::upload(ctx_.adj[root_id], seed, output_shape::size * sizeof(value_type));
      else if (seed)  // else the root's adjoint already points at it (backward_reading)
        Backend::copy(ctx_.adj[root_id], seed, output_shape::size * sizeof(value_type));
      [&]<std::size_t... P>(std::index_sequence<P...>) {
        (run_backward<plan.kernels[plan.kernel_count - 1 - P]>(), ...);
      }
      (std::make_index_sequence<plan.kernel_count>{});
    }
  }

  Root root_;
  // The run-time state of the nodes that run nested programs (tg::scan, tg::Repeat), which point at it: nodes stay
  // trivially copyable (the static_assert at the top).
  std::vector<std::shared_ptr<void>> nested_;
  typename Backend::buffer workspace_;
  bool owns_workspace_ = true;
  typename Backend::buffer grads_;
  typename Backend::buffer seed_one_;
  context_type ctx_{};
  std::array<std::size_t, node_count> canon_{};
  [[no_unique_address]] std::conditional_t<observes_v<Backend>, kernel_hook, detail::no_kernel_hook> after_kernel_;
};

template <class Root, bool Train, class... Specs>
using Program = BasicProgram<Root, Train, host_backend, Specs...>;

}  // namespace tg
