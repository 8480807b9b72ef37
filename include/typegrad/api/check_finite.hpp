#pragma once
// Non-finite values, named: tg::check_finite(step[, model]) checks every value a kernel writes, after each kernel
// of the forward pass (its output) and of the backward pass (the gradients it sends to its inputs), and throws
// tg::NonFiniteError naming the first kernel that produced a NaN or infinity: its operation and shape, the layer
// whose parameters it reads (dotted names from the model), forward or backward, and for a forward failure any
// input or parameter that already held a non-finite value. tg::check_finite(step, false) turns it off (and any
// other tool attached to the step). The step must be observed: auto step = tg::observed(tg::compile<...>(...)).
// Cost while on: one pass over each buffer a kernel writes (and a download per kernel on a device backend); off,
// one branch per kernel. Kernels that run nested programs (tg::Repeat, scan) are checked as a whole.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "typegrad/api/inspect.hpp"
#include "typegrad/api/observe.hpp"

namespace tg {

struct NonFiniteError : std::runtime_error {
  std::size_t node;  // occurrence id of the kernel that produced the value
  bool backward;     // produced by its backward pass
  NonFiniteError(const std::string& what, std::size_t n, bool b) : std::runtime_error(what), node(n), backward(b) {}
};

namespace detail {
// Element type of each occurrence: 4 (float), 8 (double), 0 (not floating point: labels, indices).
template <class Program>
std::vector<unsigned char> floating_widths(const Program& p) {
  std::vector<unsigned char> w(Program::node_count, 0);
  for_each_occurrence<Program::root_id>(p.expression(), [&]<std::size_t K>(const auto& n) {
    using T = typename std::remove_cvref_t<decltype(n)>::value_type;
    if constexpr (std::is_floating_point_v<T>) w[K] = sizeof(T);
  });
  return w;
}

// Index of the first NaN or infinity among n elements (n if none), and that value.
template <class Backend>
std::size_t first_non_finite(const void* buffer, std::size_t n, unsigned char width, double& value) {
  if (!buffer || !width || !n) return n;
  std::vector<unsigned char> host;
  const void* data = buffer;
  if constexpr (Backend::is_device) {
    host.resize(n * width);
    Backend::download(host.data(), buffer, host.size());
    data = host.data();
  }
  for (std::size_t i = 0; i < n; ++i) {
    value = width == 4 ? double(static_cast<const float*>(data)[i]) : static_cast<const double*>(data)[i];
    if (!std::isfinite(value)) return i;
  }
  return n;
}

inline std::string describe_node(const ProgramInfo& info, std::size_t occurrence) {
  const NodeInfo* d = info.find(info.node_of[occurrence]);
  return d ? d->op + " " + d->shape : "node " + std::to_string(occurrence);
}

// The layers a kernel belongs to, "fc1, fc2": the modules owning the parameters its fused region reads ("fc2" for
// fc2.weight); "" for a kernel that reads none (pooling).
inline std::string layers_of(const ProgramInfo& info, std::size_t kernel) {
  std::vector<std::string> layers;
  for (const auto& d : info.nodes) {
    if (d.id != kernel && d.region != kernel) continue;
    for (std::size_t c : d.inputs) {
      const NodeInfo* in = info.find(c);
      if (!in || !in->parameter || in->op == "parameter") continue;
      const std::size_t dot = in->op.rfind('.');
      std::string layer = dot == std::string::npos ? in->op : in->op.substr(0, dot);
      if (std::find(layers.begin(), layers.end(), layer) == layers.end()) layers.push_back(layer);
    }
  }
  std::string s;
  for (const auto& l : layers) s += (s.empty() ? "" : ", ") + l;
  return s;
}

// "(fused with mul, sqrt)": the element-wise operations computed inside the kernel's loop
inline std::string fused_with(const ProgramInfo& info, std::size_t kernel) {
  std::string s;
  for (const auto& d : info.nodes)
    if (d.region == kernel && d.id != kernel) s += (s.empty() ? "" : ", ") + d.op;
  return s.empty() ? "" : " (fused with " + s + ")";
}

inline std::string number(double v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

template <class Program>
void check_kernel(const Program& p, std::size_t id, bool backward, const ParameterNames& names,
                  const std::vector<unsigned char>& widths) {
  constexpr const auto& plan = Program::plan;
  using Backend = typename Program::backend;
  double v = 0;
  std::size_t at = 0, bad = no_node;  // the buffer and element found
  if (!backward) {
    at = first_non_finite<Backend>(p.value_buffer(id), plan.elements[id], widths[id], v);
    if (at < plan.elements[id]) bad = id;
  } else {  // the adjoints this kernel's backward accumulated into: the materialised nodes its region reads
    for (std::size_t j = 0; j < Program::node_count && bad == no_node; ++j) {
      if (plan.reader[j] != id || !plan.needs_adjoint[j]) continue;
      at = first_non_finite<Backend>(p.adjoint_buffer(j), plan.elements[j], widths[j], v);
      if (at < plan.elements[j]) bad = j;
    }
  }
  if (bad == no_node) return;
  const ProgramInfo info = inspect(p, names);
  const NodeInfo* k = info.find(info.node_of[id]);
  std::string kernel =
      "f" + std::to_string(plan.kernel_pos[id]) + " " + describe_node(info, id) + fused_with(info, k ? k->id : id);
  if (const std::string layers = layers_of(info, k ? k->id : id); !layers.empty()) kernel += " (layer " + layers + ")";
  std::string what;
  if (!backward) {
    what = "typegrad: non-finite value in the forward pass: kernel " + kernel + " computed " + number(v) +
           " at element " + std::to_string(at) + " of its output";
    // an input or parameter that was already non-finite is the source, not this kernel's arithmetic
    for (std::size_t j = 0; j < Program::node_count; ++j) {
      if (plan.reader[j] != id || plan.kind[j] != node_kind::external) continue;
      double w = 0;
      if (first_non_finite<Backend>(p.value_buffer(j), plan.elements[j], widths[j], w) < plan.elements[j]) {
        what += "; it reads " + describe_node(info, j) + ", which already holds " + number(w);
        break;
      }
    }
  } else {
    what = "typegrad: non-finite gradient in the backward pass: the backward of kernel " + kernel + " sent " +
           number(v) + " to element " + std::to_string(at) + " of the gradient of " + describe_node(info, bad);
  }
  throw NonFiniteError(what, id, backward);
}
}  // namespace detail

// Turns the checks on (parameters named from `model`, when given) or off.
template <class Program>
void check_finite(Program& program, bool on = true, ParameterNames names = {}) {
  if constexpr (is_observed_v<Program>)
    if (!on) return program.after_each_kernel({});
  detail::chain_kernel_hook(program, [names = std::move(names), widths = detail::floating_widths(program)](
                                         const auto& p, std::size_t id, bool backward) {
    detail::check_kernel(p, id, backward, names, widths);
  });
}
template <class Program, class Model>
requires walkable_module_v<Model>
void check_finite(Program& program, const Model& model) {
  check_finite(program, true, parameter_names_by_address(model));
}

}  // namespace tg
