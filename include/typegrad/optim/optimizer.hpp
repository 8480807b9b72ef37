#pragma once
// tg::optim::Optimizer<Rule, Program>: the state of every trainable parameter of a compiled program,
// laid out at compile time from the program's plan (frozen parameters have none), and the update as one
// fused element-wise pass per parameter. Options: a learning-rate schedule, gradient clipping by global
// norm, gradient accumulation over k micro-batches.
//
//   auto opt = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{1e-3});
//   float loss = step(x, y); opt.update(step);
#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "typegrad/core/host_memory.hpp"
#include "typegrad/core/threads.hpp"
#include "typegrad/optim/lanes.hpp"
#include "typegrad/optim/rules.hpp"
#include "typegrad/optim/schedules.hpp"

namespace tg::optim {

// Blocks of lanes (optim/lanes.hpp) of [begin, end) (a multiple of the lane count apart): w[i], g[i], state[k stride
// + i] for slot k.
template <class Rule, class T, class V = lanes<T>>
inline void apply_lanes(const Rule& rule, T* w, const T* g, T* state, std::size_t stride, std::size_t begin,
                        std::size_t end, V lr, V scale, std::size_t t) {
  for (std::size_t i = begin; i + V::size <= end; i += V::size) {
    V wv = V::load(w + i), sv[Rule::slots > 0 ? Rule::slots : 1];
    for (std::size_t k = 0; k < Rule::slots; ++k) sv[k] = V::load(state + k * stride + i);
    rule(wv, V::load(g + i) * scale, sv, lr, t);
    wv.store(w + i);
    for (std::size_t k = 0; k < Rule::slots; ++k) sv[k].store(state + k * stride + i);
  }
}

// The last, partial block [begin, end) through zero-padded copies
template <class Rule, class T, class V>
void apply_lanes_padded(const Rule& rule, T* w, const T* g, T* state, std::size_t stride, std::size_t begin,
                        std::size_t end, V lr, V scale, std::size_t t) {
  constexpr std::size_t L = V::size, slots = Rule::slots > 0 ? Rule::slots : 1;
  T wb[L] = {}, gb[L] = {}, sb[slots * L] = {};
  std::copy(w + begin, w + end, wb);
  std::copy(g + begin, g + end, gb);
  for (std::size_t k = 0; k < Rule::slots; ++k)
    std::copy(state + k * stride + begin, state + k * stride + end, sb + k * L);
  apply_lanes(rule, wb, gb, sb, L, 0, L, lr, scale, t);
  std::copy(wb, wb + (end - begin), w + begin);
  for (std::size_t k = 0; k < Rule::slots; ++k)
    std::copy(sb + k * L, sb + k * L + (end - begin), state + k * stride + begin);
}

// The generic algorithm: rule applied element-wise over (w, g, state slots), g scaled by `scale`, on elements
// [begin, end) of a parameter of n (its state slots n apart); `rule` is the rule at step t (rule_at_step).
// Elements are independent: a lane_wise rule runs on lanes, a range's last partial block through zero-padded
// copies, so every element gets the same arithmetic however a parameter is cut into ranges.
template <class Rule, class T>
void apply_range(const Rule& rule, T* w, const T* g, T* state, std::size_t n, std::size_t begin, std::size_t end, T lr,
                 std::size_t t, T scale) {
  constexpr std::size_t slots = Rule::slots > 0 ? Rule::slots : 1;
  if constexpr (lane_wise_rule<Rule, T>) {
    const lanes<T> lr_lanes(lr), scale_lanes(scale);
    const std::size_t whole = begin + (end - begin) / lanes<T>::size * lanes<T>::size;
    apply_lanes(rule, w, g, state, n, begin, whole, lr_lanes, scale_lanes, t);
    if (whole < end) apply_lanes_padded(rule, w, g, state, n, whole, end, lr_lanes, scale_lanes, t);
  } else {
    for (std::size_t i = begin; i < end; ++i) {
      T s[slots];
      for (std::size_t k = 0; k < Rule::slots; ++k) s[k] = state[k * n + i];
      rule(w[i], g[i] * scale, s, lr, t);
      for (std::size_t k = 0; k < Rule::slots; ++k) state[k * n + i] = s[k];
    }
  }
}
// ... over a whole parameter: with tg::set_num_threads(n > 1) one of at least 2 split_grain elements in ranges on
// several threads
inline constexpr std::size_t split_grain = 16 * 1024;
template <class Rule, class T>
void apply(const Rule& rule_, T* w, const T* g, T* state, std::size_t n, T lr, std::size_t t, T scale = T(1)) {
  const Rule rule = rule_at_step(rule_, t);
  tg::detail::parallel_for(n, split_grain, [&](std::size_t begin, std::size_t end) {
    apply_range(rule, w, g, state, n, begin, end, lr, t, scale);
  });
}

struct Options {
  double clip_norm = 0;        // > 0: scale gradients so that their global L2 norm is at most this
  std::size_t accumulate = 1;  // k > 1: update every k-th call with the mean of k gradients
};

template <class Rule, class Program, class Schedule = sched::Constant>
class Optimizer {
 public:
  using value_type = typename Program::value_type;
  static constexpr std::size_t node_count = Program::node_count;
  static constexpr auto& plan = Program::plan;
  // state offsets per parameter occurrence (elements x slots), fixed at compile time
  static constexpr std::array<std::size_t, node_count + 1> offsets = [] {
    std::array<std::size_t, node_count + 1> o{};
    std::size_t at = 0;
    for (std::size_t k = 0; k < node_count; ++k) {
      o[k] = at;
      if (plan.is_param[k] && plan.needs_adjoint[k]) at += plan.elements[k];
    }
    o[node_count] = at;
    return o;
  }();
  static constexpr std::size_t trainable_elements = offsets[node_count];

