#pragma once
// BatchNorm over axis 1 (BatchNorm1d: [N, C]; BatchNorm2d: [N, C, H, W]), m = momentum:
//   training: xhat = (x - mean_B) / sqrt(var_B + eps),  y = gamma xhat + beta,
//             running_mean <- (1 - m) running_mean + m mean_B, running_var <- (1 - m) running_var + m var_B n/(n-1)
//   eval:     xhat = (x - running_mean) / sqrt(running_var + eps)
// VJP (training), n values per channel:  dx = invstd / n (n g gamma - sum(g gamma) - xhat sum(g gamma xhat)),
//   dgamma = sum(g xhat), dbeta = sum(g);   (eval) dx = g gamma invstd_running.
// Fused: bn(x) + r (r of the output's shape; tg::add makes it) and relu of either (tg::relu) are one kernel:
//   y = act(gamma xhat + beta [+ r]),  act = max(., 0) or none;  g' = g [y > 0] (relu) or g,  dr = g'
// and the VJP above reads g' where it reads g. The values between are never stored: a ResNet's relu(bn1(conv1(h)))
// and relu(bn2(conv2(.)) + shortcut(h)) save their intermediate activations' writes and reads, forward and backward.
#include <array>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>

#include "typegrad/core/init.hpp"
#include "typegrad/core/kernel.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/layers/batch_norm_channels.hpp"

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
struct batch_norm_relu {};      // relu(batch_norm(x)) in one kernel
struct batch_norm_add {};       // batch_norm(x) + r
struct batch_norm_add_relu {};  // relu(batch_norm(x) + r)
}  // namespace op

template <class X, class G, class B, std::size_t C, bool Relu = false, class... Res>
struct BatchNormNode;
namespace detail {
template <std::size_t C, bool Relu, class X, class G, class B, class... Res>
struct batch_norm_rebind {
  using type = BatchNormNode<X, G, B, C, Relu, Res...>;
};
}  // namespace detail

// Relu: relu applied to the output; Res: the residual r added before it (none, or an operand of the output's shape)
template <class X, class G, class B, std::size_t C, bool Relu, class... Res>
struct BatchNormNode : kernel_node<typename X::value_type, typename X::shape_type, X, G, B, Res...> {
  static constexpr bool residual = sizeof...(Res) == 1;
  using op_type = std::conditional_t<residual, std::conditional_t<Relu, op::batch_norm_add_relu, op::batch_norm_add>,
                                     std::conditional_t<Relu, op::batch_norm_relu, op::batch_norm>>;  // inspect.hpp
  using T = typename X::value_type;
  using S = typename X::shape_type;
  static constexpr std::size_t images = S::dims[0], inner = S::size / (images * C), n = S::size / C;
  static constexpr bool mergeable = false;  // updates running statistics
  static constexpr bool runs_on_device = true;
  static constexpr std::uint32_t assigns_child_adjoints = residual ? 1u | 8u : 1u;  // dx, dr: one write per element
  // dx written over dy: each element after it is read, the sums of a channel's dy before its dx
  static constexpr std::uint32_t in_place_child_adjoints = 1u;
  template <class... K2>
  using rebind = typename detail::batch_norm_rebind<C, Relu, K2...>::type;
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
  // relu(this): the same node computing max(y, 0) (tg::relu calls it)
  auto with_relu() const requires(!Relu) {
    BatchNormNode<X, G, B, C, true, Res...> node;
    node.kids = this->kids;
    copy_payload_to(node);
    return node;
  }
  // this + r for an expression r of the output's shape and type (tg::add calls it)
  template <class E>
  auto with_residual(E&& r) const requires(!Relu && !residual && std::is_same_v<typename expr_t<E>::shape_type, S> &&
                                           std::is_same_v<typename expr_t<E>::value_type, T>) {
    BatchNormNode<X, G, B, C, false, expr_t<E>> node{
        {{}, {child<0>(this->kids), child<1>(this->kids), child<2>(this->kids), as_expr(std::forward<E>(r))}}};
    copy_payload_to(node);
    return node;
  }
  // Moves the running statistics to other memory: relocate(pointer, count) -> pointer (device programs).
  template <class F>
  void relocate_state(F&& relocate) {
    running_mean = relocate(running_mean, C);
    running_var = relocate(running_var, C);
  }

