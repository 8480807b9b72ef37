#pragma once
// Host conv2d 3x3, stride 1, padding 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray 2016): each 2 x 2
// block of outputs ("tile") of an image comes from the 4 x 4 patch d of the padded image under it, through 16
// element-wise products per (input, output) channel pair instead of 36:
//   U = G g G^T (4 x 4 per [c][o], from the 3 x 3 kernel g),   V = B^T d B (per [tile][c]),
//   M[xi] = V[xi] U[xi]    (one product per xi of the 16 entries: tiles x C times C x O),   y_tile = A^T M A
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0;
//   0 1 -1 -1]. Every stage is linear, so the backward pass is each stage's transpose, in reverse:
//   dM = A dy_tile A^T,   dV[xi] = U[xi]^T dM[xi],   dd = B dV B^T (added over the overlapping patches),
//   dU[xi] += V[xi]^T dM[xi] (summed over tiles and images),   dg = G^T dU G.
// The same sums as the shifted products of conv2d_shifted.hpp with 2.25x fewer multiply-adds, in products of the
// same depth (C or O), plus the transforms (many_tap_conv below: measured per shape).
// It runs through shifted_batches (images in fixed groups, dW per group summed in order), so results do not
// depend on the thread count. Rounding differs from the direct sum (the transforms add and halve): against the
// shifted products on ResNet-20's shapes the largest difference was 0.5-1e-6 of the largest output in float (y,
// dx; dW 1-2.6e-6), 2-5e-16 in double.
#include <algorithm>
#include <cstddef>

#include "typegrad/primitives/conv2d_shifted.hpp"

namespace tg::detail {

template <class T, class G>
struct winograd_conv : shifted_batches<winograd_conv<T, G>, T, G> {
  static_assert(G::P == 1 && G::taps == 9 && G::Ho == G::H && G::Wo == G::W, "winograd_conv: 3x3, stride 1, pad 1");
  using G::C, G::H, G::W, G::O, G::Ho, G::Wo;
  static constexpr std::size_t th = (Ho + 1) / 2, tw = (Wo + 1) / 2, tiles = th * tw;
  // Channels-last: the padded image xp [Hq][Wq][C] and the outputs yt [2 th][2 tw][O] (its rows and columns past
  // Ho, Wo: computed, dropped), so that every transform is the same vector operation over a pixel's channels and
  // a tile is an offset (no shuffles); V [tiles][C] and M [tiles][O] are the products' row-major operands.
  static constexpr std::size_t Hq = 2 * th + 2, Wq = 2 * tw + 2, grid = Hq * Wq, out_grid = 4 * th * tw;
  static constexpr std::size_t compact = std::max(H * W * C, Ho* Wo* O);  // one image transposed, unpadded
  static constexpr std::size_t weight_elements = 16 * C * O;              // U (forward) or U^T (backward)
  // The 16 entries xi = 4 r + s are computed 4 at a time, by the row r of B^T (forward: y is a sum over r of
  // A^T's column r times (M A)'s row r; backward: dx the same over B's), so an image needs 4 planes of each, not 16.
  // forward group: xp [grid][C], V_r [4][tiles][C], M_r [4][tiles][O], yt [out_grid][O], compact
  static constexpr std::size_t fv_at = grid * C, fm_at = fv_at + 4 * tiles * C, yt_at = fm_at + 4 * tiles * O;
  static constexpr std::size_t forward_elements = yt_at + out_grid * O + compact;
  static constexpr std::size_t cleared_forward = grid * C;  // the image's padding
  // backward group: dU [16][C][O], xp, dyq [out_grid][O] (dy, 0 past Ho, Wo), V_r (then dV_r) [4][tiles][C],
  // dM_r [4][tiles][O], dxp [grid][C], compact, then the group's dW [9][O][C] (shifted_batches sums the groups')
  static constexpr std::size_t xp_at = 16 * C * O, dyq_at = xp_at + grid * C, v_at = dyq_at + out_grid * O;
  static constexpr std::size_t dm_at = v_at + 4 * tiles * C, dxp_at = dm_at + 4 * tiles * O;
  static constexpr std::size_t tmp_at = dxp_at + grid * C, dwg_at = tmp_at + compact;
  static constexpr std::size_t group_elements = dwg_at + 9 * O * C;
  static constexpr std::size_t cleared_backward = dyq_at + out_grid * O;  // dU, the image's and dy's padding
  static constexpr std::size_t dw_at(std::size_t k, std::size_t o, std::size_t c) { return (k * O + o) * C + c; }

