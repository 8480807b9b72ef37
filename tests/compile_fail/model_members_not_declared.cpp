// Mistake: a model written as a plain struct (it trains, but its members are invisible to the walkers):
// saving it would write a file with no tensors.
// expect: model_members_not_declared<Mlp, false>
// expect: declare them with BOOST_HANA_DEFINE_STRUCT.Model, .tg::Linear<784, 256>, fc1.
#include <typegrad/io/safetensors.hpp>
#include <typegrad/typegrad.hpp>
struct Mlp {
#ifdef TG_CORRECTED
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<4, 8>, fc1), (tg::Linear<8, 2>, fc2));
#else
  tg::Linear<4, 8> fc1;
  tg::Linear<8, 2> fc2;
#endif
};
int main() {
  Mlp model;
  tg::io::save("/tmp/never-written.safetensors", model);
}
