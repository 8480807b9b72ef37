#pragma once
// What a compiled program is, as data: its distinct nodes after sharing (operation, shape, parameter names),
// the forward and backward kernels in order, the fused regions, and every workspace buffer with its offset
// and live interval. Read off the plan (core/plan.hpp) and the node types; nothing here runs a step.
// to_dot.hpp draws it.
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "typegrad/core/module.hpp"
#include "typegrad/core/program.hpp"

namespace tg {

namespace detail {
template <class T>
constexpr std::string_view pretty_type_name() {
  return __PRETTY_FUNCTION__;
}
// "tg::op::max_pool2d" -> "max_pool2d": the unqualified name of T without template arguments, from the
// compiler's function signature (g++: "[with T = tg::op::sqrt; ...]", clang: "[T = tg::op::sqrt]").
// Only small types are named this way (operation tags, index mappings): a node's own type can be megabytes.
template <class T>
std::string short_type_name() {
  const std::string_view f = pretty_type_name<T>();
  std::size_t b = f.find("T = ");
  if (b == std::string_view::npos) return "?";
  b += 4;
  std::size_t e = b, depth = 0;
  for (; e < f.size(); ++e) {
    const char c = f[e];
    if (c == '<') ++depth;
    if (c == '>') --depth;
    if (depth == 0 && (c == ';' || c == ']')) break;
  }
  std::string_view name = f.substr(b, e - b);
  name = name.substr(0, name.find('<'));
  if (const std::size_t colon = name.rfind("::"); colon != std::string_view::npos) name = name.substr(colon + 2);
  return std::string(name);
}

template <class X>
constexpr bool is_program_input() {
  if constexpr (X::kind == node_kind::external && requires { X::input_index; })
    return X::input_index != no_node;
  else
    return false;
}
}  // namespace detail

// One distinct node of a program (occurrences merged by sharing are one node).
struct NodeInfo {
  std::size_t id = 0;  // its occurrence id in the plan (post-order)
  std::string op;      // operation ("matmul", "relu"), or what a leaf is ("input 0", a parameter's name)
  std::string shape;   // "[32, 10]"
  node_kind kind = node_kind::pointwise;
  bool parameter = false, frozen = false;
  std::size_t forward_position = no_node;   // its time in the forward schedule (kernels only)
  std::size_t backward_position = no_node;  // its place among the backward kernels (those that run backward)
  std::size_t region = no_node;             // the kernel whose fused loop computes it (itself for a kernel)
  std::vector<std::size_t> inputs;          // the distinct nodes it reads, in argument order
};

// One block of the workspace: a kernel's value, its adjoint or its working memory.
struct BufferInfo {
  std::size_t node = 0;  // occurrence id of the kernel that owns it
  std::string role;      // "value", "adjoint", "scratch"
  std::size_t offset = 0, bytes = 0;
  std::size_t first = 0, last = 0;  // live on the timeline [first, last]: forward kernel i at i, its backward at 2K-1-i
  // an adjoint written over this node's adjoint by that node's backward, element by element, at `first` (its
  // region's backward: in_place_adjoints, core/plan_memory.hpp); no_node otherwise
  std::size_t written_over = no_node;
};

struct ProgramInfo {
  std::vector<NodeInfo> nodes;        // distinct nodes, in post-order (inputs before their readers)
  std::vector<std::size_t> forward;   // occurrence ids of the kernels, in forward order
  std::vector<std::size_t> backward;  // ... of those whose backward runs, in backward order
  std::vector<BufferInfo> buffers;
  std::vector<std::size_t> node_of;  // occurrence id -> id of the distinct node it stands for
  std::size_t workspace_bytes = 0, naive_bytes = 0, gradient_bytes = 0, timeline = 0;
  // the distinct node with this id (an occurrence id: node_of[id] for any occurrence), nullptr if none
  const NodeInfo* find(std::size_t id) const {
    for (const auto& n : nodes)
      if (n.id == id) return &n;
    return nullptr;
  }
};

// Parameter names for inspection: the address of each parameter's data -> its dotted name.
using ParameterNames = std::map<const void*, std::string>;
template <class Model>
ParameterNames parameter_names_by_address(const Model& model) {
  ParameterNames names;
  for_each_parameter(model, [&](const std::string& name, auto& p) { names[p.data()] = name; });
  return names;
}

// The program as data. `names` (parameter_names_by_address(model)) labels parameters; without it they are
// "parameter [shape]".
template <class Root, bool Train, class Backend, class... Specs>
ProgramInfo inspect(const BasicProgram<Root, Train, Backend, Specs...>& program, const ParameterNames& names = {}) {
  using P = BasicProgram<Root, Train, Backend, Specs...>;
  constexpr const auto& plan = P::plan;
  constexpr std::size_t N = P::node_count;
  ProgramInfo info;
  // the node an occurrence stands for: merged copies -> their first occurrence, a let's reference -> the bound
  // value, a let -> its body
  const auto resolve = [&](std::size_t k) {
    for (;;) {
      k = program.canonical(k);
      if (plan.ref_target[k] != no_node)
        k = plan.ref_target[k];
      else if (plan.binds[k])
        k = plan.children[plan.child_begin[k] + 1];
      else
        return k;
    }
  };
  std::vector<NodeInfo> all(N);
  detail::for_each_occurrence<P::root_id>(program.expression(), [&]<std::size_t K>(const auto& n) {
    using X = std::remove_cvref_t<decltype(n)>;
    NodeInfo& d = all[K];
    d.id = K;
    d.kind = X::kind;
    d.shape = detail::shape_string<typename X::shape_type>();
    if constexpr (detail::is_program_input<X>()) {
      d.op = "input " + std::to_string(X::input_index);
    } else if constexpr (is_param_leaf_v<X> || is_stacked_param_leaf_v<X>) {
      d.parameter = true;
      d.frozen = !X::wants_grad;
      const void* first;
      if constexpr (is_stacked_param_leaf_v<X>)
        first = n.blocks[0];
      else
        first = n.data;
      const auto it = names.find(first);
      d.op = it != names.end() ? it->second : std::string("parameter");
      if constexpr (is_stacked_param_leaf_v<X>) d.op += " (x" + std::to_string(X::stack) + " blocks)";
    } else if constexpr (X::kind == node_kind::inline_scalar) {
      std::ostringstream s;
      s << static_cast<typename X::value_type>(n.v);
      d.op = s.str();
    } else if constexpr (X::kind == node_kind::external) {
      d.op = "constant";
    } else if constexpr (requires { typename X::op_type; }) {
      d.op = detail::short_type_name<typename X::op_type>();
    } else if constexpr (requires { typename X::mapping; }) {
      d.op = detail::short_type_name<typename X::mapping>();
      if (d.op.ends_with("_mapping")) d.op.resize(d.op.size() - 8);
    } else {
      d.op = X::kind == node_kind::kernel ? "kernel" : "element-wise";
    }
  });
  // a kernel may be a let whose body's region it runs: the picture shows it as the body
  std::vector<std::size_t> shown(N), slot(N, no_node);
  for (std::size_t k = 0; k < N; ++k) shown[k] = resolve(k);
  info.node_of = shown;
  for (std::size_t k = 0; k < N; ++k) {
    if (shown[k] != k) continue;
    NodeInfo d = std::move(all[k]);
    for (std::size_t c = 0; c < plan.child_count[k]; ++c)
      d.inputs.push_back(shown[plan.children[plan.child_begin[k] + c]]);
    if (plan.kind[k] == node_kind::pointwise && plan.reader[k] != no_node) d.region = shown[plan.reader[k]];
    slot[k] = info.nodes.size();
    info.nodes.push_back(std::move(d));
  }
  for (std::size_t p = 0; p < plan.kernel_count; ++p) {
    const std::size_t k = plan.kernels[p];
    if (program.canonical(k) != k) continue;  // a merged copy: its kernel does not run
    NodeInfo& d = info.nodes[slot[shown[k]]];
    if (d.forward_position != no_node) continue;
    d.forward_position = p;
    d.region = d.id;
    info.forward.push_back(d.id);
  }
  for (std::size_t p = info.forward.size(); p-- > 0;) {
    NodeInfo& d = info.nodes[slot[info.forward[p]]];
    if (!plan.needs_adjoint[plan.kernels[d.forward_position]]) continue;
    d.backward_position = info.backward.size();
    info.backward.push_back(d.id);
  }

  const std::size_t K = plan.kernel_count;
  for (std::size_t p = 0; p < K; ++p) {
    const std::size_t k = plan.kernels[p];
    if (program.canonical(k) != k) continue;
    const std::size_t value_bytes = detail::round_up(plan.elements[k] * plan.elem_bytes[k]);
    info.buffers.push_back({shown[k], "value", plan.val_offset[k], value_bytes, plan.val_start[k], plan.val_end[k]});
    if (plan.needs_adjoint[k])
      info.buffers.push_back({shown[k], "adjoint", plan.adj_offset[k], value_bytes, plan.adj_start[k], plan.adj_end[k],
                              plan.adj_in_place_of[k] == no_node ? no_node : shown[plan.adj_in_place_of[k]]});
    if (plan.scratch_bytes[k])
      info.buffers.push_back({shown[k], "scratch", plan.scratch_offset[k], detail::round_up(plan.scratch_bytes[k]), p,
                              plan.needs_adjoint[k] ? 2 * K - 1 - p : p});
  }
  info.workspace_bytes = plan.workspace_bytes;
  info.naive_bytes = plan.naive_bytes;
  info.gradient_bytes = plan.grad_bytes;
  info.timeline = 2 * K;
  return info;
}

template <class Program, class Model>
requires walkable_module_v<Model> ProgramInfo inspect(const Program& program, const Model& model) {
  return inspect(program, parameter_names_by_address(model));
}

}  // namespace tg
