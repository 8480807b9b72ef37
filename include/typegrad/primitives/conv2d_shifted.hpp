#pragma once
// Host conv2d at stride 1 with many taps per output (C kh kw > 32: a ResNet's 3x3 layers), without im2col; conv2d.hpp
// takes this path with libxsmm when C and O are whole 32-byte vectors and there are <= 1.5 anchors per output.
// One image is kept channels-last on its zero-padded grid, xp [Hp Wp][C]. The output anchored at padded position
// q = i Wp + j reads xp[q + t] for tap t = ki Wp + kj, so over the run of anchors q < Lq = (Ho - 1) Wp + Wo each
// tap is one plain product with a shifted operand (W_t = W[:, :, ki, kj]):
//   y^T[q][o]          = sum over taps t of  xp[q + t][:] . W_t[o][:]
//   dx^T[p][c]         = sum over taps t of  dyz[p - t][:] . W_t[:][c]  (p on the padded grid, dyz = dy^T at
//                        its anchors and 0 elsewhere)
//   dW_t^T[c][o]      += sum over q of      xp[q + t][c] dyz[q][o]
// Why: im2col writes kh kw copies of every image (twice a training step: the backward pass rebuilds them) and
// col2im adds them back; here the forward and dx tap sums are one libxsmm batch-reduce kernel each, whose output
// stays in registers over the kh kw products, and dW reads the image in place. The anchors j >= Wo in each row
// of the grid are computed and dropped: Lq / (Ho Wo) - 1 extra work (7% on 28 x 28, 25% on 7 x 7).
// Measured on Zen 3 (forward of one image, in cache): 16 channels 28 x 28 66 -> 55 us, 32 x 14 x 14 60 -> 46,
// 64 x 7 x 7 72 -> 51-56; ResNet-20's training step 356 -> 292-318 ms (docs/performance.md).
#include <algorithm>
#include <cstddef>

#include "typegrad/core/blas.hpp"
#include "typegrad/core/threads.hpp"

namespace tg::detail {

#ifdef TYPEGRAD_HAVE_LIBXSMM
inline constexpr bool has_batch_reduce_gemm = true;
#else
inline constexpr bool has_batch_reduce_gemm = false;
#endif

// C input channels of H x W, zero padding P, O output channels, KH x KW kernels, stride 1
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t O, std::size_t KH,
          std::size_t KW>
struct shifted_conv {
  static constexpr std::size_t Hp = H + 2 * P, Wp = W + 2 * P, Ho = Hp - KH + 1, Wo = Wp - KW + 1, taps = KH * KW;
  static constexpr std::size_t Lq = (Ho - 1) * Wp + Wo;  // output anchors q = i Wp + j
  static constexpr std::size_t Lx = (H - 1) * Wp + W;    // input positions p0 + (i Wp + j), p0 = P Wp + P
  static constexpr std::size_t p0 = P * Wp + P, last_tap = (KH - 1) * Wp + KW - 1;
  static constexpr std::size_t grid = Hp * Wp, dy_rows = last_tap + grid;  // dyz[last_tap + q]: dy at anchor q
  // per group of images: xp, then y^T (forward) or dyz and dx^T (backward), one image channels-last without the
  // grid's padding (whole-image transposes: rows of 7 or 14 pixels are not whole 8 x 8 blocks), then dW^T [taps][C][O]
  static constexpr std::size_t compact = std::max(H * W * C, Ho* Wo* O);
  static constexpr std::size_t forward_elements = grid * C + Lq * O + compact;
  static constexpr std::size_t group_elements = grid * C + dy_rows * O + Lx * C + compact + taps * C * O;
  static constexpr std::size_t weight_elements = taps * C * O;  // the weights by tap, shared by the groups
  static constexpr std::size_t tap(std::size_t k) { return k / KW * Wp + k % KW; }

