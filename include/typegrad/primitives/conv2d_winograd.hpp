#pragma once
// Host conv2d 3x3, stride 1, padding 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray 2016): each 2 x 2
// block of outputs ("tile") of an image comes from the 4 x 4 patch d of the padded image under it, through 16
// element-wise products per (input, output) channel pair instead of 36:
//   U = G g G^T (4 x 4 per [o][c], from the 3 x 3 kernel g),   V = B^T d B (per [c][tile]),
//   M[xi] = U[xi] V[xi]    (one product per xi of the 16 entries: O x C times C x tiles),   y_tile = A^T M A
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0;
//   0 1 -1 -1]. Every stage is linear, so the backward pass is each stage's transpose, in reverse:
//   dM = A dy_tile A^T,   dV[xi] = U[xi]^T dM[xi],   dd = B dV B^T (added over the overlapping patches),
//   dU[xi] += dM[xi] V[xi]^T (summed over tiles and images),   dg = G^T dU G.
// The same sums as the shifted products of conv2d_shifted.hpp with 2.25x fewer multiply-adds, in products of the
// same depth (C or O), plus the transforms (many_tap_conv below: measured per shape).
// It runs through shifted_batches (images in fixed groups, dW per group summed in order), so results do not
// depend on the thread count. Rounding differs from the direct sum (the transforms add and halve): against the
// shifted products on ResNet-20's shapes the largest difference was 0.5-1e-6 of the largest output in float (y,
// dx; dW 1-2.6e-6), 2-5e-16 in double.
#include <array>
#include <cstddef>

#include "typegrad/primitives/conv2d_shifted.hpp"

namespace tg::detail {

template <class T, class G>
struct winograd_conv : shifted_batches<winograd_conv<T, G>, T, G> {
  static_assert(G::P == 1 && G::taps == 9 && G::Ho == G::H && G::Wo == G::W, "winograd_conv: 3x3, stride 1, pad 1");
  using G::C, G::H, G::W, G::O, G::Ho, G::Wo;
  static constexpr bool channels_first = true;
  static constexpr std::size_t lanes = 32 / sizeof(T);
  static constexpr std::size_t th = (Ho + 1) / 2, tw = (Wo + 1) / 2, tiles = th * tw;
  static constexpr std::size_t Tp = (tiles + lanes - 1) / lanes * lanes;          // tiles rounded to whole vectors
  // the padded image, each row's columns split by parity: [columns 0, 2, .., 2 tw][1, 3, .., 2 tw + 1], so that a
  // tile's columns 2b .. 2b + 3 are even[b], odd[b], even[b + 1], odd[b + 1] and the transforms run along b
  static constexpr std::size_t Hq = 2 * th + 2, Wq = 2 * tw + 2, grid = Hq * Wq, odd_columns = tw + 1;
  static constexpr std::size_t weight_elements = 16 * C * O;                      // U (forward) or U^T (backward)
  // The 16 entries xi = 4 r + s are computed 4 at a time, by the row r of B^T (forward: y is a sum over r of
  // A^T's column r times (M A)'s row r; backward: dx the same over B's), so an image needs 4 planes of each, not 16.
  // forward group: xp [C][grid], V_r [4][C][Tp], M_r [4][O][Tp]
  static constexpr std::size_t forward_elements = C * grid + 4 * C * Tp + 4 * O * Tp;
  static constexpr std::size_t cleared_forward = C * grid;  // the image's padding
  // backward group: dU [16][C][O], xp, V_r (then dV_r) [4][C][Tp], dM_r [4][O][Tp], dM_r^T [4][Tp][O], dxp
  // [C][grid], then the group's dW [9][O][C] (shifted_batches sums it over the groups)
  static constexpr std::size_t v_at = 16 * C * O + C * grid, dm_at = v_at + 4 * C * Tp;
  static constexpr std::size_t dxp_at = dm_at + 8 * O * Tp, group_elements = dxp_at + C * grid + 9 * O * C;
  static constexpr std::size_t cleared_backward = 16 * C * O + C * grid;  // dU and the image's padding
  static constexpr std::size_t dw_at(std::size_t k, std::size_t o, std::size_t c) { return (k * O + o) * C + c; }

