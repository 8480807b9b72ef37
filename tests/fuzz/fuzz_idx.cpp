// libFuzzer target: tg::data::parse_idx on arbitrary bytes, for ranks 1 and 3 (plain and gzip: the gzip
// path runs through the system zlib, uninstrumented, and our bounds, trailer and size checks after it).
// Anything but an IdxError or a correct array is a finding; so is any sanitizer report.
#include <cstddef>
#include <cstdint>
#include <typegrad/data/idx.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (std::size_t rank : {std::size_t(1), std::size_t(3)}) {
    try {
      const auto a = tg::data::parse_idx(std::vector<std::uint8_t>(data, data + size), "fuzz", rank);
      std::size_t total = 1;
      for (auto d : a.dims) total *= d;
      if (a.values.size() != total) __builtin_trap();  // accepted, but the values disagree with the header
    } catch (const tg::data::IdxError&) {
    }
  }
  return 0;
}
