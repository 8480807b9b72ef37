// tg::inspect, tg::to_dot, tg::workspace_svg: the program as data and as pictures, checked against graphs
// counted by hand.
#include <cstdio>
#include <fstream>
#include <regex>

#include "support.hpp"
#include "typegrad/api/to_dot.hpp"

namespace {
std::size_t count_matches(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return std::size_t(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}
std::size_t dot_nodes(const std::string& dot) { return count_matches(dot, R"(\n  n[0-9]+ \[)"); }
std::size_t dot_edges(const std::string& dot) { return count_matches(dot, R"(\n  n[0-9]+ -> n[0-9]+;)"); }

struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<3, 4, double>, fc1), (tg::Linear<4, 2, double>, fc2));
  Net() : fc1(1), fc2(2) {}
};
}  // namespace

TEST_CASE("to_dot: a let-bound value is one node read three times", "[integration]") {
  tg::Parameter<double, 4> w;
  auto step = tg::compile<tg::Input<double, 4>>(
      [&](auto x) { return tg::sum(tg::let(x * w, [](auto h) { return h * h + h; })); });
  // by hand: x, w, x*w (= h), h*h, (h*h)+h, sum -> 6 nodes; edges: 2 into x*w, 2 into h*h (both from h),
  // 2 into the addition, 1 into sum -> 7
  const auto info = tg::inspect(step);
  CHECK(info.nodes.size() == 6);
  const std::string dot = tg::to_dot(step);
  CHECK(dot_nodes(dot) == 6);
  CHECK(dot_edges(dot) == 7);
  // h is materialised (it is bound): kernels are h and the sum, whose loop computes h*h + h
  REQUIRE(info.forward.size() == 2);
  CHECK(info.find(info.forward[0])->op == "mul");
  CHECK(info.find(info.forward[1])->op == "sum");
  CHECK(count_matches(dot, "subgraph cluster_region_") == 1);
  // backward runs the sum first, then h's region
  REQUIRE(info.backward.size() == 2);
  CHECK(info.backward[0] == info.forward[1]);
  CHECK(info.backward[1] == info.forward[0]);
}

TEST_CASE("to_dot: two equal subexpressions merged at construction are one node", "[integration]") {
  tg::Parameter<double, 4> w;
  auto step = tg::compile<tg::Input<double, 4>>([&](auto x) { return tg::sum(x * w) + tg::sum(x * w); });
  // by hand: x, w, x*w, sum, + -> 5 nodes; edges: 2 into x*w, 1 into sum, 2 into + (the sum twice) -> 5
  const std::string dot = tg::to_dot(step);
  CHECK(dot_nodes(dot) == 5);
  CHECK(dot_edges(dot) == 5);
  CHECK(tg::inspect(step).nodes.size() == 5);
}

TEST_CASE("to_dot: parameters carry their dotted names; frozen ones are marked", "[integration]") {
  Net net;
  auto step = tg::compile<tg::Input<double, 5, 3>, tg::Labels<5, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(net.fc2(tg::tanh(tg::frozen(net.fc1)(x))), y); });
  const std::string dot = tg::to_dot(step, net, "Net");
  for (const char* name : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})
    CHECK(dot.find(name) != std::string::npos);
  CHECK(count_matches(dot, R"(\(frozen\))") == 2);
  CHECK(count_matches(dot, R"(fc1\.weight\\n\[4, 3\]\\n\(frozen\))") == 1);
  CHECK(count_matches(dot, R"(fc2\.weight\\n\[2, 4\]\\n\(frozen\))") == 0);
  const auto info = tg::inspect(step, net);
  std::size_t parameters = 0;
  for (const auto& n : info.nodes) parameters += n.parameter;
  CHECK(parameters == 4);
  // every edge joins two nodes of the graph
  for (const auto& n : info.nodes)
    for (std::size_t c : n.inputs) CHECK(info.find(c) != nullptr);
}

TEST_CASE("inspect: workspace buffers never share memory while both are live", "[integration]") {
  Net net;
  auto step = tg::compile<tg::Input<double, 5, 3>, tg::Labels<5, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(net.fc2(tg::relu(net.fc1(x))) * 2.0, y); });
  const auto info = tg::inspect(step);
  REQUIRE(!info.buffers.empty());
  std::size_t adjoints = 0, in_place = 0;
  for (const auto& a : info.buffers) {
    CHECK(a.offset + a.bytes <= info.workspace_bytes);
    CHECK(a.first <= a.last);
    CHECK(a.last <= info.timeline);
    adjoints += a.role == "adjoint";
    for (const auto& b : info.buffers) {
      if (&a == &b) continue;
      // an adjoint written over b's by b's backward (relu(fc1)'s region writes fc1's product's): the same bytes,
      // handed over at that one time
      if (a.written_over == b.node && b.role == "adjoint") {
        ++in_place;
        CHECK(a.offset == b.offset);
        CHECK(a.first == b.last);
        continue;
      }
      if (b.written_over == a.node && a.role == "adjoint") continue;
      const bool same_time = a.first <= b.last && b.first <= a.last;
      const bool same_memory = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      CHECK_FALSE((same_time && same_memory));
    }
  }
  CHECK(adjoints > 0);
  CHECK(in_place == 1);
  // the workspace table says which adjoint is written over which
  CHECK(tg::to_dot(step).find("adjoint, in place of f") != std::string::npos);
  CHECK(info.workspace_bytes < info.naive_bytes);  // reuse happened
  const std::string svg = tg::workspace_svg(info);
  CHECK(count_matches(svg, "<rect ") == info.buffers.size() + 1);  // + the frame

  auto infer = tg::compile_inference<tg::Input<double, 5, 3>>([&](auto x) { return net.fc2(tg::relu(net.fc1(x))); });
  const auto iinfo = tg::inspect(infer);
  CHECK(iinfo.backward.empty());
  for (const auto& b : iinfo.buffers) CHECK(b.role != "adjoint");
  CHECK(dot_nodes(tg::to_dot(infer)) == iinfo.nodes.size());
}

TEST_CASE("to_dot: Graphviz reads the output", "[integration]") {
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    WARN("graphviz is not installed: dot -Tsvg not run");
    return;
  }
  Net net;
  auto step = tg::compile<tg::Input<double, 5, 3>, tg::Labels<5, 2>>(
      [&](auto x, auto y) { return tg::cross_entropy(net.fc2(tg::gelu(net.fc1(x))), y); });
  const std::string dot_file = tgtest::scratch_file("net.dot").string(),
                    svg_file = tgtest::scratch_file("net.svg").string();
  std::ofstream(dot_file) << tg::to_dot(step, net);
  REQUIRE(std::system(("dot -Tsvg '" + dot_file + "' -o '" + svg_file + "'").c_str()) == 0);
  std::ifstream svg(svg_file);
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  CHECK(text.find("<svg") != std::string::npos);
  CHECK(text.find("fc2.weight") != std::string::npos);
}
