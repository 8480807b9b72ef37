#pragma once
// Host conv2d 3x3, stride 1, padding 1 by Winograd's minimal filtering F(m x m, 3 x 3), m = 2 or 4 (Lavin and Gray
// 2016): each m x m block of outputs ("tile") of an image comes from the a x a patch d (a = m + 2) of the padded image
// under it, through a^2 element-wise products per (input, output) channel pair instead of 9 m^2 (16 for 36 with
// F(2x2), 36 for 144 with F(4x4)):
//   U = G g G^T (a x a per [c][o], from the 3 x 3 kernel g),   V = B^T d B (per [tile][c]),
//   M[xi] = V[xi] U[xi]    (one product per xi of the a^2 entries: tiles x C times C x O),   y_tile = A^T M A
// with winograd_matrices' B^T, G, A^T (winograd_matrices.hpp). Every stage is linear, so the backward pass is each
// stage's transpose, in reverse:
//   dM = A dy_tile A^T,   dV[xi] = dM[xi] U[xi]^T,   dd = B dV B^T (added over the overlapping patches),
//   dU[xi] += V[xi]^T dM[xi] (summed over tiles and images),   dg = G^T dU G.
// The same sums as the shifted products of conv2d_shifted.hpp with 2.25x (F(2x2)) or 4x (F(4x4)) fewer
// multiply-adds, in products of the same depth (C or O), plus the transforms (many_tap_conv below: measured per
// shape). It runs through shifted_batches (images in fixed groups, dW per group summed in order), so results do
// not depend on the thread count. Rounding differs from the direct sum (the transforms scale by up to 8 and 1/24):
// against the definition in double, float on ResNet-20's 28 x 28 x 16 layer (4 images; largest error over largest
// magnitude, y / dx / dW), the shifted products 4.4-4.7e-7 / 3.8-4.8e-7 / 6.1-7.6e-7, F(2x2) 1.9-2.0e-7 /
// 2.0-2.4e-7 / 4.7-5.3e-7 (16-term products before the transforms), F(4x4) 3.2-3.6e-6 / 1.7-2.0e-6 / 2.5-3.6e-6;
// 2-5e-16 and 1-4e-15 in double against the shifted products. TYPEGRAD_WINOGRAD (below) limits the tile.
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "typegrad/core/config.hpp"
#include "typegrad/primitives/conv2d_shifted.hpp"
#include "typegrad/primitives/winograd_matrices.hpp"

// TYPEGRAD_WINOGRAD: the largest Winograd tile conv2d may use. 4 (the default): F(4x4) where it pays (below),
// F(2x2) elsewhere; 2: F(2x2) only (about 5x less rounding than F(4x4), slower on large images); 0: none, every
// 3x3 convolution runs the shifted products and rounds as the direct sum does (tests/primitives/
// test_conv2d_exact.cpp). A program's translation units must all see the same value (define it for the whole
// target): the convolution's code differs with it.
#ifndef TYPEGRAD_WINOGRAD
#define TYPEGRAD_WINOGRAD 4
#endif
static_assert(TYPEGRAD_WINOGRAD == 0 || TYPEGRAD_WINOGRAD == 2 || TYPEGRAD_WINOGRAD == 4,
              "typegrad: TYPEGRAD_WINOGRAD is the largest Winograd tile conv2d may use: 0 (none), 2 or 4");

