// Mistake: a block repeated with tg::Repeat maps 64 features to 32, so block t + 1 could not read block t's
// output. The error names Repeat and both shapes.
// expect: block_changes_shape<tg::op::repeat, tg::shape<8, 64>, tg::shape<8, 32>
// expect: a repeated block must return its input's shape
#include <typegrad/typegrad.hpp>

#ifdef TG_CORRECTED
using Block = tg::Linear<64, 64>;
#else
using Block = tg::Linear<64, 32>;
#endif

int main() {
  tg::Repeat<4, Block> blocks;
  auto p = tg::compile_inference<tg::Input<float, 8, 64>>([&](auto x) { return blocks(x); });
  (void)p;
}
