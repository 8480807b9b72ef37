#pragma once
// tg::optim::Optimizer for device programs: the same rules and options, and the update of every
// trainable parameter as one fused pass (one thrust::for_each over all their elements together).
#include <thrust/transform_reduce.h>

#include <cmath>
#include <vector>

#include "typegrad/device/program.hpp"
#include "typegrad/optim/optimizer.hpp"

namespace tg::device::detail {
template <class T>
struct segment {  // one parameter: elements [begin, begin + n) of the fused index range
  T* w;
  const T* g;
  std::size_t begin, n;
};
template <class T>
TG_HD TG_INLINE std::size_t segment_at(const segment<T>* seg, std::size_t count, std::size_t i) {
  std::size_t lo = 0, hi = count;
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    if (seg[mid].begin <= i)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}
template <class Rule, class T>
struct fused_update {
  Rule rule;
  const segment<T>* seg;
  std::size_t count, total;
  T* state;
  const T* summed;  // accumulated gradients (k micro-batches) or nullptr
  T lr, scale;
  std::size_t t;
  TG_HD void operator()(std::size_t i) const {
    const segment<T>& s = seg[segment_at(seg, count, i)];
    const std::size_t j = i - s.begin;
    T slots[Rule::slots > 0 ? Rule::slots : 1];
    for (std::size_t k = 0; k < Rule::slots; ++k) slots[k] = state[k * total + i];
    rule(s.w[j], (summed ? summed[i] : s.g[j]) * scale, slots, lr, t);
    for (std::size_t k = 0; k < Rule::slots; ++k) state[k * total + i] = slots[k];
  }
};
template <class T>
struct add_gradient {
  const segment<T>* seg;
  std::size_t count;
  T* sum;
  TG_HD void operator()(std::size_t i) const {
    const segment<T>& s = seg[segment_at(seg, count, i)];
    sum[i] += s.g[i - s.begin];
  }
};
template <class T>
struct squared_gradient {
  const segment<T>* seg;
  std::size_t count;
  const T* summed;
  T scale;
  TG_HD double operator()(std::size_t i) const {
    const segment<T>& s = seg[segment_at(seg, count, i)];
    const double g = double((summed ? summed[i] : s.g[i - s.begin]) * scale);
    return g * g;
  }
};
}  // namespace tg::device::detail

namespace tg::optim {

template <class Rule, class P, class Schedule>
requires P::backend::is_device
class Optimizer<Rule, P, Schedule> {
 public:
  using value_type = typename P::value_type;
  using T = value_type;
  using Bk = typename P::backend;

  Optimizer(const P& program, Rule rule, Schedule schedule, Options options = {})
      : rule_(rule), schedule_(schedule), options_(options) {
    if (options_.accumulate == 0) throw std::invalid_argument("tg::optim: accumulate must be at least 1");
    std::vector<device::detail::segment<T>> table;
    program.for_each_trainable([&](auto, T* w, const T* g, std::size_t n, std::size_t) {
      table.push_back({w, g, total_, n});
      total_ += n;
    });
    count_ = table.size();
    segments_ = device::buffer(count_ * sizeof(table[0]));
    Bk::upload(segments_.get(), table.data(), count_ * sizeof(table[0]));
    state_ = device::buffer(total_ * Rule::slots * sizeof(T));
    Bk::zero(state_.get(), total_ * Rule::slots * sizeof(T));
    if (options_.accumulate > 1) {
      sum_ = device::buffer(total_ * sizeof(T));
      Bk::zero(sum_.get(), total_ * sizeof(T));
    }
  }

  // One update from the program's current gradients (or, with accumulate = k, every k-th call).
  bool update(const P&) {
    const T* summed = nullptr;
    T scale = 1;
    if (options_.accumulate > 1) {
      Bk::for_each(launch::elementwise, total_, device::detail::add_gradient<T>{table(), count_, sum()});
      if (++pending_ < options_.accumulate) return false;
      pending_ = 0;
      summed = sum();
      scale = T(1) / T(options_.accumulate);
    }
    ++t_;
    if (options_.clip_norm > 0) {
      device::count_launch(launch::reduction);
      const double sq = thrust::transform_reduce(
          device::policy(), thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(total_),
          device::detail::squared_gradient<T>{table(), count_, summed, scale}, 0.0, thrust::plus<double>());
      last_norm_ = std::sqrt(sq);
      if (last_norm_ > options_.clip_norm) scale *= T(options_.clip_norm / (last_norm_ + 1e-6));
    }
    Bk::for_each(launch::elementwise, total_,
                 device::detail::fused_update<Rule, T>{rule_at_step(rule_, t_), table(), count_, total_, reinterpret_cast<T*>(state_.get()),
                                                       summed, T(schedule_(t_)), scale, t_});
    if (summed) Bk::zero(sum(), total_ * sizeof(T));
    return true;
  }

  std::size_t steps() const { return t_; }
  double learning_rate() const { return schedule_(t_ == 0 ? 1 : t_); }
  double last_gradient_norm() const { return last_norm_; }

 private:
  const device::detail::segment<T>* table() const {
    return reinterpret_cast<const device::detail::segment<T>*>(segments_.get());
  }
  T* sum() const { return reinterpret_cast<T*>(sum_.get()); }

  Rule rule_;
  Schedule schedule_;
  Options options_;
  device::buffer segments_, state_, sum_;
  std::size_t count_ = 0, total_ = 0, pending_ = 0, t_ = 0;
  double last_norm_ = 0;
};

}  // namespace tg::optim
