// Mistake: gates for a hidden size of 32 (4 x 32 = 128 columns) with a cell state of hidden size 64.
// expect: lstm_cell_shapes_differ<tg::op::lstm_cell, tg::shape<8, 128>, tg::shape<8, 64>
// expect: lstm_cell needs gates
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using Gates = tg::Input<float, 8, 256>;
#else
  using Gates = tg::Input<float, 8, 128>;
#endif
  auto p = tg::compile_inference<Gates, tg::Input<float, 8, 64>>([](auto g, auto c) { return tg::lstm_cell(g, c); });
  (void)p;
}
