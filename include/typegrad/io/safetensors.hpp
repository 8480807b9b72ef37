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
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "typegrad/core/module.hpp"
#include "typegrad/io/atomic_file.hpp"
#include "typegrad/io/safetensors_file.hpp"

namespace tg::io {

// ---- saving ----
struct SaveOptions {
  std::map<std::string, std::string> metadata = {};  // the header's __metadata__
  // save only the tensors whose names it accepts (empty: all); e.g. LoRA adapters alone (layers/lora.hpp)
  std::function<bool(const std::string&)> select = {};
  // a NaN or infinite parameter is an error naming the tensor unless this is set
  bool allow_non_finite = false;
  // test seam for crash tests: runs once the first bytes are in the temporary file, which it receives
  std::function<void(const std::filesystem::path& partial)> after_first_write = {};
};

namespace detail {
// One tensor of a model's state as save and load see it. The walk over the model is compiled per tensor type, so
// it only lists the tensors and the checks, JSON and copies are compiled once (compiled per tensor type they were
// 14% of the GPT fine-tuning example's machine code and 8 of its 78 s of compile time, g++ 12 -O3).
struct StateTensor {
  std::string name;
  const char* dtype;                   // "F32", "F64", "I32", "I64"
  std::span<const std::size_t> shape;  // the tensor's compile-time dims
  void* data;
  std::size_t size;  // elements
};
template <class Model>
std::vector<StateTensor> state_tensors(Model& model) {
  std::vector<StateTensor> list;
  for_each_state_tensor(model, [&](const std::string& name, auto& p) {
    using P = std::remove_cvref_t<decltype(p)>;
    using T = typename P::value_type;
    list.push_back({name, dtype_name<T>(), P::shape_type::dims, p.data(), P::size()});
  });
  return list;
}
inline bool is_floating_dtype(const std::string& dtype) { return dtype == "F32" || dtype == "F64"; }
// element i of a float or double tensor, as a double
inline double element(const StateTensor& t, std::size_t i) {
  return std::string_view(t.dtype) == "F32" ? double(static_cast<const float*>(t.data)[i])
                                            : static_cast<const double*>(t.data)[i];
}
// the index of a float or double tensor's first NaN or infinity (its size if none)
template <class T>
std::size_t first_non_finite(const T* x, std::size_t n) {
  std::size_t i = 0;
  while (i < n && std::isfinite(x[i])) ++i;
  return i;
}
inline std::size_t first_non_finite(const StateTensor& t) {
  return std::string_view(t.dtype) == "F32" ? first_non_finite(static_cast<const float*>(t.data), t.size)
                                            : first_non_finite(static_cast<const double*>(t.data), t.size);
}
inline void save_tensors(const std::filesystem::path& path, const std::vector<StateTensor>& tensors,
                         const SaveOptions& options) {
  nlohmann::json header = nlohmann::json::object();
  if (!options.metadata.empty()) header["__metadata__"] = options.metadata;
  std::vector<std::pair<const void*, std::size_t>> blobs;
  std::uint64_t at = 0;
  for (const StateTensor& t : tensors) {
    const std::string& name = t.name;
    if (options.select && !options.select(name)) continue;
    if (header.contains(name)) throw CheckpointError("save: two parameters are both named '" + name + "'");
    if (is_floating_dtype(t.dtype) && !options.allow_non_finite)
      if (const std::size_t i = first_non_finite(t); i < t.size)
        throw CheckpointError(path.string() + ": not saved: tensor '" + name + "' holds " +
                              std::to_string(element(t, i)) + " at element " + std::to_string(i) +
                              " (SaveOptions::allow_non_finite saves it anyway)");
    const std::size_t bytes = t.size * dtype_size(t.dtype);
    header[name] = {{"dtype", t.dtype},
                    {"shape", std::vector<std::uint64_t>(t.shape.begin(), t.shape.end())},
                    {"data_offsets", {at, at + bytes}}};
    blobs.emplace_back(t.data, bytes);
    at += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer
  try {
    atomic_write(
        path,
        [&](const auto& put) {
          unsigned char len[8];
          const std::uint64_t n = text.size();
          for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>(n >> (8 * k));
          put(len, 8);
          put(text.data(), text.size());
          for (const auto& [data, bytes] : blobs) put(data, bytes);
        },
        options.after_first_write);
  } catch (const FileError& e) {
    throw CheckpointError(e.what());
  }
}
}  // namespace detail

// Saves every parameter and buffer (BatchNorm's running statistics) of the model under its dotted name,
// replacing `path` atomically (io/atomic_file.hpp).
template <class Model>
void save(const std::filesystem::path& path, const Model& model, const SaveOptions& options = {}) {
  // the same list as load's (one walk compiled for both); save only reads through it
  detail::save_tensors(path, detail::state_tensors(const_cast<Model&>(model)), options);
}

struct LoadOptions {
  // load only the parameters whose names start with one of these prefixes (empty: all)
  std::vector<std::string> only = {};
  // a selected parameter absent from the file is an error unless this is set
  bool allow_missing = false;
  // the model's name for a tensor of the file, for checkpoints named by another convention (identity if
  // empty); e.g. rename_prefix("encoder.layers.", "blocks.")
  std::function<std::string(const std::string& file_name)> rename = {};
  // F64, F32, F16 and BF16 tensors load into float or double parameters, converted (LoadReport::converted
  // names each); otherwise a dtype other than the parameter's is an error
  bool convert_dtypes = false;
};

struct LoadReport {
  std::vector<std::string> loaded, missing, unused;  // unused: in the file, not in the selection
  std::vector<std::string> converted;                // "name: F64 -> F32"
};

// rename function: file names starting with `from` get `to` instead
inline std::function<std::string(const std::string&)> rename_prefix(std::string from, std::string to) {
  return [from = std::move(from), to = std::move(to)](const std::string& name) {
    return name.compare(0, from.size(), from) == 0 ? to + name.substr(from.size()) : name;
  };
}

namespace detail {
// an unsigned integer stored little-endian (the host is little-endian: safetensors_file.hpp asserts it)
template <class U>
U load_le(const unsigned char* p) {
  U v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// IEEE 754 binary16 -> binary32 (subnormals, infinities and NaN kept)
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  const float magnitude = float(mantissa) * 0x1p-24f;  // subnormal (or zero)
  return sign ? -magnitude : magnitude;
}
// bfloat16 is the upper half of a binary32
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

inline bool convertible_dtype(const std::string& dtype) {
  return dtype == "F64" || dtype == "F32" || dtype == "F16" || dtype == "BF16";
}
// n elements of `dtype` (little-endian bytes) -> T
template <class T>
void convert_elements(const std::string& dtype, const unsigned char* bytes, std::size_t n, T* out) {
  for (std::size_t i = 0; i < n; ++i) {
    if (dtype == "F64") {
      out[i] = static_cast<T>(std::bit_cast<double>(load_le<std::uint64_t>(bytes + 8 * i)));
    } else if (dtype == "F32") {
      out[i] = static_cast<T>(std::bit_cast<float>(load_le<std::uint32_t>(bytes + 4 * i)));
    } else if (dtype == "F16") {
      out[i] = static_cast<T>(half_to_float(load_le<std::uint16_t>(bytes + 2 * i)));
    } else {
      out[i] = static_cast<T>(bfloat16_to_float(load_le<std::uint16_t>(bytes + 2 * i)));
    }
  }
}

inline LoadReport load_tensors(const std::filesystem::path& path, const std::vector<StateTensor>& tensors,
                               const LoadOptions& options) {
  const SafetensorsFile file(path);
  auto selected = [&](const std::string& name) {
    if (options.only.empty()) return true;
    return std::any_of(options.only.begin(), options.only.end(),
                       [&](const std::string& prefix) { return name.compare(0, prefix.size(), prefix) == 0; });
  };
  // the model's name -> the file's name
  std::map<std::string, std::string> file_name_of;
  for (const auto& [key, e] : file.entries()) {
    const std::string name = options.rename ? options.rename(key) : key;
    const auto [it, fresh] = file_name_of.emplace(name, key);
    if (!fresh)
      throw CheckpointError(path.string() + ": tensors '" + it->second + "' and '" + key + "' are both renamed '" +
                            name + "'");
  }
  LoadReport report;
  std::set<std::string> used;  // the model's names
  // first pass: validate everything, so a bad file changes nothing
  for (const StateTensor& t : tensors) {
    const std::string& name = t.name;
    if (!selected(name)) continue;
    const auto it = file_name_of.find(name);
    if (it == file_name_of.end()) {
      if (!options.allow_missing) throw CheckpointError(path.string() + ": tensor '" + name + "' is missing");
      report.missing.push_back(name);
      continue;
    }
    const std::string where =
        path.string() + ": tensor '" + it->second + "'" + (it->second == name ? "" : " ('" + name + "')");
    const auto& e = file.entries().at(it->second);
    const bool converts = e.dtype != t.dtype, floating = is_floating_dtype(t.dtype);
    if (converts && !(options.convert_dtypes && floating && convertible_dtype(e.dtype)))
      throw CheckpointError(
          where + " has dtype " + e.dtype + ", the model's is " + t.dtype +
          (floating && convertible_dtype(e.dtype) ? " (LoadOptions::convert_dtypes converts it)" : ""));
    if (!std::equal(e.shape.begin(), e.shape.end(), t.shape.begin(), t.shape.end())) {
      std::string got, want;
      for (auto d : e.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : t.shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      throw CheckpointError(where + " has shape [" + got + "], the model's is [" + want + "]");
    }
    if (converts) report.converted.push_back(name + ": " + e.dtype + " -> " + t.dtype);
    used.insert(name);
  }
  for (const StateTensor& t : tensors) {
    const std::string& name = t.name;
    if (!used.count(name)) continue;
    const std::string& key = file_name_of.at(name);
    const auto& e = file.entries().at(key);
    if (e.dtype == t.dtype) {
      file.read(key, t.data);
    } else {  // a float or double tensor (checked above)
      std::vector<unsigned char> bytes(e.end - e.begin);
      file.read(key, bytes.data());
      if (std::string_view(t.dtype) == "F32")
        convert_elements(e.dtype, bytes.data(), t.size, static_cast<float*>(t.data));
      else
        convert_elements(e.dtype, bytes.data(), t.size, static_cast<double*>(t.data));
    }
    report.loaded.push_back(name);
  }
  for (const auto& [name, key] : file_name_of)
    if (!used.count(name)) report.unused.push_back(key);
  return report;
}
}  // namespace detail

// Loads parameters and buffers by name, checking dtype and shape against the model before changing anything.
template <class Model>
LoadReport load(const std::filesystem::path& path, Model& model, const LoadOptions& options = {}) {
  return detail::load_tensors(path, detail::state_tensors(model), options);
}

}  // namespace tg::io