namespace tg::detail {

// The tile rows of a band (see winograd_conv's bands): the most whose padded input rows, V and M planes, output rows
// and one pass's planes of U (a C O) take at most 52 KB, at least one; all of them (no bands) where U's planes alone
// take over 32 KB, as each band reads them again. 52 KB: the best of the band sizes measured on Intel 0xA7 (48 KB
// L1), one image, forward / backward us against no bands: F(4x4) on 28 x 28 x 16 2 tile rows (50 KB) 16.3-18.9 /
// 33.1-33.9 against 19.5-23.7 / 38.5-38.9, 3 rows 16.6-16.7 / 34.8-35.5; F(2x2) on 14 x 14 x 32 2 rows (51 KB)
// 12.2-14.2 / 29.5-30.1 against 13.3-17.3 / 31.8-32.2, 3 rows 12.9-15.9 / 30.9-31.2; F(2x2) on 7 x 7 x 64 (U's
// planes 64 KB) 2 rows 14.0-16.0 / 35.8-36.2 against 13.1-14.2 / 32.1-32.4.
template <class T, std::size_t C, std::size_t O, std::size_t m, std::size_t th, std::size_t tw>
constexpr std::size_t winograd_band_rows() {
  constexpr std::size_t a = m + 2, Wq = m * tw + 2, u_planes = a * C * O * sizeof(T);
  if (u_planes > 32 * 1024) return th;
  std::size_t rows = 1;
  for (std::size_t b = 2; b <= th; ++b)
    if (((m * b + 2) * Wq * C + a * b * tw * (C + O) + m * b * m * tw * O) * sizeof(T) + u_planes <= 52 * 1024)
      rows = b;
  return rows;
}

template <class T, class G, std::size_t M = 2,
          std::size_t BandRows = winograd_band_rows<T, G::C, G::O, M, (G::Ho + M - 1) / M, (G::Wo + M - 1) / M>()>
struct winograd_conv : shifted_batches<winograd_conv<T, G, M, BandRows>, T, G> {
  static_assert(G::P == 1 && G::taps == 9 && G::Ho == G::H && G::Wo == G::W, "winograd_conv: 3x3, stride 1, pad 1");
  using G::C, G::H, G::W, G::O, G::Ho, G::Wo;
  using Mat = winograd_matrices<M>;
  using Terms = winograd_terms<M>;
  using Cv = channel_vectors<T, C>;  // the transforms' vectors of input and of output channels
  using Ov = channel_vectors<T, O>;
  static constexpr std::size_t m = M, a = Mat::a, points = a * a;
  static constexpr std::size_t th = (Ho + m - 1) / m, tw = (Wo + m - 1) / m, tiles = th * tw;
  // Channels-last: the padded image xp [Hq][Wq][C] and the outputs yt [m th][m tw][O] (its rows and columns past
  // Ho, Wo: computed, dropped), so that every transform is the same vector operation over a pixel's channels and
  // a tile is an offset (no shuffles); V [tiles][C] and M [tiles][O] are the products' row-major operands.
  static constexpr std::size_t Hq = m * th + 2, Wq = m * tw + 2, grid = Hq * Wq, yw = m * tw, out_grid = m * th * yw;
  static constexpr std::size_t compact = std::max(H * W * C, Ho* Wo* O);  // one image transposed, unpadded
  static constexpr std::size_t weight_elements = (points + 9) * C * O;    // U (or U^T), then w by tap
  // Bands: an image's tiles are taken band_rows tile rows at a time, through every stage, so that a band's rows of
  // xp and yt and its V and M planes stay in L1 while the a passes below revisit them (the whole image's do not:
  // 28 x 28 x 16 is ~190 KB). Intel 0xA7, one image, F(4x4) on 16 channels: the input transforms cost 31 ns a tile
  // while their data fit in L1 (images up to 20 x 20), 127 ns on 28 x 28.
  static constexpr std::size_t band_rows = BandRows, band_tiles = band_rows * tw, last_rows = th % band_rows;
  static_assert(band_rows >= 1 && band_rows <= th);
  // The entries xi = a r + s are computed a at a time, by the row r of B^T (forward: y is a sum over r of A^T's
  // column r times (M A)'s row r; backward: dx the same over B's), so a band needs a planes of each, not a^2.
  // forward group: xp [grid][C], V_r [a][band_tiles][C], M_r [a][band_tiles][O], yt [out_grid][O], compact
  static constexpr std::size_t fv_at = grid * C, fm_at = fv_at + a * band_tiles * C, yt_at = fm_at + a * band_tiles * O;
  static constexpr std::size_t forward_elements = yt_at + out_grid * O + compact;
  static constexpr std::size_t cleared_forward = grid * C;  // the image's padding
  // backward group: xp, dyq [out_grid][O] (dy, 0 past Ho, Wo), the group's dU [points][C][O] (assigned by its
  // first image, summed over the groups by add_weight_grad), V_r (then dV_r) [a][band_tiles][C], dM_r
  // [a][band_tiles][O], dxp [grid][C], compact
  static constexpr std::size_t xp_at = 0, dyq_at = grid * C, du_at = dyq_at + out_grid * O;
  static constexpr std::size_t v_at = du_at + points * C * O, dm_at = v_at + a * band_tiles * C;
  static constexpr std::size_t dxp_at = dm_at + a * band_tiles * O, tmp_at = dxp_at + grid * C;
  static constexpr std::size_t group_elements = tmp_at + compact;
  static constexpr bool dy_padded = Ho != m * th || Wo != yw;
  static constexpr std::size_t cleared_backward = dy_padded ? du_at : dyq_at;  // the image's and dy's padding
  // the first output pass assigns yt: A^T's column first_r reaches every output row of a tile
  static constexpr std::size_t first_r = 1;
  static_assert(Terms::at_cols.line[first_r].count == m);

