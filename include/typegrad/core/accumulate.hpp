#pragma once
// Adjoint accumulation p[i] += g, atomic where a backend runs loop bodies concurrently (two elements
// of a broadcast operand, or two uses of one leaf, add into the same place).
#include <atomic>
#include <cstddef>

#include "typegrad/core/config.hpp"

namespace tg {
namespace detail {
template <class T>
TG_HD TG_INLINE void atomic_add(T* p, T g) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, g);
#else
  std::atomic_ref<T>(*p).fetch_add(g, std::memory_order_relaxed);
#endif
}
}  // namespace detail

template <class Ctx, class T>
TG_HD TG_INLINE void accumulate_into(T* p, std::size_t i, T g) {
  if constexpr (Ctx::backend::concurrent)
    detail::atomic_add(p + i, g);
  else
    p[i] += g;
}

// The adjoint of node Id, element i, receives g: assigned where the plan gives the buffer one writer that covers
// every element once (Ctx::assigns_adjoint), added otherwise.
template <std::size_t Id, class Ctx, class T>
TG_HD TG_INLINE void send_adjoint(T* p, std::size_t i, T g) {
  if constexpr (Ctx::assigns_adjoint(Id))
    p[i] = g;
  else
    accumulate_into<Ctx>(p, i, g);
}
}  // namespace tg
