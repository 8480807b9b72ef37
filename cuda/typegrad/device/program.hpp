#pragma once
// Compiling for the device: the same traced expression type as tg::compile, run by the Thrust backend.
//
//   tg::device::Parameters params;                         // device copies of the model's parameters
//   auto step = tg::device::compile<tg::Input<float, 64, 784>, tg::Labels<64, 10>>(params, loss_fn);
//   auto x = tg::device::to_device(host_batch);            // explicit copies in, ...
//   float loss = step(x, y);                               // forward + backward on the device
//   params.download();                                     // ... and out (into the host tg::Parameters)
//
// Programs compiled with one Parameters share the device copies (a training step and an evaluation
// program see the same weights).
#include <map>
#include <memory>

#include "typegrad/api/compile.hpp"
#include "typegrad/core/transform.hpp"
#include "typegrad/device/tensor.hpp"

namespace tg::device {

// Device copies of the parameters, constant tensors and layer state (running statistics) that programs use,
// keyed by their host address.
class Parameters {
 public:
  Parameters() = default;
  Parameters(const Parameters&) = delete;
  Parameters& operator=(const Parameters&) = delete;

  // The device copy of host memory [host, host + n): made (and uploaded) on first use.
  template <class T>
  T* device_copy(const T* host, std::size_t n, bool constant) {
    auto [it, fresh] = entries_.try_emplace(static_cast<const void*>(host));
    if (fresh) {
      it->second = entry{buffer(n * sizeof(T)), const_cast<T*>(host), n * sizeof(T), constant};
      thrust_backend::upload(it->second.mem.get(), host, n * sizeof(T));
    } else if (it->second.bytes != n * sizeof(T)) {
      throw std::logic_error("typegrad: one host address used as tensors of two sizes");
    }
    return reinterpret_cast<T*>(it->second.mem.get());
  }
  // host values -> device (after changing parameters on the host, e.g. loading weights)
  void upload() {
    for (auto& [h, e] : entries_) thrust_backend::upload(e.mem.get(), e.host, e.bytes);
  }
  void upload(const void* host) {
    const entry& e = at(host);
    thrust_backend::upload(e.mem.get(), e.host, e.bytes);
  }
  // device values -> host tg::Parameters (after training; constants are never written back)
  void download() {
    for (auto& [h, e] : entries_)
      if (!e.constant) thrust_backend::download(e.host, e.mem.get(), e.bytes);
  }
  // The device copy of a parameter that a program uses.
  template <class T, std::size_t... D>
  View<const T, shape<D...>> operator[](const Parameter<T, D...>& p) const {
    return View<const T, shape<D...>>(reinterpret_cast<const T*>(at(p.data()).mem.get()));
  }
  const void* device_address(const void* host) const { return at(host).mem.get(); }
  void* host_address(const void* device) const {
    for (auto& [h, e] : entries_)
      if (e.mem.get() == device) return e.host;
    throw std::invalid_argument("typegrad: not a device copy held by these Parameters");
  }
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    buffer mem;
    void* host = nullptr;
    std::size_t bytes = 0;
    bool constant = false;
  };
  const entry& at(const void* host) const {
    auto it = entries_.find(host);
    if (it == entries_.end())
      throw std::invalid_argument("typegrad: this tensor is not used by a program compiled with these Parameters");
    return it->second;
  }
  std::map<const void*, entry> entries_;
};

namespace detail {
template <class N>
inline constexpr bool is_const_leaf_v = false;
template <class T, class S>
inline constexpr bool is_const_leaf_v<ConstLeaf<T, S>> = true;

// The expression with every parameter and constant tensor pointing at its device copy.
template <class N>
N on_device(const N& n, Parameters& store) {
  if constexpr (is_param_leaf_v<N> || is_const_leaf_v<N>) {
    N r = n;
    r.data = store.device_copy(n.data, N::shape_type::size, is_const_leaf_v<N>);
    return r;
  } else if constexpr (is_stacked_param_leaf_v<N>) {  // one parameter per repeated block
    N r = n;
    for (std::size_t t = 0; t < N::stack; ++t)
      r.blocks[t] = store.device_copy(n.blocks[t], N::block_shape::size, false);
    return r;
  } else if constexpr (child_count_v<N> == 0) {
    return n;
  } else {
    auto r = tg::detail::rebuild(n, [&](const auto& k) { return on_device(k, store); });
    if constexpr (requires { r.relocate_state([](auto* p, std::size_t) { return p; }); })  // e.g. running statistics
      r.relocate_state([&](auto* host, std::size_t count) { return store.device_copy(host, count, false); });
    return r;
  }
}
}  // namespace detail