  // wt = U[xi][c][o] (forward) or U^T[xi][o][c] (backward), U = G g G^T for g = w[o][c] (3 x 3), through w by tap
  // after U: [9][O C] (backward: w's [O C][9] transposed) or [C][9][O] (forward: w's [O][C 9] transposed), so that
  // the transform runs along contiguous lines of kernels
  template <bool Backward>
  static void weights_by_tap(const T* w, T* wt) {
    T* by_tap = wt + points * C * O;
    if constexpr (Backward) {
      blas::detail::transpose<int(O * C), 9>(w, 9, by_tap, int(O * C));
      kernel_transform<O * C>(by_tap, O * C, wt, O * C);
    } else {
      blas::detail::transpose<int(O), int(C * 9)>(w, int(C * 9), by_tap, int(O));
      for (std::size_t c = 0; c < C; ++c) kernel_transform<O>(by_tap + c * 9 * O, O, wt + c * O, C * O);
    }
  }
  // U = G g G^T for a line of N kernels: tap k of kernel i at g[k g_stride + i], U's entry xi at u[xi u_stride + i]
  template <std::size_t N>
  static void kernel_transform(const T* g, std::size_t g_stride, T* u, std::size_t u_stride) {
    using V = channel_vectors<T, N>;
    for (std::size_t i = 0; i < N; i += V::lanes) {
      typename V::type gg[a][3];  // G g
      unrolled<a>([&](auto r) {
        unrolled<3>([&](auto j) {
          gg[r][j] =
              combine<T, Terms::g_rows, r>([&](std::size_t k) { return V::load(g + (3 * k + j) * g_stride + i); });
        });
      });
      unrolled<a>([&](auto r) {
        unrolled<a>([&](auto s) {
          V::store(u + (r * a + s) * u_stride + i,
                   combine<T, Terms::g_rows, s>([&](std::size_t j) { return gg[r][j]; }));
        });
      });
    }
  }
  // dw [O][C][9] += G^T dU G for the groups' dU [points][C][O] summed in order (into group 0's): dW is linear in dU,
  // so one transform serves the batch (one per group cost 54 us on 64 x 64 channels, Intel 0xA7)
  static void add_weight_grad(T* scratch, std::size_t group, std::size_t groups, T* dw) {
    T* du = scratch + du_at;
    for (std::size_t k = 1; k < groups; ++k) {
      const T* __restrict other = scratch + k * group + du_at;
      for (std::size_t e = 0; e < points * C * O; ++e) du[e] += other[e];
    }
    using V = channel_vectors<T, O>;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t o = 0; o < O; o += V::lanes) {
        const T* d = du + c * O + o;  // dU[xi] at d + xi C O
        typename V::type q[a][3];     // dU G
        unrolled<a>([&](auto r) {
          unrolled<3>([&](auto j) {
            q[r][j] = combine<T, Terms::g_cols, j>([&](std::size_t s) { return V::load(d + (r * a + s) * C * O); });
          });
        });
        T taps[9][V::lanes];  // G^T (dU G), then added to dw's [o][c][9] one weight at a time
        unrolled<3>([&](auto i) {
          unrolled<3>([&](auto j) {
            V::store(taps[3 * i + j], combine<T, Terms::g_cols, i>([&](std::size_t r) { return q[r][j]; }));
          });
        });
        for (std::size_t l = 0; l < V::lanes; ++l)
          for (std::size_t k = 0; k < 9; ++k) dw[((o + l) * C + c) * 9 + k] += taps[k][l];
      }
  }

