// Mistake: a key padding mask laid out [T, B] instead of PyTorch's [B, T].
// expect: attention_mask_shape_differs<tg::KeyPaddingMask<.*>, tg::shape<2, 4>, tg::shape<4, 2>, false>
// expect: a key padding mask .B, T.
#include <typegrad/typegrad.hpp>
int main() {
  tg::MultiHeadAttention<8, 2> attention;
#ifdef TG_CORRECTED
  tg::Tensor<float, 2, 4> padding(0.0f);
#else
  tg::Tensor<float, 4, 2> padding(0.0f);
#endif
  auto step = tg::compile<tg::Input<float, 2, 4, 8>>(
      [&](auto x) { return tg::sum(attention(x, tg::key_padding_mask(padding))); });
  (void)step;
}
