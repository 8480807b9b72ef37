#pragma once
// Host kernels for conv2d with few taps per output (C kh kw <= 32, stride 1: a network's first layer on 1-3
// channels), computed directly on one (zero-padded) image instead of through im2col and a GEMM:
//   y[o, i, j]   = sum over (c, ki, kj) of w[o, c, ki, kj] x[c, i + ki, j + kj]
//   dW[o, c, ki, kj] += sum over (i, j) of dy[o, i, j] x[c, i + ki, j + kj]
// Why: the GEMM's reduction is only C kh kw long while im2col writes kh kw copies of the image, twice per
// training step, and dW's GEMM is vectorised over O (LeNet's 10: 36 GFLOP/s of real work). Here each output
// row is vectorised along j: the forward keeps a block of output channels x row segments in registers (one
// weight broadcast feeds several vectors), dW keeps one accumulator per (output channel, kj) and sums over the
// image. Outputs past the last whole vector of a row run element by element.
// Written with GCC/Clang vector extensions (32 bytes: 8 floats, 4 doubles), so double, which the gradient tests
// use, runs the same code as float.
#include <algorithm>
#include <cstddef>

#include "typegrad/core/config.hpp"

namespace tg::detail {

#if defined(__GNUC__) && !defined(__CUDACC__)
inline constexpr bool has_vector_extensions = true;

// C channels of H x W (already padded), O output channels, KH x KW kernels, stride 1
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t KH, std::size_t KW>
struct direct_conv {
  static constexpr std::size_t Ho = H - KH + 1, Wo = W - KW + 1, taps = C * KH * KW;
  typedef T vec __attribute__((vector_size(32)));
  typedef T vec_unaligned __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  static constexpr std::size_t lanes = 32 / sizeof(T), whole = Wo / lanes * lanes;
  // by reference: a 32-byte vector passed by value is an ABI change without -mavx (-Wpsabi)
  static void load(vec& v, const T* p) { v = *reinterpret_cast<const vec_unaligned*>(p); }
  static void store(T* p, const vec& v) { *reinterpret_cast<vec_unaligned*>(p) = v; }

  // forward: OB channels x JV vectors of a row in registers (4 x 3 = 12 accumulators, 3 inputs, 1 weight)
  static constexpr std::size_t OB = 4, JV = 3;
  template <std::size_t NB, std::size_t NJ>
  static void forward_block(const T* x, const T* w, T* y, std::size_t o0, std::size_t i, std::size_t j0) {
    vec acc[NB][NJ] = {};
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t ki = 0; ki < KH; ++ki) {
        const T* xr = x + (c * H + i + ki) * W + j0;
        const T* wr = w + o0 * taps + (c * KH + ki) * KW;
        for (std::size_t kj = 0; kj < KW; ++kj) {
          vec xv[NJ];
          for (std::size_t v = 0; v < NJ; ++v) load(xv[v], xr + kj + v * lanes);
          for (std::size_t b = 0; b < NB; ++b) {
            const T wb = wr[b * taps + kj];
            for (std::size_t v = 0; v < NJ; ++v) acc[b][v] += wb * xv[v];
          }
        }
      }
    for (std::size_t b = 0; b < NB; ++b)
      for (std::size_t v = 0; v < NJ; ++v) store(y + ((o0 + b) * Ho + i) * Wo + j0 + v * lanes, acc[b][v]);
  }
  template <std::size_t NB>
  static void forward_channels(const T* x, const T* w, T* y, std::size_t o0) {
    for (std::size_t i = 0; i < Ho; ++i) {
      std::size_t j0 = 0;
      for (; j0 + JV * lanes <= whole; j0 += JV * lanes) forward_block<NB, JV>(x, w, y, o0, i, j0);
      for (; j0 < whole; j0 += lanes) forward_block<NB, 1>(x, w, y, o0, i, j0);
      for (std::size_t o = o0; o < o0 + NB; ++o)  // the row's last Wo % lanes outputs
        for (std::size_t j = whole; j < Wo; ++j) {
          T sum = 0;
          for (std::size_t r = 0; r < taps; ++r)
            sum += w[o * taps + r] * x[(r / (KH * KW) * H + i + r / KW % KH) * W + j + r % KW];
          y[(o * Ho + i) * Wo + j] = sum;
        }
    }
  }
  // y [O][Ho][Wo] of one image x [C][H][W]
  static void forward(const T* x, const T* w, T* y) {
    std::size_t o0 = 0;
    for (; o0 + OB <= O; o0 += OB) forward_channels<OB>(x, w, y, o0);
    if constexpr (O % OB != 0) forward_channels<O % OB>(x, w, y, o0);
  }

