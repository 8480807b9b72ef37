// LoRA adapters (layers/lora.hpp): gradients of the adapters and of the input against finite differences, the base
// frozen at compile time (no gradient), a fresh adapter leaves the pretrained function unchanged, merged() computes
// the same as the adapted layer, PEFT's names, and the adapters saved on their own.
#include "support.hpp"
#include "typegrad/io/safetensors.hpp"

using namespace tgtest;

namespace {
template <class P>
void randomize(P& p, double scale = 0.5) {
  std::uniform_real_distribution<double> u(-scale, scale);
  for (std::size_t i = 0; i < p.size(); ++i) p.data()[i] = typename P::value_type(u(rng()));
}
}  // namespace

TEST_CASE("LoraLinear: adapter and input gradients match finite differences; the base gets none", "[gradcheck]") {
  tg::LoraLinear<5, 4, 2, double> layer(std::uint64_t(rng()() % 1000));
  randomize(layer.lora_B.weight);  // B = 0 would hide A's gradient
  layer.scaling = 1.5;
  check_layer(layer, random<double, 3, 5>(-1, 1));
  auto step = tg::compile<tg::Input<double, 3, 5>>([&](auto x) { return tg::sum(tg::tanh(layer(x))); });
  step(random<double, 3, 5>(-1, 1));
  CHECK_FALSE(step.has_grad(layer.weight));
  CHECK_FALSE(step.has_grad(layer.bias));
  CHECK(step.has_grad(layer.lora_A.weight));
  CHECK(step.has_grad(layer.lora_B.weight));
}

TEST_CASE("LoraLinear: a fresh adapter is the base Linear; merged() is the adapted layer", "[gradcheck]") {
  tg::LoraLinear<6, 3, 2, double> lora(7);
  tg::Linear<6, 3, double> base;
  base.weight = lora.weight;
  base.bias = lora.bias;
  const auto x = random<double, 4, 6>(-1, 1);
  auto run = [&](const auto& layer) {
    auto p = tg::compile_inference<tg::Input<double, 4, 6>>([&](auto v) { return layer(v); });
    const auto y = p(x);
    return std::vector<double>(y.data(), y.data() + y.size());
  };
  for (const double v : lora.lora_B.weight.value) CHECK(v == 0.0);  // B starts at zero
  const auto before = run(lora), plain = run(base);
  for (std::size_t i = 0; i < plain.size(); ++i) CHECK(before[i] == near(plain[i], 1e-15));
  randomize(lora.lora_B.weight);
  lora.scaling = 2.0;
  const auto adapted = run(lora), merged = run(lora.merged());
  std::size_t moved = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    CHECK(merged[i] == near(adapted[i], 1e-12));
    moved += std::abs(adapted[i] - plain[i]) > 1e-6;
  }
  CHECK(moved > 0);
}

namespace {
using Block = tg::LoraTransformerBlock<8, 2, 16, true, 2, double>;
}

TEST_CASE("LoraTransformerBlock: gradients match finite differences; only the adapters train", "[gradcheck]") {
  Block block(std::uint64_t(rng()() % 1000));
  tg::for_each_parameter(block, [&](const std::string& name, auto& p) {
    if (name.find("lora_B") != std::string::npos) randomize(p, 0.3);
  });
  block.set_scaling(0.7);
  check_layer(block, random<double, 2, 3, 8>(-1, 1));
  auto step = tg::compile<tg::Input<double, 2, 3, 8>>([&](auto x) { return tg::sum(tg::tanh(block(x))); });
  step(random<double, 2, 3, 8>(-1, 1));
  std::size_t trainable = 0, frozen = 0;
  tg::for_each_parameter(block, [&](const std::string& name, const auto& p) {
    INFO(name);
    const bool adapter = name.find("lora_") != std::string::npos;
    CHECK(step.has_grad(p) == adapter);
    (adapter ? trainable : frozen) += p.size();
  });
  // in_proj 2 (8 + 24), out_proj 2 (8 + 8), linear1 2 (8 + 16), linear2 2 (16 + 8)
  CHECK(trainable == 2 * (8 + 24) + 2 * (8 + 8) + 2 * (8 + 16) + 2 * (16 + 8));
  CHECK(frozen == 4 * 8 + 3 * 8 * 8 + 3 * 8 + 8 * 8 + 8 + 16 * 8 + 16 + 8 * 16 + 8);
}

