// Mistake: TYPEGRAD_WINOGRAD set to a tile typegrad does not have (it is the largest tile: 0, 2 or 4).
// expect: TYPEGRAD_WINOGRAD is the largest Winograd tile conv2d may use: 0 \(none\), 2 or 4
#ifdef TG_CORRECTED
#define TYPEGRAD_WINOGRAD 2
#else
#define TYPEGRAD_WINOGRAD 3
#endif
#include <typegrad/typegrad.hpp>
int main() {
  auto p = tg::compile_inference<tg::Input<float, 1, 2, 8, 8>, tg::Input<float, 2, 2, 3, 3>>(
      [](auto a, auto b) { return tg::conv2d<1, 1>(a, b); });
  (void)p;
}
