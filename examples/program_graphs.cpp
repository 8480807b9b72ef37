// Pictures of three compiled training steps, before any of them runs: the Fashion-MNIST MLP, the classic LeNet and
// a pre-LN Transformer encoder block language model. For each, <name>.dot (tg::to_dot: the forward DAG after
// sharing, fused regions, backward kernels in order, workspace table) and <name>_workspace.svg
// (tg::workspace_svg: buffers over the forward/backward timeline).
//   program_graphs --out DIR        then: scripts/render_graphs.sh DIR   (dot -Tsvg for every .dot)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <typegrad/api/to_dot.hpp>
#include <typegrad/typegrad.hpp>

#include "typegrad/io/atomic_file.hpp"

namespace {
struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

using LeNet =
    tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>, tg::ReLU,
                   tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;

constexpr std::size_t T = 32, V = 16, E = 64;
struct TransformerLm {
  BOOST_HANA_DEFINE_STRUCT(TransformerLm, (tg::Embedding<V, E>, embed), (tg::PositionalEmbedding<T, E>, position),
                           (tg::TransformerEncoderBlock<E, 4, 256, true>, block), (tg::Linear<E, V>, head));
  template <class X>
  auto operator()(X&& tokens) const {  // [B, T] int -> [B T, V]
    constexpr std::size_t B = std::remove_cvref_t<X>::shape_type::dims[0];
    return tg::reshape<B * T, V>(head(block(position(embed(std::forward<X>(tokens))))));
  }
};

void write(const std::filesystem::path& dir, const std::string& name, const tg::ProgramInfo& info,
           const std::string& title) {
  const std::string dot = tg::to_dot(info, title), svg = tg::workspace_svg(info, title + ": workspace");
  for (const auto& [file, text] : {std::pair{name + ".dot", &dot}, std::pair{name + "_workspace.svg", &svg}}) {
    const std::string* const content = text;  // a lambda capturing a structured binding is C++20 clang 14 lacks
    tg::io::atomic_write(dir / file, [&](const auto& put) { put(content->data(), content->size()); });
  }
  std::printf(
      "%-18s %4zu nodes, %3zu forward / %3zu backward kernels, %4zu buffers, workspace %8zu B (%8zu B without "
      "reuse), DOT %7zu B\n",
      name.c_str(), info.nodes.size(), info.forward.size(), info.backward.size(), info.buffers.size(),
      info.workspace_bytes, info.naive_bytes, dot.size());
}
}  // namespace

int main(int argc, char** argv) try {
  std::string out = ".";
  CLI::App app("Write Graphviz DOT and workspace SVG pictures of three compiled training steps");
  app.add_option("--out", out, "directory for <name>.dot and <name>_workspace.svg")->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);
  const std::filesystem::path dir(out);

  Mlp mlp;
  auto mlp_step = tg::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy(mlp(x), y); });
  write(dir, "mlp", tg::inspect(mlp_step, mlp), "MLP 784-256-128-10, batch 64, cross-entropy");

  LeNet lenet;
  auto lenet_step = tg::compile<tg::Input<float, 64, 1, 28, 28>, tg::Labels<64, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(lenet(x), y); });
  write(dir, "lenet", tg::inspect(lenet_step, lenet), "LeNet, batch 64, log-softmax + NLL");

  TransformerLm lm;
  auto lm_step = tg::compile<tg::Input<std::int32_t, 16, T>, tg::Labels<16 * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy(lm(x), y); });
  write(dir, "transformer_block", tg::inspect(lm_step, lm),
        "Embedding + positions + pre-LN Transformer block (E 64, 4 heads, FFN 256) + head, batch 16 x 32 tokens");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "program_graphs: %s\n", e.what());
  return 1;
}