  // the host's passes by channel where a channel's values come in runs of at least `lanes` (below)
  using channels = detail::batch_norm_channels<T, images, C, inner>;
  static constexpr bool by_channel = inner >= channels::lanes;
  // every child a buffer: the host's passes read raw memory (shared by the nodes of one shape), and x, read by
  // three passes forward and two backward, is computed once where it is an element-wise region
  static constexpr bool needs_child_buffers = true;
  using dx_terms = typename channels::dx_terms;
  static TG_HD TG_INLINE dx_terms dx_coefficients(T gamma, T invstd, T sg, T sgx, bool train) {
    return channels::dx_coefficients(gamma, invstd, sg, sgx, train);
  }
  static TG_HD TG_INLINE void update_running(T& rm, T& rv, T mean, T var, T m) {
    channels::update_running(rm, rv, mean, var, m);
  }
  // the r-th of channel ch's n values
  static TG_HD TG_INLINE std::size_t at(std::size_t ch, std::size_t r) {
    return (r / inner * C + ch) * inner + r % inner;
  }

  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    if (layer->training) ++layer->num_batches_tracked.data()[0];
    if constexpr (!Ctx::backend::is_device && by_channel)
      forward_by_channel<Id>(c);
    else
      forward_by_reductions<Id>(c);
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    if constexpr (!Ctx::backend::is_device && by_channel)
      backward_by_channel<Id>(c);
    else
      backward_by_reductions<Id>(c);
  }

  // Host, runs of >= lanes values: one channel at a time, its sums and then its outputs
  template <std::size_t Id, class Ctx>
  void forward_by_channel(Ctx& c) const;
  template <std::size_t Id, class Ctx>
  void backward_by_channel(Ctx& c) const;

  // Devices (and short runs): segmented reductions over the channels, then one pass over the elements
  template <std::size_t Id, class Ctx>
  void forward_by_reductions(Ctx& c) const {
    using Bk = typename Ctx::backend;
    T* y = this->template out<Id>(c);
    T* mean = this->template scratch<T, Id>(c);
    T* invstd = mean + C;
    T* rm = running_mean;
    T* rv = running_var;
    const T eps = T(layer->eps), m = T(layer->momentum);
    if (layer->training) {
      Bk::segmented_reduce(launch::reduction, C, n,
                           TG_BODY((std::size_t ch, std::size_t r) { return this->template in<Id, 0>(c, at(ch, r)); }),
                           detail::plus_op{}, T(0), mean, T(n));
      const auto squared_deviation = TG_BODY((std::size_t ch, std::size_t r) {
        const T d = this->template in<Id, 0>(c, at(ch, r)) - mean[ch];
        return d * d;
      });
      // the biased variance, in invstd until the next pass
      Bk::segmented_reduce(launch::reduction, C, n, squared_deviation, detail::plus_op{}, T(0), invstd, T(n));
      const auto invert_variance = TG_BODY_OF_VALUES((std::size_t ch) {
        const T var = invstd[ch];
        invstd[ch] = T(1) / std::sqrt(var + eps);
        update_running(rm[ch], rv[ch], mean[ch], var, m);
      });
      Bk::for_each(launch::elementwise, C, invert_variance);
    } else {
      const auto running_statistics = TG_BODY_OF_VALUES((std::size_t ch) {
        mean[ch] = rm[ch];
        invstd[ch] = T(1) / std::sqrt(rv[ch] + eps);
      });
      Bk::for_each(launch::elementwise, C, running_statistics);
    }
    // by (image, channel, position): on the host the innermost run is contiguous, with no index division
    const auto normalise = TG_BODY((std::size_t i, std::size_t, std::size_t ch, std::size_t) {
      T v = this->template in<Id, 1>(c, ch) * (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch] +
            this->template in<Id, 2>(c, ch);
      if constexpr (residual) v += this->template in<Id, 3>(c, i);
      y[i] = channels::template activate<Relu>(v);
    });
    Bk::template for_each_grid<images, C, inner, true>(launch::elementwise, normalise);
  }

  // the adjoint of the normalised value (through the fused relu). A class, not a lambda: nvcc's device lambdas
  // may not capture a lambda
  struct adjoint_of_normalised {
    const T* dy;
    const T* y;
    TG_HD TG_INLINE T operator()(std::size_t i) const {
      return channels::template through_activation<Relu>(dy[i], y[i]);
    }
  };

  template <std::size_t Id, class Ctx>
  void backward_by_reductions(Ctx& c) const {
    using Bk = typename Ctx::backend;
    const T* dy = this->template out_grad<Id>(c);
    const T* y = this->template out<Id>(c);
    T* mean = this->template scratch<T, Id>(c);
    T* invstd = mean + C;
    T* sg = mean + 2 * C;
    T* sgx = mean + 3 * C;
    const adjoint_of_normalised g{dy, y};
    Bk::segmented_reduce(launch::reduction, C, n,
                         TG_BODY_OF_VALUES((std::size_t ch, std::size_t r) { return g(at(ch, r)); }), detail::plus_op{},
                         T(0), sg);
    const auto g_times_xhat = TG_BODY((std::size_t ch, std::size_t r) {
      const std::size_t i = at(ch, r);
      return g(i) * (this->template in<Id, 0>(c, i) - mean[ch]) * invstd[ch];
    });
    Bk::segmented_reduce(launch::reduction, C, n, g_times_xhat, detail::plus_op{}, T(0), sgx);
    if constexpr (BatchNormNode::template wants_grad<Id, 1, Ctx>())
      Bk::for_each(launch::elementwise, C,
                   TG_BODY((std::size_t ch) { this->template add_grad<Id, 1>(c, ch, sgx[ch]); }));
    if constexpr (BatchNormNode::template wants_grad<Id, 2, Ctx>())
      Bk::for_each(launch::elementwise, C,
                   TG_BODY((std::size_t ch) { this->template add_grad<Id, 2>(c, ch, sg[ch]); }));
    // dr = g before dx, which may be written over dy (in_place_child_adjoints)
    if constexpr (residual && BatchNormNode::template wants_grad<Id, 3, Ctx>()) {
      constexpr bool split = Ctx::materialised(BatchNormNode::template cid<Id, 3>);
      const auto dresidual = TG_BODY(
          (std::size_t i, std::size_t, std::size_t, std::size_t) { this->template add_grad<Id, 3>(c, i, g(i)); });
      Bk::template for_each_grid<images, C, inner, split>(launch::elementwise, dresidual);
    }
    if constexpr (BatchNormNode::template wants_grad<Id, 0, Ctx>()) {
      const bool train = layer->training;
      constexpr bool split = Ctx::materialised(BatchNormNode::template cid<Id, 0>);  // dx a buffer: disjoint writes
      const auto dx = TG_BODY((std::size_t i, std::size_t, std::size_t ch, std::size_t) {
        const dx_terms k = dx_coefficients(this->template in<Id, 1>(c, ch), invstd[ch], sg[ch], sgx[ch], train);
        this->template add_grad<Id, 0>(c, i, k.a * g(i) + k.b * (this->template in<Id, 0>(c, i) - mean[ch]) + k.d);
      });
      Bk::template for_each_grid<images, C, inner, split>(launch::elementwise, dx);
    }
  }
};

