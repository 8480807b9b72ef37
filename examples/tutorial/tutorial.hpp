#pragma once
// What the tutorial programs share: stating a result and checking it (the CTest fails when a claim fails).
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tutorial {
inline int failures = 0;
// prints "ok: <claim>" or "FAILED: <claim>"; main returns tutorial::result()
inline void expect(bool holds, const std::string& claim) {
  std::printf("%s: %s\n", holds ? "ok" : "FAILED", claim.c_str());
  failures += !holds;
}
inline int result() { return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE; }

// fraction of rows whose largest logit is at the label
template <class Logits, class Labels>
double accuracy(const Logits& logits, const Labels& labels, std::size_t rows, std::size_t classes) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    std::size_t best = 0;
    for (std::size_t k = 1; k < classes; ++k)
      if (logits(i, k) > logits(i, best)) best = k;
    right += best == std::size_t(labels[i]);
  }
  return double(right) / double(rows);
}
}  // namespace tutorial
