#pragma once
// BatchNorm over axis 1 (BatchNorm1d: [N, C]; BatchNorm2d: [N, C, H, W]), m = momentum:
//   training: xhat = (x - mean_B) / sqrt(var_B + eps),  y = gamma xhat + beta,
//             running_mean <- (1 - m) running_mean + m mean_B, running_var <- (1 - m) running_var + m var_B n/(n-1)
//   eval:     xhat = (x - running_mean) / sqrt(running_var + eps)
// VJP (training), n values per channel:  dx = invstd / n (n g gamma - sum(g gamma) - xhat sum(g gamma xhat)),
//   dgamma = sum(g xhat), dbeta = sum(g);   (eval) dx = g gamma invstd_running.
#include <array>
#include <cmath>
#include <cstdint>
#include <tuple>

#include "typegrad/core/init.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/module.hpp"

namespace tg {

template <std::size_t C, class T = float>
struct BatchNorm {
  BOOST_HANA_DEFINE_STRUCT(BatchNorm, (Parameter<T, C>, weight), (Parameter<T, C>, bias));
  Tensor<T, C> running_mean = Tensor<T, C>(T(0)), running_var = Tensor<T, C>(T(1));
  Tensor<std::int64_t> num_batches_tracked = Tensor<std::int64_t>(0);  // training-mode forward passes
  // saved and loaded with the parameters, under PyTorch's names (tg::for_each_buffer)
  static constexpr std::array<const char*, 3> buffer_names{"running_mean", "running_var", "num_batches_tracked"};
  auto buffers() { return std::tie(running_mean, running_var, num_batches_tracked); }
  auto buffers() const { return std::tie(running_mean, running_var, num_batches_tracked); }
  double eps = 1e-5, momentum = 0.1;
  bool training = true;
  template <class S>
  static constexpr bool accepts = (S::rank == 2 || S::rank == 4) && S::dims[1] == C;
  BatchNorm() {
    init::ones(weight);
    init::zeros(bias);
  }
  template <tensor_operand X>
  auto operator()(X&& x) const;
};
template <std::size_t C, class T = float>
using BatchNorm1d = BatchNorm<C, T>;
template <std::size_t C, class T = float>
using BatchNorm2d = BatchNorm<C, T>;

namespace op {
struct batch_norm {};
}  // namespace op

template <class X, class G, class B, std::size_t C>
struct BatchNormNode : kernel_node<typename X::value_type, typename X::shape_type, X, G, B> {
  using op_type = op::batch_norm;  // its name in tools (inspect.hpp)
  using T = typename X::value_type;
  using S = typename X::shape_type;
  static constexpr std::size_t images = S::dims[0], inner = S::size / (images * C), n = S::size / C;
  static constexpr bool mergeable = false;  // updates running statistics
  static constexpr bool runs_on_device = true;
  template <class... K2>
  using rebind = BatchNormNode<K2..., C>;
  // per channel: mean and 1/std (forward to backward), then sum(g) and sum(g xhat) (backward)
  static constexpr std::size_t scratch_bytes = 4 * C * sizeof(T);
  BatchNorm<C, T>* layer = nullptr;  // read on the host only: training flag, eps, momentum
  T* running_mean = nullptr;         // the layer's running statistics, or their device copies
  T* running_var = nullptr;
  template <class R>
  void copy_payload_to(R& r) const {
    r.layer = layer;
    r.running_mean = running_mean;
    r.running_var = running_var;
  }
  // Moves the running statistics to other memory: relocate(pointer, count) -> pointer (device programs).
  template <class F>
  void relocate_state(F&& relocate) {
    running_mean = relocate(running_mean, C);
    running_var = relocate(running_var, C);
  }

