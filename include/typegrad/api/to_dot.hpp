#pragma once
// Pictures of a compiled program, before a step runs:
//   to_dot(program[, model])  Graphviz DOT: the forward DAG (one node per distinct node after sharing, operation
//                             and shape, parameters by their dotted names, frozen ones dashed), each fused region
//                             as a cluster around the kernel that runs it, the backward kernels in order, and a
//                             table of the workspace (offset, size and live interval of every buffer).
//   workspace_svg(program)    the workspace as SVG: buffers as bars, time across (forward, then backward),
//                             offset down, so reuse shows as bars stacked in the same rows.
// Render DOT with Graphviz: dot -Tsvg program.dot -o program.svg (scripts/render_graphs.sh).
#include <cstdio>
#include <string>

#include "typegrad/api/inspect.hpp"

namespace tg {

namespace detail {
inline std::string dot_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r;
}
inline std::string xml_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '<')
      r += "&lt;";
    else if (c == '>')
      r += "&gt;";
    else if (c == '&')
      r += "&amp;";
    else if (c == '"')
      r += "&quot;";
    else
      r += c;
  }
  return r;
}
inline std::string kernel_tag(const NodeInfo& d) {
  std::string t;
  if (d.forward_position != no_node) t += "f" + std::to_string(d.forward_position);
  if (d.backward_position != no_node) t += " b" + std::to_string(d.backward_position);
  return t;
}
// "adjoint", or "adjoint, in place of f3 b5's": that kernel's backward writes it over its own adjoint
inline std::string buffer_role(const ProgramInfo& info, const BufferInfo& b) {
  if (b.written_over == no_node) return b.role;
  return b.role + ", in place of " + kernel_tag(*info.find(b.written_over)) + "'s";
}
inline std::string dot_node(const NodeInfo& d) {
  std::string attrs;
  std::string label = d.op + "\n" + d.shape;
  if (d.parameter) {
    attrs = d.frozen ? "shape=box, style=\"dashed,filled\", fillcolor=\"#eeeeee\""
                     : "shape=box, style=filled, fillcolor=\"#fff2cc\"";
    if (d.frozen) label += "\n(frozen)";
  } else if (d.kind == node_kind::external) {
    attrs = d.op.starts_with("input") ? "shape=invhouse, style=filled, fillcolor=\"#d9ead3\"" : "shape=box";
  } else if (d.kind == node_kind::inline_scalar) {
    attrs = "shape=plaintext";
    label = d.op;
  } else if (d.forward_position != no_node) {
    attrs = "shape=box, style=\"rounded,filled,bold\", fillcolor=\"#cfe2f3\"";
    label = kernel_tag(d) + ": " + label;
  } else {
    attrs = "shape=ellipse";
  }
  return "  n" + std::to_string(d.id) + " [" + attrs + ", label=\"" + dot_escape(label) + "\"];\n";
}
}  // namespace detail

// DOT text of a program described by inspect().
inline std::string to_dot(const ProgramInfo& info, const std::string& title = "typegrad program") {
  std::string s = "digraph typegrad_program {\n";
  s += "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, labelloc=t, label=\"" + detail::dot_escape(title) +
       "\\n" + std::to_string(info.nodes.size()) + " distinct nodes, " + std::to_string(info.forward.size()) +
       " forward / " + std::to_string(info.backward.size()) + " backward kernels, workspace " +
       std::to_string(info.workspace_bytes) + " B (" + std::to_string(info.naive_bytes) + " B without reuse)\"];\n";
  s += "  node [fontname=\"Helvetica\", fontsize=10];\n  edge [arrowsize=0.6];\n";
  // fused regions: a kernel and the element-wise nodes its loop computes
  for (std::size_t k : info.forward) {
    std::string members;
    for (const auto& d : info.nodes)
      if (d.region == k && d.id != k) members += detail::dot_node(d);
    const NodeInfo* head = info.find(k);
    if (members.empty()) {
      s += detail::dot_node(*head);
      continue;
    }
    s += "  subgraph cluster_region_" + std::to_string(k) + " {\n  label=\"fused region of " +
         detail::kernel_tag(*head) + "\"; style=\"rounded,filled\"; fillcolor=\"#f3f6fa\"; color=\"#9fb3c8\";\n" +
         detail::dot_node(*head) + members + "  }\n";
  }
  for (const auto& d : info.nodes)
    if (d.region == no_node && d.forward_position == no_node) s += detail::dot_node(d);
  for (const auto& d : info.nodes)
    for (std::size_t c : d.inputs) s += "  n" + std::to_string(c) + " -> n" + std::to_string(d.id) + ";\n";

  if (!info.backward.empty()) {
    s += "  subgraph cluster_backward {\n  label=\"backward kernels, in order\"; style=rounded; color=\"#e69138\";\n";
    for (std::size_t b = 0; b < info.backward.size(); ++b) {
      const NodeInfo* d = info.find(info.backward[b]);
      s += "  b" + std::to_string(b) + " [shape=box, style=rounded, color=\"#e69138\", label=\"b" + std::to_string(b) +
           ": d " + detail::dot_escape(d->op) + " (f" + std::to_string(d->forward_position) + ")\"];\n";
      if (b) s += "  b" + std::to_string(b - 1) + " -> b" + std::to_string(b) + " [style=dotted];\n";
    }
    s += "  }\n";
  }

  s += "  workspace [shape=plaintext, fontsize=9, label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\">\n"
       "  <tr><td colspan=\"6\"><b>workspace</b></td></tr>\n"
       "  <tr><td>kernel</td><td>buffer</td><td>offset</td><td>bytes</td><td>live from</td><td>to</td></tr>\n";
  for (const auto& b : info.buffers) {
    const NodeInfo* d = info.find(b.node);
    s += "  <tr><td>" + detail::xml_escape(detail::kernel_tag(*d) + " " + d->op) + "</td><td>" +
         detail::xml_escape(detail::buffer_role(info, b)) + "</td><td>" + std::to_string(b.offset) + "</td><td>" +
         std::to_string(b.bytes) + "</td><td>" + std::to_string(b.first) + "</td><td>" + std::to_string(b.last) +
         "</td></tr>\n";
  }
  s += "  </table>>];\n}\n";
  return s;
}

