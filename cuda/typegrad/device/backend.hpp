#pragma once
// The Thrust backend: every kernel loop of a program is one Thrust algorithm on one stream.
//   for_each          -> thrust::for_each over the index range (a fused region is one of these)
//   segmented_reduce  -> thrust::reduce_by_key over (segment, element) pairs, values computed on the fly
//   gemm              -> cuBLAS (row-major as column-major transposes), or host BLAS on the OMP system
// The same source builds for the CUDA system (nvcc) and for the OMP system (g++ -fopenmp
// -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP), where "device" memory is host memory and GEMM is
// the host library's.
#include <cxxabi.h>
#include <thrust/execution_policy.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/transform_output_iterator.h>
#include <thrust/reduce.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

#include "typegrad/core/backend.hpp"

#if defined(__CUDACC__) && !defined(__CUDACC_EXTENDED_LAMBDA__)
#error \
    "typegrad's device backend needs nvcc --extended-lambda --expt-relaxed-constexpr (kernels' loop bodies are __device__ lambdas)"
#endif

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#define TYPEGRAD_DEVICE_IS_CUDA 1
#else
#include <thrust/system/omp/execution_policy.h>
#define TYPEGRAD_DEVICE_IS_CUDA 0
#endif

namespace tg::device {

// ---- launch counter: how many backend calls of each kind ran (tests check the fusion plan with it) ----
struct launch_counts {
  std::array<std::size_t, std::size_t(launch::kinds)> n{};
  std::size_t operator[](launch k) const { return n[std::size_t(k)]; }
  std::size_t total() const {
    std::size_t t = 0;
    for (auto v : n) t += v;
    return t;
  }
};
inline launch_counts& launches() {
  static thread_local launch_counts counts;
  return counts;
}
inline void count_launch([[maybe_unused]] launch k) {
#ifdef TYPEGRAD_COUNT_LAUNCHES
  ++launches().n[std::size_t(k)];
#endif
}

// ---- launch profile: while launch_profile().on, each for_each, segmented_reduce and gemm waits for the device
// before and after and records its time and what it ran (for tools: device_compare under TYPEGRAD_PROFILE=1, where
// no profiler is installed). Off, a launch pays the test of a flag.
struct launch_record {
  std::string what;  // the loop body's or the GEMM kernel's type, demangled (its first 120 and last 80 characters)
  launch kind;
  double us;
};
struct launch_profiler {
  bool on = false;
  std::vector<launch_record> records;
};
inline launch_profiler& launch_profile() {
  static thread_local launch_profiler profiler;
  return profiler;
}
namespace detail {
template <class F>
std::string type_name_of() {
  int status = 0;
  char* demangled = abi::__cxa_demangle(typeid(F).name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : typeid(F).name();
  std::free(demangled);
  return name.size() <= 200 ? name : name.substr(0, 120) + " ... " + name.substr(name.size() - 80);
}
}  // namespace detail

#if TYPEGRAD_DEVICE_IS_CUDA
inline void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("typegrad: ") + call + " failed: " + cudaGetErrorString(e));
}
inline void check(cublasStatus_t e, const char* call) {
  if (e != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("typegrad: ") + call + " failed: cuBLAS status " + std::to_string(int(e)));
}
#define TG_CUDA(call) ::tg::device::check((call), #call)

// Thrust's temporary storage (reduce_by_key, find_if) from a cache: after the first step nothing is allocated, on the
// device or on the host (a handful of blocks in a vector reserved once; a std::map cache allocated its nodes with
// operator new on every temporary).
struct cached_allocator {
  using value_type = char;
  struct block {
    char* p;
    std::ptrdiff_t bytes;
    bool used;
  };
  std::vector<block> blocks;
  cached_allocator() { blocks.reserve(64); }
  cached_allocator(const cached_allocator&) = delete;
  cached_allocator& operator=(const cached_allocator&) = delete;
  char* allocate(std::ptrdiff_t n) {
    block* best = nullptr;  // the smallest free block that fits
    for (auto& b : blocks)
      if (!b.used && b.bytes >= n && (!best || b.bytes < best->bytes)) best = &b;
    if (best) {
      best->used = true;
      return best->p;
    }
    void* p = nullptr;
    TG_CUDA(cudaMalloc(&p, std::size_t(n)));
    blocks.push_back({static_cast<char*>(p), n, true});
    return static_cast<char*>(p);
  }
  void deallocate(char* p, std::size_t) {
    for (auto& b : blocks)
      if (b.p == p) b.used = false;
  }
  ~cached_allocator() {
    for (auto& b : blocks) cudaFree(b.p);
  }
};