  // V_r [a][Rows tw][C] = row r of B^T d B for the a x a patch d of xp under each tile of the Rows tile rows from t0
  template <std::size_t R, std::size_t Rows = th>
  static void input_transform(const T* __restrict xp, T* __restrict v, std::size_t t0 = 0) {
    constexpr std::size_t plane = Rows * tw * C;
    for (std::size_t ta = 0; ta < Rows; ++ta)
      for (std::size_t tb = 0; tb < tw; ++tb) {
        const T* p = xp + (m * (t0 + ta) * Wq + m * tb) * C;
        T* out = v + (ta * tw + tb) * C;
        for (std::size_t c = 0; c < C; c += Cv::lanes) {
          typename Cv::type t[a];  // B^T's row R down the patch's columns j, then B^T along them
          unrolled<a>([&](auto j) {
            t[j] = combine<T, Terms::bt_rows, R>([&](std::size_t i) { return Cv::load(p + (i * Wq + j) * C + c); });
          });
          unrolled<a>([&](auto s) {
            Cv::store(out + s * plane + c, combine<T, Terms::bt_rows, s>([&](std::size_t j) { return t[j]; }));
          });
        }
      }
  }

  // one image: y [O][Ho][Wo] from x [C][H][W]; wt = U; scratch: a cleared forward group
  static void forward(const T* x, const T* wt, T* scratch, T* y) {
    T* xp = scratch;
    T* yt = scratch + yt_at;
    T* tmp = yt + out_grid * O;
    load_image(x, xp, tmp);
    for (std::size_t t0 = 0; t0 + band_rows <= th; t0 += band_rows) forward_band<band_rows>(xp, wt, scratch, t0);
    if constexpr (last_rows != 0) forward_band<last_rows>(xp, wt, scratch, th - last_rows);
    const T* from = yt;  // y [O][Ho Wo] = yt's rows < Ho, columns < Wo, transposed
    if constexpr (Ho != m * th || Wo != yw) {
      for (std::size_t i = 0; i < Ho; ++i) std::copy(yt + i * yw * O, yt + (i * yw + Wo) * O, tmp + i * Wo * O);
      from = tmp;
    }
    blas::detail::transpose<int(Ho * Wo), int(O)>(from, int(O), y, int(Ho * Wo));
  }
  // yt's rows of the Rows tile rows from t0
  template <std::size_t Rows>
  static void forward_band(const T* xp, const T* wt, T* scratch, std::size_t t0) {
    constexpr std::size_t n = Rows * tw;  // the band's tiles
    T* v = scratch + fv_at;
    T* mr = scratch + fm_at;
    T* yt = scratch + yt_at;
    const auto pass = [&](auto R) {
      input_transform<R, Rows>(xp, v, t0);
      for (std::size_t s = 0; s < a; ++s)  // M[a R + s] [n][O] = V[a R + s] [n][C] U[a R + s] [C][O]
        blas::gemm_kernel<T, false, false, int(n), int(O), int(C), int(C), int(O), int(O), 0>::run_serial(
            v + s * n * C, wt + (a * R + s) * C * O, mr + s * n * O, nullptr);
      // y_tile += A^T[:, R] (M A)[R, :]: (M A)[R, j] = sum over s of M[s] A^T[j][s]
      for (std::size_t ta = 0; ta < Rows; ++ta)
        for (std::size_t tb = 0; tb < tw; ++tb) {
          const T* __restrict mt = mr + (ta * tw + tb) * O;
          T* __restrict out = yt + (m * (t0 + ta) * yw + m * tb) * O;
          for (std::size_t o = 0; o < O; o += Ov::lanes) {
            typename Ov::type q[m];
            unrolled<m>([&](auto j) {
              q[j] = combine<T, Terms::at_rows, j>([&](std::size_t s) { return Ov::load(mt + s * n * O + o); });
            });
            constexpr auto& rows = Terms::at_cols.line[R];
            unrolled<rows.count>([&](auto k) {
              T* row = out + rows.at[k] * yw * O + o;
              for (std::size_t j = 0; j < m; ++j) {
                T* cell = row + j * O;
                const auto term = T(rows.coef[k]) * q[j];
                if constexpr (R == first_r)
                  Ov::store(cell, term);
                else
                  Ov::store(cell, Ov::load(cell) + term);
              }
            });
          }
        }
    };
    pass(std::integral_constant<std::size_t, first_r>{});
    unrolled<a>([&](auto R) {
      if constexpr (R != first_r) pass(R);
    });
  }

