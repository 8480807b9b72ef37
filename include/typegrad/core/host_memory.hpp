#pragma once
// Host buffers: 64-byte aligned (one cache line, one AVX-512 vector), and large ones on transparent huge pages.
//
// A buffer of 2 MiB or more (a deep model's workspace, its gradients, an optimizer's moments, large weights) starts
// on a 2 MiB boundary, and its whole 2 MiB pages are marked MADV_HUGEPAGE before anything touches them, so the first
// touch maps them as huge pages where the kernel's THP mode is "madvise" (Debian's default) or "always": a GEMM
// streaming a 4 MB activation then needs 2 TLB entries instead of 1024. Measured (Intel 0xCF, bench/compare's
// gpt_step as two programs of one process, alternated): 3% a step. Only whole huge pages inside the buffer are
// marked, so no buffer's resident memory grows; a kernel without THP ignores the advice. Allocation goes through
// operator new, so the allocation counters of tests and bench/ still see it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "typegrad/core/config.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tg::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;

// the alignment of a buffer of `bytes`: a huge page's for large ones
constexpr std::size_t buffer_alignment(std::size_t bytes) {
  return bytes >= huge_page_bytes ? huge_page_bytes : workspace_alignment;
}

// marks the whole huge pages of [p, p + bytes) for transparent huge pages (before their first touch)
inline void advise_huge_pages([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(huge_page_bytes - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice: may fail
#endif
}

// uninitialised bytes aligned as buffer_alignment(bytes) says; free with free_buffer(p, bytes)
inline void* allocate_buffer(std::size_t bytes) {
  void* p = ::operator new (bytes, std::align_val_t{buffer_alignment(bytes)});
  if (bytes >= huge_page_bytes) advise_huge_pages(p, bytes);
  return p;
}
inline void free_buffer(void* p, std::size_t bytes) noexcept {
  ::operator delete (p, std::align_val_t{buffer_alignment(bytes)});
}

// An owning buffer of zeroed bytes (tensors, a program's workspace and gradients)
struct aligned_deleter {
  std::size_t bytes = 0;
  void operator()(void* p) const noexcept { free_buffer(p, bytes); }
};
using aligned_bytes = std::unique_ptr<std::byte[], aligned_deleter>;
inline aligned_bytes allocate_aligned(std::size_t bytes) {
  if (bytes == 0) return aligned_bytes{};
  auto* p = static_cast<std::byte*>(allocate_buffer(bytes));
  std::memset(p, 0, bytes);
  return aligned_bytes{p, aligned_deleter{bytes}};
}

// The same buffers for standard containers (an optimizer's state)
template <class T>
struct buffer_allocator {
  using value_type = T;
  buffer_allocator() = default;
  template <class U>
  constexpr buffer_allocator(const buffer_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_buffer(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { free_buffer(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const buffer_allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace tg::detail
