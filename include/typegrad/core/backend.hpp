#pragma once
// Where a program's kernels run. A backend gives the loops that kernels are written in:
//   for_each(kind, n, f)                     f(i) for i in [0, n)
//   segmented_reduce(kind, segs, len, v, op, init, out, divisor)
//                                            out[o] = (op-fold of v(o, r) over r < len) / divisor, o < segs
//                                            (init: op's identity; the fold's order is the backend's)
//   gemm<...>(a, b, c, scratch)              row-major GEMM of fixed shape (core/blas.hpp's conventions)
// host_backend runs them as plain loops on the calling thread. The Thrust backend (cuda/) runs each call
// as one device algorithm, concurrently: adjoints are then accumulated atomically.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "typegrad/core/accumulate.hpp"
#include "typegrad/core/blas.hpp"
#include "typegrad/core/config.hpp"
#include "typegrad/core/tensor.hpp"
#include "typegrad/core/threads.hpp"

// A loop body that can run on either backend, written TG_BODY((std::size_t i) { ... }). On the host it captures by
// reference. Under nvcc it is two lambdas of the same text: that one for host backends, and a __device__ lambda holding
// a copy of the node and its context (device code cannot follow host references) that device backends launch.
// (One __host__ __device__ lambda would serve both, but nvcc wraps those in a type that keeps the lambda on the heap:
// an allocation each time a loop's body is made or copied, 24 per MLP training step on an H200.)
// TG_BODY_OF_VALUES: the same for a body that uses only local values (pointers, sizes), not the node.
#if defined(__CUDACC__) && defined(__CUDACC_EXTENDED_LAMBDA__)
#define TG_BODY(...) ::tg::detail::host_and_device([&] __VA_ARGS__, [ =, *this ] __device__ __VA_ARGS__)
#define TG_BODY_OF_VALUES(...) ::tg::detail::host_and_device([&] __VA_ARGS__, [=] __device__ __VA_ARGS__)
#else
#define TG_BODY(...) [&] __VA_ARGS__
#define TG_BODY_OF_VALUES(...) [&] __VA_ARGS__
#endif

namespace tg {

namespace detail {
struct plus_op {
  template <class T>
  TG_HD TG_INLINE T operator()(T a, T b) const {
    return a + b;
  }
};
// f() in a function of its own, marked hot: the host loops of kernels run through it (for_each, for_each_grid;
// parallel_for's parts likewise, core/threads.hpp). Inlined into a program's forward or backward pass instead, which
// GCC 12 may take for code run once (a training loop in main), a kernel's loops were compiled for size and stayed
// scalar: in a Transformer block's step (Intel 0xA7) LayerNorm forward 259 -> 87 us, backward 1005 -> 118,
// softmax forward 1712 -> 923 (with row_sums.hpp), backward 1082 -> 424.
template <class F>
struct out_of_line {
  [[gnu::noinline, gnu::hot]] static void run(F& f) { f(); }
};
template <class F>
TG_INLINE void run_out_of_line(F&& f) {
  out_of_line<std::remove_reference_t<F>>::run(f);
}
// A loop body as a host lambda and a __device__ lambda (TG_BODY under nvcc): called, it runs the host one; device
// backends take `device` (device_body).
template <class Host, class Device>
struct host_and_device {
  Host host;
  Device device;
  host_and_device(Host h, Device d) : host(h), device(d) {}
  template <class... I>
  TG_INLINE decltype(auto) operator()(I... i) const {
    return host(i...);
  }
};
template <class F>
TG_HD constexpr const F& device_body(const F& f) {
  return f;
}
template <class Host, class Device>
TG_HD constexpr const Device& device_body(const host_and_device<Host, Device>& f) {
  return f.device;
}
struct max_op {
  template <class T>
  TG_HD TG_INLINE T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};
}  // namespace detail

// What a backend call does, for the launch counter (device backends) and for reading profiles.
enum class launch : std::uint8_t { elementwise, reduction, gemm, fill, copy, kinds };

struct host_backend {
  static constexpr bool is_device = false;   // memory is the host's; kernels run on the calling thread
  static constexpr bool concurrent = false;  // for_each bodies never overlap
  // with tg::set_num_threads(n > 1): loops of at least this many elements are split over the threads
  static constexpr std::size_t parallel_elements = 32 * 1024;

  template <class F>
  static TG_INLINE void for_each(launch, std::size_t n, F&& f) {
    detail::run_out_of_line([&] {
      for (std::size_t i = 0; i < n; ++i) f(i);
    });
  }

