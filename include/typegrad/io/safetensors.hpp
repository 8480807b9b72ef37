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
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "typegrad/core/module.hpp"
#include "typegrad/io/atomic_file.hpp"
#include "typegrad/io/safetensors_file.hpp"

namespace tg::io {

// ---- saving ----
struct SaveOptions {
  std::map<std::string, std::string> metadata = {};  // the header's __metadata__
  // a NaN or infinite parameter is an error naming the tensor unless this is set
  bool allow_non_finite = false;
  // test seam for crash tests: runs once the first bytes are in the temporary file, which it receives
  std::function<void(const std::filesystem::path& partial)> after_first_write = {};
};

// Saves every parameter and buffer (BatchNorm's running statistics) of the model under its dotted name,
// replacing `path` atomically (io/atomic_file.hpp).
template <class Model>
void save(const std::filesystem::path& path, const Model& model, const SaveOptions& options = {}) {
  nlohmann::json header = nlohmann::json::object();
  if (!options.metadata.empty()) header["__metadata__"] = options.metadata;
  std::vector<std::pair<const void*, std::size_t>> blobs;
  std::uint64_t at = 0;
  for_each_state_tensor(model, [&](const std::string& name, const auto& p) {
    using P = std::remove_cvref_t<decltype(p)>;
    using T = typename P::value_type;
    if (header.contains(name)) throw CheckpointError("save: two parameters are both named '" + name + "'");
    if constexpr (std::is_floating_point_v<T>)
      if (!options.allow_non_finite)
        for (std::size_t i = 0; i < P::size(); ++i)
          if (!std::isfinite(p.data()[i]))
            throw CheckpointError(path.string() + ": not saved: tensor '" + name + "' holds " +
                                  std::to_string(p.data()[i]) + " at element " + std::to_string(i) +
                                  " (SaveOptions::allow_non_finite saves it anyway)");
    const std::size_t bytes = P::size() * sizeof(T);
    header[name] = {{"dtype", dtype_name<T>()},
                    {"shape", std::vector<std::uint64_t>(P::shape_type::dims.begin(), P::shape_type::dims.end())},
                    {"data_offsets", {at, at + bytes}}};
    blobs.emplace_back(p.data(), bytes);
    at += bytes;
  });
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
  for_each_state_tensor(model, [&](const std::string& name, auto& p) {
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
  for_each_state_tensor(model, [&](const std::string& name, auto& p) {
    if (!used.count(name)) return;
    file.read(name, p.data());
    report.loaded.push_back(name);
  });
  for (const auto& [k, e] : file.entries())
    if (!used.count(k)) report.unused.push_back(k);
  return report;
}

}  // namespace tg::io
