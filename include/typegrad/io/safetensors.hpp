#pragma once
// Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
// "__metadata__": {...}}, then the raw little-endian data; offsets are relative to the end of the header.
// Tensor names are the model's parameter paths (fc1.weight), so weights move to and from PyTorch.
//
// save: writes a temporary file beside the target, flushes it to disk, then renames it over the target,
// so a crash mid-save leaves the old file intact. load: validates the whole header before reading any data
// (length bounds, JSON, dtypes, shapes against the model's compile-time shapes, offsets inside the file,
// no overlaps or holes) and reports the first problem by tensor name; it never reads outside the file.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "typegrad/core/module.hpp"

namespace tg::io {

static_assert(std::endian::native == std::endian::little, "typegrad's safetensors I/O assumes a little-endian host");

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class T>
constexpr const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "F32";
  else if constexpr (std::is_same_v<T, double>) return "F64";
  else if constexpr (std::is_same_v<T, std::int32_t>) return "I32";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "I64";
  else static_assert(sizeof(T) == 0, "typegrad: no safetensors dtype for this element type");
}

inline std::size_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, std::size_t> sizes{{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2},
                                                        {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
                                                        {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

inline constexpr std::uint64_t max_header_bytes = 100'000'000;  // as the reference implementation

struct TensorEntry {
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;  // within the data section
};

// A validated safetensors file: its entries and a way to read one tensor's bytes.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path) : path_(path) {
    const std::string name = path.string();
    std::error_code ec;
    const auto file_size = std::filesystem::file_size(path, ec);
    if (ec) throw CheckpointError(name + ": cannot read (" + ec.message() + ")");
    if (file_size < 8) throw CheckpointError(name + ": too short for a safetensors header (" + std::to_string(file_size) + " bytes)");
    std::ifstream in(path, std::ios::binary);
    unsigned char len_bytes[8];
    in.read(reinterpret_cast<char*>(len_bytes), 8);
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | len_bytes[k];
    if (n > max_header_bytes) throw CheckpointError(name + ": header length " + std::to_string(n) + " exceeds the limit");
    if (n > file_size - 8)
      throw CheckpointError(name + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                            std::to_string(file_size) + " bytes)");
    std::string header(n, '\0');
    in.read(header.data(), std::streamsize(n));
    if (!in) throw CheckpointError(name + ": could not read the header");
    data_start_ = 8 + n;
    data_size_ = file_size - data_start_;

    nlohmann::json j;
    try {
      j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::parse_error& e) {
      throw CheckpointError(name + ": the header is not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) throw CheckpointError(name + ": the header is not a JSON object");
    for (const auto& [key, value] : j.items()) {
      if (key == "__metadata__") {
        if (!value.is_object()) throw CheckpointError(name + ": __metadata__ is not an object");
        for (const auto& [mk, mv] : value.items()) {
          if (!mv.is_string()) throw CheckpointError(name + ": __metadata__." + mk + " is not a string");
          metadata_[mk] = mv.get<std::string>();
        }
        continue;
      }
      entries_[key] = parse_entry(name, key, value);
    }
    check_layout(name);
  }

  const std::map<std::string, TensorEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Reads tensor `key`'s bytes into dst (exactly end - begin bytes).
  void read(const std::string& key, void* dst) const {
    const auto& e = entries_.at(key);
    std::ifstream in(path_, std::ios::binary);
    in.seekg(std::streamoff(data_start_ + e.begin));
    in.read(static_cast<char*>(dst), std::streamsize(e.end - e.begin));
    if (!in) throw CheckpointError(path_.string() + ": " + key + ": could not read its data");
  }

 private:
  static TensorEntry parse_entry(const std::string& file, const std::string& key, const nlohmann::json& v) {
    const std::string where = file + ": tensor '" + key + "': ";
    if (!v.is_object()) throw CheckpointError(where + "entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) throw CheckpointError(where + "missing or non-string dtype");
    if (!v.contains("shape") || !v["shape"].is_array()) throw CheckpointError(where + "missing or non-array shape");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw CheckpointError(where + "data_offsets must be an array of two integers");
    TensorEntry e;
    e.dtype = v["dtype"].get<std::string>();
    const std::size_t elem = dtype_size(e.dtype);
    if (elem == 0) throw CheckpointError(where + "unknown dtype '" + e.dtype + "'");
    std::uint64_t count = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw CheckpointError(where + "shape entries must be non-negative integers");
      const auto dim = d.get<std::uint64_t>();
      if (dim != 0 && count > UINT64_MAX / dim) throw CheckpointError(where + "shape overflows");
      count *= dim;
      e.shape.push_back(dim);
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw CheckpointError(where + "data_offsets must be non-negative integers");
    e.begin = v["data_offsets"][0].get<std::uint64_t>();
    e.end = v["data_offsets"][1].get<std::uint64_t>();
    if (e.end < e.begin) throw CheckpointError(where + "data_offsets end before they begin");
    if (count > UINT64_MAX / elem || e.end - e.begin != count * elem)
      throw CheckpointError(where + "data_offsets span " + std::to_string(e.end - e.begin) + " bytes, the shape and " +
                            "dtype need " + std::to_string(count * elem));
    return e;
  }

  // every byte of the data section belongs to exactly one tensor
  void check_layout(const std::string& file) const {
    std::vector<std::pair<std::uint64_t, const std::string*>> starts;
    for (const auto& [k, e] : entries_) {
      if (e.end > data_size_)
        throw CheckpointError(file + ": tensor '" + k + "': data_offsets end at " + std::to_string(e.end) +
                              ", past the data section's " + std::to_string(data_size_) + " bytes");
      starts.emplace_back(e.begin, &k);
    }
    std::sort(starts.begin(), starts.end());
    std::uint64_t at = 0;
    for (const auto& [begin, key] : starts) {
      const auto& e = entries_.at(*key);
      if (begin < at) throw CheckpointError(file + ": tensor '" + *key + "': data overlaps the previous tensor");
      if (begin > at) throw CheckpointError(file + ": tensor '" + *key + "': a hole of " + std::to_string(begin - at) + " bytes before it");
      at = e.end;
    }
    if (at != data_size_)
      throw CheckpointError(file + ": " + std::to_string(data_size_ - at) + " bytes after the last tensor belong to none");
  }

  std::filesystem::path path_;
  std::uint64_t data_start_ = 0, data_size_ = 0;
  std::map<std::string, TensorEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// ---- saving ----
namespace detail {
// Writes `write(FILE*)` into a temporary file beside `path`, flushes it to the disk, renames it over `path`.
// `after_first_write` exists for the crash test: it runs after the first bytes reach the temporary file.
inline void atomic_write(const std::filesystem::path& path, const std::function<void(std::FILE*)>& write,
                         const std::function<void()>& after_first_write = {}) {
  const auto tmp = std::filesystem::path(path.string() + ".tmp-" + std::to_string(::getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw CheckpointError(tmp.string() + ": cannot create");
  try {
    write(f);
    if (after_first_write) {
      std::fflush(f);
      after_first_write();
    }
    if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) throw CheckpointError(tmp.string() + ": write failed");
  } catch (...) {
    std::fclose(f);
    std::filesystem::remove(tmp);
    throw;
  }
  if (std::fclose(f) != 0) throw CheckpointError(tmp.string() + ": close failed");
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw CheckpointError(path.string() + ": cannot replace (" + ec.message() + ")");
  }
}
}  // namespace detail

// Saves every parameter of the model under its dotted name.
template <class Model>
void save(const std::filesystem::path& path, const Model& model, const std::map<std::string, std::string>& metadata = {},
          const std::function<void()>& after_first_write = {}) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<std::pair<const void*, std::size_t>> blobs;
  std::uint64_t at = 0;
  for_each_parameter(model, [&](const std::string& name, const auto& p) {
    using P = std::remove_cvref_t<decltype(p)>;
    using T = typename P::value_type;
    if (header.contains(name)) throw CheckpointError("save: two parameters are both named '" + name + "'");
    const std::size_t bytes = P::size() * sizeof(T);
    header[name] = {{"dtype", dtype_name<T>()},
                    {"shape", std::vector<std::uint64_t>(P::shape_type::dims.begin(), P::shape_type::dims.end())},
                    {"data_offsets", {at, at + bytes}}};
    blobs.emplace_back(p.data(), bytes);
    at += bytes;
  });
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer
  detail::atomic_write(
      path,
      [&](std::FILE* f) {
        unsigned char len[8];
        std::uint64_t n = text.size();
        for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>(n >> (8 * k));
        bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
        for (const auto& [data, bytes] : blobs) ok = ok && std::fwrite(data, 1, bytes, f) == bytes;
        if (!ok) throw CheckpointError(path.string() + ": write failed");
      },
      after_first_write);
}

struct LoadOptions {
  // load only the parameters whose names start with one of these prefixes (empty: all)
  std::vector<std::string> only;
  // a selected parameter absent from the file is an error unless this is set
  bool allow_missing = false;
};

struct LoadReport {
  std::vector<std::string> loaded, missing, unused;  // unused: in the file, not in the selection
};

// Loads parameters by name, checking dtype and shape against the model before changing anything.
template <class Model>
LoadReport load(const std::filesystem::path& path, Model& model, const LoadOptions& options = {}) {
  const SafetensorsFile file(path);
  auto selected = [&](const std::string& name) {
    if (options.only.empty()) return true;
    return std::any_of(options.only.begin(), options.only.end(),
                       [&](const std::string& prefix) { return name.compare(0, prefix.size(), prefix) == 0; });
  };
  LoadReport report;
  std::set<std::string> used;
  // first pass: validate everything, so a bad file changes nothing
  for_each_parameter(model, [&](const std::string& name, auto& p) {
    using P = std::remove_cvref_t<decltype(p)>;
    using T = typename P::value_type;
    if (!selected(name)) return;
    const auto it = file.entries().find(name);
    if (it == file.entries().end()) {
      if (!options.allow_missing) throw CheckpointError(path.string() + ": tensor '" + name + "' is missing");
      report.missing.push_back(name);
      return;
    }
    const auto& e = it->second;
    if (e.dtype != dtype_name<T>())
      throw CheckpointError(path.string() + ": tensor '" + name + "' has dtype " + e.dtype + ", the model's is " +
                            dtype_name<T>());
    if (!std::equal(e.shape.begin(), e.shape.end(), P::shape_type::dims.begin(), P::shape_type::dims.end())) {
      std::string got, want;
      for (auto d : e.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : P::shape_type::dims) want += (want.empty() ? "" : ", ") + std::to_string(d);
      throw CheckpointError(path.string() + ": tensor '" + name + "' has shape [" + got + "], the model's is [" + want + "]");
    }
    used.insert(name);
  });
  for_each_parameter(model, [&](const std::string& name, auto& p) {
    if (!used.count(name)) return;
    file.read(name, p.data());
    report.loaded.push_back(name);
  });
  for (const auto& [k, e] : file.entries())
    if (!used.count(k)) report.unused.push_back(k);
  return report;
}

}  // namespace tg::io
