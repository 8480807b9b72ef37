// Mistake: the first stage passes on 32 features where the second stage's Activation declares 16, so the
// activations sent from rank 0 could not be what rank 1 reads. The error names the boundary and both shapes.
// expect: stage_boundary_shapes_differ<tg::op::pipeline_stage, tg::shape<8, 32>, tg::shape<8, 16>
// expect: a stage's output must have the shape of the next stage's tg::dist::Activation
#include <typegrad/dist/pipeline.hpp>
#include <typegrad/typegrad.hpp>

#ifdef TG_CORRECTED
using First = tg::Linear<64, 16>;
#else
using First = tg::Linear<64, 32>;
#endif

int main(int argc, char** argv) {
  tg::dist::World world(&argc, &argv);
  First fc1;
  tg::Linear<16, 10> fc2;
  auto first = tg::dist::stage<tg::Input<float, 8, 64>>([&](auto x) { return tg::relu(fc1(x)); });
  auto last = tg::dist::stage<tg::dist::Activation<float, 8, 16>, tg::Labels<8, 10>>(
      [&](auto h, auto y) { return tg::cross_entropy(fc2(h), y); });
  auto pipe = tg::dist::pipeline<4>(world, first, last);
  (void)pipe;
}
