#pragma once
// Text for language models: entries read from plain-text files (fortune files: entries separated by lines holding
// a single `%`), a byte-level vocabulary (the distinct bytes of the corpus, dense ids), a deterministic split by
// entry and [B, T] windows of token ids with next-token targets, reshuffled each epoch from a seed.
//   auto corpus = tg::data::read_text_directory(tg::data::fortunes_dir, {"songs-poems"});  // all but one file
//   auto [train, validation] = tg::data::split_by_entry(corpus, 10);  // every 10th entry to validation
//   tg::data::ByteVocabulary vocabulary(train);                        // saved with the checkpoint (to_string)
//   tg::data::TokenWindows<16, 128> windows(vocabulary.encode(train), seed);
//   tg::data::Prefetcher prefetch(windows);  while (prefetch.next(x, y)) step(x, y);
// Text must be UTF-8 (checked: an error names the file and byte offset); tokens are its bytes, so a character
// outside ASCII is several tokens, as in byte-level models (GPT-2's byte fallback).
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "typegrad/core/tensor.hpp"
#include "typegrad/data/share.hpp"

namespace tg::data {

inline const std::string fortunes_dir = "/usr/share/games/fortunes";  // Debian's `fortunes` package

struct TextError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The entries of a corpus in reading order, each followed by the separator "%\n" when joined into one stream.
struct TextCorpus {
  std::vector<std::string> entries;
  std::vector<std::string> files;  // the files read, in order
  std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto& e : entries) n += e.size();
    return n;
  }
};

namespace detail {
// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or npos.
inline std::size_t invalid_utf8_at(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || (length == 2 && c < 0xC2) || i + length > s.size()) return i;
    for (std::size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    i += length;
  }
  return std::string::npos;
}
}  // namespace detail

// The entries of one file: text between lines that hold only `%` (a file without such lines is one entry).
// Empty entries are skipped. Throws TextError for an unreadable file or bytes that are not UTF-8.
inline std::vector<std::string> read_text_entries(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw TextError(file.string() + ": cannot open");
  std::ostringstream all;
  all << in.rdbuf();
  if (in.bad()) throw TextError(file.string() + ": read error");
  const std::string text = all.str();
  if (const std::size_t at = detail::invalid_utf8_at(text); at != std::string::npos)
    throw TextError(file.string() + ": byte " + std::to_string(at) + " is not UTF-8 (value " +
                    std::to_string(static_cast<unsigned char>(text[at])) + "); convert the file to UTF-8");
  std::vector<std::string> entries;
  std::string entry;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    const bool last = end == std::string::npos;
    if (last) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (line == "%" || line == "%\r") {
      if (!entry.empty()) entries.push_back(std::move(entry));
      entry.clear();
    } else {
      entry.append(line);
      entry.push_back('\n');
    }
    start = end + 1;
  }
  if (!entry.empty()) entries.push_back(std::move(entry));
  return entries;
}

// Every regular file of `dir` in name order (symbolic links, hidden files and fortune index files `*.dat` are
// not read), except those named in `exclude`; or, when `only` is not empty, just those. Throws TextError for a
// missing directory, a named file that is not there, or a corpus without any entry.
inline TextCorpus read_text_directory(const std::filesystem::path& dir, const std::set<std::string>& exclude = {},
                                      const std::set<std::string>& only = {}) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir))
    throw TextError(dir.string() + ": no such directory" +
                    (dir == fortunes_dir ? std::string(" (Debian: apt-get install fortunes; scripts/setup.sh does)")
                                         : std::string()));
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_symlink() || !e.is_regular_file() || name.starts_with(".") || e.path().extension() == ".dat") continue;
    if (exclude.contains(name) || (!only.empty() && !only.contains(name))) continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& name : only)
    if (std::none_of(files.begin(), files.end(), [&](const fs::path& p) { return p.filename() == name; }))
      throw TextError(dir.string() + ": no text file named '" + name + "'");
  TextCorpus corpus;
  for (const auto& f : files) {
    auto entries = read_text_entries(f);
    corpus.files.push_back(f.filename().string());
    corpus.entries.insert(corpus.entries.end(), std::make_move_iterator(entries.begin()),
                          std::make_move_iterator(entries.end()));
  }
  if (corpus.entries.empty())
    throw TextError(dir.string() + ": the corpus is empty (" + std::to_string(files.size()) + " files, no text)");
  return corpus;
}

