// Data-parallel scaling over MPI (tg::dist): one rank against R ranks on the same machine, and the cost of the
// gradient all-reduce. Run by bench/dist_scaling.sh, which alternates `mpirun -np 1` and `mpirun -np 2` runs and
// prints medians and ratios.
//   dist_scaling --case lenet|gpt --per-rank 64|32|8|4 --steps N    one line: examples/s, step, wait, all-reduce
//   dist_scaling --allreduce                                         MPI_Allreduce time against message size
// Cases (float, one thread per rank):
//   lenet: the classic LeNet (bench/classic_lenet.hpp) on [B, 1, 28, 28], NLL, SGD momentum 0.9
//   gpt:   a 6-block decoder-only Transformer LM (E 256, 8 heads, FFN 1024, context 128, vocabulary 96; as
//          bench/compare's gpt_step) on [B, 128] tokens, cross-entropy over every position, AdamW
// Per step and rank: forward + backward on B = --per-rank rows, a barrier (the time it takes is the wait for the
// slowest rank), the gradient all-reduce (tg::dist::average_gradients, timed alone), the optimizer update.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <typegrad/dist/data_parallel.hpp>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "classic_lenet.hpp"
#include "gpt_model.hpp"

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

using bench::Gpt, bench::GT, bench::GV;

// Times `steps` data-parallel steps after `warmup`; prints one line on rank 0 (medians over steps of the slowest
// rank's times).
template <class Step, class Optimizer, class X, class Y>
void time_steps(const tg::dist::World& world, const char* name, std::size_t per_rank, Step& step, Optimizer& opt,
                const X& x, const Y& y, std::size_t steps) {
  std::vector<double> total, compute, wait, reduce;
  double sink = 0;
  for (std::size_t s = 0; s < steps + 3; ++s) {
    const auto t0 = Clock::now();
    sink += step(x, y);
    const auto t1 = Clock::now();
    world.barrier();
    const auto t2 = Clock::now();
    tg::dist::average_gradients(world, step);
    const auto t3 = Clock::now();
    opt.update(step);
    const auto t4 = Clock::now();
    if (s < 3) continue;  // warm-up
    // the slowest rank's figures
    double mine[4] = {seconds(t0, t4), seconds(t0, t1) + seconds(t3, t4), seconds(t1, t2), seconds(t2, t3)}, worst[4];
    tg::dist::detail::check(MPI_Allreduce(mine, worst, 4, MPI_DOUBLE, MPI_MAX, world.comm()), "MPI_Allreduce");
    total.push_back(worst[0]);
    compute.push_back(worst[1]);
    wait.push_back(worst[2]);
    reduce.push_back(worst[3]);
  }
  const auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  if (world.rank() == 0)
    std::printf(
        "case %s ranks %d per_rank %zu examples_per_s %.1f step_ms %.3f compute_ms %.3f wait_ms %.3f "
        "allreduce_ms %.3f gradient_bytes %zu (loss sum %.3g)\n",
        name, world.size(), per_rank, double(per_rank) * world.size() / median(total), 1e3 * median(total),
        1e3 * median(compute), 1e3 * median(wait), 1e3 * median(reduce), Step::gradient_block_bytes, sink);
}

template <std::size_t B>
void lenet(const tg::dist::World& world, std::size_t steps) {
  auto net = std::make_unique<bench::ClassicLeNet>();
  tg::init::initialize(*net, 1);
  tg::dist::broadcast_state(world, *net);
  auto step = tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::nll_loss((*net)(x), y); });
  auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.01});
  tg::Tensor<float, B, 1, 28, 28> x;
  tg::Tensor<std::int32_t, B> y;
  std::mt19937 gen(std::uint32_t(world.rank()));
  std::normal_distribution<float> u(0, 1);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = u(gen);
  for (std::size_t i = 0; i < B; ++i) y[i] = std::int32_t(gen() % 10);
  time_steps(world, "lenet", B, step, opt, x, y, steps);
}

template <std::size_t B>
void gpt(const tg::dist::World& world, std::size_t steps) {
  auto model = std::make_unique<Gpt<B>>(4);
  tg::dist::broadcast_state(world, *model);
  auto step = tg::compile<tg::Input<std::int32_t, B, GT>, tg::Labels<B * GT, GV>>(
      [&](auto a, auto b) { return tg::cross_entropy((*model)(a), b); });
  auto opt = tg::optim::make(step, tg::optim::AdamW{}, tg::sched::Constant{3e-4});
  tg::Tensor<std::int32_t, B, GT> x;
  tg::Tensor<std::int32_t, B * GT> y;
  for (std::size_t r = 0; r < B; ++r)
    for (std::size_t t = 0; t < GT; ++t) {
      x(r, t) = std::int32_t((r * 7 + t * 3 + std::size_t(world.rank())) % GV);
      y[r * GT + t] = std::int32_t((r * 7 + t * 3 + 3) % GV);
    }
  time_steps(world, "gpt", B, step, opt, x, y, steps);
}

// MPI_Allreduce (sum, in place, float) of 2^k bytes: the median of 20 calls after 3, for the cost model
void allreduce_sizes(const tg::dist::World& world) {
  for (std::size_t bytes = 4; bytes <= (std::size_t{64} << 20); bytes *= 4) {
    std::vector<float> v(bytes / 4, 1.0f);
    std::vector<double> times;
    for (int i = 0; i < 23; ++i) {
      world.barrier();
      const auto a = Clock::now();
      tg::dist::detail::check(MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_FLOAT, MPI_SUM, world.comm()),
                              "MPI_Allreduce");
      const auto b = Clock::now();
      if (i >= 3) times.push_back(seconds(a, b));
    }
    std::sort(times.begin(), times.end());
    if (world.rank() == 0)
      std::printf("allreduce ranks %d bytes %zu median_us %.2f bandwidth_GBps %.3f\n", world.size(), bytes,
                  1e6 * times[times.size() / 2], double(bytes) / times[times.size() / 2] / 1e9);
  }
}
}  // namespace

int main(int argc, char** argv) try {
  tg::dist::World world(&argc, &argv);
  CLI::App app("data-parallel scaling (run under mpirun; see bench/dist_scaling.sh)");
  std::string which = "lenet";
  std::size_t per_rank = 64, steps = 30;
  bool sizes = false;
  app.add_option("--case", which, "lenet or gpt");
  app.add_option("--per-rank", per_rank, "rows per rank: lenet 32 or 64, gpt 4 or 8");
  app.add_option("--steps", steps, "timed steps");
  app.add_flag("--allreduce", sizes, "time MPI_Allreduce against message size instead");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (sizes)
    allreduce_sizes(world);
  else if (which == "lenet" && per_rank == 64)
    lenet<64>(world, steps);
  else if (which == "lenet" && per_rank == 32)
    lenet<32>(world, steps);
  else if (which == "gpt" && per_rank == 8)
    gpt<8>(world, steps);
  else if (which == "gpt" && per_rank == 4)
    gpt<4>(world, steps);
  else
    throw std::invalid_argument("--case " + which + " --per-rank " + std::to_string(per_rank) + ": not compiled in");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "dist_scaling: %s\n", e.what());
  return 1;
}
