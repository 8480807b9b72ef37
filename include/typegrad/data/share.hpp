#pragma once
// A reader's share of global batches (data-parallel training: rank r of R reads its rows of every global batch, and
// no rank builds the global batch to shard it): rows [index B, (index + 1) B) of batches of count x B, B the
// reader's batch. ImageBatches (data/batches.hpp) and TokenWindows (data/text.hpp) take one; R readers with the same
// seed, index 0 to R - 1, together return exactly what one reader of R B returns.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace tg::data {

struct Share {
  std::size_t index = 0, count = 1;
};

namespace detail {
[[noreturn, gnu::noinline]] inline void throw_missing_share(const char* reader, const Share& s) {
  throw std::invalid_argument(std::string(reader) + ": share " + std::to_string(s.index) + " of " +
                              std::to_string(s.count) + " does not exist (index < count)");
}
inline void check_share(const char* reader, const Share& s) {
  if (s.count == 0 || s.index >= s.count) throw_missing_share(reader, s);
}
}  // namespace detail

}  // namespace tg::data
