#pragma once
// Fixed-size batches of labelled images: normalised once to float, reshuffled each epoch from a seed.
// The last partial batch is never silently lost: with PartialBatch::carry_over its images open the next
// epoch's order; with PartialBatch::drop they are skipped and leftover() says how many.
// Images ([C, H, W] items) can be augmented as next() fills them (set_augment; data/augment.hpp), from a random
// stream of their own, so the order of the images does not depend on it.
// A Share{index, count} (data/share.hpp) reads the B rows from index x B of global batches of count x B images: the
// order, the epochs, the partial batches and the augmentation are the global batches'.
#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "typegrad/core/tensor.hpp"
#include "typegrad/data/augment.hpp"
#include "typegrad/data/idx.hpp"
#include "typegrad/data/share.hpp"

namespace tg::data {

enum class PartialBatch { carry_over, drop };

namespace detail {
// Everything of ImageBatches that does not depend on the batch's compile-time shape, compiled once (a class
// template held all of it: an example that builds batches of seven sizes compiled it seven times). Rows of
// `item` values, `batch` of them per batch.
class ImageOrder {
 public:
  // pixel / 255, then (x - mean) / stddev
  [[gnu::noinline]] ImageOrder(const LabelledImages& set, std::size_t item, std::size_t batch, float mean, float stddev,
                               std::uint64_t seed, PartialBatch policy, Share share)
      : item_(item),
        batch_(batch * share.count),
        rows_(batch),
        first_(batch * share.index),
        count_(set.size()),
        policy_(policy),
        rng_(seed),
        augment_rng_(seed ^ 0x9e3779b97f4a7c15ull) {
    if (set.images.item_size() != item)
      throw IdxError("image batches: images hold " + std::to_string(set.images.item_size()) +
                     " values each, the batch shape needs " + std::to_string(item));
    check_share("image batches", share);
    if (count_ < batch_)
      throw IdxError("image batches: fewer images (" + std::to_string(count_) + ") than one batch (" +
                     std::to_string(batch_) + ")");
    pixels_.resize(count_ * item);
    for (std::size_t i = 0; i < pixels_.size(); ++i) pixels_[i] = (set.images.values[i] / 255.0f - mean) / stddev;
    labels_.assign(set.labels.values.begin(), set.labels.values.end());
    order_.resize(count_);
    std::iota(order_.begin(), order_.end(), 0);
    shuffle();
  }

  std::size_t size() const { return count_; }
  std::size_t batches_per_epoch() const { return count_ / batch_; }
  std::size_t leftover() const { return count_ % batch_; }
  PartialBatch policy() const { return policy_; }

  // images of C x H x W
  void set_augment(const Augment& a, std::size_t H, std::size_t W) {
    check_augment(a, H, W);
    augment_ = a;
    scratch_.resize(item_);
  }
  const Augment& augment() const { return augment_; }

  // dims: the images' C, H, W (nullptr: not images, never augmented)
  [[gnu::noinline]] bool next(float* x, std::int32_t* y, const std::size_t* dims) {
    if (cursor_ + batch_ > order_.size()) {
      new_epoch();
      return false;
    }
    for (std::size_t b = 0; b < rows_; ++b) {
      const std::size_t i = order_[cursor_ + first_ + b];
      std::copy_n(pixels_.data() + i * item_, item_, x + b * item_);
      y[b] = labels_[i];
    }
    cursor_ += batch_;
    if (dims && augment_.active())  // every global row's draw, in order; this share's rows augmented
      augment_batch(augment_, batch_, dims[0], dims[1], dims[2], x, scratch_, augment_rng_, first_, rows_);
    return true;
  }

  void batch_in_order(std::size_t k, float* x, std::int32_t* y) const {
    std::copy_n(pixels_.data() + (k * batch_ + first_) * item_, rows_ * item_, x);
    std::copy_n(labels_.data() + k * batch_ + first_, rows_, y);
  }

  // this share's rows of the leftover images (n of them, possibly none), then copies of the first image
  [[gnu::noinline]] std::size_t partial_batch_in_order(float* x, std::int32_t* y) const {
    const std::size_t rest = leftover(), n = rest > first_ ? std::min(rows_, rest - first_) : 0;
    const std::size_t first = batches_per_epoch() * batch_ + first_;
    std::copy_n(pixels_.data() + first * item_, n * item_, x);
    std::copy_n(labels_.data() + first, n, y);
    for (std::size_t b = n; b < rows_; ++b) {
      std::copy_n(pixels_.data(), item_, x + b * item_);
      y[b] = labels_[0];
    }
    return n;
  }

 private:
  void shuffle() { std::shuffle(order_.begin(), order_.end(), rng_); }
  [[gnu::noinline]] void new_epoch() {
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

  std::size_t item_, batch_, rows_, first_, count_;  // batch_: the global batch, rows_ of it from first_ this one's
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
}  // namespace detail

template <std::size_t B, std::size_t... ItemDims>
class ImageBatches {
 public:
  static constexpr std::size_t item = (std::size_t{1} * ... * ItemDims);
  using images_type = Tensor<float, B, ItemDims...>;
  using labels_type = Tensor<std::int32_t, B>;

  // pixel / 255, then (x - mean) / stddev; with a share, this reader's rows of global batches of share.count B
  ImageBatches(const LabelledImages& set, float mean, float stddev, std::uint64_t seed,
               PartialBatch policy = PartialBatch::carry_over, Share share = {})
      : order_(set, item, B, mean, stddev, seed, policy, share) {}

  std::size_t size() const { return order_.size(); }
  // (global) batches per epoch and the images left over from them
  std::size_t batches_per_epoch() const { return order_.batches_per_epoch(); }
  std::size_t leftover() const { return order_.leftover(); }
  PartialBatch policy() const { return order_.policy(); }

  // Random crop with padding and horizontal flip of every image next() returns (never of batch_in_order's).
  void set_augment(const Augment& a) requires(sizeof...(ItemDims) == 3) { order_.set_augment(a, dims[1], dims[2]); }
  const Augment& augment() const { return order_.augment(); }

  // Fills the next batch; returns false (and starts a new epoch) when this epoch's full batches are done.
  bool next(images_type& x, labels_type& y) {
    return order_.next(x.data(), y.data(), sizeof...(ItemDims) == 3 ? dims.data() : nullptr);
  }

  // In order, without shuffling: batch k of the whole set (for evaluation; with a share, its rows of global batch k);
  // k < batches_per_epoch().
  void batch_in_order(std::size_t k, images_type& x, labels_type& y) const {
    order_.batch_in_order(k, x.data(), y.data());
  }

  // In order: the last leftover() items in the first rows (with a share, those of its rows), the rest of the batch
  // padded with copies of the first item (real data, so the program sees nothing unusual); returns how many rows are
  // real.
  std::size_t partial_batch_in_order(images_type& x, labels_type& y) const {
    return order_.partial_batch_in_order(x.data(), y.data());
  }

 private:
  static constexpr std::array<std::size_t, sizeof...(ItemDims)> dims{ItemDims...};
  detail::ImageOrder order_;
};

}  // namespace tg::data
