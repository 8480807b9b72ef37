// The workspace packing of core/plan_memory.hpp on its own: first fit over live intervals [start, end].
#include <typegrad/core/plan_memory.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

namespace {
template <std::size_t M>
constexpr tg::detail::interval_set<M> intervals(const std::size_t (&spec)[M][3]) {  // {start, end, bytes}
  tg::detail::interval_set<M> s{};
  for (const auto& b : spec) {
    s.start[s.n] = b[0];
    s.end[s.n] = b[1];
    s.bytes[s.n++] = b[2];
  }
  return s;
}
template <std::size_t M>
constexpr std::size_t packed_total(const std::size_t (&spec)[M][3]) {
  auto s = intervals(spec);
  return tg::detail::pack(s);
}
template <std::size_t M>
constexpr std::size_t packed_offset(const std::size_t (&spec)[M][3], std::size_t i) {
  auto s = intervals(spec);
  tg::detail::pack(s);
  return s.offset[i];
}

// never live at the same time: one buffer's bytes serve both
constexpr std::size_t disjoint[2][3] = {{0, 1, 64}, {2, 3, 128}};
static_assert(packed_total(disjoint) == 128 && packed_offset(disjoint, 0) == 0 && packed_offset(disjoint, 1) == 0);
// an interval is closed: sharing its last time step is overlapping
constexpr std::size_t touching[2][3] = {{0, 2, 64}, {2, 3, 64}};
static_assert(packed_total(touching) == 128);
// the larger buffer goes first, at 0; the two small ones, never live together, share the bytes after it
constexpr std::size_t gap[3][3] = {{0, 1, 64}, {0, 5, 128}, {2, 3, 64}};
static_assert(packed_offset(gap, 1) == 0 && packed_offset(gap, 0) == 128 && packed_offset(gap, 2) == 128);
static_assert(packed_total(gap) == 192);
// a hole below a placed buffer is used when the new buffer fits in it: R sits above Q, S (never live with Q)
// takes Q's bytes under R
constexpr std::size_t hole[4][3] = {{0, 9, 256}, {0, 4, 128}, {0, 9, 128}, {5, 9, 64}};  // P, Q, R, S
static_assert(packed_offset(hole, 0) == 0 && packed_offset(hole, 1) == 256 && packed_offset(hole, 2) == 384);
static_assert(packed_offset(hole, 3) == 256 && packed_total(hole) == 512);
}  // namespace

TEST_CASE("workspace packing: buffers live at the same time never share bytes, and the block is no larger than "
          "the sum of all buffers nor smaller than the most bytes live at one time") {
  std::mt19937 g(11);
  for (int round = 0; round < 200; ++round) {
    constexpr std::size_t M = 40, horizon = 30;
    tg::detail::interval_set<M> s{};
    std::uniform_int_distribution<std::size_t> time(0, horizon - 1), blocks(1, 16), count(1, M);
    const std::size_t n = count(g);
    std::size_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t a = time(g), b = time(g);
      s.start[i] = std::min(a, b);
      s.end[i] = std::max(a, b);
      s.bytes[i] = 64 * blocks(g);
      sum += s.bytes[i];
    }
    s.n = n;
    const std::size_t total = tg::detail::pack(s);
    std::size_t peak_live = 0;
    for (std::size_t t = 0; t < horizon; ++t) {
      std::size_t live = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (s.start[i] <= t && t <= s.end[i]) live += s.bytes[i];
      peak_live = std::max(peak_live, live);
    }
    CHECK(total <= sum);
    CHECK(total >= peak_live);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(s.offset[i] + s.bytes[i] <= total);
      for (std::size_t j = i + 1; j < n; ++j) {
        const bool live_together = !(s.end[i] < s.start[j] || s.end[j] < s.start[i]);
        const bool share_bytes = s.offset[i] < s.offset[j] + s.bytes[j] && s.offset[j] < s.offset[i] + s.bytes[i];
        if (live_together) REQUIRE_FALSE(share_bytes);
      }
    }
  }
}