// A compiled program on the device. Training programs return the loss (one scalar copied back);
// inference programs return a device::View of the output, valid until the next call.
template <class Root, bool Train, class... Specs>
class Program {
 public:
  using inner_type = BasicProgram<Root, Train, thrust_backend, Specs...>;
  using backend = thrust_backend;
  using root_type = Root;
  using value_type = typename inner_type::value_type;
  using output_shape = typename inner_type::output_shape;
  static constexpr std::size_t node_count = inner_type::node_count;
  static constexpr const auto& plan = inner_type::plan;
  static constexpr bool trains = Train;
  static constexpr std::size_t kernel_count = inner_type::kernel_count;
  static constexpr std::size_t workspace_bytes = inner_type::workspace_bytes;

  Program(Parameters& store, Root host_root) : store_(&store), inner_(detail::on_device(host_root, store)) {}

  template <class... Args>
  auto operator()(const Args&... args) {
    if constexpr (Train)
      return inner_(args...);
    else
      return output_view(inner_(args...));
  }
  template <class... Args>
  auto evaluate(const Args&... args) {
    if constexpr (output_shape::rank == 0)
      return inner_.evaluate(args...);
    else
      return output_view(inner_.evaluate(args...));
  }
  View<const value_type, output_shape> output() const { return output_view(inner_.output()); }

  // Gradient of the loss w.r.t. a host parameter's device copy (tied uses summed), in device memory.
  template <class T, std::size_t... D>
  View<const T, shape<D...>> grad(const Parameter<T, D...>& p) const {
    const void* g = inner_.gradient_of(store_->device_address(p.data()));
    if (!g) throw std::invalid_argument("typegrad: grad(): this parameter is not a trainable leaf of the program");
    return View<const T, shape<D...>>(static_cast<const T*>(g));
  }
  template <std::size_t I>
  auto grad_input() const {
    auto v = inner_.template grad_input<I>();
    using V = decltype(v);
    return View<typename V::value_type, typename V::shape_type>(v.data());
  }
  template <class F>
  void for_each_gradient(F&& f) const {
    inner_.for_each_gradient(std::forward<F>(f));
  }
  template <class F>
  void for_each_trainable(F&& f) const {
    inner_.for_each_trainable(std::forward<F>(f));
  }
  Parameters& parameters() const { return *store_; }
  const inner_type& inner() const { return inner_; }
  // every trainable leaf's gradient in one block of device memory (reduced whole by tg::dist over NCCL)
  void* gradient_block() { return inner_.gradient_block(); }
  static constexpr std::size_t gradient_block_bytes = inner_type::gradient_block_bytes;

 private:
  template <class V>
  static auto output_view(const V& v) {
    return View<const value_type, output_shape>(v.data());
  }
  Parameters* store_;
  inner_type inner_;
};

// tg::compile / tg::compile_inference for the device: parameters and constants get device copies in `store`.
template <class... Specs, class F>
auto compile(Parameters& store, F&& f) {
  using H = decltype(tg::compile<Specs...>(f));  // tg::compile's checks, with its messages
  if constexpr (std::is_same_v<H, invalid_expression>)
    return invalid_expression{};
  else
    return Program<typename H::root_type, true, Specs...>(store, tg::detail::trace<Specs...>(f));
}
template <class... Specs, class F>
auto compile_inference(Parameters& store, F&& f) {
  using E = decltype(tg::detail::trace<Specs...>(f));
  return Program<E, false, Specs...>(store, tg::detail::trace<Specs...>(f));
}

}  // namespace tg::device