  // wt = U[xi][c][o] (forward) or U^T[xi][o][c] (backward), U = G g G^T for g = w[o][c] (3 x 3)
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
            wt[Backward ? ((r * 4 + s) * O + o) * C + c : ((r * 4 + s) * C + c) * O + o] = u[s];
        }
      }
  }

  // V_r [4][tiles][C] = row r of B^T d B for every tile's 4 x 4 patch d of xp
  static void input_transform(std::size_t r, const T* __restrict xp, T* __restrict v) {
    // B^T's row r down the patch's rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3; then B^T along the row the same
    const std::size_t i0 = r == 0 ? 0 : r == 2 ? 2 : 1, i1 = r == 0 ? 2 : r == 1 ? 2 : r == 2 ? 1 : 3;
    const T sign = r == 1 ? T(1) : T(-1);
    for (std::size_t a = 0; a < th; ++a)
      for (std::size_t b = 0; b < tw; ++b) {
        const T* p0 = xp + ((2 * a + i0) * Wq + 2 * b) * C;
        const T* p1 = xp + ((2 * a + i1) * Wq + 2 * b) * C;
        T* out = v + (a * tw + b) * C;
        for (std::size_t c = 0; c < C; ++c) {
          const T t0 = p0[c] + sign * p1[c], t1 = p0[C + c] + sign * p1[C + c];
          const T t2 = p0[2 * C + c] + sign * p1[2 * C + c], t3 = p0[3 * C + c] + sign * p1[3 * C + c];
          out[c] = t0 - t2;
          out[tiles * C + c] = t1 + t2;
          out[2 * tiles * C + c] = t2 - t1;
          out[3 * tiles * C + c] = t1 - t3;
        }
      }
  }

  // one image: y [O][Ho][Wo] from x [C][H][W]; wt = U; scratch: a cleared forward group
  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* v = scratch + fv_at;
    T* m = scratch + fm_at;
    T* yt = scratch + yt_at;
    T* tmp = yt + out_grid * O;
    load_image(x, xp, tmp);
    for (const std::size_t r : {1, 0, 2, 3}) {  // row 1 first: it reaches both output rows, and assigns them
      input_transform(r, xp, v);
      for (std::size_t s = 0; s < 4; ++s)  // M[4r + s] [tiles][O] = V[4r + s] [tiles][C] U[4r + s] [C][O]
        blas::gemm_kernel<T, false, false, int(tiles), int(O), int(C), int(C), int(O), int(O), 0>::run_serial(
            v + s * tiles * C, wt + (4 * r + s) * C * O, m + s * tiles * O, nullptr);
      // y_tile += A^T[:, r] (M A)[r, :]: A^T's column r is (1, 0), (1, 1), (1, -1), (0, -1) down the tile's rows;
      // (M A)[r, :] = (m0 + m1 + m2, m1 - m2 - m3) at its two columns
      const T f[2] = {r < 3 ? T(1) : T(0), r == 0 ? T(0) : r == 1 ? T(1) : T(-1)};
      for (std::size_t a = 0; a < th; ++a)
        for (std::size_t b = 0; b < tw; ++b) {
          const T* __restrict m0 = m + (a * tw + b) * O;
          const T *m1 = m0 + tiles * O, *m2 = m1 + tiles * O, *m3 = m2 + tiles * O;
          for (std::size_t i = 0; i < 2; ++i) {
            if (f[i] == T(0)) continue;
            T* __restrict out = yt + ((2 * a + i) * 2 * tw + 2 * b) * O;
            if (r == 1)
              for (std::size_t o = 0; o < O; ++o) {
                out[o] = m0[o] + m1[o] + m2[o];
                out[O + o] = m1[o] - m2[o] - m3[o];
              }
            else
              for (std::size_t o = 0; o < O; ++o) {
                out[o] += f[i] * (m0[o] + m1[o] + m2[o]);
                out[O + o] += f[i] * (m1[o] - m2[o] - m3[o]);
              }
          }
        }
    }
    const T* from = yt;  // y [O][Ho Wo] = yt's rows < Ho, columns < Wo, transposed
    if constexpr (Ho % 2 == 1 || Wo % 2 == 1) {
      for (std::size_t i = 0; i < Ho; ++i) std::copy(yt + i * 2 * tw * O, yt + (i * 2 * tw + Wo) * O, tmp + i * Wo * O);
      from = tmp;
    }
    blas::detail::transpose<int(Ho * Wo), int(O)>(from, int(O), y, int(Ho * Wo));
  }

  // one image's dU (+=, the group's, summed into dW by finish_group) and dx (+=, or = with AssignDx; when dx is
  // given) from x [C][H][W] and dy [O][Ho][Wo]; wt = U^T; scratch: a backward group, cleared
  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w) {
    T* du = scratch;
    T* xp = scratch + xp_at;
    T* dyq = scratch + dyq_at;
    T* v = scratch + v_at;  // V_r, then dV_r
    T* dm = scratch + dm_at;
    T* dxp = scratch + dxp_at;
    T* tmp = scratch + tmp_at;
    if constexpr (Ho % 2 == 1 || Wo % 2 == 1) {  // dyq's rows < Ho, columns < Wo = dy transposed; the rest stays 0
      blas::detail::transpose<int(O), int(Ho * Wo)>(dy, int(Ho * Wo), tmp, int(O));
      for (std::size_t i = 0; i < Ho; ++i) std::copy(tmp + i * Wo * O, tmp + (i + 1) * Wo * O, dyq + i * 2 * tw * O);
    } else {
      blas::detail::transpose<int(O), int(Ho * Wo)>(dy, int(Ho * Wo), dyq, int(O));
    }
    if (grad_w) load_image(x, xp, tmp);  // V is recomputed from x (keeping the batch's V would be 4x the input)
    if (dx) std::fill(dxp, dxp + grid * C, T(0));
    for (std::size_t r = 0; r < 4; ++r) {
      // dM_r = row r of A dy_tile A^T: A's row r down the tile's two rows (f), e_j = f0 dy[0][j] + f1 dy[1][j];
      // then along the row: (e0, e0 + e1, e0 - e1, -e1)
      const T f[2] = {r < 3 ? T(1) : T(0), r == 0 ? T(0) : r == 1 ? T(1) : T(-1)};
      for (std::size_t a = 0; a < th; ++a)
        for (std::size_t b = 0; b < tw; ++b) {
          const T* __restrict g0 = dyq + (2 * a * 2 * tw + 2 * b) * O;
          const T* __restrict g1 = g0 + 2 * tw * O;
          T* __restrict out = dm + (a * tw + b) * O;
          for (std::size_t o = 0; o < O; ++o) {
            const T e0 = f[0] * g0[o] + f[1] * g1[o], e1 = f[0] * g0[O + o] + f[1] * g1[O + o];
            out[o] = e0;
            out[tiles * O + o] = e0 + e1;
            out[2 * tiles * O + o] = e0 - e1;
            out[3 * tiles * O + o] = -e1;
          }
        }
      if (grad_w) {
        input_transform(r, xp, v);
        for (std::size_t s = 0; s < 4; ++s)  // dU[4r + s] [C][O] += V [tiles][C]^T dM [tiles][O]
          blas::gemm_kernel<T, true, false, int(C), int(O), int(tiles), int(C), int(O), int(O), 1>::run_serial(
              v + s * tiles * C, dm + s * tiles * O, du + (4 * r + s) * C * O, nullptr);
      }
      if (!dx) continue;
      for (std::size_t s = 0; s < 4; ++s)  // dV[4r + s] [tiles][C] = dM [tiles][O] U^T [O][C]
        blas::gemm_kernel<T, false, false, int(tiles), int(C), int(O), int(O), int(C), int(C), 0>::run_serial(
            dm + s * tiles * O, wt + (4 * r + s) * O * C, v + s * tiles * C, nullptr);
      // dxp += B[:, r] (dV B^T)[r, :] over the overlapping 4 x 4 patches: B's column r is B^T's row r, (1, 0, -1,
      // 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1) down the patch's rows; (dV B^T)[r, :] = (v0, v1 - v2 + v3,
      // v1 + v2 - v0, -v3) along them
      const T fr[4] = {r == 0 ? T(1) : T(0),
                       r == 0   ? T(0)
                       : r == 2 ? T(-1)
                                : T(1),
                       r == 0   ? T(-1)
                       : r == 3 ? T(0)
                                : T(1),
                       r == 3 ? T(-1) : T(0)};
      for (std::size_t a = 0; a < th; ++a)
        for (std::size_t b = 0; b < tw; ++b) {
          const T* __restrict v0 = v + (a * tw + b) * C;
          const T *v1 = v0 + tiles * C, *v2 = v1 + tiles * C, *v3 = v2 + tiles * C;
          for (std::size_t i = 0; i < 4; ++i) {
            if (fr[i] == T(0)) continue;
            T* __restrict out = dxp + ((2 * a + i) * Wq + 2 * b) * C;
            for (std::size_t c = 0; c < C; ++c) {
              out[c] += fr[i] * v0[c];
              out[C + c] += fr[i] * (v1[c] - v2[c] + v3[c]);
              out[2 * C + c] += fr[i] * (v1[c] + v2[c] - v0[c]);
              out[3 * C + c] -= fr[i] * v3[c];
            }
          }
        }
    }
    if (!dx) return;
    for (std::size_t i = 0; i < H; ++i)  // dx [C][H W] (+)= dxp's inside, transposed
      std::copy(dxp + ((i + 1) * Wq + 1) * C, dxp + ((i + 1) * Wq + 1 + W) * C, tmp + i * W * C);
    blas::detail::transpose<int(H * W), int(C), !AssignDx>(tmp, int(C), dx, int(H * W));
  }

  // after a group's images: its dW [9][O][C] = G^T dU G
  static void finish_group(T* scratch) {
    const T* du = scratch;
    T* dw = scratch + dwg_at;
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
  // xp[i + 1][j + 1][c] = x[c][i][j] through tmp [H W][C]; the rest of xp stays 0 from the group's clearing
  static void load_image(const T* x, T* xp, T* tmp) {
    blas::detail::transpose<int(C), int(H * W)>(x, int(H * W), tmp, int(C));
    for (std::size_t i = 0; i < H; ++i) std::copy(tmp + i * W * C, tmp + (i + 1) * W * C, xp + ((i + 1) * Wq + 1) * C);
  }
};

}  // namespace tg::detail

