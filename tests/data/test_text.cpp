// Text for language models (data/text.hpp): fortune-file entries, UTF-8 checks, directories, the split by entry,
// the byte vocabulary and token windows with next-token targets.
#include <filesystem>
#include <fstream>

#include "support.hpp"
#include "typegrad/data/prefetch.hpp"
#include "typegrad/data/text.hpp"

namespace fs = std::filesystem;
using tg::data::TextError;

namespace {
fs::path write_file(const fs::path& dir, const std::string& name, const std::string& text) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}
}  // namespace

TEST_CASE("fortune entries are the text between lines holding only %", "[data][text]") {
  const auto dir = tgtest::scratch_file("text_entries");
  const auto f = write_file(dir, "quotes", "first line\nsecond line\n%\n\n%\nthird % not a separator\n%\nlast");
  const auto entries = tg::data::read_text_entries(f);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0] == "first line\nsecond line\n");
  CHECK(entries[1] == "\n");  // an entry holding one empty line is kept; only empty entries are skipped
  CHECK(entries[2] == "third % not a separator\n");
  CHECK(entries[3] == "last\n");
  CHECK(tg::data::read_text_entries(write_file(dir, "one", "no separators\nat all\n")).size() == 1);
}

TEST_CASE("text that is not UTF-8 is an error naming the file and the byte", "[data][text]") {
  const auto dir = tgtest::scratch_file("text_utf8");
  CHECK(tg::data::read_text_entries(write_file(dir, "ok", "caf\xc3\xa9 \xe2\x82\xac\n")).size() == 1);
  const auto latin1 = write_file(dir, "latin1", "caf\xe9\n");
  CHECK_THROWS_WITH(tg::data::read_text_entries(latin1),
                    Catch::Matchers::Contains("latin1: byte 3 is not UTF-8 (value 233)"));
  CHECK_THROWS_AS(tg::data::read_text_entries(write_file(dir, "cut", "ab\xe2\x82")), TextError);  // truncated
  CHECK_THROWS_AS(tg::data::read_text_entries(write_file(dir, "overlong", "\xc0\xaf")), TextError);
}

TEST_CASE("a directory: its text files in name order, exclusions, and clear errors", "[data][text]") {
  const auto dir = tgtest::scratch_file("text_dir");
  write_file(dir, "b", "b1\n%\nb2\n");
  write_file(dir, "a", "a1\n");
  write_file(dir, "a.dat", "\x01\x02index");
  write_file(dir, ".hidden", "x\n");
  fs::create_symlink(dir / "a", dir / "a.u8");
  const auto all = tg::data::read_text_directory(dir);
  CHECK(all.files == std::vector<std::string>{"a", "b"});
  CHECK(all.entries == std::vector<std::string>{"a1\n", "b1\n", "b2\n"});
  CHECK(tg::data::read_text_directory(dir, {"a"}).entries.size() == 2);
  CHECK(tg::data::read_text_directory(dir, {}, {"a"}).entries.size() == 1);
  CHECK_THROWS_WITH(tg::data::read_text_directory(dir, {}, {"c"}), Catch::Matchers::Contains("no text file named 'c'"));
  CHECK_THROWS_WITH(tg::data::read_text_directory(dir / "missing"), Catch::Matchers::Contains("no such directory"));
  const auto empty = tgtest::scratch_file("text_empty");
  write_file(empty, "blank", "%\n%\n");
  CHECK_THROWS_WITH(tg::data::read_text_directory(empty), Catch::Matchers::Contains("the corpus is empty"));
}

TEST_CASE("the split by entry is deterministic and loses nothing", "[data][text]") {
  tg::data::TextCorpus c;
  for (int i = 0; i < 25; ++i) c.entries.push_back("entry " + std::to_string(i) + "\n");
  const auto [train, validation] = tg::data::split_by_entry(c, 5);
  CHECK(validation.entries ==
        std::vector<std::string>{"entry 4\n", "entry 9\n", "entry 14\n", "entry 19\n", "entry 24\n"});
  CHECK(train.entries.size() == 20);
  CHECK(train.entries.front() == "entry 0\n");
  tg::data::TextCorpus tiny;
  tiny.entries = {"a\n", "b\n"};
  CHECK_THROWS_AS(tg::data::split_by_entry(tiny, 5), TextError);
}

TEST_CASE("the byte vocabulary encodes, decodes and survives its text form", "[data][text]") {
  tg::data::TextCorpus c;
  c.entries = {"ba\n", "caf\xc3\xa9\n"};
  const tg::data::ByteVocabulary v(c);
  // bytes in order: \n % a b c f 0xA9 0xC3
  CHECK(v.size() == 8);
  CHECK(v.id('\n') == 0);
  CHECK(v.id('%') == 1);
  CHECK(v.id('a') == 2);
  const auto ids = v.encode(c);
  CHECK(ids == std::vector<std::int32_t>{3, 2, 0, 1, 0, 4, 2, 5, 7, 6, 0, 1, 0});
  CHECK(v.decode(ids) == "ba\n%\ncaf\xc3\xa9\n%\n");
  const auto back = tg::data::ByteVocabulary::from_string(v.to_string());
  CHECK(back.encode(c) == ids);
  CHECK_THROWS_WITH(v.encode(std::string("z")), Catch::Matchers::Contains("byte 122 is not in the vocabulary"));
  CHECK_THROWS_AS(tg::data::ByteVocabulary::from_string("10,300"), TextError);
  CHECK_THROWS_AS(tg::data::ByteVocabulary::from_string("10,10"), TextError);
  CHECK_THROWS_AS(tg::data::ByteVocabulary::from_string("10,x"), TextError);
}

