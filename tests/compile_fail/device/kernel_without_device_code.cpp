// Mistake: a user-written kernel that has no device implementation, used in a device program.
// expect: no_device_implementation<Cube<tg::InputLeaf<0, float, tg::shape<4, 5>, false> >, false>
// expect: this kernel has no device implementation yet
#include <typegrad/device.hpp>
#include <typegrad/typegrad.hpp>

// y = x^3, dy/dx = 3 x^2, written over the backend's loops
template <class X>
struct Cube : tg::kernel_node<typename X::value_type, typename X::shape_type, X> {
  using T = typename X::value_type;
  template <class... K>
  using rebind = Cube<K...>;
#ifdef TG_CORRECTED
  static constexpr bool runs_on_device = true;  // the author declares that its loops are device code
#endif
  template <std::size_t Id, class Ctx>
  void forward(Ctx& c) const {
    T* y = this->template out<Id>(c);
    Ctx::backend::for_each(tg::launch::elementwise, X::shape_type::size, TG_BODY((std::size_t i) {
                             const T v = this->template in<Id, 0>(c, i);
                             y[i] = v * v * v;
                           }));
  }
  template <std::size_t Id, class Ctx>
  void backward(Ctx& c) const {
    const T* g = this->template out_grad<Id>(c);
    Ctx::backend::for_each(tg::launch::elementwise, X::shape_type::size, TG_BODY((std::size_t i) {
                             const T v = this->template in<Id, 0>(c, i);
                             this->template add_grad<Id, 0>(c, i, 3 * v * v * g[i]);
                           }));
  }
};

int main() {
  tg::device::Parameters store;
  auto step = tg::device::compile<tg::Input<float, 4, 5>>(store, [](auto x) {
    return tg::sum(Cube<tg::expr_t<decltype(x)>>{{{}, {tg::as_expr(x)}}});
  });
  (void)step;
}