template <class Program>
std::string to_dot(const Program& program, const std::string& title = "typegrad program") {
  return to_dot(inspect(program), title);
}
template <class Program, class Model>
requires walkable_module_v<Model> std::string to_dot(const Program& program, const Model& model,
                                                     const std::string& title = "typegrad program") {
  return to_dot(inspect(program, model), title);
}

// The workspace over time as SVG: one bar per buffer, x = live interval (forward kernels left of the dashed
// line, their backward passes right of it), y = offset in the workspace. Hover a bar for its kernel.
inline std::string workspace_svg(const ProgramInfo& info, const std::string& title = "workspace") {
  const double width = 960, height = 540, left = 70, top = 40;
  const double t_unit = width / double(info.timeline ? info.timeline : 1);
  const double b_unit = height / double(info.workspace_bytes ? info.workspace_bytes : 1);
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(int(width + left + 20)) +
                  "\" height=\"" + std::to_string(int(height + top + 50)) +
                  "\" font-family=\"Helvetica\" font-size=\"11\">\n";
  s += "<text x=\"" + std::to_string(int(left)) + "\" y=\"20\" font-size=\"13\">" + detail::xml_escape(title) + ": " +
       std::to_string(info.workspace_bytes) + " B for " + std::to_string(info.buffers.size()) + " buffers of " +
       std::to_string(info.naive_bytes) + " B in all</text>\n";
  s += "<rect x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(top) + "\" width=\"" + std::to_string(width) +
       "\" height=\"" + std::to_string(height) + "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (const auto& b : info.buffers) {
    const char* colour = b.role == "value" ? "#6fa8dc" : b.role == "adjoint" ? "#f6b26b" : "#b7b7b7";
    const NodeInfo* d = info.find(b.node);
    char rect[256];
    std::snprintf(
        rect, sizeof rect,
        "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" stroke=\"#333\" stroke-width=\"0.3\">",
        left + double(b.first) * t_unit, top + double(b.offset) * b_unit, double(b.last - b.first + 1) * t_unit,
        double(b.bytes) * b_unit, colour);
    s += rect;
    s +=
        "<title>" +
        detail::xml_escape(detail::kernel_tag(*d) + " " + d->op + " " + d->shape + ": " + detail::buffer_role(info, b) +
                           ", " + std::to_string(b.bytes) + " B at " + std::to_string(b.offset) + ", live " +
                           std::to_string(b.first) + ".." + std::to_string(b.last)) +
        "</title></rect>\n";
  }
  const double mid = left + double(info.timeline / 2) * t_unit;
  s += "<line x1=\"" + std::to_string(mid) + "\" y1=\"" + std::to_string(top) + "\" x2=\"" + std::to_string(mid) +
       "\" y2=\"" + std::to_string(top + height) + "\" stroke=\"#000\" stroke-dasharray=\"4,3\"/>\n";
  const std::string base = std::to_string(top + height + 18);
  s += "<text x=\"" + std::to_string(left) + "\" y=\"" + base + "\">forward kernels &#8594;</text>\n";
  s += "<text x=\"" + std::to_string(mid + 6) + "\" y=\"" + base + "\">backward kernels &#8594;</text>\n";
  s += "<text x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(top + height + 36) +
       "\">blue: values, orange: adjoints, grey: working memory; y: offset in the workspace (0 at the top)</text>\n";
  s += "<text x=\"4\" y=\"" + std::to_string(top + 10) + "\">0 B</text>\n<text x=\"4\" y=\"" +
       std::to_string(top + height) + "\">" + std::to_string(info.workspace_bytes) + " B</text>\n</svg>\n";
  return s;
}

template <class Program>
std::string workspace_svg(const Program& program, const std::string& title = "workspace") {
  return workspace_svg(inspect(program), title);
}

}  // namespace tg
