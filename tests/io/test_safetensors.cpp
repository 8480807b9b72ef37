// safetensors checkpoints: round trip, a file written byte by byte following the public format description,
// every kind of malformed header (each named in the error), and a save killed half-way.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support.hpp"
#include "typegrad/io/safetensors.hpp"

namespace fs = std::filesystem;
using tgtest::scratch_file;

namespace {
struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<3, 2>, fc1), (tg::Linear<2, 2>, fc2));
  explicit Net(std::uint64_t seed) : fc1(seed), fc2(seed + 1) {}
};

std::vector<float> values(const Net& n) {
  std::vector<float> v;
  tg::for_each_parameter(n, [&](const std::string&, const auto& p) { v.insert(v.end(), p.value.begin(), p.value.end()); });
  return v;
}

// 8-byte little-endian length (or `declared`), the header text, then `data`
void write_raw(const fs::path& path, const std::string& header, const std::vector<unsigned char>& data,
               std::uint64_t declared = UINT64_MAX) {
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t n = declared == UINT64_MAX ? header.size() : declared;
  for (int k = 0; k < 8; ++k) out.put(char((n >> (8 * k)) & 0xff));
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

std::vector<unsigned char> floats(std::initializer_list<float> fs_) {
  std::vector<unsigned char> b(fs_.size() * 4);
  std::memcpy(b.data(), std::data(fs_), b.size());
  return b;
}

// a valid header for Net: fc1.weight [2,3], fc1.bias [2], fc2.weight [2,2], fc2.bias [2] (F32)
std::string net_header(const std::string& fc1_weight_entry = R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})") {
  return R"({"fc1.weight":)" + fc1_weight_entry +
         R"(,"fc1.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
         R"("fc2.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[32,48]},)"
         R"("fc2.bias":{"dtype":"F32","shape":[2],"data_offsets":[48,56]}})";
}
const auto net_data = floats({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
}  // namespace

TEST_CASE("safetensors round trip keeps every parameter bit for bit", "[integration]") {
  Net a(1), b(2);
  const auto path = scratch_file("round.safetensors");
  tg::io::save(path, a, {.metadata = {{"format", "pt"}}});
  CHECK(values(a) != values(b));
  const auto report = tg::io::load(path, b);
  CHECK(report.loaded.size() == 4);
  CHECK(values(a) == values(b));
  const tg::io::SafetensorsFile file(path);
  CHECK(file.metadata().at("format") == "pt");
  CHECK(file.entries().at("fc1.weight").shape == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("a file written byte by byte from the format description loads", "[integration]") {
  const auto path = scratch_file("handmade.safetensors");
  write_raw(path, net_header(), net_data);
  Net n(0);
  tg::io::load(path, n);
  CHECK(n.fc1.weight.value(0, 0) == 1);
  CHECK(n.fc1.weight.value(1, 2) == 6);
  CHECK(n.fc1.bias.value[1] == 8);
  CHECK(n.fc2.bias.value[1] == 14);
  SECTION("header padded with spaces and metadata") {
    write_raw(path, net_header().substr(0, net_header().size() - 1) + R"(,"__metadata__":{"source":"test"}}    )", net_data);
    tg::io::load(path, n);
    CHECK(tg::io::SafetensorsFile(path).metadata().at("source") == "test");
  }
}

TEST_CASE("malformed files are rejected with the first problem named, and change nothing", "[integration]") {
  const auto path = scratch_file("bad.safetensors");
  Net n(3);
  const auto before = values(n);
  auto rejects = [&](const std::string& message) {
    CHECK_THROWS_WITH(tg::io::load(path, n), Catch::Contains(message));
    CHECK(values(n) == before);
  };
  SECTION("shorter than the length field") {
    std::ofstream(path, std::ios::binary) << "abc";
    rejects("too short");
  }
  SECTION("header length past the end of the file") {
    write_raw(path, net_header(), net_data, 5000);
    rejects("runs past the end of the file");
  }
  SECTION("header length over the limit") {
    write_raw(path, net_header(), net_data, std::uint64_t(1) << 40);
    rejects("exceeds the limit");
  }
  SECTION("not JSON") {
    write_raw(path, "{\"fc1.weight\": [", net_data);
    rejects("not valid JSON");
  }
  SECTION("JSON but not an object") {
    write_raw(path, "[1, 2, 3]", net_data);
    rejects("not a JSON object");
  }
  SECTION("a number out of range") {  // was nlohmann::json::out_of_range
    write_raw(path, net_header(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,1e999]})"), net_data);
    rejects("cannot be read as JSON");
  }
  SECTION("a tensor named twice") {  // the JSON library would keep the second silently
    write_raw(path, net_header() .substr(0, net_header().size() - 1) +
                        R"(,"fc2.bias":{"dtype":"F32","shape":[2],"data_offsets":[48,56]}})",
              net_data);
    rejects("the header names 'fc2.bias' twice");
  }
  SECTION("missing dtype") {
    write_raw(path, net_header(R"({"shape":[2,3],"data_offsets":[0,24]})"), net_data);
    rejects("tensor 'fc1.weight': missing or non-string dtype");
  }
  SECTION("unknown dtype") {
    write_raw(path, net_header(R"({"dtype":"F33","shape":[2,3],"data_offsets":[0,24]})"), net_data);
    rejects("unknown dtype 'F33'");
  }
  SECTION("negative shape") {
    write_raw(path, net_header(R"({"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]})"), net_data);
    rejects("shape entries must be non-negative integers");
  }
  SECTION("offsets not a pair") {
    write_raw(path, net_header(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0]})"), net_data);
    rejects("data_offsets must be an array of two integers");
  }
  SECTION("offsets reversed") {
    write_raw(path, net_header(R"({"dtype":"F32","shape":[2,3],"data_offsets":[24,0]})"), net_data);
    rejects("end before they begin");
  }
  SECTION("offsets disagree with shape and dtype") {
    write_raw(path, net_header(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,20]})"), net_data);
    rejects("data_offsets span 20 bytes");
  }
  SECTION("offsets past the data") {
    write_raw(path, net_header(), floats({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}));
    rejects("past the data section");
  }
  SECTION("overlapping tensors") {
    write_raw(path,
              R"({"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
              R"("fc1.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
              floats({1, 2, 3, 4, 5, 6}));
    rejects("overlaps");
  }
  SECTION("a hole between tensors") {
    write_raw(path,
              R"({"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
              R"("fc1.bias":{"dtype":"F32","shape":[2],"data_offsets":[28,36]}})",
              floats({1, 2, 3, 4, 5, 6, 7, 8, 9}));
    rejects("a hole of 4 bytes");
  }
  SECTION("bytes that belong to no tensor") {
    auto data = net_data;
    data.push_back(0);
    write_raw(path, net_header(), data);
    rejects("bytes after the last tensor belong to none");
  }
  SECTION("dtype other than the model's") {
    auto data = net_data;
    data.resize(data.size() + 24);
    write_raw(path,
              R"({"fc1.weight":{"dtype":"F64","shape":[2,3],"data_offsets":[0,48]},)"
              R"("fc1.bias":{"dtype":"F32","shape":[2],"data_offsets":[48,56]},)"
              R"("fc2.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[56,72]},)"
              R"("fc2.bias":{"dtype":"F32","shape":[2],"data_offsets":[72,80]}})",
              data);
    rejects("tensor 'fc1.weight' has dtype F64, the model's is F32");
  }
  SECTION("shape other than the model's") {
    write_raw(path, net_header(R"({"dtype":"F32","shape":[3,2],"data_offsets":[0,24]})"), net_data);
    rejects("tensor 'fc1.weight' has shape [3, 2], the model's is [2, 3]");
  }
  SECTION("a tensor the model needs is missing") {
    write_raw(path, R"({"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", floats({1, 2, 3, 4, 5, 6}));
    rejects("tensor 'fc1.bias' is missing");
  }
}

