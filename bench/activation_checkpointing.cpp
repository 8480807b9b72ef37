// Activation checkpointing (tg::checkpoint over a tg::Repeat): memory and time of a 12-block language model's
// training step with and without it, interleaved. The model: bench/gpt_model.hpp with 12 blocks (E 256, 8 heads,
// FFN 1024, context 128, vocabulary 96), batch 8, cross-entropy at every position, AdamW. Prints the step's
// working memory (workspaces and gradient blocks, tg::Program::total_workspace_bytes), the activation memory
// (the same less the parameter gradients, which both need), medians, and the ratios; checks that both steps give
// the same loss.
#include <cstdio>
#include <memory>

#include "gpt_model.hpp"
#include "harness.hpp"

int main(int argc, char** argv) {
  tgbench::Options options;
  if (auto code = tgbench::parse(options, argc, argv, "activation checkpointing: memory and step time")) return *code;
  constexpr std::size_t B = 8, Blocks = 12;
  auto plain_model = std::make_unique<bench::Gpt<B, Blocks, false>>(4);
  auto kept_model = std::make_unique<bench::Gpt<B, Blocks, true>>(4);
  auto plain = tg::compile<tg::Input<std::int32_t, B, bench::GT>, tg::Labels<B * bench::GT, bench::GV>>(
      [&](auto a, auto b) { return tg::cross_entropy((*plain_model)(a), b); });
  auto kept = tg::compile<tg::Input<std::int32_t, B, bench::GT>, tg::Labels<B * bench::GT, bench::GV>>(
      [&](auto a, auto b) { return tg::cross_entropy((*kept_model)(a), b); });
  auto plain_opt = tg::optim::make(plain, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
  auto kept_opt = tg::optim::make(kept, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
  tg::Tensor<std::int32_t, B, bench::GT> x;
  tg::Tensor<std::int32_t, B * bench::GT> y;
  for (std::size_t r = 0; r < B; ++r)
    for (std::size_t t = 0; t < bench::GT; ++t) {
      x(r, t) = std::int32_t((r * 7 + t * 3) % bench::GV);
      y[r * bench::GT + t] = std::int32_t((r * 7 + t * 3 + 3) % bench::GV);
    }
  const float a = plain(x, y), b = kept(x, y);
  std::printf("loss: %.6f plain, %.6f checkpointed (%s)\n", a, b, a == b ? "equal" : "DIFFERENT");
  const double gradient_bytes = double(decltype(plain)::gradient_block_bytes);
  const double plain_bytes = double(plain.total_workspace_bytes()), kept_bytes = double(kept.total_workspace_bytes());
  std::printf(
      "step working memory: %.1f MB plain, %.1f MB checkpointed (ratio %.2f); activations (less the %.1f MB "
      "of gradients both keep, per block program included): %.1f MB vs %.1f MB\n",
      plain_bytes / 1e6, kept_bytes / 1e6, plain_bytes / kept_bytes, gradient_bytes / 1e6,
      (plain_bytes - gradient_bytes) / 1e6, (kept_bytes - gradient_bytes) / 1e6);
  double sink = 0;
  std::vector<tgbench::Variant> v{{"typegrad",
                                   [&] {
                                     sink += plain(x, y);
                                     plain_opt.update(plain);
                                   }},
                                  {"checkpointed", [&] {
                                     sink += kept(x, y);
                                     kept_opt.update(kept);
                                   }}};
  tgbench::compare("gpt12_step", v, options.rounds, options.calls(2));
  std::printf("(sink %g)\n", sink);
  return a == b ? 0 : 1;
}
