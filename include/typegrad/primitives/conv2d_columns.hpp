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
#include <type_traits>
#include <utility>

#include "typegrad/core/config.hpp"

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
              copy_window_row(x + row_start + std::size_t(q0), o);
            } else {
              for (std::size_t kj = 0; kj < G::KW; ++kj) {
                const std::ptrdiff_t q = q0 + std::ptrdiff_t(kj);
                o[kj] = q >= 0 && q < std::ptrdiff_t(G::Wd) ? x[row_start + std::size_t(q)] : T(0);
              }
            }
          }
      }
  }
  // o[0, KW) = from[0, KW), reading copy_block values (and writing as many: the next copy overwrites the rest). With
  // AVX-512 (GCC) a masked store writes the KW alone: no overlapping stores, fewer split across cache lines (LeNet's
  // second layer, one image's cols^T, Intel 0xCF: 2.9 -> 2.1 us)
  static TG_INLINE void copy_window_row(const T* from, T* o) {
#if defined(__AVX512VL__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
    if constexpr (std::is_same_v<T, float>) {
      typedef float block __attribute__((vector_size(32), aligned(4), may_alias));
      __builtin_ia32_storeups256_mask(o, *reinterpret_cast<const block*>(from), (1u << G::KW) - 1);
      return;
    }
#endif
    std::memcpy(o, from, copy_block * sizeof(T));
  }
  // dx[c, i S + ki - P, j S + kj - P] += cols[(c, ki, kj), (i, j)] inside the image
  static void col2im_add(const T* in, T* dx) {
    if constexpr (rows_in_registers) {
      for (std::size_t c = 0; c < G::C; ++c)
        for (std::size_t q = 0; q < G::H; ++q)
          add_input_row(in + c * G::KH * G::KW * cols_n, q, dx + (c * G::H + q) * G::Wd);
    } else {
      add_by_rows(in, dx);
    }
  }
  static void add_by_rows(const T* in, T* dx) {
    for (std::size_t c = 0; c < G::C; ++c)
      for (std::size_t ki = 0; ki < G::KH; ++ki) {
        const auto [ilo, ihi] = inside(ki, G::H, G::Ho);
        if constexpr (S == 2 && G::KW >= 2) {  // (KW 1: every second column is untouched)
          for (std::size_t i = ilo; i < ihi; ++i)
            add_row_stride2(in + i * G::Wo, dx + (c * G::H + i * S + ki - P) * G::Wd);
          in += G::KW * cols_n;
        } else {
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
  }

 private:
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__CUDACC__)
  // At stride 1, where an input row fits one 64-byte vector and an output row half of one (LeNet's second layer:
  // 12 and 8 floats), each input row q of channel c sums its KH KW terms in a register, the source rows
  // (c, ki, kj) row i = q + P - ki shifted into place by one shuffle each, then is added to dx once. Adding
  // row by row instead stores overlapping runs that the next load reads back (a store-forwarding stall per kj):
  // Intel 0xCF, one image of LeNet's second layer, zero + col2im 3.3 -> 1.7 us. With AVX2 the shuffles of
  // 16-element vectors cost more than they save (2.9 -> 5.9 us): there the loop below stays.
  static constexpr std::size_t row_lanes = 64 / sizeof(T);
  static constexpr bool rows_in_registers = S == 1 && G::Wd <= row_lanes && G::Wo <= row_lanes / 2;
  typedef T row_vector __attribute__((vector_size(64)));
  typedef T half_vector __attribute__((vector_size(32)));
  typedef T half_unaligned __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  // lanes p of the result = v[p - Shift] where that is one of the row's Wo values, else 0
  template <std::ptrdiff_t Shift, std::size_t... L>
  static TG_INLINE row_vector shifted(const half_vector& v, std::index_sequence<L...>) {
    constexpr auto source = [](std::ptrdiff_t p) {
      const std::ptrdiff_t j = p - Shift;
      return j >= 0 && j < std::ptrdiff_t(G::Wo) ? j : std::ptrdiff_t(row_lanes / 2);  // the zero vector's first
    };
    return __builtin_shufflevector(v, half_vector{}, source(std::ptrdiff_t(L))...);
  }
  // dx_row[p] += the sum over (ki, kj) of in[(c, ki, kj), (q + P - ki, p + P - kj)] (those inside the outputs);
  // in: channel c's first row
  static TG_INLINE void add_input_row(const T* in, std::size_t q, T* dx_row) {
    row_vector sum{};
    unrolled<G::KH>([&](auto ki) {
      const std::ptrdiff_t i = std::ptrdiff_t(q + P) - std::ptrdiff_t(ki());
      if (i < 0 || i >= std::ptrdiff_t(G::Ho)) return;
      const T* src = in + ki * G::KW * cols_n + std::size_t(i) * G::Wo;
      unrolled<G::KW>([&](auto kj) {
        half_vector v{};
        if constexpr (G::Wo == row_lanes / 2)
          v = *reinterpret_cast<const half_unaligned*>(src + kj * cols_n);
        else
          std::memcpy(&v, src + kj * cols_n, G::Wo * sizeof(T));  // not past the row's last output
        sum += shifted<std::ptrdiff_t(kj()) - std::ptrdiff_t(P)>(v, std::make_index_sequence<row_lanes>{});
      });
    });
    row_vector row{};
    std::memcpy(&row, dx_row, G::Wd * sizeof(T));
    row += sum;
    std::memcpy(dx_row, &row, G::Wd * sizeof(T));
  }
#else
  static constexpr bool rows_in_registers = false;
  static void add_input_row(const T*, std::size_t, T*) {}
#endif

  // At stride 2 the KW rows (c, ki, kj) of one output row i add to one input row together, a pair of columns
  // (2t, 2t + 1) at a time: column 2t + e takes src_kj[t - (kj - P - e) / 2] from each kj of its parity (kj - P - e
  // even) where that j is inside [jlo, jhi) of its row, so that the inner loop has whole-vector loads and one
  // interleaved store where a column at a time stored every second float (Intel 0xA7, one image, ResNet-20's 3 x 3
  // kernels: 16 channels on 28 x 28 6.6 -> 2.6 us, 32 on 14 x 14 4.3 -> 2.0 us). src: the row i of (c, ki, 0), the next
  // kj cols_n on.
  static constexpr std::ptrdiff_t source_shift(std::size_t kj, std::size_t e) {  // j = t - shift
    return (std::ptrdiff_t(kj) - std::ptrdiff_t(P) - std::ptrdiff_t(e)) / 2;
  }
  static constexpr bool in_pair(std::size_t kj, std::size_t e) {
    return (std::ptrdiff_t(kj) - std::ptrdiff_t(P) - std::ptrdiff_t(e)) % 2 == 0;
  }
  // the pairs t whose every term is inside its row: [lo, hi)
  static constexpr std::pair<std::size_t, std::size_t> whole_pairs() {
    std::ptrdiff_t lo = 0, hi = std::ptrdiff_t(G::Wd / 2);
    for (std::size_t kj = 0; kj < G::KW; ++kj) {
      const auto [jlo, jhi] = inside(kj, G::Wd, G::Wo);
      for (std::size_t e = 0; e < 2; ++e)
        if (in_pair(kj, e)) {  // jlo <= t - shift < jhi
          lo = std::max(lo, std::ptrdiff_t(jlo) + source_shift(kj, e));
          hi = std::min(hi, std::ptrdiff_t(jhi) + source_shift(kj, e));
        }
    }
    return {std::size_t(lo), std::size_t(std::max(lo, hi))};
  }
  static TG_INLINE void add_row_stride2(const T* __restrict src, T* __restrict dst) {
    constexpr auto whole = whole_pairs();
    const auto column = [&](std::size_t q) {  // the checked sum for one column (the row's ends)
      T sum = 0;
      for (std::size_t kj = 0; kj < G::KW; ++kj) {
        const std::ptrdiff_t e = std::ptrdiff_t(q % 2), j = std::ptrdiff_t(q / 2) - source_shift(kj, std::size_t(e));
        const auto [jlo, jhi] = inside(kj, G::Wd, G::Wo);
        if (in_pair(kj, std::size_t(e)) && j >= std::ptrdiff_t(jlo) && j < std::ptrdiff_t(jhi))
          sum += src[kj * cols_n + std::size_t(j)];
      }
      dst[q] += sum;
    };
    for (std::size_t q = 0; q < 2 * whole.first; ++q) column(q);
    for (std::size_t t = whole.first; t < whole.second; ++t) {
      T pair[2] = {T(0), T(0)};
      unrolled<G::KW>([&](auto kj) {
        unrolled<2>([&](auto e) {
          if constexpr (in_pair(kj, e)) pair[e] += src[std::ptrdiff_t(kj * cols_n + t) - source_shift(kj, e)];
        });
      });
      dst[2 * t] += pair[0];
      dst[2 * t + 1] += pair[1];
    }
    for (std::size_t q = 2 * whole.second; q < G::Wd; ++q) column(q);
  }
};

}  // namespace tg::detail
