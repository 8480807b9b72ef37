#pragma once
// Intra-step parallelism, opt-in: tg::set_num_threads(n) starts a fixed pool of n - 1 workers once; every
// later step splits its large kernels (GEMM rows, element-wise regions, reductions by segment, convolution and
// pooling by image, the optimizer's update) over the pool and the calling thread. No thread is created and
// nothing is allocated per step. The default is 1 thread: a step then never touches the pool (latency users).
//
// Work is split into contiguous parts of an index range, in a fixed partition (part p of P gets
// [n p / P, n (p + 1) / P)), and every output element is written by exactly one part with the same
// arithmetic as on one thread, so results are bit-for-bit those of one thread (tests/core/test_threads.cpp).
// Kernels whose parts would add into shared memory stay serial.
//
// Stack: a GEMM keeps transposed operands on the stack of the thread running the part (core/blas.hpp): A^T by k
// chunks of at most 32 KB, on one thread too; B^T of at most 64 KB in the workers' parts, and on the calling thread
// when it runs every part itself (the pool busy with another thread's step). A thread calling steps with threads on
// needs ~100 KB of stack beyond its own use.
//
// Waiting: a worker spins for ~200 us after each job (the next kernel of a step follows within microseconds),
// then sleeps on an atomic wait. set_num_threads is not meant to be called while a step runs.
//
// Threads beyond the CPUs: set_num_threads(n) starts no more threads than the CPUs the process may use (its
// affinity mask: taskset, a cpuset; its cgroup's CPU quota: core/cpus.hpp): confined to one CPU, 2 spinning threads
// waited for each other until the scheduler's tick (a LeNet step 56 ms instead of 2; docs/performance.md, "1 vs 2
// threads"). Where threads still outnumber CPUs in the pool itself (resized past them, as tests/core/test_threads.cpp
// does to cover 3 and 4 parts on 2 CPUs), a waiting thread yields its CPU every 64 spins. Not otherwise: with a yield
// in every long wait (past ~1000 spins), the caller and the worker, once on one CPU, stayed there for whole runs (2
// parts of 27 us took 90 us a call in 3 runs of 6; Intel 0xCF), where spinning alone got them moved apart.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "typegrad/core/cpus.hpp"

namespace tg {
namespace detail {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class thread_pool {
 public:
  static thread_pool& instance() {
    static thread_pool pool;
    return pool;
  }
  ~thread_pool() { stop(); }

  std::size_t threads() const { return workers_.size() + 1; }
  static bool inside_part() { return inside_; }

  void resize(std::size_t n) {
    if (n == 0) throw std::invalid_argument("tg::set_num_threads: the thread count must be at least 1");
    if (n == threads()) return;
    stop();
    stopping_.store(false);
    yields_ = n > usable_cpus();
    workers_.reserve(n - 1);
    // a worker starts from the generation of its creation: a job published before it first runs is still its
    const std::uint64_t start = generation_.load();
    for (std::size_t w = 1; w < n; ++w) workers_.emplace_back([this, w, start] { work(w, start); });
  }

  // call(context, part) for part in [0, parts) (parts <= threads()); the caller runs part 0 and returns
  // when all parts are done. A call from inside a part runs every part on the calling thread.
  void run(std::size_t parts, void (*call)(const void*, std::size_t), const void* context) {
    // serial: one part, more parts than threads, a call from inside a part, or another thread's step holding
    // the pool
    if (parts <= 1 || parts > threads() || inside_ || busy_.exchange(true, std::memory_order_acquire)) {
      for (std::size_t p = 0; p < parts; ++p) call(context, p);
      return;
    }
    call_ = call;
    context_ = context;
    parts_ = parts;
    // every worker acknowledges the job (idle ones at once), so none still reads it when the next is written
    pending_.store(workers_.size(), std::memory_order_relaxed);
    // seq_cst on both sides (generation then sleepers here; sleepers then generation in a worker): a worker
    // about to sleep either sees the new generation or is seen and woken
    generation_.fetch_add(1);
    if (sleepers_.load() > 0) generation_.notify_all();
    inside_ = true;
    call(context, 0);
    inside_ = false;
    for (unsigned spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) wait_a_little(spins);
    busy_.store(false, std::memory_order_release);
  }

 private:
  thread_pool() = default;

  // one spin of a wait: a pause, and in a pool past the CPUs every 64th spin gives the CPU to whichever thread wants it
  void wait_a_little(unsigned spins) const {
    if (yields_ && (spins & 63) == 63)
      std::this_thread::yield();
    else
      cpu_relax();
  }

  void stop() {
    if (workers_.empty()) return;
    stopping_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void work(std::size_t index, std::uint64_t seen) {
    inside_ = true;
    for (;;) {
      // spin while steps are running, then sleep
      const auto start = std::chrono::steady_clock::now();
      std::uint64_t now = seen;
      for (unsigned spins = 0;; ++spins) {
        now = generation_.load(std::memory_order_acquire);
        if (now != seen) break;
        if ((spins & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(200)) {
          sleepers_.fetch_add(1);
          generation_.wait(seen);
          sleepers_.fetch_sub(1);
        }
        wait_a_little(spins);
      }
      seen = now;
      if (stopping_.load()) return;
      if (index < parts_) call_(context_, index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false}, busy_{false};
  // the job, published by generation_'s release store
  void (*call_)(const void*, std::size_t) = nullptr;
  const void* context_ = nullptr;
  std::size_t parts_ = 0;
  bool yields_ = false;  // the pool has more threads than the CPUs it may run on
  static inline thread_local bool inside_ = false;
};

// The number of parts for `n` items of which a part should have at least `grain`: 1 on one thread.
inline std::size_t parts_for(std::size_t n, std::size_t grain) {
  const std::size_t threads = thread_pool::instance().threads();
  if (threads == 1 || n < 2 * grain || thread_pool::inside_part()) return 1;
  return std::min(threads, n / grain);
}

// parallel_for's job: f over part p of the partition of [0, n) into `parts`
template <class F>
struct parallel_job {
  F* f;
  std::size_t n, parts;
  // part p of the job, out of line on every thread count (below), and hot: compiled for speed even where GCC
  // takes the step that calls it for code run once (core/backend.hpp, out_of_line)
  [[gnu::noinline, gnu::hot]] static void part(const void* c, std::size_t p) {
    const parallel_job& j = *static_cast<const parallel_job*>(c);
    (*j.f)(j.n * p / j.parts, j.n * (p + 1) / j.parts);
  }
};
// f(begin, end) over a fixed partition of [0, n) into parts_for(n, grain) parts, run in parallel.
template <class F>
inline void parallel_for(std::size_t n, std::size_t grain, F&& f) {
  const parallel_job<std::remove_reference_t<F>> j{&f, n, parts_for(n, grain)};
  // One thread runs the same out-of-line function as the pool's parts. Inlined into a step's forward pass
  // instead, GCC 12 left LeNet's pooling and im2col loops scalar where the step's loss went unused
  // (`step(x, y);`): 3100 against 1750 us a step on one thread, Intel 0xA7.
  if (j.parts == 1) return j.part(&j, 0);
  thread_pool::instance().run(j.parts, &j.part, &j);
}

}  // namespace detail

// Threads a step may use (the caller's and n - 1 pool workers), at most the CPUs the process may use (core/cpus.hpp;
// num_threads() says how many it got). Call between steps, not during one.
inline void set_num_threads(std::size_t n) {
  detail::thread_pool::instance().resize(n == 0 ? 0 : std::min(n, detail::usable_cpus()));
}
inline std::size_t num_threads() { return detail::thread_pool::instance().threads(); }

}  // namespace tg