  // f(flat, a, b, c) over the grid [A, B, C] (flat = (a B + b) C + c): nested loops here, one flat loop
  // with the indices recovered by division on a device. SplitOuter: bodies of different `a` write disjoint
  // memory, so the host may run ranges of `a` on several threads (core/threads.hpp).
  template <std::size_t A, std::size_t B, std::size_t C, bool SplitOuter = false, class F>
  static TG_INLINE void for_each_grid(launch, F&& f) {
    const auto rows = [&](std::size_t a0, std::size_t a1) {
      std::size_t flat = a0 * B * C;
      for (std::size_t a = a0; a < a1; ++a)
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t c = 0; c < C; ++c) f(flat++, a, b, c);
    };
    if constexpr (SplitOuter && A > 1 && A * B * C >= parallel_elements)
      detail::parallel_for(A, 1, rows);
    else
      detail::run_out_of_line([&] { rows(0, A); });
  }

  // `init` is op's identity (0 for a sum, -inf for a maximum). A long segment folds into 8 partial results,
  // r = 8 q + k into partial k, combined at the end: 8 independent chains instead of one chain of dependent
  // adds (latency-bound: one add per 3-4 cycles). The order is fixed, so results are the same on every run.
  template <class T, class Value, class Op>
  static TG_INLINE void segmented_reduce(launch, std::size_t segments, std::size_t length, Value&& value, Op op, T init,
                                         T* out, T divisor = T(1)) {
    constexpr std::size_t lanes = 8;
    const auto fold = [&](std::size_t o0, std::size_t o1) {
      for (std::size_t o = o0; o < o1; ++o) {
        T acc = init;
        if (length < 4 * lanes) {
          for (std::size_t r = 0; r < length; ++r) acc = op(acc, value(o, r));
        } else {
          const std::size_t body = length - length % lanes;
          T part[lanes];
          for (std::size_t k = 0; k < lanes; ++k) part[k] = init;
          for (std::size_t q = 0; q < body; q += lanes)
            for (std::size_t k = 0; k < lanes; ++k) part[k] = op(part[k], value(o, q + k));
          for (std::size_t k = 0; k < lanes; ++k) acc = op(acc, part[k]);
          for (std::size_t r = body; r < length; ++r) acc = op(acc, value(o, r));
        }
        out[o] = acc / divisor;
      }
    };
    // segments are independent (each writes its own out[o]): split by segment when there is enough work
    detail::parallel_for(segments, parallel_elements / (length ? length : 1) + 1, fold);
  }

  // Batches of C_q = op(A_q) op(B_q) (+ C_q when G::beta), operand q at base + q * stride; G is a
  // blas::gemm_kernel (row-major, fixed shape).
  template <class G, std::size_t Batches = 1, std::size_t SA = 0, std::size_t SB = 0, std::size_t SC = 0>
  static TG_INLINE void gemm(const typename G::value_type* a, const typename G::value_type* b,
                             typename G::value_type* c, typename G::value_type* scratch) {
    if constexpr (Batches > 1 && SC != 0 && G::scratch_elements == 0 &&
                  double(G::m) * G::n * G::k * Batches >= G::parallel_macs) {
      // independent products (no shared output, no shared scratch): split by batch
      detail::parallel_for(Batches, 1, [&](std::size_t q0, std::size_t q1) {
        for (std::size_t q = q0; q < q1; ++q) G::run(a + q * SA, b + q * SB, c + q * SC, scratch);
      });
    } else {
      for (std::size_t q = 0; q < Batches; ++q) G::run(a + q * SA, b + q * SB, c + q * SC, scratch);
    }
  }

  using buffer = detail::aligned_bytes;
  static buffer allocate(std::size_t bytes) { return detail::allocate_aligned(bytes); }
  static void upload(void* dst, const void* src, std::size_t bytes) { copy(dst, src, bytes); }
  static void download(void* dst, const void* src, std::size_t bytes) { copy(dst, src, bytes); }

  // Large clears (an adjoint of 1.47 MB before LeNet's first pooling writes it) run in halves on 2 threads: each
  // part's bytes are the images its thread then writes (kernels split by the outer dimension too)
  static void zero(void* p, std::size_t bytes) {
    if (bytes < 2 * parallel_zero_bytes) {
      if (bytes) std::memset(p, 0, bytes);
      return;
    }
    detail::parallel_for(bytes, parallel_zero_bytes, [p](std::size_t b0, std::size_t b1) {
      std::memset(static_cast<std::byte*>(p) + b0, 0, b1 - b0);
    });
  }
  static constexpr std::size_t parallel_zero_bytes = 256 * 1024;
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
};

// A backend whose programs call a hook after each kernel (tg::observed, api/observe.hpp). Node code runs on Base,
// the same instantiations as an unobserved program's; a program on any other backend has no hook and no branch.
template <class Base>
struct observing : Base {
  static constexpr bool observes = true;
  using observed_base = Base;
};
template <class B>
inline constexpr bool observes_v = requires {
  B::observes;
};
template <class B>
struct unobserved {
  using type = B;
};
template <class B>
requires observes_v<B>
struct unobserved<B> {
  using type = typename B::observed_base;
};
template <class B>
using unobserved_t = typename unobserved<B>::type;

}  // namespace tg
