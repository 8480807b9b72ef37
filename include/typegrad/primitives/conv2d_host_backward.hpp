#pragma once
// Conv2dNode's host backward passes (conv2d.hpp) on two of its paths, per group of images (a thread takes whole
// groups; dW is summed per group, its images in order, then over the groups in order: the same result on any
// number of threads):
//   direct (few taps at stride 1): dW by direct_conv / flat_conv (conv2d_direct.hpp); dx = col2im(W^T dy_n)
//   columns (the GEMM path):       dW^T += cols_n dy_n^T, or dW += dy_n cols_n^T from im2row where the output
//                                  channels are not whole vectors (dw_from_rows); dx = col2im(W^T dy_n)
#include <algorithm>

#include "typegrad/primitives/conv2d.hpp"

namespace tg {

// dw[e] += the sum over the groups k (in order) and the lanes l of dw0[k group_elements + e Lanes + l], e < Count:
// each group's partial dW [O][rows] (or db [O]), Lanes partial sums per element, group 0's at dw0
template <class X, class W, std::size_t S, std::size_t P, class... Bias>
template <std::size_t Lanes, std::size_t Count>
void Conv2dNode<X, W, S, P, Bias...>::add_group_sums(const T* dw0, T* dw) {
  for (std::size_t e = 0; e < Count; ++e) {
    T sum = 0;
    for (std::size_t k = 0; k < groups; ++k)
      for (std::size_t l = 0; l < Lanes; ++l) sum += dw0[k * group_elements + e * Lanes + l];
    dw[e] += sum;
  }
}

template <class X, class W, std::size_t S, std::size_t P, class... Bias>
template <std::size_t Id, class Ctx>
void Conv2dNode<X, W, S, P, Bias...>::backward_direct(Ctx& c, const T* x, const T* w, const T* g) const {
  constexpr bool grad_w = Conv2dNode::template wants_grad<Id, 1, Ctx>();
  constexpr bool grad_x = Conv2dNode::template wants_grad<Id, 0, Ctx>();
  constexpr bool grad_b = flat_bias_grad<Id, Ctx>;  // db by lanes alongside dW (else bias_gradient's pass)
  T* base = this->template scratch<T, Id>(c);
  [[maybe_unused]] T* dx = nullptr;
  if constexpr (grad_x) dx = this->template grad_data<Id, 0>(c);
  detail::parallel_for(groups, 1, [&](std::size_t k0, std::size_t k1) {
    for (std::size_t k = k0; k < k1; ++k) {
      T* xp = base + k * group_elements;  // [padded image][dcols][dW]
      T* dcols = xp + padded_image;
      T* dwk = dcols + rows * cols_n;
      [[maybe_unused]] T* dbk = dwk + G::O * rows * dw_lanes;
      if constexpr (grad_w) std::fill(dwk, dwk + G::O * rows * dw_lanes, T(0));
      if constexpr (grad_b) std::fill(dbk, dbk + db_elements, T(0));
      for (std::size_t n = first_image(k); n < first_image(k + 1); ++n) {
        const T* gn = g + n * G::O * cols_n;
        if constexpr (grad_w && flat)
          Flat::weight_grad(padded(x + n * image, xp), gn, dwk, flat_work(xp), grad_b ? dbk : nullptr);
        else if constexpr (grad_w)
          Direct::weight_grad(padded(x + n * image, xp), gn, dwk);
        if constexpr (grad_x) {
          GradCols::run(w, gn, dcols, nullptr);
          if constexpr (Conv2dNode::template assigns_grad<Id, 0, Ctx>()) std::fill_n(dx + n * image, image, T(0));
          Columns::col2im_add(dcols, dx + n * image);
        }
      }
    }
  });
  if constexpr (grad_w)
    add_group_sums<dw_lanes>(base + padded_image + rows * cols_n, this->template grad_data<Id, 1>(c));
  if constexpr (grad_b)  // group 0's db after its dW
    add_group_sums<dw_lanes, G::O>(base + padded_image + rows * cols_n + G::O * rows * dw_lanes,
                                   this->template grad_data<Id, 2>(c));
}

template <class X, class W, std::size_t S, std::size_t P, class... Bias>
template <std::size_t Id, class Ctx>
void Conv2dNode<X, W, S, P, Bias...>::backward_columns(Ctx& c, const T* x, const T* w, const T* g) const {
  using Bk = typename Ctx::backend;
  T* col = this->template scratch<T, Id>(c);
  constexpr bool grad_w = Conv2dNode::template wants_grad<Id, 1, Ctx>();
  constexpr bool grad_x = Conv2dNode::template wants_grad<Id, 0, Ctx>();
  [[maybe_unused]] T* dx = nullptr;
  if constexpr (grad_x) dx = this->template grad_data<Id, 0>(c);
  detail::parallel_for(groups, 1, [&](std::size_t k0, std::size_t k1) {
    for (std::size_t k = k0; k < k1; ++k) {
      T* cols = col + k * group_elements;             // one image's cols (or cols^T), then its dcols
      [[maybe_unused]] T* gt = cols + rows * cols_n;  // dy_n^T [pixels][Op]
      [[maybe_unused]] T* dwt = gt + cols_n * Op;     // the group's dW^T [rows][Op]
      [[maybe_unused]] T* dwk = cols + rows * cols_n + Columns::row_slack;  // dw_from_rows: the group's dW [O][rows]
      if constexpr (grad_w && dw_from_rows) {
        Bk::zero(dwk, G::O * rows * sizeof(T));
      } else if constexpr (grad_w) {
        Bk::zero(dwt, rows * Op * sizeof(T));  // Op == O here: no padding columns
      }
      for (std::size_t n = first_image(k); n < first_image(k + 1); ++n) {
        const T* gn = g + n * G::O * cols_n;
        if constexpr (grad_w && dw_from_rows) {
          Columns::im2row(x + n * image, cols);
          GradW::run(gn, cols, dwk, nullptr);
        } else if constexpr (grad_w) {
          Columns::im2col(x + n * image, cols);
          blas::detail::transpose<O, P2>(gn, P2, gt, Op);
          GradWT::run(cols, gt, dwt, nullptr);
        }
        if constexpr (grad_x) {
          GradCols::run(w, gn, cols, nullptr);
          if constexpr (Conv2dNode::template assigns_grad<Id, 0, Ctx>()) std::fill_n(dx + n * image, image, T(0));
          Columns::col2im_add(cols, dx + n * image);
        }
      }
    }
  });
  if constexpr (grad_w && dw_from_rows) {
    add_group_sums<1>(col + rows * cols_n + Columns::row_slack, this->template grad_data<Id, 1>(c));
  } else if constexpr (grad_w) {
    T* dw = this->template grad_data<Id, 1>(c);
    const T* dwt = col + rows * cols_n + cols_n * Op;  // group 0's dW^T; group k's k group_elements on
    for (std::size_t o = 0; o < G::O; ++o)
      for (std::size_t r = 0; r < rows; ++r) {
        T sum = dwt[r * Op + o];
        for (std::size_t k = 1; k < groups; ++k) sum += dwt[k * group_elements + r * Op + o];
        dw[o * rows + r] += sum;
      }
  }
}

}  // namespace tg
