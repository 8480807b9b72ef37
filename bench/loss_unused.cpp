// LeNet's training step (bench/classic_lenet.hpp, batch 64, momentum SGD) with its loss unused (`step(x, y);`),
// on 1 and then 2 threads, the calls written out in main as in a user's loop. Before the one-thread case of
// parallel_for went out of line (core/threads.hpp), GCC 12 inlined it into this program's forward pass and left the
// pooling and im2col loops scalar there: one thread took 3100 us a step, 2 threads 1000 (the pool's parts ran out
// of line), a 1 -> 2 scaling of 3.1 on 2 cores (Intel 0xA7). Now ~1750 and ~1000. The case hangs on the inliner's
// choices: with the loss used, or behind std::function as in bench/compare, the step ran at ~1750 before as well.
#include <typegrad/typegrad.hpp>

#include "classic_lenet.hpp"
#include "harness.hpp"

int main(int argc, char** argv) {
  tgbench::Options options;
  if (const auto code = tgbench::parse(options, argc, argv, "LeNet's step with its loss unused, 1 and 2 threads"))
    return *code;
  constexpr std::size_t B = 64;
  tg::Tensor<float, B, 1, 28, 28> x;
  tgbench::fill_random(x.data(), x.size(), 13, 1.0f);
  tg::Tensor<std::int32_t, B> y;
  for (std::size_t i = 0; i < B; ++i) y[i] = std::int32_t(i % 10);
  bench::ClassicLeNet net;
  auto step = tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto a, auto b) { return tg::nll_loss(net(a), b); });
  auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
  const std::size_t calls = options.calls(20);
  double medians[2] = {};
  for (std::size_t threads : {1, 2}) {
    tg::set_num_threads(threads);
    std::vector<double> rounds;
    for (std::size_t r = 0; r < options.rounds + 1; ++r) {  // round 0 warms up
      const auto t0 = tgbench::Clock::now();
      for (std::size_t i = 0; i < calls; ++i) {
        step(x, y);
        opt.update(step);
      }
      if (r > 0)
        rounds.push_back(std::chrono::duration<double, std::micro>(tgbench::Clock::now() - t0).count() / double(calls));
    }
    medians[threads - 1] = tgbench::median(rounds);
    std::printf("lenet_step, loss unused, %zu thread(s): median %.1f us (%zu rounds x %zu calls)\n", threads,
                medians[threads - 1], options.rounds, calls);
  }
  tg::set_num_threads(1);
  std::printf("scaling lenet_step loss unused 1->2 threads = %.2f (2 cores: at most 2)\n", medians[0] / medians[1]);
}
