// Mistake: the state's gates gh = h W_hh^T for a GRU of hidden size 32 (3 x 32 = 96 columns) beside input gates
// and a state of hidden size 64.
// expect: gru_cell_shapes_differ<tg::op::gru_cell, tg::shape<8, 192>, tg::shape<8, 96>, tg::shape<8, 64>
// expect: gru_cell needs gates from the input and from the state
#include <typegrad/typegrad.hpp>
int main() {
#ifdef TG_CORRECTED
  using StateGates = tg::Input<float, 8, 192>;
#else
  using StateGates = tg::Input<float, 8, 96>;
#endif
  auto p = tg::compile_inference<tg::Input<float, 8, 192>, StateGates, tg::Input<float, 8, 64>>(
      [](auto gx, auto gh, auto h) { return tg::gru_cell(gx, gh, h); });
  (void)p;
}
