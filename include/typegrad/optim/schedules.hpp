#pragma once
// Learning-rate schedules: callables lr(t) for step t = 1, 2, ... Any callable works; these compose
// (warmup wraps any schedule).
#include <cmath>
#include <cstddef>
#include <numbers>

namespace tg::sched {

struct Constant {
  double lr;
  double operator()(std::size_t) const { return lr; }
};
// lr gamma^floor((t-1) / every)
struct Step {
  double lr;
  std::size_t every;
  double gamma = 0.1;
  double operator()(std::size_t t) const { return lr * std::pow(gamma, double((t - 1) / every)); }
};
// lr gamma^(t-1)
struct Exponential {
  double lr, gamma;
  double operator()(std::size_t t) const { return lr * std::pow(gamma, double(t - 1)); }
};
// min + (lr - min) (1 + cos(pi (t-1) / total)) / 2, then min
struct Cosine {
  double lr;
  std::size_t total;
  double min_lr = 0;
  double operator()(std::size_t t) const {
    if (t > total) return min_lr;
    return min_lr + (lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi * double(t - 1) / double(total)));
  }
};
// linear warm-up over the first `steps` steps (lr(t) t / steps), then the wrapped schedule
template <class Schedule>
struct Warmup {
  std::size_t steps;
  Schedule after;
  double operator()(std::size_t t) const {
    return t <= steps ? after(t) * double(t) / double(steps) : after(t);
  }
};
template <class Schedule>  // tg::sched::Warmup{steps, Cosine{...}} (aggregate deduction: clang before 17 needs it)
Warmup(std::size_t, Schedule)->Warmup<Schedule>;
template <class Schedule>
Warmup<Schedule> warmup(std::size_t steps, Schedule s) {
  return {steps, s};
}

}  // namespace tg::sched