TEST_CASE("LoraTransformerBlock: merged() is a TransformerEncoderBlock computing the same", "[gradcheck]") {
  Block block(5);
  tg::for_each_parameter(block, [&](const std::string& name, auto& p) {
    if (name.find("lora_B") != std::string::npos) randomize(p, 0.3);
  });
  block.set_scaling(1.25);
  const auto merged = block.merged();
  const auto x = random<double, 2, 3, 8>(-1, 1);
  auto a = tg::compile_inference<tg::Input<double, 2, 3, 8>>([&](auto v) { return block(v); });
  auto b = tg::compile_inference<tg::Input<double, 2, 3, 8>>([&](auto v) { return merged(v); });
  const auto ya = a(x);
  const auto yb = b(x);
  for (std::size_t i = 0; i < ya.size(); ++i) CHECK(ya.data()[i] == near(yb.data()[i], 1e-12));
}

// Each adapter's product accumulates into its base projection's buffer (tg::matmul_sum): it adds activations of
// [rows, r] (x A^T and its scaled copy, with adjoints), far less than the base weights' gradients that full
// fine-tuning keeps. Before matmul_sum the adapter's [rows, Out] product, the sum and their adjoints made the
// LoRA step's workspace the larger of the two.
TEST_CASE("LoraTransformerBlock: the step's workspace is smaller than full fine-tuning's", "[integration]") {
  using Full = tg::TransformerEncoderBlock<32, 2, 64, true, double>;
  using Adapted = tg::LoraTransformerBlock<32, 2, 64, true, 2, double>;
  using X = tg::Input<double, 4, 32, 32>;
  Full full(3);
  Adapted adapted(3);
  auto full_step = tg::compile<X>([&](auto x) { return tg::sum(tg::tanh(full(x))); });
  auto lora_step = tg::compile<X>([&](auto x) { return tg::sum(tg::tanh(adapted(x))); });
  INFO("full " << full_step.total_workspace_bytes() << " bytes, LoRA " << lora_step.total_workspace_bytes());
  CHECK(lora_step.total_workspace_bytes() < full_step.total_workspace_bytes());
}

TEST_CASE("LoRA names: the base block's names plus PEFT's adapters; adapters save alone", "[integration]") {
  std::vector<std::string> names, base_names;
  Block block(3);
  tg::for_each_parameter(block, [&](const std::string& n, const auto&) { names.push_back(n); });
  const tg::TransformerEncoderBlock<8, 2, 16, true, double> base;
  tg::for_each_parameter(base, [&](const std::string& n, const auto&) { base_names.push_back(n); });
  for (const auto& n : base_names) CHECK(std::find(names.begin(), names.end(), n) != names.end());
  for (const char* n : {"self_attn.lora_A.weight", "self_attn.lora_B.weight", "self_attn.out_proj.lora_A.weight",
                        "linear1.lora_A.weight", "linear2.lora_B.weight"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  CHECK(names.size() == base_names.size() + 8);

  const auto file = tgtest::scratch_file("adapters.safetensors");
  tg::io::save(file, block, {.select = [](const std::string& n) { return n.find("lora_") != std::string::npos; }});
  Block other(99);
  const auto report = tg::io::load(file, other, {.allow_missing = true});
  CHECK(report.loaded.size() == 8);
  CHECK(report.missing.size() == base_names.size());
  CHECK(other.linear1.lora_A.weight.value[3] == block.linear1.lora_A.weight.value[3]);
  CHECK(other.linear1.weight.value[3] != block.linear1.weight.value[3]);  // the base was not in the file
}

TEST_CASE("LoRA shapes: A is [Rank, In], B is [Out, Rank], the output is the base layer's", "[static]") {
  using L = tg::LoraLinear<12, 5, 3, double>;
  static_assert(std::is_same_v<decltype(L{}.lora_A.weight)::shape_type, tg::shape<3, 12>>);
  static_assert(std::is_same_v<decltype(L{}.lora_B.weight)::shape_type, tg::shape<5, 3>>);
  static_assert(std::is_same_v<decltype(L{}.weight)::shape_type, tg::shape<5, 12>>);
  using Y = decltype(L{}(tg::InputLeaf<0, double, tg::shape<7, 12>, false>{}));
  static_assert(std::is_same_v<typename Y::shape_type, tg::shape<7, 5>>);
  using Z = decltype(Block{}(tg::InputLeaf<0, double, tg::shape<2, 4, 8>, false>{}));
  static_assert(std::is_same_v<typename Z::shape_type, tg::shape<2, 4, 8>>);
  CHECK(tg::parameter_count(L{}) == 5 * 12 + 5 + 3 * 12 + 5 * 3);
}