  // dW: NB channels x KW accumulators (12 or fewer; 2 x 5 for a 5x5 kernel), a vector of dy per channel
  static constexpr std::size_t GB = std::clamp<std::size_t>(12 / KW, 1, 4);
  template <std::size_t NB>
  static void weight_grad_channels(const T* x, const T* dy, T* dw, std::size_t o0) {
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t ki = 0; ki < KH; ++ki) {
        vec acc[NB][KW] = {};
        T rest[NB][KW] = {};
        for (std::size_t i = 0; i < Ho; ++i) {
          const T* xr = x + (c * H + i + ki) * W;
          for (std::size_t j = 0; j < whole; j += lanes) {
            vec g[NB];
            for (std::size_t b = 0; b < NB; ++b) load(g[b], dy + ((o0 + b) * Ho + i) * Wo + j);
            for (std::size_t kj = 0; kj < KW; ++kj) {
              vec xv;
              load(xv, xr + j + kj);
              for (std::size_t b = 0; b < NB; ++b) acc[b][kj] += g[b] * xv;
            }
          }
          for (std::size_t j = whole; j < Wo; ++j)
            for (std::size_t b = 0; b < NB; ++b)
              for (std::size_t kj = 0; kj < KW; ++kj) rest[b][kj] += dy[((o0 + b) * Ho + i) * Wo + j] * xr[j + kj];
        }
        for (std::size_t b = 0; b < NB; ++b)
          for (std::size_t kj = 0; kj < KW; ++kj) {
            T sum = rest[b][kj];
            for (std::size_t l = 0; l < lanes; ++l) sum += acc[b][kj][l];
            dw[(o0 + b) * taps + (c * KH + ki) * KW + kj] += sum;
          }
      }
  }
  // dw [O][C KH KW] += this image's contribution (x [C][H][W], dy [O][Ho][Wo])
  static void weight_grad(const T* x, const T* dy, T* dw) {
    std::size_t o0 = 0;
    for (; o0 + GB <= O; o0 += GB) weight_grad_channels<GB>(x, dy, dw, o0);
    if constexpr (O % GB != 0) weight_grad_channels<O % GB>(x, dy, dw, o0);
  }
};

// The same convolution over flat positions. With the image's rows W apart, output (i, j) reads
// x[c, (i + ki) W + j + kj]: at p = i W + j that is x[c, p + ki W + kj], so over p in [0, Ho W) every tap is one
// contiguous run whatever the vector width, at the cost of the W - Wo positions per row past the outputs, computed
// and dropped (LeNet's first layer: 4 of 28). Used with AVX-512 (16 floats a vector: twice direct_conv's width,
// and no half-width or scalar row ends), and with AVX2 for dW where a row is not a whole number of vectors.
// Per image, Zen 5, bench/conv_direct (rows/flat): AVX-512 forward 2.2x (LeNet's first layer), 2.1x (ResNet-20's
// stem), 2.4x (3 -> 16 channels, 32 a row); dW 1.12x, 1.66x, 1.45x. With AVX2 (-mno-avx512f) the stem's dW 1.6x,
// but its forward 0.95x (the compaction's copies), so there the forward pass stays with direct_conv.
// x must hold `overrun` readable zeros past its C H W elements; `work` holds O Lp elements.
inline constexpr std::size_t flat_vector_bytes = host_vector_bytes < 32 ? 32 : host_vector_bytes;  // (SSE: split)
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t KH, std::size_t KW>
struct flat_conv {
  static constexpr std::size_t Ho = H - KH + 1, Wo = W - KW + 1, taps = C * KH * KW;
  typedef T vec __attribute__((vector_size(flat_vector_bytes)));
  typedef T vec_unaligned __attribute__((vector_size(flat_vector_bytes), aligned(sizeof(T)), may_alias));
  static constexpr std::size_t lanes = flat_vector_bytes / sizeof(T);
  // with AVX-512 always (direct_conv's vectors are half as wide); with AVX2 where rows are ragged
  static constexpr bool wide = flat_vector_bytes == 64, preferred = wide || Wo % lanes != 0;
  static constexpr std::size_t L = Ho * W, Lp = (L + lanes - 1) / lanes * lanes;  // positions, padded to vectors
  static constexpr std::size_t overrun = Lp - L + KW, work_elements = O * Lp;
  static constexpr std::size_t dw_lanes = lanes;  // dW's partial sums per weight (weight_grad)
  static void load(vec& v, const T* p) { v = *reinterpret_cast<const vec_unaligned*>(p); }