  // the r-th of channel ch's n values
  static TG_HD TG_INLINE std::size_t at(std::size_t ch, std::size_t r) {
    return (r / inner * C + ch) * inner + r % inner;
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    T* y = this->template out<Id>(c);
    T* mean = this->template scratch<T, Id>(c);
    T* invstd = mean + C;
    T* rm = running_mean;
    T* rv = running_var;
    const T eps = T(layer->eps), m = T(layer->momentum);
    if (layer->training) {
      ++layer->num_batches_tracked.data()[0];
      Bk::segmented_reduce(
          launch::reduction, C, n,
          TG_BODY(std::size_t ch, std::size_t r) { return this->template in<Id, 0>(c, at(ch, r)); }, detail::plus_op{},
          T(0), mean, T(n));
      Bk::segmented_reduce(
          launch::reduction, C, n,
          TG_BODY(std::size_t ch, std::size_t r) {
            const T d = this->template in<Id, 0>(c, at(ch, r)) - mean[ch];
            return d * d;
          },
          detail::plus_op{}, T(0), invstd, T(n));  // the biased variance, until the next pass
      Bk::for_each(
          launch::elementwise, C, TG_BODY_OF_VALUES(std::size_t ch) {
            const T var = invstd[ch];
            invstd[ch] = T(1) / std::sqrt(var + eps);
            rm[ch] = (1 - m) * rm[ch] + m * mean[ch];
            rv[ch] = (1 - m) * rv[ch] + m * var * T(n) / T(n > 1 ? n - 1 : 1);
          });
    } else {
      Bk::for_each(
          launch::elementwise, C, TG_BODY_OF_VALUES(std::size_t ch) {
            mean[ch] = rm[ch];
            invstd[ch] = T(1) / std::sqrt(rv[ch] + eps);
          });
    }
    // by (image, channel, position): on the host the innermost run is contiguous, with no index division
    Bk::template for_each_grid<images, C, inner, true>(
        launch::elementwise, TG_BODY(std::size_t i, std::size_t, std::size_t ch, std::size_t) {
          y[i] = this->template in<Id, 1>(c, ch) * (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch] +
                 this->template in<Id, 2>(c, ch);
        });
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* g = this->template out_grad<Id>(c);
    T* mean = this->template scratch<T, Id>(c);
    T* invstd = mean + C;
    T* sg = mean + 2 * C;
    T* sgx = mean + 3 * C;
    Bk::segmented_reduce(
        launch::reduction, C, n, TG_BODY_OF_VALUES(std::size_t ch, std::size_t r) { return g[at(ch, r)]; },
        detail::plus_op{}, T(0), sg);
    Bk::segmented_reduce(
        launch::reduction, C, n,
        TG_BODY(std::size_t ch, std::size_t r) {
          const std::size_t i = at(ch, r);
          return g[i] * (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch];
        },
        detail::plus_op{}, T(0), sgx);
    if constexpr (BatchNormNode::template wants_grad<Id, 1, Ctx>())
      Bk::for_each(
          launch::elementwise, C, TG_BODY(std::size_t ch) { this->template add_grad<Id, 1>(c, ch, sgx[ch]); });
    if constexpr (BatchNormNode::template wants_grad<Id, 2, Ctx>())
      Bk::for_each(
          launch::elementwise, C, TG_BODY(std::size_t ch) { this->template add_grad<Id, 2>(c, ch, sg[ch]); });
    if constexpr (BatchNormNode::template wants_grad<Id, 0, Ctx>()) {
      const bool train = layer->training;
      constexpr bool split = Ctx::materialised(BatchNormNode::template cid<Id, 0>);  // dx a buffer: disjoint writes
      Bk::template for_each_grid<images, C, inner, split>(
          launch::elementwise, TG_BODY(std::size_t i, std::size_t, std::size_t ch, std::size_t) {
            const T scale = this->template in<Id, 1>(c, ch) * invstd[ch];
            const T xhat = (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch];
            this->template add_grad<Id, 0>(
                c, i, train ? scale / T(n) * (T(n) * g[i] - sg[ch] - xhat * sgx[ch]) : scale * g[i]);
          });
    }
  }
};

template <std::size_t C, class T>
template <tensor_operand X>
auto BatchNorm<C, T>::operator()(X&& x) const {
  using E = expr_t<X>;
  BatchNormNode<E, expr_t<const Parameter<T, C>&>, expr_t<const Parameter<T, C>&>, C> node{
      {{}, {as_expr(std::forward<X>(x)), as_expr(weight), as_expr(bias)}}};
  auto* self = const_cast<BatchNorm*>(this);
  node.layer = self;
  node.running_mean = self->running_mean.data();
  node.running_var = self->running_var.data();
  return node;
}

}  // namespace tg