  Optimizer(const Program&, Rule rule, Schedule schedule, Options options = {})
      : rule_(rule), schedule_(schedule), options_(options), state_(trainable_elements * Rule::slots, value_type(0)) {
    if (options_.accumulate == 0) throw std::invalid_argument("tg::optim: accumulate must be at least 1");
    if (options_.accumulate > 1) sum_.assign(trainable_elements, value_type(0));
  }

  // Applies one update from the program's current gradients (or adds them to the accumulation and
  // updates every k-th call). Returns whether the parameters changed.
  bool update(const Program& program) {
    if (options_.accumulate > 1) {
      program.for_each_trainable([&](auto k, auto*, const value_type* g, std::size_t n, std::size_t first) {
        add_into(sum_.data() + offsets[k] + first, g, n);
      });
      if (++pending_ < options_.accumulate) return false;
      pending_ = 0;
      step_with(program, true, value_type(1) / value_type(options_.accumulate));
      std::fill(sum_.begin(), sum_.end(), value_type(0));
    } else {
      step_with(program, false, value_type(1));
    }
    return true;
  }

  std::size_t steps() const { return t_; }
  double learning_rate() const { return schedule_(t_ == 0 ? 1 : t_); }
  double last_gradient_norm() const { return last_norm_; }

 private:
  // The update from the program's gradients, or from their accumulated sum (from_sum). The walk over the
  // parameters is compile-time (one lambda body per parameter), so each body only calls one of the functions
  // below: a ResNet-20's 73 parameters would otherwise each get a copy of the update loop (g++ -O3 inlines it:
  // 4 of the 44 s its training step took to compile, bench/depth/resnet20.cpp on Zen 1).
  void step_with(const Program& program, bool from_sum, value_type scale) {
    ++t_;
    if (options_.clip_norm > 0) {
      double sq = 0;
      program.for_each_trainable([&](auto k, auto*, const value_type* g, std::size_t n, std::size_t first) {
        sq += squared_norm(from_sum ? sum_.data() + offsets[k] + first : g, n, scale);
      });
      last_norm_ = std::sqrt(sq);
      if (last_norm_ > options_.clip_norm) scale *= value_type(options_.clip_norm / (last_norm_ + 1e-6));
    }
    const value_type lr = value_type(schedule_(t_));
    const auto grad = [&](auto k, const value_type* g, std::size_t first) {
      return from_sum ? sum_.data() + offsets[k] + first : g;
    };
    // Parameters that apply splits over threads on their own (>= 2 parts of split_grain): each split alone, its
    // parts where the GEMM that wrote its gradient split that gradient's rows (on 2 threads, the MLP's first
    // weight exactly). In one section with the rest they were not: the other core's lines, and the MLP's update
    // 15-16 -> 20 us on 2 threads.
    program.for_each_trainable([&](auto k, value_type* w, const value_type* g, std::size_t n, std::size_t first) {
      if (splits_alone(n)) update_one(w, grad(k, g, first), offsets[k] + first, n, lr, scale);
    });
    // The smaller ones in one parallel section over their elements, in order: a thread takes a run of them, parts
    // of those at its ends. One at a time, LeNet's (21,840 elements in all) ran on the calling thread: 30-32 ->
    // 17 us on 2 threads.
    std::size_t small = 0;
    program.for_each_trainable([&](auto, value_type*, const value_type*, std::size_t n, std::size_t) {
      if (!splits_alone(n)) small += n;
    });
    tg::detail::parallel_for(small, small_grain, [&](std::size_t b, std::size_t e) {
      std::size_t at = 0;  // the parameter's first element among the small ones
      program.for_each_trainable([&](auto k, value_type* w, const value_type* g, std::size_t n, std::size_t first) {
        if (splits_alone(n)) return;
        const std::size_t lo = std::max(at, b), hi = std::min(at + n, e);
        if (lo < hi) update_part(w, grad(k, g, first), offsets[k] + first, n, lo - at, hi - at, lr, scale);
        at += n;
      });
    });
  }
  static constexpr std::size_t small_grain = 4 * 1024;  // elements a part of the small parameters' section holds
  // whether apply splits a parameter of n elements over 2 threads on its own
  static constexpr bool splits_alone(std::size_t n) { return n >= 2 * split_grain; }
  // One parameter of n elements whose optimizer state starts at element `offset` (times the rule's slots): whole
  // (split over threads by apply), or its elements [begin, end) (within a part of a parallel section)
  [[gnu::noinline]] void update_one(value_type* w, const value_type* g, std::size_t offset, std::size_t n,
                                    value_type lr, value_type scale) {
    apply(rule_, w, g, state_.data() + offset * Rule::slots, n, lr, t_, scale);
  }
  [[gnu::noinline]] void update_part(value_type* w, const value_type* g, std::size_t offset, std::size_t n,
                                     std::size_t begin, std::size_t end, value_type lr, value_type scale) {
    apply_range(rule_at_step(rule_, t_), w, g, state_.data() + offset * Rule::slots, n, begin, end, lr, t_, scale);
  }
  [[gnu::noinline]] static void add_into(value_type* acc, const value_type* g, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) acc[i] += g[i];
  }
  // sum of (scale g[i])^2 in double
  [[gnu::noinline]] static double squared_norm(const value_type* g, std::size_t n, value_type scale) {
    double sq = 0;
    for (std::size_t i = 0; i < n; ++i) sq += double(g[i] * scale) * double(g[i] * scale);
    return sq;
  }

