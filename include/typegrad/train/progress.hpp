#pragma once
// A progress line: epoch, step/total, loss, examples/s, ETA. On a terminal it is rewritten in place;
// otherwise (a log, a pipe) it prints a plain line every `every` steps.
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace tg::train {

class Progress {
 public:
  explicit Progress(std::size_t batch, std::size_t every = 100, std::FILE* out = stdout)
      : batch_(batch), every_(every), out_(out), tty_(isatty(fileno(out)) != 0) {}

  void start_epoch(int epoch, std::size_t steps) {
    epoch_ = epoch;
    steps_ = steps;
    loss_sum_ = 0;
    loss_count_ = 0;
    t0_ = std::chrono::steady_clock::now();
  }

  void step(std::size_t done, double loss) {
    loss_sum_ += loss;
    ++loss_count_;
    if (!tty_ && done % every_ != 0 && done != steps_) return;
    if (tty_ && done % 10 != 0 && done != steps_) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double rate = secs > 0 ? double(done * batch_) / secs : 0;
    const double eta = done ? secs / double(done) * double(steps_ - done) : 0;
    std::fprintf(out_, "%sepoch %d step %zu/%zu loss %.4f %.0f examples/s ETA %.0fs%s", tty_ ? "\r" : "", epoch_, done,
                 steps_, loss_sum_ / double(loss_count_), rate, eta, tty_ ? "   " : "\n");
    std::fflush(out_);
    loss_sum_ = 0;
    loss_count_ = 0;
  }

  // ends the epoch's line; returns the epoch's wall time in seconds
  double end_epoch() {
    if (tty_) std::fputc('\n', out_);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::size_t batch_, every_;
  std::FILE* out_;
  bool tty_;
  int epoch_ = 0;
  std::size_t steps_ = 0, loss_count_ = 0;
  double loss_sum_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace tg::train
