// The two host kernels for convolutions with few taps (primitives/conv2d_direct.hpp), one image, interleaved:
// flat_conv (flat positions, the widest vectors; variant 0) against direct_conv (output rows in 32-byte vectors),
// forward and dW (flat_conv's dW leaves partial sums per vector lane, summed by the caller once per group of
// images). Compile with -mno-avx512f (or run on an AVX2 machine) to see AVX2's figures.
#include <typegrad/primitives/conv2d_direct.hpp>

#include <cstdio>
#include <vector>

#include "harness.hpp"

namespace {
template <std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t K>
void conv_case(const std::string& name, const tgbench::Options& options) {
  if (!options.wanted(name.c_str())) return;
  using Direct = tg::detail::direct_conv<float, C, H, W, O, K, K>;
  using Flat = tg::detail::flat_conv<float, C, H, W, O, K, K>;
  std::vector<float> x(C * H * W + Flat::overrun, 0.0f), w(O * C * K * K), y(O * Direct::Ho * Direct::Wo), dy(y.size()),
      dw(w.size() * Flat::dw_lanes), work(Flat::work_elements);
  tgbench::fill_random(x.data(), C * H * W, 1, 1.0f);
  tgbench::fill_random(w.data(), w.size(), 2, 1.0f);
  tgbench::fill_random(dy.data(), dy.size(), 3, 1.0f);
  std::printf("\n%s: %zu outputs a row, flat vectors of %zu floats (%s for this build)\n", name.c_str(), Direct::Wo,
              Flat::lanes, Flat::preferred ? "flat" : "rows");
  const double flop = 2.0 * O * C * K * K * Direct::Ho * Direct::Wo;
  const std::size_t calls = options.calls(200);
  tgbench::compare(name + " forward",
                   {{"typegrad", [&] { Flat::forward(x.data(), w.data(), y.data(), work.data()); }},
                    {"rows", [&] { Direct::forward(x.data(), w.data(), y.data()); }}},
                   options.rounds, calls, flop);
  tgbench::compare(name + " dW",
                   {{"typegrad", [&] { Flat::weight_grad(x.data(), dy.data(), dw.data(), work.data()); }},
                    {"rows", [&] { Direct::weight_grad(x.data(), dy.data(), dw.data()); }}},
                   options.rounds, calls, flop);
}
}  // namespace

int main(int argc, char** argv) {
  tgbench::Options options;
  if (auto code = tgbench::parse(options, argc, argv, "few-tap convolutions: flat positions vs output rows"))
    return *code;
  conv_case<1, 28, 28, 10, 5>("lenet_conv1", options);          // 24 outputs a row
  conv_case<1, 30, 30, 16, 3>("resnet20_stem", options);        // padded 28 x 28: 28 a row
  conv_case<3, 34, 34, 16, 3>("rgb_32x32_padding_1", options);  // 32 a row: whole vectors either way
}