  // one image's dU (the group's: = for its first image, else +=; summed into dW by add_weight_grad) and dx (+=, or
  // = with AssignDx; when dx is given) from x [C][H][W] and dy [O][Ho][Wo]; wt = U^T; scratch: a backward group,
  // cleared
  template <bool AssignDx>
  static void backward(const T* x, const T* dy, const T* wt, T* scratch, T* dx, bool grad_w, bool first) {
    transposed_stages(x, dy, wt, scratch, dx != nullptr, grad_w, first);
    if (!dx) return;
    T* dxp = scratch + dxp_at;
    T* tmp = scratch + tmp_at;
    for (std::size_t i = 0; i < H; ++i)  // dx [C][H W] (+)= dxp's inside, transposed
      std::copy(dxp + ((i + 1) * Wq + 1) * C, dxp + ((i + 1) * Wq + 1 + W) * C, tmp + i * W * C);
    blas::detail::transpose<int(H * W), int(C), !AssignDx>(tmp, int(C), dx, int(H * W));
  }
  // backward's stages up to dxp (with_dx) and dU (grad_w): one instantiation for both AssignDx
  static void transposed_stages(const T* x, const T* dy, const T* wt, T* scratch, bool with_dx, bool grad_w,
                                bool first) {
    T* xp = scratch + xp_at;
    T* dyq = scratch + dyq_at;
    T* dxp = scratch + dxp_at;
    T* tmp = scratch + tmp_at;
    if constexpr (dy_padded) {  // dyq's rows < Ho, columns < Wo = dy transposed; the rest stays 0
      blas::detail::transpose<int(O), int(Ho * Wo)>(dy, int(Ho * Wo), tmp, int(O));
      for (std::size_t i = 0; i < Ho; ++i) std::copy(tmp + i * Wo * O, tmp + (i + 1) * Wo * O, dyq + i * yw * O);
    } else {
      blas::detail::transpose<int(O), int(Ho * Wo)>(dy, int(Ho * Wo), dyq, int(O));
    }
    if (grad_w) load_image(x, xp, tmp);  // V is recomputed from x (keeping the batch's V would be a^2/m^2 x)
    if (with_dx) std::fill(dxp, dxp + grid * C, T(0));
    for (std::size_t t0 = 0; t0 + band_rows <= th; t0 += band_rows)
      transposed_band<band_rows>(wt, scratch, t0, with_dx, grad_w, first && t0 == 0);
    if constexpr (last_rows != 0)
      transposed_band<last_rows>(wt, scratch, th - last_rows, with_dx, grad_w, first && th == last_rows);
  }
  // dU's sums over the Rows tile rows from t0 (assigned when assign_du) and their patches' part of dxp
  template <std::size_t Rows>
  static void transposed_band(const T* wt, T* scratch, std::size_t t0, bool with_dx, bool grad_w, bool assign_du) {
    constexpr std::size_t n = Rows * tw;  // the band's tiles
    T* du = scratch + du_at;
    const T* xp = scratch + xp_at;
    const T* dyq = scratch + dyq_at;
    T* v = scratch + v_at;  // V_r, then dV_r
    T* dm = scratch + dm_at;
    T* dxp = scratch + dxp_at;
    unrolled<a>([&](auto R) {
      // dM_R = row R of A dy_tile A^T: e_j = sum over i of A^T[i][R] dy[i][j], then dM_R[s] = sum over j of
      // A^T[j][s] e_j
      for (std::size_t ta = 0; ta < Rows; ++ta)
        for (std::size_t tb = 0; tb < tw; ++tb) {
          const T* __restrict g = dyq + (m * (t0 + ta) * yw + m * tb) * O;
          T* __restrict out = dm + (ta * tw + tb) * O;
          for (std::size_t o = 0; o < O; o += Ov::lanes) {
            typename Ov::type e[m];
            unrolled<m>([&](auto j) {
              e[j] = combine<T, Terms::at_cols, R>([&](std::size_t i) { return Ov::load(g + (i * yw + j) * O + o); });
            });
            unrolled<a>([&](auto s) {
              Ov::store(out + s * n * O + o, combine<T, Terms::at_cols, s>([&](std::size_t j) { return e[j]; }));
            });
          }
        }
      if (grad_w) {
        input_transform<R, Rows>(xp, v, t0);
        for (std::size_t s = 0; s < a; ++s)  // dU[a R + s] [C][O] (+)= V [n][C]^T dM [n][O]
          assign_or_add<blas::gemm_kernel<T, true, false, int(C), int(O), int(n), int(C), int(O), int(O), 0>,
                        blas::gemm_kernel<T, true, false, int(C), int(O), int(n), int(C), int(O), int(O), 1>>(
              assign_du, v + s * n * C, dm + s * n * O, du + (a * R + s) * C * O);
      }
      if (!with_dx) return;
      for (std::size_t s = 0; s < a; ++s)  // dV[a R + s] [n][C] = dM [n][O] U^T [O][C]
        blas::gemm_kernel<T, false, false, int(n), int(C), int(O), int(O), int(C), int(C), 0>::run_serial(
            dm + s * n * O, wt + (a * R + s) * O * C, v + s * n * C, nullptr);
      // dxp += B[:, R] (dV B^T)[R, :] over the overlapping patches: (dV B^T)[R, j] = sum over s of dV[s] B^T[s][j],
      // and B's column R is B^T's row R down the patch's rows
      for (std::size_t ta = 0; ta < Rows; ++ta)
        for (std::size_t tb = 0; tb < tw; ++tb) {
          const T* __restrict vt = v + (ta * tw + tb) * C;
          T* __restrict out = dxp + (m * (t0 + ta) * Wq + m * tb) * C;
          for (std::size_t c = 0; c < C; c += Cv::lanes) {
            typename Cv::type e[a];
            unrolled<a>([&](auto j) {
              e[j] = combine<T, Terms::bt_cols, j>([&](std::size_t s) { return Cv::load(vt + s * n * C + c); });
            });
            constexpr auto& rows = Terms::bt_rows.line[R];
            unrolled<rows.count>([&](auto k) {
              T* row = out + rows.at[k] * Wq * C + c;
              for (std::size_t j = 0; j < a; ++j)
                Cv::store(row + j * C, Cv::load(row + j * C) + T(rows.coef[k]) * e[j]);
            });
          }
        }
    });
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
// Winograd's output tile for Ho x Wo outputs: F(4x4, 3x3) (2.25x fewer multiply-adds again, larger transforms) where
// whole 4 x 4 tiles cover the image and there are at least 16 of them, else F(2x2, 3x3). Measured on Zen 1 (AVX2),
// one thread, batch 64 (forward / backward ms, two runs, F(2x2) against F(4x4)): 16 channels on 28 x 28 4.7 / 9.1
// and 5.2 / 9.6 against 4.0 / 7.5 and 4.1 / 7.6; 32 on 14 x 14 (16 tiles of 4 x 4 over 16 x 16) 4.0 / 7.6 and
// 3.8 / 7.6 against 4.0 / 7.9 and 4.1 / 8.8; 64 on 7 x 7 (4 tiles) 4.5 / 9.2 and 4.8 / 9.7 against 4.5 / 11.4 and
// 4.5 / 11.9 (the 36 planes of dU per group cost more than the products save).
// largest: the largest tile allowed (TYPEGRAD_WINOGRAD).
constexpr std::size_t winograd_tile(std::size_t Ho, std::size_t Wo, std::size_t largest = TYPEGRAD_WINOGRAD) {
  return largest >= 4 && Ho % 4 == 0 && Wo % 4 == 0 && Ho * Wo >= 16 * 16 ? 4 : 2;
}
// conv2d.hpp's many-tap path at stride 1: Winograd for 3x3 kernels with padding 1, the shifted products otherwise.
// Measured on Zen 1 (AVX2), ResNet-20's three 3x3 shapes over a batch of 64, one thread, against the shifted
// products (ms, forward / backward, two runs): 16 channels on 28 x 28 7.2 / 14.8 and 7.5 / 15.3 against F(4x4)'s
// 4.0 / 7.5 and 4.1 / 7.6; 32 on 14 x 14 7.4 / 14.7 and 7.5 / 14.6 against 4.0 / 7.6 and 3.8 / 7.6; 64 on 7 x 7
// 7.7 / 15.7 and 8.2 / 17.9 against 4.5 / 9.2 and 4.8 / 9.7. Not measured with AVX-512 (where the shifted
// products' batch-reduce kernels are twice as wide too).
template <class T, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t O, std::size_t KH,
          std::size_t KW>
using many_tap_conv = std::conditional_t<TYPEGRAD_WINOGRAD != 0 && P == 1 && KH == 3 && KW == 3,
                                         winograd_conv<T, shifted_grid<C, H, W, P, O, KH, KW>, winograd_tile(H, W)>,
                                         shifted_conv<T, C, H, W, P, O, KH, KW>>;
}  // namespace tg::detail
