// A rank that dies mid-training (SIGKILL, as the OOM killer or a failed node would) must not leave the others
// waiting forever in an all-reduce: the job ends non-zero within a bounded time (CTest's TIMEOUT is the bound).
#include <csignal>
#include <cstdio>

#include "typegrad/dist/data_parallel.hpp"
#include "typegrad/typegrad.hpp"

int main(int argc, char** argv) try {
  tg::dist::World world(&argc, &argv);
  tg::Linear<32, 32> fc(1);
  auto step = tg::compile<tg::Input<float, 16, 32>>([&](auto x) { return tg::sum(tg::tanh(fc(x))); });
  tg::Tensor<float, 16, 32> x(0.5f);
  for (int s = 0; s < 100000; ++s) {
    if (world.rank() == 1 && s == 3) {
      std::printf("rank 1: killing myself at step %d\n", s);
      std::fflush(stdout);
      std::raise(SIGKILL);
    }
    step(x);
    tg::dist::average_gradients(world, step);
  }
  std::printf("rank %d: finished all steps: the dead rank was not noticed\n", world.rank());
  return 0;
} catch (const std::exception& e) {
  std::printf("rank error: %s\n", e.what());
  return 1;
}
