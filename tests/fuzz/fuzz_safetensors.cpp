// libFuzzer target: tg::io::load of arbitrary bytes into a small model (the file goes through the file system,
// as a user's would). A CheckpointError is the expected answer to bad input; any other exception, a crash or a
// sanitizer report is a finding, and so is a rejected file that changed the model.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <typegrad/io/safetensors.hpp>
#include <typegrad/typegrad.hpp>

namespace {
struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<3, 2>, fc), (tg::BatchNorm1d<2>, bn));
  Net() : fc(1) {}
};
std::vector<float> values(const Net& n) {
  std::vector<float> v;
  tg::for_each_parameter(n, [&](const std::string&, const auto& p) { v.insert(v.end(), p.value.begin(), p.value.end()); });
  return v;
}
const std::string path = "/tmp/typegrad-fuzz-" + std::to_string(::getpid()) + ".safetensors";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  Net net;
  const auto before = values(net);
  for (bool convert : {false, true}) {
    try {
      tg::io::load(path, net, {.allow_missing = true, .convert_dtypes = convert});
    } catch (const tg::io::CheckpointError&) {
      if (values(net) != before) __builtin_trap();  // a rejected file changed the model
    }
  }
  return 0;
}
