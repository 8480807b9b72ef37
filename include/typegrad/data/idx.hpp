#pragma once
// IDX files (the MNIST format), plain or gzip-compressed: big-endian header
//   0x00 0x00 <type 0x08 = ubyte> <rank>, then rank uint32 dims, then the data.
// Errors name the file and the problem: wrong magic, truncated data, trailing bytes, count mismatch.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace tg::data {

struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> values;
  std::size_t count() const { return dims.empty() ? 0 : dims[0]; }
  std::size_t item_size() const {
    std::size_t n = 1;
    for (std::size_t k = 1; k < dims.size(); ++k) n *= dims[k];
    return n;
  }
};

class IdxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a whole IDX file of unsigned bytes. `.gz` or not is detected from the content (zlib reads both).
inline IdxArray read_idx(const std::filesystem::path& path, std::size_t expected_rank) {
  const std::string name = path.string();
  gzFile f = gzopen(name.c_str(), "rb");
  if (!f) throw IdxError(name + ": cannot open");
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const int n = gzread(f, chunk, sizeof chunk);
    if (n < 0) {
      int code = 0;
      const std::string why = gzerror(f, &code);
      gzclose(f);
      throw IdxError(name + ": corrupt compressed data (" + why + ")");
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  gzclose(f);

  if (bytes.size() < 4) throw IdxError(name + ": truncated header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    throw IdxError(name + ": wrong magic number (expected 00 00 08 <rank> for unsigned bytes)");
  const std::size_t rank = bytes[3];
  if (rank != expected_rank)
    throw IdxError(name + ": rank " + std::to_string(rank) + ", expected " + std::to_string(expected_rank));
  if (bytes.size() < 4 + 4 * rank) throw IdxError(name + ": truncated header");
  IdxArray a;
  std::size_t total = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    const std::uint8_t* p = &bytes[4 + 4 * k];
    const std::uint32_t d = std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
    a.dims.push_back(d);
    total *= d;
  }
  const std::size_t have = bytes.size() - 4 - 4 * rank;
  if (have < total)
    throw IdxError(name + ": truncated: header promises " + std::to_string(total) + " values, file holds " +
                   std::to_string(have));
  if (have > total)
    throw IdxError(name + ": " + std::to_string(have - total) + " unexpected trailing bytes after the data");
  a.values.assign(bytes.begin() + std::ptrdiff_t(4 + 4 * rank), bytes.end());
  return a;
}

// Images [N, rows, cols] and labels [N] of one split; counts must agree and labels lie in [0, classes).
struct LabelledImages {
  IdxArray images;
  IdxArray labels;
  std::size_t size() const { return images.count(); }
};

inline LabelledImages read_mnist_split(const std::filesystem::path& dir, const std::string& prefix,
                                       std::size_t classes = 10) {
  auto pick = [&](const std::string& stem) {
    for (const char* ext : {"-ubyte.gz", "-ubyte"}) {
      auto p = dir / (stem + ext);
      if (std::filesystem::exists(p)) return p;
    }
    throw IdxError((dir / (stem + "-ubyte[.gz]")).string() + ": not found");
  };
  LabelledImages s{read_idx(pick(prefix + "-images-idx3"), 3), read_idx(pick(prefix + "-labels-idx1"), 1)};
  if (s.images.count() != s.labels.count())
    throw IdxError(dir.string() + "/" + prefix + ": " + std::to_string(s.images.count()) + " images but " +
                   std::to_string(s.labels.count()) + " labels");
  for (std::size_t i = 0; i < s.labels.values.size(); ++i)
    if (s.labels.values[i] >= classes)
      throw IdxError(dir.string() + "/" + prefix + ": label " + std::to_string(s.labels.values[i]) + " at " +
                     std::to_string(i) + " is outside [0, " + std::to_string(classes) + ")");
  return s;
}

// The images and labels whose label lies in [first, last] (for class-split experiments such as fine-tuning).
inline LabelledImages select_classes(const LabelledImages& set, std::uint8_t first, std::uint8_t last) {
  LabelledImages out;
  const std::size_t item = set.images.item_size();
  out.images.dims = set.images.dims;
  out.labels.dims = set.labels.dims;
  for (std::size_t i = 0; i < set.size(); ++i) {
    const auto y = set.labels.values[i];
    if (y < first || y > last) continue;
    out.labels.values.push_back(y);
    out.images.values.insert(out.images.values.end(), set.images.values.begin() + std::ptrdiff_t(i * item),
                             set.images.values.begin() + std::ptrdiff_t((i + 1) * item));
  }
  out.images.dims[0] = out.labels.dims[0] = std::uint32_t(out.labels.values.size());
  return out;
}

inline constexpr const char* fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

}  // namespace tg::data