  // forward: OB channels x JV vectors of positions in registers (AVX-512 has 32 vector registers: 5 x 4, else as
  // direct_conv's 4 x 3)
  static constexpr std::size_t OB = wide ? 5 : 4, JV = wide ? 4 : 3;
  template <std::size_t NB, std::size_t NJ>
  static void forward_block(const T* x, const T* w, T* yw, std::size_t o0, std::size_t p0) {
    vec acc[NB][NJ] = {};
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t ki = 0; ki < KH; ++ki)
        for (std::size_t kj = 0; kj < KW; ++kj) {
          const T* xr = x + (c * H + ki) * W + kj + p0;
          vec xv[NJ];
          for (std::size_t v = 0; v < NJ; ++v) load(xv[v], xr + v * lanes);
          for (std::size_t b = 0; b < NB; ++b) {
            const T wb = w[(o0 + b) * taps + (c * KH + ki) * KW + kj];
            for (std::size_t v = 0; v < NJ; ++v) acc[b][v] += wb * xv[v];
          }
        }
    for (std::size_t b = 0; b < NB; ++b)
      for (std::size_t v = 0; v < NJ; ++v)
        *reinterpret_cast<vec_unaligned*>(yw + (o0 + b) * Lp + p0 + v * lanes) = acc[b][v];
  }
  template <std::size_t NB>
  static void forward_channels(const T* x, const T* w, T* yw, std::size_t o0) {
    std::size_t p0 = 0;
    for (; p0 + JV * lanes <= Lp; p0 += JV * lanes) forward_block<NB, JV>(x, w, yw, o0, p0);
    for (; p0 < Lp; p0 += lanes) forward_block<NB, 1>(x, w, yw, o0, p0);
  }
  // y [O][Ho][Wo] (+ b [O] when given) of one image x [C][H][W] (+ overrun), through yw = work [O][Lp]
  static void forward(const T* x, const T* w, T* y, T* work, const T* b = nullptr) {
    std::size_t o0 = 0;
    for (; o0 + OB <= O; o0 += OB) forward_channels<OB>(x, w, work, o0);
    if constexpr (O % OB != 0) forward_channels<O % OB>(x, w, work, o0);
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t i = 0; i < Ho; ++i) {
        const T* from = work + o * Lp + i * W;
        T* to = y + (o * Ho + i) * Wo;
        if (b)
          for (std::size_t j = 0; j < Wo; ++j) to[j] = from[j] + b[o];
        else
          std::copy_n(from, Wo, to);
      }
  }

  // dW[o, c, ki, kj] += sum over p of dyw[o, p] x[c, p + ki W + kj], dyw = dy with its rows W apart and zeros
  // at the dropped positions (work [O][Lp]); NB channels x KW accumulators (up to 24 with AVX-512, else 12).
  // The accumulators are added as vectors into dw_lanes [O][taps][lanes], whose lanes the caller sums once per
  // group of images: a horizontal sum per accumulator per image cost as much as a third of the products.
  // Channel blocks of equal size: with AVX-512 up to 5 (NB KW accumulators, NB dy vectors and one x vector in 32
  // registers), so LeNet's 10 channels run as 5 + 5, each x load feeding 5 products (as 4 + 4 + 2: 4.2 -> 3.3 us
  // an image, Intel 0xCF, bench/conv_direct).
  static constexpr std::size_t GB_max = std::clamp<std::size_t>(wide ? 31 / (KW + 1) : 12 / KW, 1, wide ? 5 : 4);
  static constexpr std::size_t GB = (O + (O + GB_max - 1) / GB_max - 1) / ((O + GB_max - 1) / GB_max);
  template <std::size_t NB>
  static void weight_grad_channels(const T* x, const T* dyw, T* dw_lanes, std::size_t o0) {
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t ki = 0; ki < KH; ++ki) {
        vec acc[NB][KW] = {};
        const T* xr = x + (c * H + ki) * W;
        for (std::size_t p = 0; p < Lp; p += lanes) {
          vec g[NB];
          for (std::size_t b = 0; b < NB; ++b) load(g[b], dyw + (o0 + b) * Lp + p);
          for (std::size_t kj = 0; kj < KW; ++kj) {
            vec xv;
            load(xv, xr + p + kj);
            for (std::size_t b = 0; b < NB; ++b) acc[b][kj] += g[b] * xv;
          }
        }
        for (std::size_t b = 0; b < NB; ++b)
          for (std::size_t kj = 0; kj < KW; ++kj) {
            auto& sum =
                *reinterpret_cast<vec_unaligned*>(dw_lanes + ((o0 + b) * taps + (c * KH + ki) * KW + kj) * lanes);
            sum += acc[b][kj];
          }
      }
  }
  // db_lanes [O][lanes] (when given) += dy's sums per output channel, a partial sum per lane (summed by the caller)
  static void weight_grad(const T* x, const T* dy, T* dw_lanes, T* work, T* db_lanes = nullptr) {
    for (std::size_t o = 0; o < O; ++o) {
      T* row = work + o * Lp;
      for (std::size_t i = 0; i < Ho; ++i, row += W) {
        std::copy_n(dy + (o * Ho + i) * Wo, Wo, row);
        std::fill(row + Wo, row + W, T(0));
      }
      std::fill(work + o * Lp + L, work + (o + 1) * Lp, T(0));
      if (db_lanes) {  // over the copy, still in L1 (its dropped positions hold zeros)
        vec sum{}, v;
        for (std::size_t p = 0; p < Lp; p += lanes) {
          load(v, work + o * Lp + p);
          sum += v;
        }
        *reinterpret_cast<vec_unaligned*>(db_lanes + o * lanes) += sum;
      }
    }
    std::size_t o0 = 0;
    for (; o0 + GB <= O; o0 += GB) weight_grad_channels<GB>(x, work, dw_lanes, o0);
    if constexpr (O % GB != 0) weight_grad_channels<O % GB>(x, work, dw_lanes, o0);
  }
};
#else
inline constexpr bool has_vector_extensions = false;
inline constexpr std::size_t flat_vector_bytes = 32;
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t KH, std::size_t KW>
struct direct_conv;  // not used: conv2d takes its GEMM path
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t KH, std::size_t KW>
struct flat_conv {
  static constexpr bool preferred = false, wide = false;
  static constexpr std::size_t overrun = 0, work_elements = 0, dw_lanes = 1;
};
#endif

// xp [C][H + 2P][W + 2P] = x [C][H][W] with P zeros around
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t Extra = 0>
void pad_image(const T* x, T* xp) {
  std::fill_n(xp + C * (H + 2 * P) * (W + 2 * P), Extra, T(0));  // then `Extra` zeros
  constexpr std::size_t Wp = W + 2 * P;
  for (std::size_t c = 0; c < C; ++c) {
    T* out = xp + c * (H + 2 * P) * Wp;
    std::fill(out, out + P * Wp, T(0));
    for (std::size_t r = 0; r < H; ++r) {
      T* row = out + (P + r) * Wp;
      std::fill(row, row + P, T(0));
      std::copy(x + (c * H + r) * W, x + (c * H + r + 1) * W, row + P);
      std::fill(row + P + W, row + Wp, T(0));
    }
    std::fill(out + (P + H) * Wp, out + (H + 2 * P) * Wp, T(0));
  }
}

}  // namespace tg::detail