  // wt = U[xi][o][c] (forward) or U^T[xi][c][o] (backward), U = G g G^T for g = w[o][c] (3 x 3)
  template <bool Backward>
  static void weights_by_tap(const T* w, T* wt) {
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t c = 0; c < C; ++c) {
        const T* g = w + (o * C + c) * 9;
        T gg[4][3];  // G g
        for (std::size_t j = 0; j < 3; ++j) {
          gg[0][j] = g[j];
          gg[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
          gg[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
          gg[3][j] = g[6 + j];
        }
        for (std::size_t r = 0; r < 4; ++r) {
          const T u[4] = {gg[r][0], T(0.5) * (gg[r][0] + gg[r][1] + gg[r][2]),
                          T(0.5) * (gg[r][0] - gg[r][1] + gg[r][2]), gg[r][2]};
          for (std::size_t s = 0; s < 4; ++s)
            wt[Backward ? ((r * 4 + s) * C + c) * O + o : ((r * 4 + s) * O + o) * C + c] = u[s];
        }
      }
  }

  // V_r [4][C][Tp] = row r of B^T d B for every tile of xp [C][grid] (the tiles past `tiles`: 0, for dU's sums)
  static void input_transform(std::size_t r, const T* xp, T* v) {
    // B^T's row r over the tile's 4 image rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3
    const std::size_t i0 = r == 0 ? 0 : r == 2 ? 2 : 1, i1 = r == 0 ? 2 : r == 1 ? 2 : r == 2 ? 1 : 3;
    const T sign = r == 1 ? T(1) : T(-1);
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t a = 0; a < th; ++a) {
        const T* x0 = xp + c * grid + (2 * a + i0) * Wq;
        const T* x1 = xp + c * grid + (2 * a + i1) * Wq;
        std::array<T, Wq> t;
        for (std::size_t q = 0; q < Wq; ++q) t[q] = x0[q] + sign * x1[q];
        // then B^T along the row, per tile: d0 - d2, d1 + d2, d2 - d1, d1 - d3 of its columns
        T* out = v + c * Tp + a * tw;
        const T *even = t.data(), *odd = even + odd_columns;
        for (std::size_t b = 0; b < tw; ++b) {
          out[b] = even[b] - even[b + 1];
          out[C * Tp + b] = odd[b] + even[b + 1];
          out[2 * C * Tp + b] = even[b + 1] - odd[b];
          out[3 * C * Tp + b] = odd[b] - odd[b + 1];
        }
      }
    if constexpr (Tp > tiles)
      for (std::size_t e = 0; e < 4 * C; ++e) std::fill(v + e * Tp + tiles, v + (e + 1) * Tp, T(0));
  }

  // one image: y [O][Ho][Wo] from x [C][H][W]; wt = U; scratch: a cleared forward group
  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* v = xp + C * grid;
    T* m = v + 4 * C * Tp;
    load_image(x, xp);
    for (const std::size_t r : {1, 0, 2, 3}) {  // row 1 first: it reaches both output rows, and assigns them
      input_transform(r, xp, v);
      for (std::size_t s = 0; s < 4; ++s)  // M[4r + s] [O][Tp] = U[4r + s] [O][C] V[4r + s] [C][Tp]
        blas::gemm_kernel<T, false, false, int(O), int(Tp), int(C), int(C), int(Tp), int(Tp), 0>::run_serial(
            wt + (4 * r + s) * O * C, v + s * C * Tp, m + s * O * Tp, nullptr);
      // y_tile += A^T[:, r] (M A)[r, :]: A^T's column r is (1, 0), (1, 1), (1, -1), (0, -1)
      const T top = r < 3 ? T(1) : T(0), bottom = r == 0 ? T(0) : r == 1 ? T(1) : T(-1);
      for (std::size_t o = 0; o < O; ++o)
        for (std::size_t a = 0; a < th; ++a) {
          const T *m0 = m + o * Tp + a * tw, *m1 = m0 + O * Tp, *m2 = m1 + O * Tp, *m3 = m2 + O * Tp;
          std::array<T, tw> p0, p1;  // (M A)[r, :]: the tile's two output columns
          for (std::size_t b = 0; b < tw; ++b) {
            p0[b] = m0[b] + m1[b] + m2[b];
            p1[b] = m1[b] - m2[b] - m3[b];
          }
          for (std::size_t i = 0; i < 2 && 2 * a + i < Ho; ++i) {
            const T f = i ? bottom : top;
            if (f == T(0)) continue;
            T* out = y + (o * Ho + 2 * a + i) * Wo;
            if (r == 1)
              add_columns<false>(out, f, p0, p1);
            else
              add_columns<true>(out, f, p0, p1);
          }
        }
    }
  }

