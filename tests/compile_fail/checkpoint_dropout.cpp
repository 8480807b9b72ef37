// Mistake: activation checkpointing over blocks that hold dropout. The backward pass recomputes each block's
// forward, which would draw other dropout masks: the gradients would not be the step's. One error says so.
// expect: tg::checkpoint: a block draws random numbers \(dropout\)
#include <typegrad/typegrad.hpp>

struct Block {
  BOOST_HANA_DEFINE_STRUCT(Block, (tg::Linear<16, 16>, fc), (tg::Dropout, drop));
  template <class X>
  auto operator()(X&& x) const {
#ifdef TG_CORRECTED
    return tg::relu(fc(std::forward<X>(x)));
#else
    return drop(tg::relu(fc(std::forward<X>(x))));
#endif
  }
};

int main() {
  tg::Repeat<4, Block> blocks;
  auto step = tg::compile<tg::Input<float, 8, 16>>([&](auto x) { return tg::sum(tg::checkpoint(blocks)(x)); });
  (void)step;
}