template <class X, class G, class B, std::size_t C, bool Relu, class... Res>
template <std::size_t Id, class Ctx>
void BatchNormNode<X, G, B, C, Relu, Res...>::forward_by_channel(Ctx& c) const {
  T* mean = this->template scratch<T, Id>(c);
  const T* r = nullptr;
  if constexpr (residual) r = this->template in_data<Id, 3>(c);
  channels::template forward<Relu, residual>(this->template in_data<Id, 0>(c), r, this->template in_data<Id, 1>(c),
                                             this->template in_data<Id, 2>(c), this->template out<Id>(c), mean,
                                             mean + C, running_mean, running_var, T(layer->eps), T(layer->momentum),
                                             layer->training);
}

template <class X, class G, class B, std::size_t C, bool Relu, class... Res>
template <std::size_t Id, class Ctx>
void BatchNormNode<X, G, B, C, Relu, Res...>::backward_by_channel(Ctx& c) const {
  const T* mean = this->template scratch<T, Id>(c);
  T* sg = this->template scratch<T, Id>(c) + 2 * C;
  T* sgx = sg + C;
  T* dx = nullptr;
  if constexpr (BatchNormNode::template wants_grad<Id, 0, Ctx>()) dx = this->template grad_data<Id, 0>(c);
  T* dr = nullptr;
  bool assign_dr = false;
  if constexpr (residual && BatchNormNode::template wants_grad<Id, 3, Ctx>()) {
    dr = this->template grad_data<Id, 3>(c);
    assign_dr = BatchNormNode::template assigns_grad<Id, 3, Ctx>();
  }
  channels::template backward<Relu, residual>(
      this->template in_data<Id, 0>(c), this->template out_grad<Id>(c), this->template out<Id>(c),
      this->template in_data<Id, 1>(c), this->template in_data<Id, 2>(c), mean, mean + C, sg, sgx, dx,
      BatchNormNode::template assigns_grad<Id, 0, Ctx>(), dr, assign_dr, layer->training);
  for (std::size_t ch = 0; ch < C; ++ch) {
    if constexpr (BatchNormNode::template wants_grad<Id, 1, Ctx>()) this->template add_grad<Id, 1>(c, ch, sgx[ch]);
    if constexpr (BatchNormNode::template wants_grad<Id, 2, Ctx>()) this->template add_grad<Id, 2>(c, ch, sg[ch]);
  }
}

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
