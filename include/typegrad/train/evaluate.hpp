#pragma once
// Evaluation over a dataset: accuracy and the confusion matrix of a classifier program.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace tg::train {

struct Evaluation {
  std::size_t classes = 0, total = 0, correct = 0;
  std::vector<std::size_t> confusion;  // [true class][predicted class]
  double accuracy() const { return total ? double(correct) / double(total) : 0.0; }
  std::size_t at(std::size_t truth, std::size_t predicted) const { return confusion[truth * classes + predicted]; }
};

// Every item of the set is evaluated: predict(x) returns [B, classes] scores; batches.batch_in_order(k, x, y)
// fills batch k, and the items that do not fill a batch go through one padded batch whose padding rows are
// not counted (batches.partial_batch_in_order).
// part, parts: only batches k with k % parts == part (the padded batch by the last part), so that `parts`
// processes evaluate a set between them (tg::dist::evaluate sums their results).
template <std::size_t Classes, class Predict, class Batches>
Evaluation evaluate(Predict& predict, const Batches& batches, std::size_t part = 0, std::size_t parts = 1) {
  Evaluation e;
  e.classes = Classes;
  e.confusion.assign(Classes * Classes, 0);
  typename Batches::images_type x;
  typename Batches::labels_type y;
  constexpr std::size_t B = Batches::labels_type::size();
  const auto count = [&](const auto& scores, std::size_t rows) {
    for (std::size_t b = 0; b < rows; ++b) {
      const auto* row = scores.data() + b * Classes;
      const auto guess = std::size_t(std::max_element(row, row + Classes) - row);
      ++e.confusion[std::size_t(y[b]) * Classes + guess];
      e.correct += guess == std::size_t(y[b]);
      ++e.total;
    }
  };
  for (std::size_t k = part; k < batches.batches_per_epoch(); k += parts) {
    batches.batch_in_order(k, x, y);
    count(predict(x), B);
  }
  if (batches.leftover() > 0 && part + 1 == parts) {
    const std::size_t real = batches.partial_batch_in_order(x, y);
    count(predict(x), real);
  }
  return e;
}

inline void print_confusion(const Evaluation& e, std::FILE* out = stdout) {
  std::fprintf(out, "confusion matrix (rows: true class, columns: predicted)\n");
  for (std::size_t t = 0; t < e.classes; ++t) {
    for (std::size_t p = 0; p < e.classes; ++p) std::fprintf(out, "%6zu", e.at(t, p));
    std::fputc('\n', out);
  }
}

}  // namespace tg::train
