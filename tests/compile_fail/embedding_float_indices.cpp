// Mistake: looking up an embedding with float indices.
// expect: indices_must_be_integers<tg::op::gather, tg::shape<100, 16>, float
#include <typegrad/typegrad.hpp>
int main() {
  tg::Embedding<100, 16> emb;
#ifdef TG_CORRECTED
  auto p = tg::compile_inference<tg::Input<std::int32_t, 4, 8>>([&](auto i) { return emb(i); });
#else
  auto p = tg::compile_inference<tg::Input<float, 4, 8>>([&](auto i) { return emb(i); });
#endif
  (void)p;
}
