#pragma once
// BatchNorm over axis 1 (BatchNorm1d: [N, C]; BatchNorm2d: [N, C, H, W]), m = momentum:
//   training: xhat = (x - mean_B) / sqrt(var_B + eps),  y = gamma xhat + beta,
//             running_mean <- (1 - m) running_mean + m mean_B, running_var <- (1 - m) running_var + m var_B n/(n-1)
//   eval:     xhat = (x - running_mean) / sqrt(running_var + eps)
// VJP (training), n values per channel:  dx = invstd / n (n g gamma - sum(g gamma) - xhat sum(g gamma xhat)),
//   dgamma = sum(g xhat), dbeta = sum(g);   (eval) dx = g gamma invstd_running.
#include <cmath>

#include "typegrad/core/init.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/module.hpp"

namespace tg {

template <std::size_t C, class T = float>
struct BatchNorm {
  BOOST_HANA_DEFINE_STRUCT(BatchNorm, (Parameter<T, C>, weight), (Parameter<T, C>, bias));
  Tensor<T, C> running_mean = Tensor<T, C>(T(0)), running_var = Tensor<T, C>(T(1));
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

template <class X, class G, class B, std::size_t C>
struct BatchNormNode : kernel_node<typename X::value_type, typename X::shape_type, X, G, B> {
  using T = typename X::value_type;
  using S = typename X::shape_type;
  static constexpr std::size_t inner = S::size / (S::dims[0] * C), n = S::size / C;
  static constexpr bool mergeable = false;  // updates running statistics
  template <class... K2>
  using rebind = BatchNormNode<K2..., C>;
  static constexpr std::size_t scratch_bytes = 2 * C * sizeof(T);  // per-channel mean and 1/std for backward
  BatchNorm<C, T>* layer = nullptr;
  template <class R>
  void copy_payload_to(R& r) const {
    r.layer = layer;
  }

  static std::size_t at(std::size_t b, std::size_t ch, std::size_t k) { return (b * C + ch) * inner + k; }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    T* mean = this->template scratch<T, Id>(c);
    T* invstd = mean + C;
    for (std::size_t ch = 0; ch < C; ++ch) {
      if (layer->training) {
        T s = 0, ss = 0;
        for (std::size_t b = 0; b < S::dims[0]; ++b)
          for (std::size_t k = 0; k < inner; ++k) s += this->template in<Id, 0>(c, at(b, ch, k));
        const T mu = s / T(n);
        for (std::size_t b = 0; b < S::dims[0]; ++b)
          for (std::size_t k = 0; k < inner; ++k) {
            const T d = this->template in<Id, 0>(c, at(b, ch, k)) - mu;
            ss += d * d;
          }
        const T var = ss / T(n);
        mean[ch] = mu;
        invstd[ch] = T(1) / std::sqrt(var + T(layer->eps));
        const T m = T(layer->momentum);
        layer->running_mean[ch] = (1 - m) * layer->running_mean[ch] + m * mu;
        layer->running_var[ch] = (1 - m) * layer->running_var[ch] + m * var * T(n) / T(n > 1 ? n - 1 : 1);
      } else {
        mean[ch] = layer->running_mean[ch];
        invstd[ch] = T(1) / std::sqrt(layer->running_var[ch] + T(layer->eps));
      }
      const T gamma = this->template in<Id, 1>(c, ch), beta = this->template in<Id, 2>(c, ch);
      for (std::size_t b = 0; b < S::dims[0]; ++b)
        for (std::size_t k = 0; k < inner; ++k) {
          const std::size_t i = at(b, ch, k);
          y[i] = gamma * (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch] + beta;
        }
    }
  }

  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* g = this->template out_grad<Id>(c);
    const T* mean = this->template scratch<T, Id>(c);
    const T* invstd = mean + C;
    for (std::size_t ch = 0; ch < C; ++ch) {
      T sg = 0, sgx = 0;
      for (std::size_t b = 0; b < S::dims[0]; ++b)
        for (std::size_t k = 0; k < inner; ++k) {
          const std::size_t i = at(b, ch, k);
          sg += g[i];
          sgx += g[i] * (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch];
        }
      if constexpr (BatchNormNode::template wants_grad<Id, 1, Ctx>()) this->template add_grad<Id, 1>(c, ch, sgx);
      if constexpr (BatchNormNode::template wants_grad<Id, 2, Ctx>()) this->template add_grad<Id, 2>(c, ch, sg);
      if constexpr (BatchNormNode::template wants_grad<Id, 0, Ctx>()) {
        const T gamma = this->template in<Id, 1>(c, ch);
        const bool train = layer->training;
        for (std::size_t b = 0; b < S::dims[0]; ++b)
          for (std::size_t k = 0; k < inner; ++k) {
            const std::size_t i = at(b, ch, k);
            const T xhat = (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch];
            const T dx =
                train ? gamma * invstd[ch] / T(n) * (T(n) * g[i] - sg - xhat * sgx) : gamma * invstd[ch] * g[i];
            this->template add_grad<Id, 0>(c, i, dx);
          }
      }
    }
  }
};

template <std::size_t C, class T>
template <tensor_operand X>
auto BatchNorm<C, T>::operator()(X&& x) const {
  using E = expr_t<X>;
  BatchNormNode<E, expr_t<const Parameter<T, C>&>, expr_t<const Parameter<T, C>&>, C> node{
      {{}, {as_expr(std::forward<X>(x)), as_expr(weight), as_expr(bias)}}};
  node.layer = const_cast<BatchNorm*>(this);
  return node;
}

}  // namespace tg