// One stream, one cuBLAS handle and one allocator for everything typegrad runs on the device.
struct runtime {
  cudaStream_t stream{};
  cublasHandle_t blas{};
  cached_allocator temporaries;
  runtime() {
    TG_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    TG_CUDA(cublasCreate(&blas));
    TG_CUDA(cublasSetStream(blas, stream));
  }
  ~runtime() {
    cublasDestroy(blas);
    cudaStreamDestroy(stream);
  }
  static runtime& get() {
    static runtime r;
    return r;
  }
};
inline auto policy() { return thrust::cuda::par_nosync(runtime::get().temporaries).on(runtime::get().stream); }
#else
inline auto policy() { return thrust::omp::par; }
#endif

// Device memory owned by a program or a tensor (cudaMalloc; aligned host memory on the OMP system).
class buffer {
 public:
  buffer() = default;
  explicit buffer(std::size_t bytes) {
    if (bytes == 0) return;
#if TYPEGRAD_DEVICE_IS_CUDA
    void* p = nullptr;
    TG_CUDA(cudaMalloc(&p, bytes));
    p_ = static_cast<std::byte*>(p);
#else
    host_ = tg::detail::allocate_aligned(bytes);
    p_ = host_.get();
#endif
  }
  buffer(buffer&& o) noexcept : p_(o.p_) {
#if !TYPEGRAD_DEVICE_IS_CUDA
    host_ = std::move(o.host_);
#endif
    o.p_ = nullptr;
  }
  buffer& operator=(buffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = o.p_;
#if !TYPEGRAD_DEVICE_IS_CUDA
      host_ = std::move(o.host_);
#endif
      o.p_ = nullptr;
    }
    return *this;
  }
  ~buffer() { release(); }
  std::byte* get() const { return p_; }

 private:
  void release() {
#if TYPEGRAD_DEVICE_IS_CUDA
    if (p_) cudaFree(p_);
#else
    host_.reset();
#endif
    p_ = nullptr;
  }
  std::byte* p_ = nullptr;
#if !TYPEGRAD_DEVICE_IS_CUDA
  tg::detail::aligned_bytes host_;
#endif
};

namespace detail {
template <class T, class Value>
struct split_index {  // flat index s -> value(segment, element); T stated: host code cannot see a __device__ lambda's
  Value value;        // return type
  std::size_t length;
  TG_HD T operator()(std::size_t s) const { return T(value(s / length, s % length)); }
};
struct segment_of {
  std::size_t length;
  TG_HD std::size_t operator()(std::size_t s) const { return s / length; }
};
template <class T>
struct divided {
  T d;
  TG_HD T operator()(T a) const { return a / d; }
};
template <class T>
struct outside_range {
  T classes;
  TG_HD bool operator()(T y) const { return y < 0 || y >= classes; }
};

#if TYPEGRAD_DEVICE_IS_CUDA
// row-major C[M,N] = op(A) op(B) (+ C): column-major C^T = op(B)^T op(A)^T
template <class G>
void cublas_gemm(const typename G::value_type* a, const typename G::value_type* b, typename G::value_type* c,
                 std::size_t batches, long long sa, long long sb, long long sc) {
  using T = typename G::value_type;
  const T alpha = 1, beta = T(G::beta);
  const cublasOperation_t ob = G::trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, oa = G::trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t h = runtime::get().blas;
  if constexpr (std::is_same_v<T, float>)
    TG_CUDA(cublasSgemmStridedBatched(h, ob, oa, G::n, G::m, G::k, &alpha, b, G::ldb, sb, a, G::lda, sa, &beta, c,
                                      G::ldc, sc, int(batches)));
  else
    TG_CUDA(cublasDgemmStridedBatched(h, ob, oa, G::n, G::m, G::k, &alpha, b, G::ldb, sb, a, G::lda, sa, &beta, c,
                                      G::ldc, sc, int(batches)));
}
#endif
template <std::size_t B, std::size_t C, class F>
struct grid_body {
  F f;
  TG_HD void operator()(std::size_t flat) const { f(flat, flat / (B * C), flat / C % B, flat % C); }
};
}  // namespace detail

struct thrust_backend {
  static constexpr bool is_device = true;
  static constexpr bool concurrent = true;
  using buffer = device::buffer;

  template <class F>
  static void for_each(launch kind, std::size_t n, F f) {
    count_launch(kind);
    profiled<decltype(tg::detail::device_body(f))>(kind, [&] {
      thrust::for_each(policy(), thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(n),
                       tg::detail::device_body(f));
    });
  }

  template <std::size_t A, std::size_t B, std::size_t C, bool SplitOuter = false, class F>
  static void for_each_grid(launch kind, F f) {  // SplitOuter: a host hint, one launch here anyway
    using body = std::remove_cvref_t<decltype(tg::detail::device_body(f))>;
    for_each(kind, A * B * C, detail::grid_body<B, C, body>{tg::detail::device_body(f)});
  }

