#pragma once
// Prepares the next batch on a background thread while the current step runs (double buffering).
//   Prefetcher p(batches);  while (p.next(x, y)) step(x, y);
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace tg::data {

namespace detail {
// what a source's next(x, y) fills: images and labels (ImageBatches), or inputs and targets (TokenWindows)
template <class Source>
struct batch_types {
  using first = typename Source::images_type;
  using second = typename Source::labels_type;
};
template <class Source>
  requires requires { typename Source::inputs_type; }
struct batch_types<Source> {
  using first = typename Source::inputs_type;
  using second = typename Source::targets_type;
};
}  // namespace detail

template <class Source>
class Prefetcher {
 public:
  using inputs_type = typename detail::batch_types<Source>::first;
  using targets_type = typename detail::batch_types<Source>::second;

  explicit Prefetcher(Source& source) : source_(source), worker_([this] { run(); }) {}
  ~Prefetcher() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Takes the prepared batch (waiting if it is not ready) and starts preparing the next one.
  // Returns false at the end of an epoch, like Source::next.
  bool next(inputs_type& x, targets_type& y) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return ready_; });
    waited_ += std::chrono::steady_clock::now() - t0;
    const bool more = more_;
    if (more) {
      std::swap(x, x_);
      std::swap(y, y_);
    }
    ready_ = false;
    lock.unlock();
    changed_.notify_all();
    return more;
  }

  // total time next() spent waiting for a batch: near zero when preparation overlaps the steps
  double waited_ms() const { return std::chrono::duration<double, std::milli>(waited_).count(); }

 private:
  void run() {
    for (;;) {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !ready_ || stop_; });
      if (stop_) return;
      lock.unlock();
      const bool more = source_.next(x_, y_);  // x_, y_ are the worker's until ready_ is set
      lock.lock();
      more_ = more;
      ready_ = true;
      lock.unlock();
      changed_.notify_all();
    }
  }

  Source& source_;
  inputs_type x_;
  targets_type y_;
  bool ready_ = false, more_ = false, stop_ = false;
  std::chrono::steady_clock::duration waited_{};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread worker_;
};

}  // namespace tg::data
