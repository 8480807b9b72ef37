// Augmentation (data/augment.hpp): the crop and flip on a hand-checked image, the spread of the draws, the
// padding check, and ImageBatches::set_augment (same image order, evaluation batches untouched).
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "support.hpp"
#include "typegrad/data/augment.hpp"
#include "typegrad/data/batches.hpp"

namespace {
// a 1 x 3 x 4 image holding 1..12, row-major; -1 fills
const std::vector<float> image{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
std::vector<float> augmented(tg::data::AugmentDraw d) {
  std::vector<float> out(12);
  tg::data::apply_augment(d, -1, 1, 3, 4, image.data(), out.data());
  return out;
}
}  // namespace

TEST_CASE("augment: crop offsets and the flip, written out by hand", "[integration]") {
  CHECK(augmented({0, 0, false}) == image);
  // out[i, j] = in[i + 1, j]: rows move up, the last row is padding
  CHECK(augmented({1, 0, false}) == std::vector<float>{5, 6, 7, 8, 9, 10, 11, 12, -1, -1, -1, -1});
  // out[i, j] = in[i, j - 1]: columns move right
  CHECK(augmented({0, -1, false}) == std::vector<float>{-1, 1, 2, 3, -1, 5, 6, 7, -1, 9, 10, 11});
  CHECK(augmented({0, 0, true}) == std::vector<float>{4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9});
  // crop, then flip (torchvision's RandomCrop then RandomHorizontalFlip): out[i, j] = in[i - 1, (3 - j) + 1]
  CHECK(augmented({-1, 1, true}) == std::vector<float>{-1, -1, -1, -1, -1, 4, 3, 2, -1, 8, 7, 6});
}

TEST_CASE("augment: every offset in [-pad, pad] and both flips are drawn", "[integration]") {
  std::mt19937_64 rng(5);
  const tg::data::Augment a{2, true, 0};
  std::map<std::pair<int, int>, int> offsets;
  int flips = 0;
  const int draws = 4000;
  for (int k = 0; k < draws; ++k) {
    const auto d = tg::data::draw_augment(a, rng);
    REQUIRE(std::abs(d.dy) <= 2);
    REQUIRE(std::abs(d.dx) <= 2);
    ++offsets[{d.dy, d.dx}];
    flips += d.flip;
  }
  CHECK(offsets.size() == 25);
  for (const auto& [offset, count] : offsets) CHECK(count > draws / 25 / 2);  // about 160 each
  CHECK(flips > draws * 45 / 100);
  CHECK(flips < draws * 55 / 100);
  const auto none = tg::data::draw_augment(tg::data::Augment{}, rng);
  CHECK((none.dy == 0 && none.dx == 0 && !none.flip));
}

TEST_CASE("augment: padding must be smaller than the image", "[integration]") {
  std::vector<float> images(12), scratch;
  std::mt19937_64 rng(1);
  CHECK_THROWS_WITH(tg::data::augment_batch({3, false, 0}, 1, 1, 3, 4, images.data(), scratch, rng),
                    "augment: padding 3 is not smaller than the image (3x4)");
}

TEST_CASE("augment: image batches keep their order and leave evaluation batches alone", "[integration]") {
  tg::data::LabelledImages set;
  const std::size_t count = 20;
  set.images.dims = {std::uint32_t(count), 4, 4};
  set.labels.dims = {std::uint32_t(count)};
  for (std::size_t i = 0; i < count * 16; ++i) set.images.values.push_back(static_cast<unsigned char>(i % 251));
  for (std::size_t i = 0; i < count; ++i) set.labels.values.push_back(static_cast<unsigned char>(i % 10));
  using Batches = tg::data::ImageBatches<5, 1, 4, 4>;
  Batches plain(set, 0, 1, 11), augmented_batches(set, 0, 1, 11);
  augmented_batches.set_augment({1, true, -7});
  Batches::images_type x1, x2, e1, e2;
  Batches::labels_type y1, y2;
  int changed = 0;
  while (plain.next(x1, y1)) {
    REQUIRE(augmented_batches.next(x2, y2));
    CHECK(std::equal(y1.begin(), y1.end(), y2.begin()));  // the same images, in the same order
    changed += !std::equal(x1.begin(), x1.end(), x2.begin());
  }
  CHECK(changed > 0);
  plain.batch_in_order(1, e1, y1);
  augmented_batches.batch_in_order(1, e2, y2);
  CHECK(std::equal(e1.begin(), e1.end(), e2.begin()));
  CHECK_THROWS_WITH(augmented_batches.set_augment({4, false, 0}),
                    "augment: padding 4 is not smaller than the image (4x4)");
}