// Entry i goes to validation when i % every == every - 1: deterministic, and spread over every file.
inline std::pair<TextCorpus, TextCorpus> split_by_entry(const TextCorpus& corpus, std::size_t every) {
  if (every < 2) throw TextError("split_by_entry: `every` must be at least 2");
  TextCorpus train, validation;
  train.files = validation.files = corpus.files;
  for (std::size_t i = 0; i < corpus.entries.size(); ++i)
    (i % every == every - 1 ? validation : train).entries.push_back(corpus.entries[i]);
  if (validation.entries.empty())
    throw TextError("split_by_entry: " + std::to_string(corpus.entries.size()) +
                    " entries leave none for validation (every " + std::to_string(every) + "th)");
  return {std::move(train), std::move(validation)};
}

// Token ids for the distinct bytes of a corpus (in byte order) and the entry separator "%\n".
class ByteVocabulary {
 public:
  ByteVocabulary() = default;
  explicit ByteVocabulary(const TextCorpus& corpus) {
    std::array<bool, 256> seen{};
    seen['%'] = seen['\n'] = true;  // the separator
    for (const auto& e : corpus.entries)
      for (const char c : e) seen[static_cast<unsigned char>(c)] = true;
    for (int b = 0; b < 256; ++b)
      if (seen[std::size_t(b)]) add(static_cast<unsigned char>(b));
  }
  std::size_t size() const { return bytes_.size(); }
  bool contains(unsigned char b) const { return id_[b] >= 0; }
  std::int32_t id(unsigned char b) const { return id_[b]; }
  unsigned char byte(std::int32_t id) const { return bytes_.at(std::size_t(id)); }

  // The entries joined into one stream of ids, each entry followed by "%\n". A byte outside the vocabulary
  // (text the vocabulary was not built from) is an error naming it.
  std::vector<std::int32_t> encode(const TextCorpus& corpus) const {
    std::vector<std::int32_t> ids;
    ids.reserve(corpus.bytes() + 2 * corpus.entries.size());
    for (const auto& e : corpus.entries) {
      append(ids, e);
      append(ids, "%\n");
    }
    return ids;
  }
  std::vector<std::int32_t> encode(const std::string& text) const {
    std::vector<std::int32_t> ids;
    append(ids, text);
    return ids;
  }
  std::string decode(const std::vector<std::int32_t>& ids) const {
    std::string s;
    for (const auto i : ids) s.push_back(static_cast<char>(byte(i)));
    return s;
  }

  // "10,32,33,...": the bytes in id order (saved in a checkpoint's metadata); from_string reads it back.
  std::string to_string() const {
    std::string s;
    for (const auto b : bytes_) {
      if (!s.empty()) s.push_back(',');
      s.append(std::to_string(int(b)));
    }
    return s;
  }
  static ByteVocabulary from_string(const std::string& text) {
    ByteVocabulary v;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
      std::size_t used = 0;
      int b = -1;
      try {
        b = std::stoi(item, &used);
      } catch (const std::exception&) {
      }
      if (used != item.size() || b < 0 || b > 255 || v.contains(static_cast<unsigned char>(b)))
        throw TextError("vocabulary: '" + item + "' is not a new byte value 0-255");
      v.add(static_cast<unsigned char>(b));
    }
    if (v.size() == 0) throw TextError("vocabulary: empty");
    return v;
  }

 private:
  void add(unsigned char b) {
    id_[b] = std::int32_t(bytes_.size());
    bytes_.push_back(b);
  }
  void append(std::vector<std::int32_t>& ids, const std::string& text) const {
    for (const char c : text) {
      const auto b = static_cast<unsigned char>(c);
      if (id_[b] < 0) throw TextError("vocabulary: byte " + std::to_string(int(b)) + " is not in the vocabulary");
      ids.push_back(id_[b]);
    }
  }
  std::array<std::int32_t, 256> id_ = [] {
    std::array<std::int32_t, 256> a;
    a.fill(-1);
    return a;
  }();
  std::vector<unsigned char> bytes_;
};

