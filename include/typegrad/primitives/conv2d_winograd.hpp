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
// depend on the thread count. Rounding differs from the direct sum (the transforms add and halve), within a few
// ulps of the products' sums for these small constants.
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
  static constexpr std::size_t Hq = 2 * th + 2, Wq = 2 * tw + 2, grid = Hq * Wq;  // the padded image
  static constexpr std::size_t weight_elements = 16 * C * O;                      // U (forward) or U^T (backward)
  // forward group: xp [C][grid], V [16][C][Tp], M [16][O][Tp]
  static constexpr std::size_t forward_elements = C * grid + 16 * C * Tp + 16 * O * Tp;
  static constexpr std::size_t cleared_forward = C * grid + 16 * C * Tp;  // padding and the tiles past `tiles`
  // backward group: dU [16][C][O], xp, V, dM [16][O][Tp], dM^T [16][Tp][O], dV [16][C][Tp], dxp [C][grid], then
  // the group's dW [9][O][C] (shifted_batches sums it over the groups)
  static constexpr std::size_t dm_at = 16 * C * O + C * grid + 16 * C * Tp, dv_at = dm_at + 32 * O * Tp;
  static constexpr std::size_t group_elements = dv_at + 16 * C * Tp + C * grid + 9 * O * C;
  static constexpr std::size_t cleared_backward = dv_at;
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

  // V [16][C][Tp] = B^T d B of every tile of xp [C][grid]
  static void input_transform(const T* xp, T* v) {
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t a = 0; a < th; ++a) {
        const T* r = xp + c * grid + 2 * a * Wq;
        std::array<std::array<T, Wq>, 4> t;  // B^T applied down the 4 rows of the tile row
        for (std::size_t q = 0; q < Wq; ++q) {
          t[0][q] = r[q] - r[2 * Wq + q];
          t[1][q] = r[Wq + q] + r[2 * Wq + q];
          t[2][q] = r[2 * Wq + q] - r[Wq + q];
          t[3][q] = r[Wq + q] - r[3 * Wq + q];
        }
        for (std::size_t i = 0; i < 4; ++i) {  // then along the row, per tile
          T* out = v + (4 * i * C + c) * Tp + a * tw;
          for (std::size_t b = 0; b < tw; ++b) {
            const T* e = t[i].data() + 2 * b;
            out[b] = e[0] - e[2];
            out[C * Tp + b] = e[1] + e[2];
            out[2 * C * Tp + b] = e[2] - e[1];
            out[3 * C * Tp + b] = e[1] - e[3];
          }
        }
      }
  }

  // one image: y [O][Ho][Wo] from x [C][H][W]; wt = U; scratch: a cleared forward group
  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* v = xp + C * grid;
    T* m = v + 16 * C * Tp;
    load_image(x, xp);
    input_transform(xp, v);
    for (std::size_t xi = 0; xi < 16; ++xi)  // M[xi] [O][Tp] = U[xi] [O][C] V[xi] [C][Tp]
      blas::gemm_kernel<T, false, false, int(O), int(Tp), int(C), int(C), int(Tp), int(Tp), 0>::run_serial(
          wt + xi * O * C, v + xi * C * Tp, m + xi * O * Tp, nullptr);
    for (std::size_t o = 0; o < O; ++o)  // y_tile = A^T M A, a row of tiles at a time
      for (std::size_t a = 0; a < th; ++a) {
        const T* e = m + o * Tp + a * tw;
        std::array<std::array<T, tw>, 4> p0, p1;  // M A: the two output columns of row r of each tile
        for (std::size_t r = 0; r < 4; ++r) {
          const T *m0 = e + 4 * r * O * Tp, *m1 = m0 + O * Tp, *m2 = m1 + O * Tp, *m3 = m2 + O * Tp;
          for (std::size_t b = 0; b < tw; ++b) {
            p0[r][b] = m0[b] + m1[b] + m2[b];
            p1[r][b] = m1[b] - m2[b] - m3[b];
          }
        }
        // A^T's rows: output row 0 = p[0] + p[1] + p[2], row 1 = p[1] - p[2] - p[3]
        const auto at = [](const auto& p, std::size_t i, std::size_t b) {
          return i ? p[1][b] - p[2][b] - p[3][b] : p[0][b] + p[1][b] + p[2][b];
        };
        for (std::size_t i = 0; i < 2 && 2 * a + i < Ho; ++i) {
          T* out = y + (o * Ho + 2 * a + i) * Wo;
          for (std::size_t b = 0; b < Wo / 2; ++b) {
            out[2 * b] = at(p0, i, b);
            out[2 * b + 1] = at(p1, i, b);
          }
          if constexpr (Wo % 2 == 1) out[Wo - 1] = at(p0, i, tw - 1);
        }
      }
  }

  // one image's dU (+=, the group's, summed into dW by finish_group) and dx (+=, or = with AssignDx; when dx is
  // given) from x [C][H][W] and dy [O][Ho][Wo]; wt = U^T; scratch: a backward group, cleared
  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w) {
    T* du = scratch;
    T* xp = du + 16 * C * O;
    T* v = xp + C * grid;
    T* dm = scratch + dm_at;
    T* dmt = dm + 16 * O * Tp;
    T* dv = scratch + dv_at;
    T* dxp = dv + 16 * C * Tp;
    for (std::size_t o = 0; o < O; ++o)  // dM = A dy_tile A^T (dy past the edges: 0), a row of tiles at a time
      for (std::size_t a = 0; a < th; ++a) {
        // dy A^T per output row i of the tiles: h[i][s] = (g0, g0 + g1, g0 - g1, -g1) for the row's columns g0, g1
        std::array<std::array<std::array<T, tw>, 4>, 2> h{};
        for (std::size_t i = 0; i < 2 && 2 * a + i < Ho; ++i) {
          const T* g = dy + (o * Ho + 2 * a + i) * Wo;
          for (std::size_t b = 0; b < tw; ++b) {
            const T g0 = g[2 * b], g1 = 2 * b + 1 < Wo ? g[2 * b + 1] : T(0);
            h[i][0][b] = g0;
            h[i][1][b] = g0 + g1;
            h[i][2][b] = g0 - g1;
            h[i][3][b] = -g1;
          }
        }
        for (std::size_t s = 0; s < 4; ++s) {  // then A down the two rows: (h0, h0 + h1, h0 - h1, -h1)
          T* out = dm + (s * O + o) * Tp + a * tw;
          for (std::size_t b = 0; b < tw; ++b) {
            out[b] = h[0][s][b];
            out[4 * O * Tp + b] = h[0][s][b] + h[1][s][b];
            out[8 * O * Tp + b] = h[0][s][b] - h[1][s][b];
            out[12 * O * Tp + b] = -h[1][s][b];
          }
        }
      }
    for (std::size_t xi = 0; xi < 16; ++xi)  // dM^T [Tp][O], dU's operand
      blas::detail::transpose<int(O), int(Tp)>(dm + xi * O * Tp, int(Tp), dmt + xi * Tp * O, int(O));
    if (grad_w) {
      load_image(x, xp);
      input_transform(xp, v);
      for (std::size_t xi = 0; xi < 16; ++xi)  // dU[xi] [C][O] += V[xi] [C][Tp] dM^T[xi] [Tp][O]
        blas::gemm_kernel<T, false, false, int(C), int(O), int(Tp), int(Tp), int(O), int(O), 1>::run_serial(
            v + xi * C * Tp, dmt + xi * Tp * O, du + xi * C * O, nullptr);
    }
    if (!dx) return;
    for (std::size_t xi = 0; xi < 16; ++xi)  // dV[xi] [C][Tp] = U^T[xi] [C][O] dM[xi] [O][Tp]
      blas::gemm_kernel<T, false, false, int(C), int(Tp), int(O), int(O), int(Tp), int(Tp), 0>::run_serial(
          wt + xi * C * O, dm + xi * O * Tp, dv + xi * C * Tp, nullptr);
    std::fill(dxp, dxp + C * grid, T(0));
    for (std::size_t c = 0; c < C; ++c)  // dxp += B dV B^T over the overlapping 4 x 4 patches, by rows of tiles
      for (std::size_t a = 0; a < th; ++a) {
        const T* e = dv + c * Tp + a * tw;
        std::array<std::array<std::array<T, tw>, 4>, 4> q;  // dV B^T: [row r][column j][tile b]
        for (std::size_t r = 0; r < 4; ++r) {
          const T *v0 = e + 4 * r * C * Tp, *v1 = v0 + C * Tp, *v2 = v1 + C * Tp, *v3 = v2 + C * Tp;
          for (std::size_t b = 0; b < tw; ++b) {
            q[r][0][b] = v0[b];
            q[r][1][b] = v1[b] - v2[b] + v3[b];
            q[r][2][b] = v1[b] + v2[b] - v0[b];
            q[r][3][b] = -v3[b];
          }
        }
        T* out = dxp + c * grid + 2 * a * Wq;
        for (std::size_t half = 0; half < 2; ++half)  // columns 2b, 2b + 1, then 2b + 2, 2b + 3: no overlap within
          for (std::size_t j = 2 * half; j < 2 * half + 2; ++j)
            for (std::size_t b = 0; b < tw; ++b) {  // B's rows: (q0), (q1 - q2 + q3), (q1 + q2 - q0), (-q3)
              out[2 * b + j] += q[0][j][b];
              out[Wq + 2 * b + j] += q[1][j][b] - q[2][j][b] + q[3][j][b];
              out[2 * Wq + 2 * b + j] += q[1][j][b] + q[2][j][b] - q[0][j][b];
              out[3 * Wq + 2 * b + j] -= q[3][j][b];
            }
      }
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < H; ++i) {
        const T* from = dxp + c * grid + (i + 1) * Wq + 1;
        T* to = dx + (c * H + i) * W;
        for (std::size_t j = 0; j < W; ++j) to[j] = (AssignDx ? T(0) : to[j]) + from[j];
      }
  }

  // after a group's images: its dW [9][O][C] = G^T dU G
  static void finish_group(T* scratch) {
    const T* du = scratch;
    T* dw = scratch + group_elements - 9 * O * C;
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
  // xp[c][(i + 1) Wq + 1 + j] = x[c][i][j]; the rest of xp stays 0 from the group's clearing
  static void load_image(const T* x, T* xp) {
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < H; ++i)
        std::copy(x + (c * H + i) * W, x + (c * H + i + 1) * W, xp + c * grid + (i + 1) * Wq + 1);
  }
};

}  // namespace tg::detail

namespace tg::detail {
// conv2d.hpp's many-tap path at stride 1: Winograd for 3x3 kernels with padding 1, the shifted products otherwise.
// Measured on Zen 1 (AVX2), ResNet-20's three 3x3 shapes over a batch of 64, one thread, Winograd against the shifted
// products: forward 1.16-1.34x (16 channels on 28 x 28), 1.56-1.65x (32 on 14 x 14), 1.23-1.35x (64 on 7 x 7);
// backward 1.15-1.19x, 1.20-1.35x, 1.17-1.26x.
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t O, std::size_t KH,
          std::size_t KW>
using many_tap_conv =
    std::conditional_t<P == 1 && KH == 3 && KW == 3, winograd_conv<T, shifted_grid<C, H, W, P, O, KH, KW>>,
                       shifted_conv<T, C, H, W, P, O, KH, KW>>;
}  // namespace tg::detail
