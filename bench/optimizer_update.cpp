// One AdamW update of n parameters, interleaved (bench/harness.hpp): typegrad's generic algorithm on lanes
// (tg::optim::apply, what Optimizer::update runs per parameter), a hand-written loop of the textbook formula, and
// libtorch's torch::optim::AdamW step on one tensor of n elements (1 thread). Sizes: 16K (in L1/L2), 256K (L2/L3)
// and the 6-block GPT of bench/compare's gpt_step (4,821,088 trainable elements). FLOP column: none (the update
// is bounded by the vector divider in cache and by memory past the caches: 28 bytes moved per element).
#include <typegrad/typegrad.hpp>

#include "harness.hpp"

#ifdef TG_HAVE_TORCH
#include <torch/torch.h>
#endif

namespace {
constexpr double lr = 3e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;

// the formula as a user would write it (PyTorch's AdamW docs), one element at a time. g++ keeps std::sqrt a scalar
// call here (errno, unless the program is built with -fno-math-errno): the loop does not vectorise
void hand_written_adamw(float* w, const float* g, float* m, float* v, std::size_t n, std::size_t t) {
  const float c1 = float(1 - std::pow(beta1, double(t))), c2 = float(1 - std::pow(beta2, double(t)));
  for (std::size_t i = 0; i < n; ++i) {
    w[i] -= float(lr * weight_decay) * w[i];
    m[i] = float(beta1) * m[i] + float(1 - beta1) * g[i];
    v[i] = float(beta2) * v[i] + float(1 - beta2) * g[i] * g[i];
    w[i] -= float(lr) * (m[i] / c1) / (std::sqrt(v[i] / c2) + float(eps));
  }
}

void run_case(const char* name, std::size_t n, const tgbench::Options& options, volatile float& sink) {
  if (!options.wanted(name)) return;
  std::vector<float> g(n), w_tg(n), state(2 * n), w_hand(n), m_hand(n), v_hand(n);
  tgbench::fill_random(g.data(), n, 1);
  tgbench::fill_random(w_tg.data(), n, 2, 1.0f);
  w_hand = w_tg;
  std::size_t t_tg = 0, t_hand = 0;
  std::vector<tgbench::Variant> v{{"typegrad",
                                   [&] {
                                     tg::optim::apply(tg::optim::AdamW{beta1, beta2, eps, weight_decay}, w_tg.data(),
                                                      g.data(), state.data(), n, float(lr), ++t_tg);
                                     sink = sink + w_tg[n / 2];
                                   }},
                                  {"hand-written", [&] {
                                     hand_written_adamw(w_hand.data(), g.data(), m_hand.data(), v_hand.data(), n,
                                                        ++t_hand);
                                     sink = sink + w_hand[n / 2];
                                   }}};
#ifdef TG_HAVE_TORCH
  auto param = torch::from_blob(w_tg.data(), {long(n)}, torch::kFloat).clone().set_requires_grad(true);
  param.mutable_grad() = torch::from_blob(g.data(), {long(n)}, torch::kFloat).clone();
  auto topt = std::make_shared<torch::optim::AdamW>(
      std::vector<torch::Tensor>{param},
      torch::optim::AdamWOptions(lr).betas({beta1, beta2}).eps(eps).weight_decay(weight_decay));
  v.push_back({"libtorch", [topt, param, &sink]() mutable {
                 torch::NoGradGuard no_grad;
                 topt->step();
                 sink = sink + param.data_ptr<float>()[0];
               }});
#endif
  // calls per round: about 20 ms of typegrad's updates at 1 ns an element
  const std::size_t calls = std::max<std::size_t>(2, std::size_t(20e6 / double(n)));
  tgbench::compare(name, v, options.rounds, options.calls(calls));
  // the same updates from the same start (weights in [-1, 1]): typegrad and the hand-written loop agree to float
  // rounding (its order and constants differ: ~1e-7), far below one step's size (~lr)
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, double(std::abs(w_tg[i] - w_hand[i])));
  std::printf("check %s: %zu updates each, largest |typegrad - hand-written| %.1e (lr %.0e)\n", name, t_tg, worst, lr);
}
}  // namespace

int main(int argc, char** argv) {
  tgbench::Options options;
  if (const auto code = tgbench::parse(options, argc, argv, "One AdamW update: typegrad, hand-written, libtorch"))
    return *code;
#ifdef TG_HAVE_TORCH
  torch::set_num_threads(1);
#endif
  volatile float sink = 0;
  run_case("adamw_16k", 16 * 1024, options, sink);
  run_case("adamw_256k", 256 * 1024, options, sink);
  run_case("adamw_gpt", 4821088, options, sink);
  std::printf("(sink %g)\n", double(sink));
}