// Batches of B windows of T tokens from one stream, with next-token targets: inputs [B, T] = stream[s, s + T),
// targets [B T] = stream[s + 1, s + T + 1). An epoch is the windows starting at phase + k T, k < (N - T) / T, in an
// order shuffled from the seed; the phase in [0, T) is drawn anew each epoch, so over epochs every token is seen
// (in one epoch up to 2T - 1 tokens at the ends are not). The windows that do not fill a batch are skipped in that
// epoch (leftover()); the next epoch's order is another draw. With a Share{index, count} (data/share.hpp) the
// batches are the B windows from index x B of global batches of count x B windows (same phases and orders).
template <std::size_t B, std::size_t T>
class TokenWindows {
 public:
  using inputs_type = Tensor<std::int32_t, B, T>;
  using targets_type = Tensor<std::int32_t, B * T>;

  TokenWindows(std::vector<std::int32_t> stream, std::uint64_t seed, Share share = {})
      : stream_(std::move(stream)), rng_(seed), global_(B * share.count), first_(B * share.index) {
    detail::check_share("token windows", share);
    if (stream_.size() < global_ * T + T + 1)
      throw TextError("token windows: " + std::to_string(stream_.size()) + " tokens do not fill one batch of " +
                      std::to_string(global_) + " windows of " + std::to_string(T) + " (+ a phase of up to " +
                      std::to_string(T) + ")");
    new_epoch();
  }
  std::size_t tokens() const { return stream_.size(); }
  std::size_t windows_per_epoch() const { return (stream_.size() - T) / T; }  // the same for every phase < T
  // (global) batches per epoch and the windows left over from them
  std::size_t batches_per_epoch() const { return windows_per_epoch() / global_; }
  std::size_t leftover() const { return windows_per_epoch() % global_; }

  // Fills the next batch; returns false (and starts a new epoch) when this epoch's batches are done.
  bool next(inputs_type& x, targets_type& y) {
    if (cursor_ + global_ > order_.size()) {
      new_epoch();
      return false;
    }
    for (std::size_t b = 0; b < B; ++b) fill(b, phase_ + order_[cursor_ + first_ + b] * T, x, y);
    cursor_ += global_;
    return true;
  }
  // Batch k of the stream in order (with a share, its windows of global batch k), phase 0 (for validation: every
  // batch the same each time).
  void batch_in_order(std::size_t k, inputs_type& x, targets_type& y) const {
    for (std::size_t b = 0; b < B; ++b) fill(b, (k * global_ + first_ + b) * T, x, y);
  }

 private:
  void fill(std::size_t b, std::size_t start, inputs_type& x, targets_type& y) const {
    std::copy_n(stream_.data() + start, T, x.data() + b * T);
    std::copy_n(stream_.data() + start + 1, T, y.data() + b * T);
  }
  void new_epoch() {
    phase_ = std::size_t(rng_() % T);
    order_.resize(windows_per_epoch());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::shuffle(order_.begin(), order_.end(), rng_);
    cursor_ = 0;
  }
  std::vector<std::int32_t> stream_;
  std::mt19937_64 rng_;
  std::vector<std::size_t> order_;
  std::size_t global_, first_;  // the global batch, and this share's first window in it
  std::size_t phase_ = 0, cursor_ = 0;
};

}  // namespace tg::data
