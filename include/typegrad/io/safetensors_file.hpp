#pragma once
// Reading safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian data; offsets are relative to the end of the header.
// SafetensorsFile validates the whole header before any data is read (length bounds, JSON without duplicate
// keys, dtypes, shapes, offsets inside the file, no overlaps or holes) and reports the first problem by tensor
// name as a CheckpointError; it never reads outside the file.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

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

    const nlohmann::json j = parse_header(name, header);
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
  // Any JSON the library rejects (syntax, numbers out of range such as 1e999, a key given twice: the JSON
  // library would keep the last silently) is a CheckpointError.
  static nlohmann::json parse_header(const std::string& file, const std::string& text) {
    std::vector<std::set<std::string>> keys;  // per open object
    const auto no_duplicates = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      using E = nlohmann::json::parse_event_t;
      if (event == E::object_start) keys.emplace_back();
      else if (event == E::object_end) keys.pop_back();
      else if (event == E::key && !keys.back().insert(parsed.get<std::string>()).second)
        throw CheckpointError(file + ": the header names '" + parsed.get<std::string>() + "' twice");
      return true;
    };
    try {
      return nlohmann::json::parse(text, no_duplicates);
    } catch (const nlohmann::json::parse_error& e) {
      throw CheckpointError(file + ": the header is not valid JSON (" + e.what() + ")");
    } catch (const nlohmann::json::exception& e) {
      throw CheckpointError(file + ": the header cannot be read as JSON (" + e.what() + ")");
    }
  }

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

}  // namespace tg::io