  Rule rule_;
  Schedule schedule_;
  Options options_;
  // the rule's state, slot s of occurrence k at offsets[k] * slots + s * n, and the accumulated gradients: on huge
  // pages when large (core/host_memory.hpp)
  std::vector<value_type, tg::detail::buffer_allocator<value_type>> state_;
  std::vector<value_type, tg::detail::buffer_allocator<value_type>> sum_;
  std::size_t pending_ = 0, t_ = 0;
  double last_norm_ = 0;
};

template <class Rule, class Program, class Schedule>
Optimizer<Rule, Program, Schedule> make(const Program& p, Rule rule, Schedule schedule, Options options = {}) {
  return Optimizer<Rule, Program, Schedule>(p, rule, schedule, options);
}

// Stops when the monitored value has not improved by min_delta for `patience` consecutive checks.
class EarlyStopping {
 public:
  explicit EarlyStopping(std::size_t patience, double min_delta = 0) : patience_(patience), min_delta_(min_delta) {}
  // returns true when training should stop
  bool observe(double value) {
    if (value < best_ - min_delta_) {
      best_ = value;
      bad_ = 0;
    } else {
      ++bad_;
    }
    return bad_ >= patience_;
  }
  double best() const { return best_; }

 private:
  std::size_t patience_;
  double min_delta_;
  double best_ = INFINITY;
  std::size_t bad_ = 0;
};

}  // namespace tg::optim
