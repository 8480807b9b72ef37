#pragma once
// IDX files (the MNIST format), plain or gzip-compressed: big-endian header
//   0x00 0x00, type (0x08 = ubyte), rank, then rank uint32 dims, then the data.
// Errors name the file and the problem: wrong magic, truncated data, trailing bytes, count mismatch, dimensions
// that overflow or promise more than the file can hold, corrupt or truncated gzip (CRC and length verified).
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
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

namespace detail {

inline std::vector<std::uint8_t> read_whole_file(const std::string& name) {
  std::FILE* f = std::fopen(name.c_str(), "rb");
  if (!f) throw IdxError(name + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw IdxError(name + ": read error");
  return bytes;
}

// One gzip member, inflated on demand: fill(out, want) appends until out holds `want` bytes or the stream ends.
// zlib checks the trailer (CRC-32 and length) before it reports the end; input that stops before the end is
// truncation, not a short file.
class GzipMember {
 public:
  GzipMember(const std::vector<std::uint8_t>& in, std::string name) : in_(in), name_(std::move(name)) {
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw IdxError(name_ + ": zlib initialisation failed");
  }
  GzipMember(const GzipMember&) = delete;
  GzipMember& operator=(const GzipMember&) = delete;
  ~GzipMember() { inflateEnd(&z_); }

  // DEFLATE cannot expand data more than 1032:1, so a member of n bytes holds at most this many.
  std::size_t max_inflated_size() const { return in_.size() > SIZE_MAX / 1032 ? SIZE_MAX : 1032 * in_.size(); }
  bool ended() const { return ended_; }
  // bytes of the file after the member's trailer
  std::size_t unused_input() const { return in_.size() - fed_ + z_.avail_in; }

  void fill(std::vector<std::uint8_t>& out, std::size_t want) {
    while (!ended_ && out.size() < want) {
      if (z_.avail_in == 0 && fed_ < in_.size()) {  // feed at most 1 GiB at a time (avail_in is 32-bit)
        const std::size_t n = std::min<std::size_t>(in_.size() - fed_, std::size_t(1) << 30);
        z_.next_in = const_cast<Bytef*>(in_.data() + fed_);
        z_.avail_in = static_cast<uInt>(n);
        fed_ += n;
      }
      const std::size_t had = out.size();
      const std::size_t room = std::min<std::size_t>(want - had, std::size_t(1) << 30);
      out.resize(had + room);
      z_.next_out = out.data() + had;
      z_.avail_out = static_cast<uInt>(room);
      const int r = inflate(&z_, Z_NO_FLUSH);
      out.resize(had + (room - z_.avail_out));
      if (r == Z_STREAM_END) {
        ended_ = true;
      } else if (r == Z_BUF_ERROR || (r == Z_OK && z_.avail_in == 0 && fed_ == in_.size() && z_.avail_out != 0)) {
        throw IdxError(name_ + ": truncated gzip stream (the file ends before the stream's end and its CRC trailer)");
      } else if (r != Z_OK) {
        throw IdxError(name_ + ": corrupt compressed data (" + (z_.msg ? z_.msg : "zlib error " + std::to_string(r)) +
                       ")");
      }
    }
  }

 private:
  const std::vector<std::uint8_t>& in_;
  std::string name_;
  z_stream z_{};
  std::size_t fed_ = 0;
  bool ended_ = false;
};

}  // namespace detail

// Reads a whole IDX file of unsigned bytes, plain or gzip (told by the gzip magic 1f 8b). Nothing is accepted
// that does not match its header exactly: the dimensions' product is checked for overflow and against what the
// file can hold before anything is allocated, decompression stops one byte past what the header promises, and
// a gzip file must end with its verified trailer and nothing after it.
// parse_idx: the same from the file's bytes in memory (`name` for the messages).
inline IdxArray parse_idx(std::vector<std::uint8_t> file, const std::string& name, std::size_t expected_rank) {
  const bool gzip = file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b;
  std::optional<detail::GzipMember> member;
  std::vector<std::uint8_t> bytes;
  if (gzip) member.emplace(file, name);
  else bytes = std::move(file);
  const auto take = [&](std::size_t want) {
    if (member) member->fill(bytes, want);
  };

  take(4);
  if (bytes.size() < 4) throw IdxError(name + ": truncated header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    throw IdxError(name + ": wrong magic number (expected 00 00 08 <rank> for unsigned bytes)");
  const std::size_t rank = bytes[3];
  if (rank != expected_rank)
    throw IdxError(name + ": rank " + std::to_string(rank) + ", expected " + std::to_string(expected_rank));
  const std::size_t header = 4 + 4 * rank;
  take(header);
  if (bytes.size() < header) throw IdxError(name + ": truncated header");
  IdxArray a;
  std::size_t total = 1;
  bool overflow = false;
  std::string shape;
  for (std::size_t k = 0; k < rank; ++k) {
    const std::uint8_t* p = &bytes[4 + 4 * k];
    const std::uint32_t d = std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
    a.dims.push_back(d);
    overflow = __builtin_mul_overflow(total, std::size_t(d), &total) || overflow;
    shape += (k ? " x " : "") + std::to_string(d);
  }
  const std::size_t capacity = gzip ? member->max_inflated_size() - std::min(header, member->max_inflated_size())
                                    : bytes.size() - header;
  if (overflow)
    throw IdxError(name + ": dimensions " + shape + " overflow the size of a value count");
  if (total > capacity) {
    if (!gzip)
      throw IdxError(name + ": truncated: header promises " + std::to_string(total) + " values, file holds " +
                     std::to_string(capacity));
    throw IdxError(name + ": header promises " + std::to_string(total) + " values (" + shape + "), more than a " +
                   std::to_string(file.size()) + "-byte gzip file can hold");
  }
  if (gzip) bytes.reserve(header + total + 1);
  take(header + total + 1);  // one byte more than promised: there must be none
  const std::size_t have = bytes.size() - header;
  if (have < total)
    throw IdxError(name + ": truncated: header promises " + std::to_string(total) + " values, file holds " +
                   std::to_string(have));
  if (have > total) {
    if (!gzip) throw IdxError(name + ": " + std::to_string(have - total) + " unexpected trailing bytes after the data");
    throw IdxError(name + ": unexpected trailing bytes after the data (the stream holds more than the header's " +
                   std::to_string(total) + " values)");
  }
  if (gzip && member->unused_input() != 0)
    throw IdxError(name + ": " + std::to_string(member->unused_input()) +
                   " unexpected bytes after the end of the gzip stream");
  a.values.assign(bytes.begin() + std::ptrdiff_t(header), bytes.end());
  return a;
}

inline IdxArray read_idx(const std::filesystem::path& path, std::size_t expected_rank) {
  return parse_idx(detail::read_whole_file(path.string()), path.string(), expected_rank);
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