TEST_CASE("token windows: targets are the inputs shifted by one; epochs reshuffle from the seed", "[data][text]") {
  constexpr std::size_t B = 2, T = 4;
  std::vector<std::int32_t> stream(50);
  for (std::size_t i = 0; i < stream.size(); ++i) stream[i] = std::int32_t(i);  // token = its position
  tg::data::TokenWindows<B, T> a(stream, 7), b(stream, 7), c(stream, 8);
  CHECK(a.windows_per_epoch() == 11);
  CHECK(a.batches_per_epoch() == 5);
  CHECK(a.leftover() == 1);
  tg::Tensor<std::int32_t, B, T> x, xb, xc;
  tg::Tensor<std::int32_t, B * T> y, yb, yc;
  std::vector<std::int32_t> starts, first_epoch;
  bool differs_from_other_seed = false;
  std::size_t steps = 0;
  while (a.next(x, y)) {
    REQUIRE(b.next(xb, yb));
    c.next(xc, yc);
    differs_from_other_seed |= x(0, 0) != xc(0, 0);
    for (std::size_t r = 0; r < B; ++r) {
      for (std::size_t t = 0; t < T; ++t) {
        CHECK(x(r, t) == x(r, 0) + std::int32_t(t));  // consecutive tokens
        CHECK(y[r * T + t] == x(r, t) + 1);           // the next token
        CHECK(xb(r, t) == x(r, t));                   // same seed, same batches
      }
      CHECK(std::size_t(x(r, 0)) + T + 1 <= stream.size());
      first_epoch.push_back(x(r, 0));
    }
    ++steps;
  }
  CHECK(steps == a.batches_per_epoch());
  CHECK(differs_from_other_seed);
  // within an epoch the windows share one phase and never overlap
  std::sort(first_epoch.begin(), first_epoch.end());
  for (std::size_t i = 1; i < first_epoch.size(); ++i) CHECK(first_epoch[i] - first_epoch[i - 1] >= std::int32_t(T));
  CHECK(first_epoch.front() % std::int32_t(T) == first_epoch.back() % std::int32_t(T));
  // in-order batches (validation): window k starts at k T
  a.batch_in_order(1, x, y);
  CHECK(x(0, 0) == 8);
  CHECK(x(1, 0) == 12);
  CHECK(y[0] == 9);
  // through the prefetch thread: the same sequence
  tg::data::TokenWindows<B, T> d(stream, 3), e(stream, 3);
  tg::data::Prefetcher prefetch(d);
  for (int i = 0; i < 12; ++i) {
    const bool more = prefetch.next(x, y);
    CHECK(more == e.next(xb, yb));
    if (more) CHECK(x(1, 2) == xb(1, 2));
  }
  CHECK_THROWS_WITH((tg::data::TokenWindows<B, T>(std::vector<std::int32_t>(12), 1)),
                    Catch::Matchers::Contains("do not fill one batch"));
}

TEST_CASE("token windows in shares: R readers return the windows of one reader of R times the batch", "[data][text]") {
  // 101 tokens, windows of 4: 24 a epoch; global batches of 6 (4 a epoch), read whole and as 3 shares of 2
  constexpr std::size_t T = 4;
  std::vector<std::int32_t> stream(101);
  for (std::size_t i = 0; i < stream.size(); ++i) stream[i] = std::int32_t(i);
  tg::data::TokenWindows<6, T> whole(stream, 5);
  using Part = tg::data::TokenWindows<2, T>;
  std::vector<Part> parts;
  for (std::size_t r = 0; r < 3; ++r) parts.emplace_back(stream, 5, tg::data::Share{r, 3});
  CHECK(parts[2].batches_per_epoch() == whole.batches_per_epoch());
  CHECK(parts[2].leftover() == whole.leftover());
  tg::Tensor<std::int32_t, 6, T> gx;
  tg::Tensor<std::int32_t, 6 * T> gy;
  tg::Tensor<std::int32_t, 2, T> x;
  tg::Tensor<std::int32_t, 2 * T> y;
  int batches = 0;
  for (int call = 0; call < 14; ++call) {  // epochs with new phases and orders
    const bool more = whole.next(gx, gy);
    for (std::size_t r = 0; r < 3; ++r) {
      INFO("call " << call << ", share " << r);
      REQUIRE(parts[r].next(x, y) == more);
      if (!more) continue;
      CHECK(std::equal(x.begin(), x.end(), gx.begin() + std::ptrdiff_t(2 * r * T)));
      CHECK(std::equal(y.begin(), y.end(), gy.begin() + std::ptrdiff_t(2 * r * T)));
    }
    batches += more;
  }
  CHECK(batches == 12);
  whole.batch_in_order(1, gx, gy);
  parts[1].batch_in_order(1, x, y);
  CHECK(std::equal(x.begin(), x.end(), gx.begin() + 2 * T));
  CHECK_THROWS_WITH(Part(stream, 5, tg::data::Share{1, 0}), Catch::Contains("share 1 of 0 does not exist"));
  CHECK_THROWS_WITH(Part(stream, 5, tg::data::Share{0, 13}), Catch::Contains("do not fill one batch of 26 windows"));
}
