#pragma once
// Fixed-size batches of labelled images: normalised once to float, reshuffled each epoch from a seed.
// The last partial batch is never silently lost: with PartialBatch::carry_over its images open the next
// epoch's order; with PartialBatch::drop they are skipped and leftover() says how many.
// Images ([C, H, W] items) can be augmented as next() fills them (set_augment; data/augment.hpp), from a random
// stream of their own, so the order of the images does not depend on it.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "typegrad/core/tensor.hpp"
#include "typegrad/data/augment.hpp"
#include "typegrad/data/idx.hpp"

namespace tg::data {

enum class PartialBatch { carry_over, drop };

template <std::size_t B, std::size_t... ItemDims>
class ImageBatches {
 public:
  static constexpr std::size_t item = (std::size_t{1} * ... * ItemDims);
  using images_type = Tensor<float, B, ItemDims...>;
  using labels_type = Tensor<std::int32_t, B>;

  // pixel / 255, then (x - mean) / stddev
  ImageBatches(const LabelledImages& set, float mean, float stddev, std::uint64_t seed,
               PartialBatch policy = PartialBatch::carry_over)
      : count_(set.size()), policy_(policy), rng_(seed), augment_rng_(seed ^ 0x9e3779b97f4a7c15ull) {
    if (set.images.item_size() != item)
      throw IdxError("image batches: images hold " + std::to_string(set.images.item_size()) +
                     " values each, the batch shape needs " + std::to_string(item));
    if (count_ < B) throw IdxError("image batches: fewer images (" + std::to_string(count_) + ") than one batch");
    pixels_.resize(count_ * item);
    for (std::size_t i = 0; i < pixels_.size(); ++i) pixels_[i] = (set.images.values[i] / 255.0f - mean) / stddev;
    labels_.assign(set.labels.values.begin(), set.labels.values.end());
    order_.resize(count_);
    std::iota(order_.begin(), order_.end(), 0);
    shuffle();
  }

  std::size_t size() const { return count_; }
  std::size_t batches_per_epoch() const { return count_ / B; }
  std::size_t leftover() const { return count_ % B; }
  PartialBatch policy() const { return policy_; }

  // Random crop with padding and horizontal flip of every image next() returns (never of batch_in_order's).
  void set_augment(const Augment& a) requires(sizeof...(ItemDims) == 3) {
    constexpr std::size_t dims[] = {ItemDims...};
    check_augment(a, dims[1], dims[2]);
    augment_ = a;
    scratch_.resize(item);
  }
  const Augment& augment() const { return augment_; }

  // Fills the next batch; returns false (and starts a new epoch) when this epoch's full batches are done.
  bool next(images_type& x, labels_type& y) {
    if (cursor_ + B > order_.size()) {
      new_epoch();
      return false;
    }
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t i = order_[cursor_ + b];
      std::copy_n(pixels_.data() + i * item, item, x.data() + b * item);
      y[b] = labels_[i];
    }
    cursor_ += B;
    if constexpr (sizeof...(ItemDims) == 3)
      if (augment_.active()) {
        constexpr std::size_t dims[] = {ItemDims...};
        augment_batch(augment_, B, dims[0], dims[1], dims[2], x.data(), scratch_, augment_rng_);
      }
    return true;
  }

  // In order, without shuffling: batch k of the whole set (for evaluation); k < batches_per_epoch().
  void batch_in_order(std::size_t k, images_type& x, labels_type& y) const {
    std::copy_n(pixels_.data() + k * B * item, B * item, x.data());
    std::copy_n(labels_.data() + k * B, B, y.data());
  }

  // In order: the last leftover() items in the first rows, the rest of the batch padded with copies of the
  // first item (real data, so the program sees nothing unusual); returns how many rows are real.
  std::size_t partial_batch_in_order(images_type& x, labels_type& y) const {
    const std::size_t n = leftover(), first = batches_per_epoch() * B;
    std::copy_n(pixels_.data() + first * item, n * item, x.data());
    std::copy_n(labels_.data() + first, n, y.data());
    for (std::size_t b = n; b < B; ++b) {
      std::copy_n(pixels_.data(), item, x.data() + b * item);
      y[b] = labels_[0];
    }
    return n;
  }

 private:
  void shuffle() { std::shuffle(order_.begin(), order_.end(), rng_); }
  void new_epoch() {
    std::vector<std::size_t> rest(order_.begin() + std::ptrdiff_t(cursor_), order_.end());
    order_.resize(count_);
    std::iota(order_.begin(), order_.end(), 0);
    shuffle();
    if (policy_ == PartialBatch::carry_over && !rest.empty()) {
      // the unused images go first; the same images are removed from later in the new order
      std::vector<char> taken(count_, 0);
      for (auto i : rest) taken[i] = 1;
      std::vector<std::size_t> next(rest);
      for (auto i : order_)
        if (!taken[i]) next.push_back(i);
      order_ = std::move(next);
    }
    cursor_ = 0;
  }

  std::size_t count_;
  PartialBatch policy_;
  std::mt19937_64 rng_;
  std::mt19937_64 augment_rng_;
  Augment augment_;
  std::vector<float> scratch_;  // one image, for augmentation
  std::vector<float> pixels_;
  std::vector<std::int32_t> labels_;
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;
};

}  // namespace tg::data
