#pragma once
// The plan's memory (make_plan's last three passes, core/plan.hpp): live intervals of every materialised buffer on
// the step's timeline, the adjoints written in place, then one workspace block where buffers that are never live
// at the same time share bytes, and the gradient block.
#include <algorithm>
#include <cstddef>

#include "typegrad/core/config.hpp"
#include "typegrad/core/node.hpp"

namespace tg {

inline constexpr std::size_t no_node = std::size_t(-1);
template <std::size_t N>
struct Plan;  // core/plan.hpp

namespace detail {

// Does occurrence k get a slot in the gradient block: an external leaf (a trainable parameter, or an input whose
// gradient is wanted) that is not a let's reference?
template <std::size_t N>
constexpr bool has_gradient_slot(const Plan<N>& p, std::size_t k) {
  return p.kind[k] == node_kind::external && p.needs_adjoint[k] && p.ref_target[k] == no_node;
}

constexpr std::size_t round_up(std::size_t b) {
  return (b + workspace_alignment - 1) / workspace_alignment * workspace_alignment;
}

// First-fit packing of buffers into one block, given their live intervals [start, end].
template <std::size_t M>
struct interval_set {
  std::size_t start[M]{}, end[M]{}, bytes[M]{}, offset[M]{};
  std::size_t n = 0;
};

template <std::size_t M>
constexpr std::size_t pack(interval_set<M>& s) {
  // place larger buffers first (ties: earlier start, then the lower index)
  std::size_t order[M]{};
  for (std::size_t i = 0; i < s.n; ++i) order[i] = i;
  std::sort(order, order + s.n, [&](std::size_t a, std::size_t b) {
    if (s.bytes[a] != s.bytes[b]) return s.bytes[a] > s.bytes[b];
    if (s.start[a] != s.start[b]) return s.start[a] < s.start[b];
    return a < b;
  });
  // placed buffers sorted by offset; one sweep finds the lowest gap among those live at the same time
  std::size_t by_offset[M]{};
  std::size_t placed = 0, total = 0;
  for (std::size_t oi = 0; oi < s.n; ++oi) {
    const std::size_t b = order[oi];
    std::size_t off = 0;
    for (std::size_t pi = 0; pi < placed; ++pi) {
      const std::size_t q = by_offset[pi];
      if (s.end[q] < s.start[b] || s.end[b] < s.start[q]) continue;  // not live at the same time
      if (s.offset[q] >= off + s.bytes[b]) break;                    // the gap before q fits
      if (s.offset[q] + s.bytes[q] > off) off = s.offset[q] + s.bytes[q];
    }
    s.offset[b] = off;
    std::size_t at = placed++;
    while (at > 0 && s.offset[by_offset[at - 1]] > off) {
      by_offset[at] = by_offset[at - 1];
      --at;
    }
    by_offset[at] = b;
    if (off + s.bytes[b] > total) total = off + s.bytes[b];
  }
  return total;
}

// Live intervals on the timeline: forward kernel i at time i, its backward at time 2K-1-i. A value lives from
// its kernel until its reader's last use; an adjoint from its reader's backward (its first writer) to its own.
// type_class[k]: the merge class of occurrence k (make_plan), whose candidates share one lifetime.
template <std::size_t N>
constexpr void live_intervals(Plan<N>& p, const std::size_t* type_class) {
  const std::size_t K = p.kernel_count;
  auto tf = [&](std::size_t k) { return p.kernel_pos[k]; };
  auto tb = [&](std::size_t k) { return 2 * K - 1 - p.kernel_pos[k]; };
  std::size_t* vs = p.val_start;
  std::size_t* ve = p.val_end;
  std::size_t* as = p.adj_start;
  std::size_t* ae = p.adj_end;
  for (std::size_t k = 0; k < N; ++k) {
    if (p.kernel_pos[k] == no_node) continue;
    const std::size_t r = p.reader[k];
    vs[k] = tf(k);
    if (r == no_node) {
      ve[k] = 2 * K;  // the output outlives the step
    } else {
      std::size_t e = tf(r);
      if (p.needs_adjoint[r] && tb(r) > e) e = tb(r);
      if (p.needs_adjoint[k] && tb(k) > e) e = tb(k);
      ve[k] = e;
    }
    if (p.needs_adjoint[k]) {
      as[k] = r == no_node ? tb(k) : tb(r);
      ae[k] = tb(k);
    }
  }
  // a let's bound value lives until every reader of a reference to it has run (forward and backward)
  for (std::size_t k = 0; k < N; ++k) {
    std::size_t x = p.ref_target[k];
    while (x != no_node && p.ref_target[x] != no_node) x = p.ref_target[x];  // let(h, ...) of a reference h
    if (x == no_node || p.kernel_pos[x] == no_node) continue;  // bound to an input or parameter: user memory
    const std::size_t r = p.reader[k];
    std::size_t e = tf(r);
    if (p.needs_adjoint[r] && tb(r) > e) e = tb(r);
    if (e > ve[x]) ve[x] = e;
  }
  // occurrences that may be merged at run time share their lifetime (conservative union over the class)
  std::size_t cvs[N]{}, cve[N]{}, cas[N]{}, cae[N]{};
  for (std::size_t k = 0; k < N; ++k) {
    cvs[k] = cas[k] = no_node;
    cve[k] = cae[k] = 0;
  }
  for (std::size_t k = 0; k < N; ++k) {
    if (!p.merge_candidate[k] || p.kernel_pos[k] == no_node) continue;
    const std::size_t c = type_class[k];
    cvs[c] = std::min(cvs[c], vs[k]);
    cve[c] = std::max(cve[c], ve[k]);
    if (p.needs_adjoint[k]) {
      cas[c] = std::min(cas[c], as[k]);
      cae[c] = std::max(cae[c], ae[k]);
    }
  }
  for (std::size_t k = 0; k < N; ++k) {
    if (!p.merge_candidate[k] || p.kernel_pos[k] == no_node) continue;
    const std::size_t c = type_class[k];
    vs[k] = cvs[c];
    ve[k] = cve[c];
    if (p.needs_adjoint[k]) {
      as[k] = cas[c];
      ae[k] = cae[c];
    }
  }
  // a let that is its body's buffers (let_aliases, core/plan_adjoints.hpp): they live while either does
  for (std::size_t k = 0; k < N; ++k) {
    const std::size_t b = p.alias_of[k];
    if (b == no_node) continue;
    vs[b] = std::min(vs[b], vs[k]);
    ve[b] = std::max(ve[b], ve[k]);
    if (p.needs_adjoint[k]) {
      as[b] = std::min(as[b], as[k]);
      ae[b] = std::max(ae[b], ae[k]);
    }
  }
}

// In-place adjoints. A fused region's backward reads its adjoint dy[i] and writes each of its leaves' adjoints at
// element i; a leaf buffer whose adjoint it assigns (adj_assigned), reached from element i alone (every parent on the
// way pushes at its own index: in_place_mask) and first written there (its adjoint's life starts where the region's
// ends), takes the region's adjoint buffer: dz[i] = f(dy[i]) over dy[i]. One leaf per region. A relu's or bias's
// backward then writes lines it has just read instead of fresh ones (one 1024 x 1024 relu backward from memory, Intel
// 0xCF: 1.47 -> 0.66 ms), and the step's workspace holds one buffer less. The buffer is packed as one, live from the
// region's adjoint's first write to the last read of the leaf's (lay_out_memory; a leaf that gives its own buffer on
// in turn extends it again); each keeps its own interval in the plan, for tools. A kernel takes part when it names
// the operand in `in_place_child_adjoints` (its backward writes each element of that operand's adjoint after reading
// every element of its own adjoint the value depends on: softmax by rows, BatchNorm by channels).
template <std::size_t N>
constexpr bool pushed_in_place(const Plan<N>& p, std::size_t k, std::size_t r) {
  for (std::size_t q = k; q != r; q = p.parent[q]) {
    const std::size_t slot = p.index_in_parent[q];
    if (slot >= 32 || !((p.in_place_mask[p.parent[q]] >> slot) & 1u)) return false;
  }
  return true;
}
template <std::size_t N>
constexpr void in_place_adjoints(Plan<N>& p) {
  bool alias_target[N]{};
  for (std::size_t k = 0; k < N; ++k) {
    p.adj_in_place_of[k] = no_node;
    if (p.alias_of[k] != no_node) alias_target[p.alias_of[k]] = true;
  }
  const auto plain = [&](std::size_t k) {
    return p.kernel_pos[k] != no_node && p.needs_adjoint[k] && !p.merge_candidate[k] && p.alias_of[k] == no_node &&
           !alias_target[k] && p.ref_target[k] == no_node;
  };
  for (std::size_t k = 0; k < N; ++k) {
    const std::size_t r = p.reader[k];
    if (r == no_node || p.adj_taken_over[r] || !plain(k) || !plain(r) || !p.adj_assigned[k] ||
        p.elements[k] != p.elements[r] || p.elem_bytes[k] != p.elem_bytes[r] || p.adj_start[k] != p.adj_end[r] ||
        !pushed_in_place(p, k, r))
      continue;
    p.adj_in_place_of[k] = r;
    p.adj_taken_over[r] = true;
  }
}

// Offsets in the workspace (values, adjoints, scratch: packed by live interval) and in the gradient block (one
// slot per leaf occurrence that wants a gradient; tied leaves share at run time), after live_intervals.
template <std::size_t N>
constexpr void lay_out_memory(Plan<N>& p) {
  const std::size_t K = p.kernel_count;
  interval_set<3 * N> s{};
  std::size_t val_slot[N]{}, adj_slot[N]{}, scratch_slot[N]{};
  // the buffer an adjoint lies in: its own, or (in place) its region's, itself perhaps in place of another; a region
  // comes after its leaves in post-order, so one pass down the ids resolves every chain
  std::size_t adj_owner[N]{}, adj_last[N]{};  // adj_last: the last time the buffer holds an adjoint
  for (std::size_t k = N; k-- > 0;) {
    adj_owner[k] = p.adj_in_place_of[k] == no_node ? k : adj_owner[p.adj_in_place_of[k]];
    adj_last[k] = p.adj_end[k];
    adj_last[adj_owner[k]] = std::max(adj_last[adj_owner[k]], p.adj_end[k]);
  }
  const auto add = [&](std::size_t start, std::size_t end, std::size_t bytes) {
    s.start[s.n] = start;
    s.end[s.n] = end;
    s.bytes[s.n] = bytes;
    p.naive_bytes += bytes;
    return s.n++;
  };
  for (std::size_t k = 0; k < N; ++k) {
    if (p.kernel_pos[k] == no_node) continue;
    if (p.needs_adjoint[k]) p.adj_zero_time[k] = p.adj_start[k];
    if (p.alias_of[k] != no_node) continue;  // the body's buffers
    const std::size_t b = round_up(p.elements[k] * p.elem_bytes[k]);
    val_slot[k] = add(p.val_start[k], p.val_end[k], b);
    if (p.needs_adjoint[k] && p.adj_in_place_of[k] == no_node) {
      adj_slot[k] = add(p.adj_start[k], adj_last[k], b);
      ++p.adjoint_count;
    }
    if (p.scratch_bytes[k]) {  // from its forward kernel to its backward one
      const std::size_t from = p.kernel_pos[k], to = p.needs_adjoint[k] ? 2 * K - 1 - from : from;
      scratch_slot[k] = add(from, to, round_up(p.scratch_bytes[k]));
    }
  }
  p.workspace_bytes = pack(s);
  for (std::size_t k = 0; k < N; ++k) {
    if (p.kernel_pos[k] == no_node || p.alias_of[k] != no_node) continue;
    p.val_offset[k] = s.offset[val_slot[k]];
    if (p.needs_adjoint[k] && p.adj_in_place_of[k] == no_node) p.adj_offset[k] = s.offset[adj_slot[k]];
    if (p.scratch_bytes[k]) p.scratch_offset[k] = s.offset[scratch_slot[k]];
  }
  for (std::size_t k = 0; k < N; ++k)
    if (p.adj_in_place_of[k] != no_node) p.adj_offset[k] = p.adj_offset[adj_owner[k]];
  for (std::size_t k = 0; k < N; ++k) {
    if (p.alias_of[k] == no_node) continue;
    p.val_offset[k] = p.val_offset[p.alias_of[k]];
    p.adj_offset[k] = p.adj_offset[p.alias_of[k]];
  }
  for (std::size_t k = 0; k < N; ++k) {
    if (has_gradient_slot(p, k)) {
      p.grad_offset[k] = p.grad_bytes;
      p.grad_bytes += round_up(p.elements[k] * p.elem_bytes[k]);
      ++p.adjoint_count;
      ++p.grad_leaf_count;
    }
  }
}

// The gradient block's slots that are added to (+=) rather than assigned whole by their one writer
// (assigned_adjoints, core/plan_adjoints.hpp), as byte ranges with adjacent slots joined: the ranges a backward pass
// clears first. Slots lie in occurrence order.
template <std::size_t N>
struct byte_ranges {
  std::size_t begin[N]{}, end[N]{};
  std::size_t count = 0;
};
template <std::size_t N>
constexpr byte_ranges<N> added_gradient_slots(const Plan<N>& p) {
  byte_ranges<N> r;
  for (std::size_t k = 0; k < N; ++k) {
    if (!has_gradient_slot(p, k) || p.adj_assigned[k]) continue;
    const std::size_t b = p.grad_offset[k], e = b + round_up(p.elements[k] * p.elem_bytes[k]);
    if (r.count > 0 && r.end[r.count - 1] == b)
      r.end[r.count - 1] = e;
    else
      r.begin[r.count] = b, r.end[r.count++] = e;
  }
  return r;
}

}  // namespace detail
}  // namespace tg