TEST_CASE("a subset of tensors loads by name prefix", "[integration]") {
  Net a(4), b(5);
  const auto path = scratch_file("subset.safetensors");
  tg::io::save(path, a);
  const auto fc1_before = b.fc1.weight.value;
  const auto report = tg::io::load(path, b, {.only = {"fc2."}});
  CHECK(report.loaded == std::vector<std::string>{"fc2.weight", "fc2.bias"});
  CHECK(report.unused.size() == 2);
  CHECK(std::memcmp(b.fc1.weight.value.data(), fc1_before.data(), 6 * sizeof(float)) == 0);
  CHECK(std::memcmp(b.fc2.weight.value.data(), a.fc2.weight.value.data(), 4 * sizeof(float)) == 0);
}

TEST_CASE("a save killed half-way leaves the previous checkpoint intact", "[integration]") {
  Net old_model(6), new_model(7);
  const auto path = scratch_file("crash.safetensors");
  tg::io::save(path, old_model);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // writes the first bytes of the new checkpoint, then dies without any clean-up
    tg::io::save(path, new_model, {.after_first_write = [](const fs::path& partial) {
                   if (fs::file_size(partial) != 8) ::_exit(3);  // only the length field is written yet
                   ::raise(SIGKILL);
                 }});
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  Net restored(8);
  tg::io::load(path, restored);
  CHECK(values(restored) == values(old_model));
  // the partial temporary file is what the crash left; a later save replaces the target normally
  tg::io::save(path, new_model);
  tg::io::load(path, restored);
  CHECK(values(restored) == values(new_model));
}

namespace {
std::vector<fs::path> temporary_files(const fs::path& dir, const std::string& stem) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(stem + ".tmp-", 0) == 0) found.push_back(e.path());
  return found;
}
}  // namespace

