#pragma once
// One image's im2col columns for conv2d.hpp's GEMM path (strided convolutions, and the shapes no direct, shifted
// or Winograd path takes) and their transpose back onto the image, at stride S with zero padding P. G: the
// convolution's geometry (conv_shape: C, H, Wd, Ho, Wo, KH, KW).
//   cols[(c, ki, kj), (i, j)] = x[c, i S + ki - P, j S + kj - P]   (0 outside the image)
//   dx[c, i S + ki - P, j S + kj - P] += dcols[(c, ki, kj), (i, j)]  (inside the image)
//   cols^T[(i, j), (c, ki, kj)] = cols[(c, ki, kj), (i, j)]            (im2row, for dW = dy_n cols_n^T)
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

namespace tg::detail {

template <class T, class G, std::size_t S, std::size_t P>
struct conv_columns {
  static constexpr std::size_t cols_n = G::Ho * G::Wo, rows = G::C * G::KH * G::KW, image = G::C * G::H * G::Wd;
  // im2row copies a window's row of KW <= copy_block values as one block of copy_block (one vector move; the
  // values past KW are overwritten by the next copy), so its output needs row_slack elements after its end
  static constexpr std::size_t copy_block = 8, row_slack = copy_block;

  // The outputs j in [lo, hi) of n whose input index j S + k - P lies inside [0, size): the rest read padding.
  static constexpr std::pair<std::size_t, std::size_t> inside(std::size_t k, std::size_t size, std::size_t n) {
    const std::ptrdiff_t off = std::ptrdiff_t(k) - std::ptrdiff_t(P), s = std::ptrdiff_t(S);
    const std::ptrdiff_t last = std::ptrdiff_t(size) - 1 - off;  // j S <= last
    const std::ptrdiff_t hi = last < 0 ? 0 : std::min(std::ptrdiff_t(n), last / s + 1);
    const std::ptrdiff_t lo = std::min(off >= 0 ? 0 : (-off + s - 1) / s, hi);
    return {std::size_t(lo), std::size_t(hi)};
  }

  // cols[(c, ki, kj), (i, j)] = x[c, i S + ki - P, j S + kj - P] (0 outside): per row of outputs, the inside
  // run is a plain (strided when S > 1) copy and the padding on either side zeros
  static void im2col(const T* x, T* out) {
    for (std::size_t c = 0; c < G::C; ++c)
      for (std::size_t ki = 0; ki < G::KH; ++ki) {
        const auto [ilo, ihi] = inside(ki, G::H, G::Ho);
        for (std::size_t kj = 0; kj < G::KW; ++kj, out += cols_n) {
          const auto [jlo, jhi] = inside(kj, G::Wd, G::Wo);
          std::fill(out, out + ilo * G::Wo, T(0));
          for (std::size_t i = ilo; i < ihi; ++i) {
            const T* src = x + (c * G::H + i * S + ki - P) * G::Wd;  // the input row under output row i
            T* dst = out + i * G::Wo;
            for (std::size_t j = 0; j < jlo; ++j) dst[j] = T(0);
            for (std::size_t j = jlo; j < jhi; ++j) dst[j] = src[j * S + kj - P];
            for (std::size_t j = jhi; j < G::Wo; ++j) dst[j] = T(0);
          }
          std::fill(out + ihi * G::Wo, out + cols_n, T(0));
        }
      }
  }
  // cols^T: out[(i, j), (c, ki, kj)] = x[c, i S + ki - P, j S + kj - P] (0 outside), in that order (see row_slack)
  static void im2row(const T* x, T* out) {
    for (std::size_t i = 0; i < G::Ho; ++i)
      for (std::size_t j = 0; j < G::Wo; ++j, out += rows) {
        const std::ptrdiff_t q0 = std::ptrdiff_t(j * S) - std::ptrdiff_t(P);  // the window's first column
        const bool whole_row = q0 >= 0 && q0 + std::ptrdiff_t(G::KW) <= std::ptrdiff_t(G::Wd);
        T* o = out;
        for (std::size_t c = 0; c < G::C; ++c)
          for (std::size_t ki = 0; ki < G::KH; ++ki, o += G::KW) {
            const std::ptrdiff_t r = std::ptrdiff_t(i * S + ki) - std::ptrdiff_t(P);
            if (r < 0 || r >= std::ptrdiff_t(G::H)) {
              std::fill_n(o, G::KW, T(0));
              continue;
            }
            const std::size_t row_start = (c * G::H + std::size_t(r)) * G::Wd;
            if (G::KW <= copy_block && whole_row && row_start + std::size_t(q0) + copy_block <= image) {
              std::memcpy(o, x + row_start + std::size_t(q0), copy_block * sizeof(T));
            } else {
              for (std::size_t kj = 0; kj < G::KW; ++kj) {
                const std::ptrdiff_t q = q0 + std::ptrdiff_t(kj);
                o[kj] = q >= 0 && q < std::ptrdiff_t(G::Wd) ? x[row_start + std::size_t(q)] : T(0);
              }
            }
          }
      }
  }
  // dx[c, i S + ki - P, j S + kj - P] += cols[(c, ki, kj), (i, j)] inside the image
  static void col2im_add(const T* in, T* dx) {
    for (std::size_t c = 0; c < G::C; ++c)
      for (std::size_t ki = 0; ki < G::KH; ++ki) {
        const auto [ilo, ihi] = inside(ki, G::H, G::Ho);
        for (std::size_t kj = 0; kj < G::KW; ++kj, in += cols_n) {
          const auto [jlo, jhi] = inside(kj, G::Wd, G::Wo);
          for (std::size_t i = ilo; i < ihi; ++i) {
            T* dst = dx + (c * G::H + i * S + ki - P) * G::Wd;
            const T* src = in + i * G::Wo;
            for (std::size_t j = jlo; j < jhi; ++j) dst[j * S + kj - P] += src[j];
          }
        }
      }
  }
};

}  // namespace tg::detail