  template <class T, class Value, class Op>
  static void segmented_reduce(launch kind, std::size_t segments, std::size_t length, Value value, Op op, T,
                               T* out, T divisor = T(1)) {
    count_launch(kind);
    const thrust::counting_iterator<std::size_t> s(0);
    auto keys = thrust::make_transform_iterator(s, detail::segment_of{length});
    auto values = thrust::make_transform_iterator(
        s, detail::split_index<T, std::remove_cvref_t<decltype(tg::detail::device_body(value))>>{
               tg::detail::device_body(value), length});
    profiled<decltype(tg::detail::device_body(value))>(kind, [&] {
      thrust::reduce_by_key(policy(), keys, keys + segments * length, values, thrust::make_discard_iterator(),
                            thrust::make_transform_output_iterator(out, detail::divided<T>{divisor}),
                            thrust::equal_to<std::size_t>(), op);
    });
  }

  template <class G, std::size_t Batches = 1, std::size_t SA = 0, std::size_t SB = 0, std::size_t SC = 0>
  static void gemm(const typename G::value_type* a, const typename G::value_type* b, typename G::value_type* c,
                   [[maybe_unused]] typename G::value_type* scratch) {
#if TYPEGRAD_DEVICE_IS_CUDA
    profiled<G>(launch::gemm, [&] {
      if constexpr (SC == 0 && Batches > 1) {  // every batch adds into one C: in order, not concurrently
        for (std::size_t q = 0; q < Batches; ++q) {
          count_launch(launch::gemm);
          detail::cublas_gemm<G>(a + q * SA, b + q * SB, c, 1, 0, 0, 0);
        }
      } else {
        count_launch(launch::gemm);
        detail::cublas_gemm<G>(a, b, c, Batches, SA, SB, SC);
      }
    });
#else
    if constexpr (SC == 0 && Batches > 1)
      for (std::size_t q = 0; q < Batches; ++q) count_launch(launch::gemm);
    else
      count_launch(launch::gemm);
    host_backend::gemm<G, Batches, SA, SB, SC>(a, b, c, scratch);
#endif
  }

  static buffer allocate(std::size_t bytes) { return buffer(bytes); }

  static void zero(void* p, std::size_t bytes) {
    if (!bytes) return;
    count_launch(launch::fill);
#if TYPEGRAD_DEVICE_IS_CUDA
    TG_CUDA(cudaMemsetAsync(p, 0, bytes, runtime::get().stream));
#else
    std::memset(p, 0, bytes);
#endif
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {  // device to device
    if (!bytes) return;
    count_launch(launch::copy);
#if TYPEGRAD_DEVICE_IS_CUDA
    TG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, runtime::get().stream));
#else
    std::memcpy(dst, src, bytes);
#endif
  }
  static void upload(void* dst, const void* src, std::size_t bytes) {  // host to device, in stream order
    if (!bytes) return;
    count_launch(launch::copy);
#if TYPEGRAD_DEVICE_IS_CUDA
    TG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, runtime::get().stream));
    TG_CUDA(cudaStreamSynchronize(runtime::get().stream));  // src may be a temporary of the caller
#else
    std::memcpy(dst, src, bytes);
#endif
  }
  static void download(void* dst, const void* src, std::size_t bytes) {  // device to host, waits
    if (!bytes) return;
    count_launch(launch::copy);
#if TYPEGRAD_DEVICE_IS_CUDA
    TG_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, runtime::get().stream));
    TG_CUDA(cudaStreamSynchronize(runtime::get().stream));
#else
    std::memcpy(dst, src, bytes);
#endif
  }
  static void synchronize() {
#if TYPEGRAD_DEVICE_IS_CUDA
    TG_CUDA(cudaStreamSynchronize(runtime::get().stream));
#endif
  }

  // run(), timed into launch_profile() when it is on (Body names what it runs)
  template <class Body, class Run>
  static void profiled(launch kind, Run&& run) {
    auto& profile = launch_profile();
    if (!profile.on) return run();
    synchronize();
    const auto start = std::chrono::steady_clock::now();
    run();
    synchronize();
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    profile.records.push_back({detail::type_name_of<std::remove_cvref_t<Body>>(), kind, us});
  }

  // Index of the first label outside [0, classes), or n.
  template <class I>
  static std::size_t first_outside(const I* y, std::size_t n, I classes) {
    count_launch(launch::reduction);
    return std::size_t(thrust::find_if(policy(), y, y + n, detail::outside_range<I>{classes}) - y);
  }
};

}  // namespace tg::device
