// Mistake: a user-written kernel that keeps run-time state in a std::shared_ptr member, used in a device program.
// A device loop carries a copy of the node (and of every node below it); on a GPU that copy is made in device
// code, where shared_ptr's copy constructor cannot run: nvcc compiled such loops to nothing, without an error.
// expect: every node of a device program must be trivially copyable
// expect: keep a node's run-time state behind a plain pointer
#include <memory>
#include <typegrad/device.hpp>
#include <typegrad/typegrad.hpp>

// y = s x, with the scale s in run-time state
template <class X>
struct Scale : tg::kernel_node<typename X::value_type, typename X::shape_type, X> {
  using T = typename X::value_type;
  template <class... K>
  using rebind = Scale<K...>;
  static constexpr bool runs_on_device = true;
#ifdef TG_CORRECTED
  const T* scale = nullptr;  // owned elsewhere
#else
  std::shared_ptr<T> scale;
#endif
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    const T s = 2;
    Ctx::backend::for_each(tg::launch::elementwise, X::shape_type::size,
                           TG_BODY((std::size_t i) { y[i] = s * this->template in<Id, 0>(c, i); }));
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* g = this->template out_grad<Id>(c);
    const T s = 2;
    Ctx::backend::for_each(tg::launch::elementwise, X::shape_type::size,
                           TG_BODY((std::size_t i) { this->template add_grad<Id, 0>(c, i, s * g[i]); }));
  }
};

int main() {
  tg::device::Parameters store;
  auto step = tg::device::compile<tg::Variable<float, 4, 5>>(store, [](auto x) {
    return tg::sum(Scale<tg::expr_t<decltype(x)>>{{{}, {tg::as_expr(x)}}});
  });
  (void)step;
}
