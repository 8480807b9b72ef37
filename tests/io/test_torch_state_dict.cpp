// PyTorch state_dicts load as they are: files written byte by byte in PyTorch's layout and names for
// nn.LSTM / nn.GRU / nn.RNN, nn.MultiheadAttention and nn.TransformerEncoderLayer load completely into the
// equivalent typegrad layers; other conventions load through a rename; F64 / F16 / BF16 tensors convert into
// float parameters where asked.
#include <cstring>
#include <fstream>

#include "support.hpp"
#include "typegrad/io/safetensors.hpp"

namespace fs = std::filesystem;

namespace {
struct Entry {
  std::string name, dtype;
  std::vector<std::uint64_t> shape;
  std::vector<unsigned char> bytes;
};

std::uint64_t elements(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
// tensor k's values: k + i / 1000 (exact enough in float to compare after a float round trip)
float value_of(std::size_t k, std::size_t i) { return float(k) + float(i) / 1000.0f; }

// tensor k's values stored as V (float: F32, double: F64)
template <class V>
Entry encoded(std::size_t k, const std::string& name, std::vector<std::uint64_t> shape) {
  Entry e{name, sizeof(V) == 4 ? "F32" : "F64", shape, {}};
  for (std::uint64_t i = 0; i < elements(shape); ++i) {
    const V v = value_of(k, i);
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    e.bytes.insert(e.bytes.end(), p, p + sizeof v);
  }
  return e;
}
Entry f32(std::size_t k, const std::string& name, std::vector<std::uint64_t> shape) {
  return encoded<float>(k, name, std::move(shape));
}
Entry f64(std::size_t k, const std::string& name, std::vector<std::uint64_t> shape) {
  return encoded<double>(k, name, std::move(shape));
}
Entry halves(const std::string& name, const std::string& dtype, std::vector<std::uint64_t> shape,
             std::vector<std::uint16_t> bits) {
  Entry e{name, dtype, shape, {}};
  for (auto b : bits) {
    e.bytes.push_back(static_cast<unsigned char>(b & 0xFF));
    e.bytes.push_back(static_cast<unsigned char>(b >> 8));
  }
  return e;
}

// the safetensors layout, written by hand: 8-byte little-endian header length, JSON, the data in order
void write_file(const fs::path& path, const std::vector<Entry>& entries) {
  std::string header = "{";
  std::uint64_t at = 0;
  for (const auto& e : entries) {
    if (header.size() > 1) header += ',';
    header.append("\"").append(e.name).append("\":{\"dtype\":\"").append(e.dtype).append("\",\"shape\":[");
    for (std::size_t d = 0; d < e.shape.size(); ++d) {
      if (d) header += ',';
      header += std::to_string(e.shape[d]);
    }
    header += "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + e.bytes.size()) + "]}";
    at += e.bytes.size();
  }
  header += "}";
  std::ofstream out(path, std::ios::binary);
  for (int k = 0; k < 8; ++k) out.put(char((header.size() >> (8 * k)) & 0xFF));
  out << header;
  for (const auto& e : entries) out.write(reinterpret_cast<const char*>(e.bytes.data()), std::streamsize(e.bytes.size()));
}

template <class P>
bool holds_tensor(const P& p, std::size_t k) {
  for (std::size_t i = 0; i < P::size(); ++i)
    if (p.data()[i] != value_of(k, i)) return false;
  return true;
}

// nn.TransformerEncoderLayer(d_model 4, nhead 2, dim_feedforward 8, norm_first=True)'s state_dict
std::vector<Entry> encoder_layer(const std::string& prefix) {
  return {f32(0, prefix + "self_attn.in_proj_weight", {12, 4}), f32(1, prefix + "self_attn.in_proj_bias", {12}),
          f32(2, prefix + "self_attn.out_proj.weight", {4, 4}), f32(3, prefix + "self_attn.out_proj.bias", {4}),
          f32(4, prefix + "linear1.weight", {8, 4}),            f32(5, prefix + "linear1.bias", {8}),
          f32(6, prefix + "linear2.weight", {4, 8}),            f32(7, prefix + "linear2.bias", {4}),
          f32(8, prefix + "norm1.weight", {4}),                 f32(9, prefix + "norm1.bias", {4}),
          f32(10, prefix + "norm2.weight", {4}),                f32(11, prefix + "norm2.bias", {4})};
}
using Block = tg::TransformerEncoderBlock<4, 2, 8>;
template <class B>
void check_encoder_layer(const B& b) {
  CHECK(holds_tensor(b.self_attn.in_proj_weight, 0));
  CHECK(holds_tensor(b.self_attn.in_proj_bias, 1));
  CHECK(holds_tensor(b.self_attn.out_proj.weight, 2));
  CHECK(holds_tensor(b.linear1.bias, 5));
  CHECK(holds_tensor(b.linear2.weight, 6));
  CHECK(holds_tensor(b.norm2.bias, 11));
}
}  // namespace