  // one image's dU (+=, the group's, summed into dW by finish_group) and dx (+=, or = with AssignDx; when dx is
  // given) from x [C][H][W] and dy [O][Ho][Wo]; wt = U^T; scratch: a backward group, cleared
  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w) {
    T* du = scratch;
    T* xp = du + 16 * C * O;
    T* v = scratch + v_at;  // V_r, then dV_r
    T* dm = scratch + dm_at;
    T* dmt = dm + 4 * O * Tp;
    T* dxp = scratch + dxp_at;
    if (grad_w) load_image(x, xp);  // V is recomputed from x (keeping the batch's V would be 4x the input)
    if (dx) std::fill(dxp, dxp + C * grid, T(0));
    for (std::size_t r = 0; r < 4; ++r) {
      // dM_r = row r of A dy_tile A^T (dy past the edges: 0): dy A^T per output row i of the tiles, h_i[s] = (g0,
      // g0 + g1, g0 - g1, -g1) of the row's two columns, then A's row r down the two rows: h0, h0 + h1, h0 - h1, -h1
      const T top = r < 3 ? T(1) : T(0), bottom = r == 0 ? T(0) : r == 1 ? T(1) : T(-1);
      for (std::size_t o = 0; o < O; ++o)
        for (std::size_t a = 0; a < th; ++a) {
          std::array<T, tw> g0{}, g1{};  // e = top h_0 + bottom h_1, over the tiles' two columns
          for (std::size_t i = 0; i < 2 && 2 * a + i < Ho; ++i) {
            const T* g = dy + (o * Ho + 2 * a + i) * Wo;
            const T f = i ? bottom : top;
            for (std::size_t b = 0; b < Wo / 2; ++b) {
              g0[b] += f * g[2 * b];
              g1[b] += f * g[2 * b + 1];
            }
            if constexpr (Wo % 2 == 1) g0[tw - 1] += f * g[Wo - 1];
          }
          T* out = dm + o * Tp + a * tw;
          for (std::size_t b = 0; b < tw; ++b) {
            out[b] = g0[b];
            out[O * Tp + b] = g0[b] + g1[b];
            out[2 * O * Tp + b] = g0[b] - g1[b];
            out[3 * O * Tp + b] = -g1[b];
          }
        }
      if constexpr (Tp > tiles)  // the tiles past `tiles`: 0 (V's are 0 there, and 0 x NaN would not be)
        for (std::size_t e = 0; e < 4 * O; ++e) std::fill(dm + e * Tp + tiles, dm + (e + 1) * Tp, T(0));
      if (grad_w) {
        input_transform(r, xp, v);
        for (std::size_t s = 0; s < 4; ++s) {  // dU[4r + s] [C][O] += V [C][Tp] dM^T [Tp][O]
          blas::detail::transpose<int(O), int(Tp)>(dm + s * O * Tp, int(Tp), dmt + s * Tp * O, int(O));
          blas::gemm_kernel<T, false, false, int(C), int(O), int(Tp), int(Tp), int(O), int(O), 1>::run_serial(
              v + s * C * Tp, dmt + s * Tp * O, du + (4 * r + s) * C * O, nullptr);
        }
      }
      if (!dx) continue;
      for (std::size_t s = 0; s < 4; ++s)  // dV[4r + s] [C][Tp] = U^T [C][O] dM [O][Tp]
        blas::gemm_kernel<T, false, false, int(C), int(Tp), int(O), int(O), int(Tp), int(Tp), 0>::run_serial(
            wt + (4 * r + s) * C * O, dm + s * O * Tp, v + s * C * Tp, nullptr);
      // dxp += B[:, r] (dV B^T)[r, :] over the overlapping 4 x 4 patches: B's column r is B^T's row r, (1, 0, -1,
      // 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1) down the patch's rows
      const T f[4] = {r == 0 ? T(1) : T(0),
                      r == 0   ? T(0)
                      : r == 2 ? T(-1)
                               : T(1),
                      r == 0   ? T(-1)
                      : r == 3 ? T(0)
                               : T(1),
                      r == 3 ? T(-1) : T(0)};
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t a = 0; a < th; ++a) {
          const T *v0 = v + c * Tp + a * tw, *v1 = v0 + C * Tp, *v2 = v1 + C * Tp, *v3 = v2 + C * Tp;
          // (dV B^T)[r, :], column j of tile b: (v0, v1 - v2 + v3, v1 + v2 - v0, -v3), at image columns 2b + j,
          // i.e. even[b], odd[b], even[b + 1], odd[b + 1]: the sums per even and odd column over the tiles
          std::array<T, tw + 1> even{}, odd{};
          for (std::size_t b = 0; b < tw; ++b) {
            even[b] += v0[b];
            odd[b] += v1[b] - v2[b] + v3[b];
            even[b + 1] = v1[b] + v2[b] - v0[b];
            odd[b + 1] = -v3[b];
          }
          for (std::size_t i = 0; i < 4; ++i) {
            if (f[i] == T(0)) continue;
            T* out = dxp + c * grid + (2 * a + i) * Wq;
            for (std::size_t b = 0; b <= tw; ++b) {
              out[b] += f[i] * even[b];
              out[odd_columns + b] += f[i] * odd[b];
            }
          }
        }
    }
    if (!dx) return;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < H; ++i) {
        const T* from = dxp + c * grid + (i + 1) * Wq;  // column j + 1: odd (j even) or even (j odd)
        T* to = dx + (c * H + i) * W;
        for (std::size_t j = 0; j < W; ++j)
          to[j] = (AssignDx ? T(0) : to[j]) + from[j % 2 ? (j + 1) / 2 : odd_columns + j / 2];
      }
  }

  // after a group's images: its dW [9][O][C] = G^T dU G
  static void finish_group(T* scratch) {
    const T* du = scratch;
    T* dw = scratch + dxp_at + C * grid;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t o = 0; o < O; ++o) {
        T q[4][3];  // dU G
        for (std::size_t r = 0; r < 4; ++r) {
          const T u0 = du[((4 * r) * C + c) * O + o], u1 = du[((4 * r + 1) * C + c) * O + o],
                  u2 = du[((4 * r + 2) * C + c) * O + o], u3 = du[((4 * r + 3) * C + c) * O + o];
          q[r][0] = u0 + T(0.5) * (u1 + u2);
          q[r][1] = T(0.5) * (u1 - u2);
          q[r][2] = T(0.5) * (u1 + u2) + u3;
        }
        for (std::size_t j = 0; j < 3; ++j) {
          dw[dw_at(j, o, c)] = q[0][j] + T(0.5) * (q[1][j] + q[2][j]);
          dw[dw_at(3 + j, o, c)] = T(0.5) * (q[1][j] - q[2][j]);
          dw[dw_at(6 + j, o, c)] = T(0.5) * (q[1][j] + q[2][j]) + q[3][j];
        }
      }
  }

 private:
  // a row of outputs (+)= f (p0[b], p1[b]) at columns 2b, 2b + 1
  template <bool Add>
  static void add_columns(T* out, T f, const std::array<T, tw>& p0, const std::array<T, tw>& p1) {
    for (std::size_t b = 0; b < Wo / 2; ++b) {
      out[2 * b] = (Add ? out[2 * b] : T(0)) + f * p0[b];
      out[2 * b + 1] = (Add ? out[2 * b + 1] : T(0)) + f * p1[b];
    }
    if constexpr (Wo % 2 == 1) out[Wo - 1] = (Add ? out[Wo - 1] : T(0)) + f * p0[tw - 1];
  }

  // xp's row i + 1, column j + 1 = x[c][i][j] (columns split by parity); the rest of xp stays 0 from the group's
  // clearing
  static void load_image(const T* x, T* xp) {
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < H; ++i) {
        const T* from = x + (c * H + i) * W;
        T* to = xp + c * grid + (i + 1) * Wq;
        for (std::size_t k = 0; 2 * k < W; ++k) to[odd_columns + k] = from[2 * k];  // column 2k + 1
        for (std::size_t k = 1; 2 * k - 1 < W; ++k) to[k] = from[2 * k - 1];        // column 2k
      }
  }
};

}  // namespace tg::detail

namespace tg::detail {
// conv2d.hpp's many-tap path at stride 1: Winograd for 3x3 kernels with padding 1, the shifted products otherwise.
// Measured on Zen 1 (AVX2), ResNet-20's three 3x3 shapes over a batch of 64, one thread, against the shifted
// products: forward 1.2-1.4x (16 channels on 28 x 28), 1.3-1.6x (32 on 14 x 14), 1.6-1.7x (64 on 7 x 7); backward
// 1.3-1.4x, 1.4-1.5x, 1.5x (a noisy hour: another build ran); the whole ResNet-20 step 452 / 458 -> 355 / 356 ms.
// Not measured with AVX-512 (where the shifted products' batch-reduce kernels are twice as wide too).
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t O, std::size_t KH,
          std::size_t KW>
using many_tap_conv =
    std::conditional_t<P == 1 && KH == 3 && KW == 3, winograd_conv<T, shifted_grid<C, H, W, P, O, KH, KW>>,
                       shifted_conv<T, C, H, W, P, O, KH, KW>>;
}  // namespace tg::detail