  // wt[k][c][o] (forward) or wt[k][o][c] (backward) = w[o][c][k] (w: [O][C][KH KW])
  template <bool Backward>
  static void weights_by_tap(const T* w, T* wt) {
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t k = 0; k < taps; ++k)
          wt[Backward ? (k * O + o) * C + c : (k * C + c) * O + o] = w[(o * C + c) * taps + k];
  }
  // zero a group's padded image and dy grid (their borders stay zero: images write inside only)
  static void clear(T* xp, bool backward) {
    std::fill(xp, xp + grid * C, T(0));
    if (backward) std::fill(xp + grid * C, xp + grid * C + dy_rows * O, T(0));
  }
  // xp[(i + P) Wp + P + j][c] = x[c][i][j] through tmp [H W][C]
  static void load_image(const T* x, T* xp, T* tmp) {
    blas::detail::transpose<int(C), int(H * W)>(x, int(H * W), tmp, int(C));
    for (std::size_t i = 0; i < H; ++i) std::copy(tmp + i * W * C, tmp + (i + 1) * W * C, xp + (p0 + i * Wp) * C);
  }

  // out^T[r][m] = sum over taps k of  in[r + shift(k)][:] . wt_k[:][m] for r < Rows  (in rows of Kd, out of Md)
  template <std::size_t Md, std::size_t Kd, std::size_t Rows, bool Backward>
  static void tap_sum(const T* in, const T* wt, T* out) {
    static constexpr auto shift = [](std::size_t k) { return Backward ? last_tap + p0 - tap(k) : tap(k); };
#ifdef TYPEGRAD_HAVE_LIBXSMM
    // column-major out (Md x Rows) = sum_k wt_k (Md x Kd) in_k (Kd x Rows)
    static const auto kernel = [] {
      const libxsmm_blasint m = Md, n = Rows, k = Kd, lda = Md, ldb = Kd, ldc = Md;
      const T alpha = 1, beta = 0;
      const int flags = LIBXSMM_GEMM_FLAG_NONE;
      if constexpr (std::is_same_v<T, float>)
        return libxsmm_smmdispatch_reducebatch_offs(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
      else
        return libxsmm_dmmdispatch_reducebatch_offs(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
    }();
    static const auto offsets = [] {
      struct {
        unsigned long long a[taps], b[taps];
      } o{};
      for (std::size_t k = 0; k < taps; ++k) {
        o.a[k] = k * Md * Kd * sizeof(T);
        o.b[k] = shift(k) * Kd * sizeof(T);
      }
      return o;
    }();
    if (kernel) {
      const unsigned long long count = taps;
      return kernel(wt, in, out, &count, offsets.a, offsets.b);
    }
#endif
    // row-major out [Rows][Md] = in_k [Rows][Kd] wt_k [Kd][Md], accumulated over k
    blas::gemm_kernel<T, false, false, int(Rows), int(Md), int(Kd), int(Kd), int(Md), int(Md), 0>::run_serial(
        in + shift(0) * Kd, wt, out, nullptr);
    for (std::size_t k = 1; k < taps; ++k)
      blas::gemm_kernel<T, false, false, int(Rows), int(Md), int(Kd), int(Kd), int(Md), int(Md), 1>::run_serial(
          in + shift(k) * Kd, wt + k * Md * Kd, out, nullptr);
  }

  // y [O][Ho][Wo] of one image x [C][H][W]; wt from weights_by_tap<false>; scratch: a cleared group's
  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* yt = xp + grid * C;
    T* tmp = yt + Lq * O;
    load_image(x, xp, tmp);
    tap_sum<O, C, Lq, false>(xp, wt, yt);
    for (std::size_t i = 0; i < Ho; ++i) std::copy(yt + i * Wp * O, yt + (i * Wp + Wo) * O, tmp + i * Wo * O);
    blas::detail::transpose<int(Ho * Wo), int(O)>(tmp, int(O), y, int(Ho * Wo));
  }

  // one image's dW^T (+=, the group's [taps][C][O] after the scratch's other parts) and dx (+=, or = with
  // AssignDx; when dx is given) from x [C][H][W] and dy [O][Ho][Wo]; wt from weights_by_tap<true>
  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w) {
    T* xp = scratch;
    T* dyz = xp + grid * C;
    T* dxt = dyz + dy_rows * O;
    T* tmp = dxt + Lx * C;
    T* dwt = tmp + compact;
    blas::detail::transpose<int(O), int(Ho * Wo)>(dy, int(Ho * Wo), tmp, int(O));
    for (std::size_t i = 0; i < Ho; ++i)
      std::copy(tmp + i * Wo * O, tmp + (i + 1) * Wo * O, dyz + (last_tap + i * Wp) * O);
    if (grad_w) {
      load_image(x, xp, tmp);
      for (std::size_t k = 0; k < taps; ++k)  // dW_k^T [C][O] += xp[q + t_k][C]^T dyz[q][O] over q < Lq
        blas::gemm_kernel<T, true, false, int(C), int(O), int(Lq), int(C), int(O), int(O), 1>::run_serial(
            xp + tap(k) * C, dyz + last_tap * O, dwt + k * C * O, nullptr);
    }
    if (dx) {
      tap_sum<C, O, Lx, true>(dyz, wt, dxt);
      for (std::size_t i = 0; i < H; ++i) std::copy(dxt + i * Wp * C, dxt + (i * Wp + W) * C, tmp + i * W * C);
      blas::detail::transpose<int(H * W), int(C), !AssignDx>(tmp, int(C), dx, int(H * W));
    }
  }