TEST_CASE("saving never follows a planted symlink and leaves no temporary file behind", "[integration]") {
  const auto dir = scratch_file("save_dir");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto path = dir / "model.safetensors";
  SECTION("a symlink at the old predictable temporary name") {  // used to overwrite the victim
    const auto victim = dir / "victim.txt";
    std::ofstream(victim) << "precious";
    fs::create_symlink(victim, path.string() + ".tmp-" + std::to_string(::getpid()));
    tg::io::save(path, Net(1));
    std::ifstream in(victim);
    std::string text;
    in >> text;
    CHECK(text == "precious");
    Net n(2);
    tg::io::load(path, n);
    CHECK(values(n) == values(Net(1)));
  }
  SECTION("a failed rename removes the temporary file and says why") {
    fs::create_directories(path / "occupied");  // the target is a non-empty directory
    CHECK_THROWS_WITH(tg::io::save(path, Net(1)), Catch::Contains("cannot replace") && Catch::Contains("Is a directory"));
    CHECK(temporary_files(dir, "model.safetensors").empty());
  }
  SECTION("a missing directory is named with the system's reason") {
    CHECK_THROWS_WITH(tg::io::save(dir / "missing" / "m.safetensors", Net(1)),
                      Catch::Contains("No such file or directory"));
  }
}

TEST_CASE("save refuses non-finite parameters unless asked to keep them", "[integration]") {
  const auto path = scratch_file("nan.safetensors");
  fs::remove(path);
  Net n(3);
  n.fc2.bias.value[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(tg::io::save(path, n), Catch::Contains("tensor 'fc2.bias' holds nan at element 1"));
  CHECK_FALSE(fs::exists(path));
  n.fc2.bias.value[1] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(tg::io::save(path, n), Catch::Contains("tensor 'fc2.bias' holds inf"));
  tg::io::save(path, n, {.allow_non_finite = true});
  Net m(4);
  tg::io::load(path, m);
  CHECK(std::isinf(m.fc2.bias.value[1]));
}

namespace {
struct BnNet {
  BOOST_HANA_DEFINE_STRUCT(BnNet, (tg::Linear<3, 4>, fc), (tg::BatchNorm1d<4>, bn));
  explicit BnNet(std::uint64_t seed) : fc(seed) {}
  auto operator()(auto x) const { return bn(fc(x)); }
};
}  // namespace

TEST_CASE("BatchNorm's running statistics are saved and loaded with PyTorch's names", "[integration]") {
  BnNet trained(1);
  auto step = tg::compile<tg::Input<float, 8, 3>>([&](auto x) { return tg::sum(tg::tanh(trained(x))); });
  tg::Tensor<float, 8, 3> x;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 5) - 1.5f;
  for (int s = 0; s < 3; ++s) step(x);
  CHECK(trained.bn.num_batches_tracked[0] == 3);
  const auto path = scratch_file("bn.safetensors");
  tg::io::save(path, trained);
  const tg::io::SafetensorsFile file(path);
  CHECK(file.entries().at("bn.running_mean").dtype == "F32");
  CHECK(file.entries().at("bn.num_batches_tracked").dtype == "I64");
  CHECK(file.entries().at("bn.num_batches_tracked").shape.empty());

  BnNet restored(2);
  const auto report = tg::io::load(path, restored);
  CHECK(report.loaded.size() == 7);  // fc.weight, fc.bias, bn.weight, bn.bias and the three buffers
  CHECK(restored.bn.num_batches_tracked[0] == 3);
  tg::set_training(trained, false);
  tg::set_training(restored, false);
  auto eval_trained = tg::compile_inference<tg::Input<float, 8, 3>>([&](auto v) { return trained(v); });
  auto eval_restored = tg::compile_inference<tg::Input<float, 8, 3>>([&](auto v) { return restored(v); });
  const auto a = eval_trained(x), b = eval_restored(x);
  CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);  // differed: fresh statistics
}

TEST_CASE("a BatchNorm state_dict written byte by byte in PyTorch's layout loads completely", "[integration]") {
  // weight [2], bias [2], running_mean [2], running_var [2] (F32), num_batches_tracked [] (I64)
  const auto path = scratch_file("torch_bn.safetensors");
  auto data = floats({1.5f, 2.5f, 0.25f, -0.25f, 3, 4, 5, 6});
  for (int k = 0; k < 8; ++k) data.push_back(k == 0 ? 42 : 0);
  write_raw(path,
            R"({"weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
            R"("running_mean":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
            R"("running_var":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
            R"("num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[32,40]}})",
            data);
  tg::BatchNorm1d<2> bn;
  const auto report = tg::io::load(path, bn);
  CHECK(report.unused.empty());
  CHECK(bn.weight.value[1] == 2.5f);
  CHECK(bn.running_mean[0] == 3.0f);
  CHECK(bn.running_var[1] == 6.0f);
  CHECK(bn.num_batches_tracked[0] == 42);
}
