// Every element-wise functor is callable from device code: forward and each partial derivative inside a
// __global__ kernel. Compiled (not run) by nvcc in CTest; the Thrust backend reuses these functors.
#include "typegrad/typegrad.hpp"

namespace {
template <class Op, class T, std::size_t... K>
__device__ T forward_and_partials(const Op& op, const T* x, std::index_sequence<K...>) {
  const T y = op(x[K]...);
  return (y + ... + op.template d<K>(y, x[K]...));
}
template <class Op, class T>
__global__ void apply(Op op, const T* x, T* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = forward_and_partials(op, x + i * Op::arity, std::make_index_sequence<Op::arity>{});
}
template <class T, class... Ops>
void instantiate_all(Ops... ops) {
  (apply<<<1, 32>>>(ops, static_cast<const T*>(nullptr), static_cast<T*>(nullptr), 0), ...);
}
}  // namespace

int main() {
  namespace op = tg::op;
  auto all = [](auto t) {
    using T = decltype(t);
    instantiate_all<T>(op::add{}, op::sub{}, op::mul{}, op::div{}, op::neg{}, op::exp{}, op::log{}, op::sqrt{},
                       op::abs{}, op::tanh{}, op::sigmoid{}, op::relu{}, op::gelu{}, op::softplus{}, op::pow{},
                       op::minimum{}, op::maximum{}, op::where{}, op::greater{}, op::less{}, op::equal{},
                       op::leaky_relu<T>{T(0.1)}, op::clamp<T>{T(-1), T(1)});
  };
  all(0.0f);
  all(0.0);
}