namespace tg::detail {
// conv2d.hpp's many-tap path at stride 1: Winograd for 3x3 kernels with padding 1, the shifted products otherwise.
// Measured on Zen 1 (AVX2), ResNet-20's three 3x3 shapes over a batch of 64, one thread, against the shifted
// products (ms, forward / backward, two runs): 16 channels on 28 x 28 8.1 / 17.7 and 8.4 / 17.5 against 6.0 / 11.7
// and 6.1 / 11.1; 32 on 14 x 14 7.5 / 15.0 and 7.6 / 14.9 against 4.1 / 8.4 and 4.6 / 8.3; 64 on 7 x 7 8.6 / 17.1
// and 7.9 / 16.3 against 5.1 / 10.2 and 4.9 / 10.4. The channels-first form before it (transforms along the
// tiles of an image row, columns split by parity: shuffles and scalar edges, and 14 or 7 tiles a row) took 6.1 /
// 13.4, 5.3 / 10.9 and 4.8 / 11.2; the whole ResNet-20 step 397 / 387 -> 366 / 366 ms (binaries alternated).
// Not measured with AVX-512 (where the shifted products' batch-reduce kernels are twice as wide too).
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t O, std::size_t KH,
          std::size_t KW>
using many_tap_conv =
    std::conditional_t<P == 1 && KH == 3 && KW == 3, winograd_conv<T, shifted_grid<C, H, W, P, O, KH, KW>>,
                       shifted_conv<T, C, H, W, P, O, KH, KW>>;
}  // namespace tg::detail