  // The batch's N images in `groups` fixed groups (a thread takes whole groups; image n of group k for n in
  // [N k / groups, N (k + 1) / groups)). scratch: `groups` regions of `stride` elements, then the weights by tap.
  template <std::size_t N, std::size_t Groups>
  static void forward_batch(const T* x, const T* w, T* scratch, std::size_t stride, T* y) {
    T* wt = scratch + Groups * stride;
    weights_by_tap<false>(w, wt);
    parallel_for(Groups, 1, [&](std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k) {
        clear(scratch + k * stride, false);
        for (std::size_t n = N * k / Groups; n < N * (k + 1) / Groups; ++n)
          forward(x + n * C * H * W, wt, scratch + k * stride, y + n * O * Ho * Wo);
      }
    });
  }
  // dw [O][C][KH KW] += (when given) the batch's dW, summed per group (its images in order), then over the groups
  // in order: the same sums whatever the thread count; dx += (= with AssignDx; when given) the batch's dx
  template <std::size_t N, std::size_t Groups, bool AssignDx = false>
  static void backward_batch(const T* x, const T* dy, const T* w, T* scratch, T* dx, T* dw) {
    T* wt = scratch + Groups * group_elements;
    if (dx) weights_by_tap<true>(w, wt);
    constexpr std::size_t dwt_at = group_elements - taps * C * O;
    parallel_for(Groups, 1, [&](std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k) {
        T* s = scratch + k * group_elements;
        clear(s, true);
        if (dw) std::fill(s + dwt_at, s + group_elements, T(0));
        for (std::size_t n = N * k / Groups; n < N * (k + 1) / Groups; ++n)
          backward<AssignDx>(x + n * C * H * W, dy + n * O * Ho * Wo, wt, s, dx ? dx + n * C * H * W : nullptr,
                             dw != nullptr);
      }
    });
    if (dw)
      for (std::size_t o = 0; o < O; ++o)
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t k = 0; k < taps; ++k) {
            T sum = 0;
            for (std::size_t g = 0; g < Groups; ++g) sum += scratch[g * group_elements + dwt_at + (k * C + c) * O + o];
            dw[(o * C + c) * taps + k] += sum;
          }
  }
};

}  // namespace tg::detail
