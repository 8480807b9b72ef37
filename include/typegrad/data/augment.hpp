#pragma once
// Data augmentation for [C, H, W] images (the CIFAR recipe of He et al. 2016), drawn per image:
//   random crop with padding: out[c, i, j] = in[c, i + dy, j + dx] (fill outside the image), dy, dx uniform in
//                             [-pad, pad] (torchvision's RandomCrop(H, padding=pad) on the padded image);
//   horizontal flip:          with probability 1/2, out[c, i, j] = cropped[c, i, W - 1 - j].
// `fill` is the padding value in the batch's units (after normalisation: the background pixel, not 0).
#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace tg::data {

struct Augment {
  std::size_t pad = 0;
  bool flip = false;
  float fill = 0;
  bool active() const { return pad > 0 || flip; }
};

// Throws unless the padding is smaller than an H x W image.
inline void check_augment(const Augment& a, std::size_t H, std::size_t W) {
  if (a.pad >= H || a.pad >= W)
    throw std::invalid_argument("augment: padding " + std::to_string(a.pad) + " is not smaller than the image (" +
                                std::to_string(H) + "x" + std::to_string(W) + ")");
}

// One image's draw: the crop's offsets and the flip.
struct AugmentDraw {
  int dy = 0, dx = 0;
  bool flip = false;
};

template <class Rng>
AugmentDraw draw_augment(const Augment& a, Rng& rng) {
  AugmentDraw d;
  if (a.pad > 0) {
    std::uniform_int_distribution<int> offset(-int(a.pad), int(a.pad));
    d.dy = offset(rng);
    d.dx = offset(rng);
  }
  if (a.flip) d.flip = std::bernoulli_distribution(0.5)(rng);
  return d;
}

// Writes the augmented image `in` ([C, H, W], row-major) to `out` (same size, not aliasing `in`).
inline void apply_augment(const AugmentDraw& d, float fill, std::size_t C, std::size_t H, std::size_t W,
                          const float* in, float* out) {
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < H; ++i) {
      const long si = long(i) + d.dy;
      float* row = out + (c * H + i) * W;
      if (si < 0 || si >= long(H)) {
        for (std::size_t j = 0; j < W; ++j) row[j] = fill;
        continue;
      }
      const float* src = in + (c * H + std::size_t(si)) * W;
      for (std::size_t j = 0; j < W; ++j) {
        const long sj = long(d.flip ? W - 1 - j : j) + d.dx;
        row[j] = sj < 0 || sj >= long(W) ? fill : src[sj];
      }
    }
}

// Draws for each of the `count` images of a batch from `rng`, in order, and augments in place those in [first, first +
// rows) (all by default), `images` holding them from `first` on (a reader's share of a global batch: data/share.hpp);
// `scratch` holds one image.
template <class Rng>
void augment_batch(const Augment& a, std::size_t count, std::size_t C, std::size_t H, std::size_t W, float* images,
                   std::vector<float>& scratch, Rng& rng, std::size_t first = 0, std::size_t rows = std::size_t(-1)) {
  check_augment(a, H, W);
  const std::size_t item = C * H * W, last = rows < count - first ? first + rows : count;
  scratch.resize(item);
  for (std::size_t n = 0; n < count; ++n) {
    const AugmentDraw d = draw_augment(a, rng);
    if (n < first || n >= last) continue;
    float* image = images + (n - first) * item;
    std::copy_n(image, item, scratch.data());
    apply_augment(d, a.fill, C, H, W, scratch.data(), image);
  }
}

}  // namespace tg::data