TEST_CASE("recurrent layers take nn.LSTM / nn.GRU / nn.RNN's names and load their state_dicts", "[integration]") {
  const std::vector<std::string> torch_names{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
  CHECK(tg::parameter_names(tg::RNN<3, 2>{}) == torch_names);
  CHECK(tg::parameter_names(tg::GRU<3, 2>{}) == torch_names);
  const auto path = tgtest::scratch_file("lstm.safetensors");
  write_file(path, {f32(0, "weight_ih_l0", {8, 3}), f32(1, "weight_hh_l0", {8, 2}), f32(2, "bias_ih_l0", {8}),
                    f32(3, "bias_hh_l0", {8})});
  tg::LSTM<3, 2> lstm;
  const auto report = tg::io::load(path, lstm);
  CHECK(report.loaded.size() == 4);
  CHECK(report.unused.empty());
  CHECK(holds_tensor(lstm.cell.weight_ih_l0, 0));
  CHECK(holds_tensor(lstm.cell.bias_hh_l0, 3));
}

TEST_CASE("nn.MultiheadAttention and nn.TransformerEncoderLayer state_dicts load completely", "[integration]") {
  const auto path = tgtest::scratch_file("encoder_layer.safetensors");
  write_file(path, encoder_layer(""));
  Block block;
  const auto report = tg::io::load(path, block);
  CHECK(report.loaded.size() == 12);
  CHECK(report.unused.empty());
  check_encoder_layer(block);
  // the attention alone, from the self_attn entries
  write_file(path, {f32(0, "in_proj_weight", {12, 4}), f32(1, "in_proj_bias", {12}), f32(2, "out_proj.weight", {4, 4}),
                    f32(3, "out_proj.bias", {4})});
  tg::MultiHeadAttention<4, 2> attention;
  CHECK(tg::io::load(path, attention).unused.empty());
  CHECK(holds_tensor(attention.in_proj_weight, 0));
  CHECK(holds_tensor(attention.out_proj.bias, 3));
}

namespace {
struct Encoder {
  BOOST_HANA_DEFINE_STRUCT(Encoder, (tg::Repeat<2, Block>, blocks));
};
}  // namespace

TEST_CASE("another naming convention loads through a rename", "[integration]") {
  auto entries = encoder_layer("encoder.layers.0.");
  const auto second = encoder_layer("encoder.layers.1.");
  entries.insert(entries.end(), second.begin(), second.end());
  const auto path = tgtest::scratch_file("encoder.safetensors");
  write_file(path, entries);
  Encoder enc;
  CHECK_THROWS_WITH(tg::io::load(path, enc), Catch::Contains("tensor 'blocks.0.norm1.weight' is missing"));
  const auto report = tg::io::load(path, enc, {.rename = tg::io::rename_prefix("encoder.layers.", "blocks.")});
  CHECK(report.loaded.size() == 24);
  CHECK(report.unused.empty());
  check_encoder_layer(enc.blocks[0]);
  check_encoder_layer(enc.blocks[1]);
  // two file tensors renamed to one name is an error, not a silent choice
  CHECK_THROWS_WITH(tg::io::load(path, enc, {.rename = [](const std::string&) { return std::string("x"); }}),
                    Catch::Contains("are both renamed 'x'"));
}

TEST_CASE("F64, F16 and BF16 tensors convert into a float model where asked, and say so", "[integration]") {
  const auto path = tgtest::scratch_file("f64.safetensors");
  write_file(path, {f64(0, "weight", {2, 3}), f64(1, "bias", {2})});
  tg::Linear<3, 2> fc;
  CHECK_THROWS_WITH(tg::io::load(path, fc), Catch::Contains("tensor 'weight' has dtype F64, the model's is F32 "
                                                             "(LoadOptions::convert_dtypes converts it)"));
  const auto report = tg::io::load(path, fc, {.convert_dtypes = true});
  CHECK(report.converted == std::vector<std::string>{"weight: F64 -> F32", "bias: F64 -> F32"});
  CHECK(holds_tensor(fc.weight, 0));
  CHECK(holds_tensor(fc.bias, 1));

  // binary16: 1.5, -2, 2^-14 (smallest normal), 2^-24 (smallest subnormal), inf, -0; bfloat16: 1, -3.5
  write_file(path, {halves("weight", "F16", {2, 3}, {0x3E00, 0xC000, 0x0400, 0x0001, 0x7C00, 0x8000}),
                    halves("bias", "BF16", {2}, {0x3F80, 0xC060})});
  tg::io::load(path, fc, {.convert_dtypes = true});
  CHECK(fc.weight.value[0] == 1.5f);
  CHECK(fc.weight.value[1] == -2.0f);
  CHECK(fc.weight.value[2] == 0x1p-14f);
  CHECK(fc.weight.value[3] == 0x1p-24f);
  CHECK(std::isinf(fc.weight.value[4]));
  CHECK((fc.weight.value[5] == 0.0f && std::signbit(fc.weight.value[5])));
  CHECK(fc.bias.value[0] == 1.0f);
  CHECK(fc.bias.value[1] == -3.5f);
  // integers never convert
  write_file(path, {halves("weight", "I16", {2, 3}, {1, 2, 3, 4, 5, 6}), halves("bias", "BF16", {2}, {0, 0})});
  CHECK_THROWS_WITH(tg::io::load(path, fc, {.convert_dtypes = true}), Catch::Contains("has dtype I16, the model's is F32"));
}
