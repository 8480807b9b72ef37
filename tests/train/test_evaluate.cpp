// evaluate() counts every item of the set, including those that do not fill a batch, and only them.
#include <cmath>

#include "support.hpp"
#include "typegrad/data/batches.hpp"
#include "typegrad/train/evaluate.hpp"

TEST_CASE("evaluate counts every item, the last partial batch too", "[integration]") {
  // 10 one-pixel images in batches of 4: two full batches and 2 left over; item i has label i % 3 and pixel
  // 100 * label, and the predictor below is right for labels 0 and 1 and always wrong for label 2
  constexpr std::size_t N = 10, B = 4, C = 3;
  tg::data::LabelledImages set;
  set.images.dims = {N, 1};
  set.labels.dims = {N};
  for (std::size_t i = 0; i < N; ++i) {
    set.labels.values.push_back(std::uint8_t(i % 3));
    set.images.values.push_back(std::uint8_t(100 * (i % 3)));
  }
  const tg::data::ImageBatches<B, 1> batches(set, 0.0f, 1.0f, 0);
  REQUIRE(batches.leftover() == 2);
  auto predict = [](const tg::Tensor<float, B, 1>& x) {
    tg::Tensor<float, B, C> scores{};
    for (std::size_t b = 0; b < B; ++b) {
      const auto label = std::size_t(std::lround(x(b, 0) * 255.0f / 100.0f));
      scores(b, label == 2 ? 0 : label) = 1.0f;
    }
    return scores;
  };
  const auto e = tg::train::evaluate<C>(predict, batches);
  CHECK(e.total == N);                  // was 8: the two left-over items were skipped
  CHECK(e.correct == 7);                // items 2, 5 and 8 have label 2
  CHECK(e.at(2, 0) == 3);
  CHECK(e.at(0, 0) == 4);               // items 0, 3, 6, 9 (9 is in the padded batch; the padding is not counted)
  CHECK(e.accuracy() == Approx(0.7));
}
