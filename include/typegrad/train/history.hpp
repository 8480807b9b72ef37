#pragma once
// Training history: one row of named values per epoch (or step), written as CSV (atomically) for plotting
// (scripts/plot_history.sh turns it into a PNG with gnuplot).
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "typegrad/io/atomic_file.hpp"

namespace tg::train {

class History {
 public:
  using Row = std::vector<std::pair<std::string, double>>;

  void add(Row row) {
    if (!rows_.empty() && row.size() != rows_.front().size())
      throw std::invalid_argument("tg::train::History: every row needs the same columns");
    rows_.push_back(std::move(row));
  }
  double last(const std::string& column) const {
    if (!rows_.empty())
      for (const auto& [k, v] : rows_.back())
        if (k == column) return v;
    throw std::out_of_range("tg::train::History: no value for '" + column + "'");
  }
  // header line, then one line per row; written to a temporary file and renamed over `path`
  // Replaces `path` atomically (io/atomic_file.hpp): a crash mid-write leaves the previous file.
  void write_csv(const std::filesystem::path& path) const {
    std::string text;
    char number[32];
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      if (r == 0) {
        for (std::size_t c = 0; c < rows_[0].size(); ++c) text += (c ? "," : "") + rows_[0][c].first;
        text += '\n';
      }
      for (std::size_t c = 0; c < rows_[r].size(); ++c) {
        std::snprintf(number, sizeof number, "%s%.6g", c ? "," : "", rows_[r][c].second);
        text += number;
      }
      text += '\n';
    }
    io::atomic_write(path, [&](const auto& put) { put(text.data(), text.size()); });
  }

 private:
  std::vector<Row> rows_;
};

}  // namespace tg::train
