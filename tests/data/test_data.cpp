// IDX reading (plain and gzip, each kind of corrupt file), class selection, batches (seeded shuffling,
// explicit partial-batch policies, shares of global batches) and the prefetch thread (same sequence as without it).
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "support.hpp"
#include "typegrad/data/batches.hpp"
#include "typegrad/data/idx.hpp"
#include "typegrad/data/prefetch.hpp"

namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) { return tgtest::scratch_file(name); }

std::vector<unsigned char> idx_bytes(std::uint8_t rank, std::vector<std::uint32_t> dims, std::size_t values,
                                     unsigned char first = 0x00, unsigned char type = 0x08) {
  std::vector<unsigned char> b{first, 0x00, type, rank};
  for (auto d : dims)
    for (int k = 3; k >= 0; --k) b.push_back(static_cast<unsigned char>(d >> (8 * k)));
  for (std::size_t i = 0; i < values; ++i) b.push_back(static_cast<unsigned char>(i % 10));
  return b;
}
void write_plain(const fs::path& p, const std::vector<unsigned char>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
void write_gz(const fs::path& p, const std::vector<unsigned char>& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  if (!b.empty()) gzwrite(f, b.data(), unsigned(b.size()));
  gzclose(f);
}
// gzip-compresses `b`, then applies `edit` to the compressed bytes
template <class Edit>
void write_edited_gz(const fs::path& p, const std::vector<unsigned char>& b, Edit edit) {
  write_gz(p, b);
  std::ifstream f(p, std::ios::binary);
  std::vector<unsigned char> z{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  f.close();
  edit(z);
  write_plain(p, z);
}
// a directory holding an MNIST-style split of n images of 2x3 pixels
fs::path make_split(const std::string& name, std::uint32_t n_images, std::uint32_t n_labels) {
  const auto dir = scratch(name);
  fs::create_directories(dir);
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_bytes(3, {n_images, 2, 3}, n_images * 6));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes(1, {n_labels}, n_labels));
  return dir;
}
}  // namespace

TEST_CASE("IDX files, plain and gzip", "[integration]") {
  const auto plain = scratch("a.idx"), gz = scratch("a.idx.gz");
  write_plain(plain, idx_bytes(3, {4, 2, 3}, 24));
  write_gz(gz, idx_bytes(3, {4, 2, 3}, 24));
  for (const auto& p : {plain, gz}) {
    const auto a = tg::data::read_idx(p, 3);
    CHECK(a.dims == std::vector<std::uint32_t>{4, 2, 3});
    CHECK(a.item_size() == 6);
    CHECK(a.values[13] == 3);
  }
}

TEST_CASE("corrupt IDX files are rejected with the problem named", "[integration]") {
  const auto p = scratch("bad.idx");
  SECTION("wrong magic number") {
    write_plain(p, idx_bytes(3, {4, 2, 3}, 24, 0x01));
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("wrong magic number"));
  }
  SECTION("not unsigned bytes") {
    write_plain(p, idx_bytes(3, {4, 2, 3}, 24, 0x00, 0x0D));
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("wrong magic number"));
  }
  SECTION("wrong rank") {
    write_plain(p, idx_bytes(1, {24}, 24));
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("rank 1, expected 3"));
  }
  SECTION("truncated header") {
    write_plain(p, {0, 0, 8, 3, 0, 0});
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("truncated header"));
  }
  SECTION("truncated data") {
    write_plain(p, idx_bytes(3, {4, 2, 3}, 20));
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("truncated: header promises 24 values, file holds 20"));
  }
  SECTION("trailing bytes") {
    write_plain(p, idx_bytes(3, {4, 2, 3}, 25));
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("1 unexpected trailing bytes"));
  }
  SECTION("corrupt gzip stream") {
    const auto gz = scratch("bad.idx.gz");
    write_gz(gz, idx_bytes(3, {40, 2, 3}, 240));
    std::fstream f(gz, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.write("\xff\xff\xff\xff\xff\xff", 6);
    f.close();
    CHECK_THROWS_AS(tg::data::read_idx(gz, 3), tg::data::IdxError);
  }
  const auto gz = scratch("edited.idx.gz");
  SECTION("gzip with a flipped bit and its 8-byte trailer cut off") {  // was accepted with changed values
    write_edited_gz(gz, idx_bytes(3, {40, 2, 3}, 240), [](auto& b) {
      b.resize(b.size() - 8);
      b[b.size() / 2] ^= 0x10;
    });
    CHECK_THROWS_AS(tg::data::read_idx(gz, 3), tg::data::IdxError);
    write_edited_gz(gz, idx_bytes(3, {40, 2, 3}, 240), [](auto& b) { b.resize(b.size() - 8); });
    CHECK_THROWS_WITH(tg::data::read_idx(gz, 3), Catch::Contains("truncated gzip stream"));
  }
  SECTION("gzip whose CRC does not match its data") {
    write_edited_gz(gz, idx_bytes(3, {40, 2, 3}, 240), [](auto& b) { b[b.size() - 8] ^= 0x01; });  // CRC-32's 1st byte
    CHECK_THROWS_WITH(tg::data::read_idx(gz, 3), Catch::Contains("corrupt compressed data (incorrect data check)"));
  }
  SECTION("bytes after a complete gzip member") {
    write_edited_gz(gz, idx_bytes(3, {4, 2, 3}, 24), [](auto& b) { b.insert(b.end(), {'j', 'u', 'n', 'k'}); });
    CHECK_THROWS_WITH(tg::data::read_idx(gz, 3),
                      Catch::Contains("4 unexpected bytes after the end of the gzip stream"));
  }
  SECTION("gzip stream with more values than the header promises") {
    const auto gz = scratch("more.idx.gz");
    write_gz(gz, idx_bytes(3, {4, 2, 3}, 25));
    CHECK_THROWS_WITH(tg::data::read_idx(gz, 3), Catch::Contains("unexpected trailing bytes after the data"));
  }
  SECTION("dimensions whose product overflows") {  // 4 x 2^31 x 2^31 was accepted with item size 2^62
    write_plain(p, idx_bytes(3, {4, 0x80000000u, 0x80000000u}, 0));
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3), Catch::Contains("dimensions 4 x 2147483648 x 2147483648 overflow"));
  }
  SECTION("dimensions that promise more than the file can hold") {
    write_plain(p, idx_bytes(3, {2, 0x80000000u, 0x80000000u}, 0));  // 2^63 values: no overflow, 16 bytes
    CHECK_THROWS_WITH(tg::data::read_idx(p, 3),
                      Catch::Contains("header promises 9223372036854775808 values, file holds 0"));
    const auto gz = scratch("bomb.idx.gz");
    write_gz(gz, idx_bytes(1, {0xFFFFFFFFu}, 0));
    CHECK_THROWS_WITH(tg::data::read_idx(gz, 1),
                      Catch::Contains("more than a") && Catch::Contains("gzip file can hold"));
  }
  SECTION("a gzip bomb is rejected once it passes the promised size") {
    const auto gz = scratch("zeros.idx.gz");
    auto b = idx_bytes(1, {10}, 10);
    b.resize(b.size() + (std::size_t(64) << 20));  // 64 MiB of zeros after the promised 10 values
    write_gz(gz, b);
    CHECK(fs::file_size(gz) < (std::size_t(1) << 20));
    CHECK_THROWS_WITH(tg::data::read_idx(gz, 1), Catch::Contains("unexpected trailing bytes after the data"));
  }
  SECTION("missing file") { CHECK_THROWS_WITH(tg::data::read_idx(scratch("none"), 3), Catch::Contains("cannot open")); }
}

TEST_CASE("a split's image and label counts must agree; labels must be classes", "[integration]") {
  CHECK_THROWS_WITH(tg::data::read_mnist_split(make_split("mismatch", 5, 4), "train"),
                    Catch::Contains("5 images but 4 labels"));
  const auto dir = make_split("ok", 12, 12);
  const auto split = tg::data::read_mnist_split(dir, "train", 10);
  CHECK(split.size() == 12);
  CHECK_THROWS_WITH(tg::data::read_mnist_split(dir, "train", 5), Catch::Contains("label 5 at 5 is outside [0, 5)"));
  const auto low = tg::data::select_classes(split, 0, 2);
  CHECK(low.size() == 5);  // labels 0, 1, 2, 0, 1 (positions 0, 1, 2, 10, 11)
  for (auto v : low.labels.values) CHECK(v <= 2);
  CHECK(low.images.values[3 * 6] == split.images.values[10 * 6]);
}

TEST_CASE("batches: seeded shuffling and explicit partial batches", "[integration]") {
  const auto split = tg::data::read_mnist_split(make_split("batches", 10, 10), "train");
  using Batches = tg::data::ImageBatches<4, 2, 3>;
  Batches::images_type x;
  Batches::labels_type y;
  SECTION("carry_over: the two images left at the end of an epoch open the next one") {
    Batches b(split, 0, 1, 7, tg::data::PartialBatch::carry_over);
    CHECK(b.batches_per_epoch() == 2);
    CHECK(b.leftover() == 2);
    std::vector<int> first_epoch;
    while (b.next(x, y)) first_epoch.insert(first_epoch.end(), y.begin(), y.end());
    CHECK(first_epoch.size() == 8);
    REQUIRE(b.next(x, y));
    std::vector<int> all(first_epoch);
    all.push_back(y[0]);
    all.push_back(y[1]);
    std::sort(all.begin(), all.end());  // labels are i % 10 = i: every image exactly once over 8 + 2
    CHECK(all == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
  SECTION("the same seed gives the same order; another seed another") {
    Batches a(split, 0, 1, 3), c(split, 0, 1, 3), d(split, 0, 1, 4);
    Batches::labels_type ya, yc, yd;
    a.next(x, ya);
    c.next(x, yc);
    d.next(x, yd);
    CHECK(std::equal(ya.begin(), ya.end(), yc.begin()));
    std::vector<int> all_d;
    do all_d.insert(all_d.end(), yd.begin(), yd.end());
    while (d.next(x, yd));
    CHECK(all_d.size() == 8);
  }
  SECTION("normalisation") {
    Batches b(split, 0.5f, 0.25f, 1);
    b.batch_in_order(0, x, y);
    CHECK(x[1] == Approx((1 / 255.0f - 0.5f) / 0.25f));
  }
  SECTION("prefetching delivers the same batches") {
    Batches direct(split, 0, 1, 9), threaded(split, 0, 1, 9);
    tg::data::Prefetcher<Batches> prefetch(threaded);
    Batches::images_type x2;
    Batches::labels_type y2;
    for (int k = 0; k < 7; ++k) {
      const bool a = direct.next(x, y);
      const bool b = prefetch.next(x2, y2);
      REQUIRE(a == b);
      if (a) {
        CHECK(std::equal(y.begin(), y.end(), y2.begin()));
        CHECK(std::equal(x.begin(), x.end(), x2.begin()));
      }
    }
  }
}

TEST_CASE("batches in shares: R readers return the rows of one reader of R times the batch", "[integration]") {
  // 23 images of 1 x 2 x 3: global batches of 6 (3 a epoch, 5 left over and carried into the next epoch), read whole
  // and as 3 shares of 2 rows, augmented (each image's draw from the global batch's stream)
  const auto split = tg::data::read_mnist_split(make_split("shares", 23, 23), "train");
  using Global = tg::data::ImageBatches<6, 1, 2, 3>;
  using Part = tg::data::ImageBatches<2, 1, 2, 3>;
  const tg::data::Augment augment{1, true, -7};
  Global whole(split, 0.5f, 0.25f, 11);
  whole.set_augment(augment);
  std::vector<Part> parts;
  for (std::size_t r = 0; r < 3; ++r) {
    parts.emplace_back(split, 0.5f, 0.25f, 11, tg::data::PartialBatch::carry_over, tg::data::Share{r, 3});
    parts.back().set_augment(augment);
  }
  CHECK(parts[1].batches_per_epoch() == 3);
  CHECK(parts[1].leftover() == 5);
  Global::images_type gx;
  Global::labels_type gy;
  Part::images_type x;
  Part::labels_type y;
  int batches = 0;
  for (int call = 0; call < 12; ++call) {  // three epochs and their ends
    const bool more = whole.next(gx, gy);
    for (std::size_t r = 0; r < 3; ++r) {
      INFO("call " << call << ", share " << r);
      REQUIRE(parts[r].next(x, y) == more);
      if (!more) continue;
      CHECK(std::equal(y.begin(), y.end(), gy.begin() + std::ptrdiff_t(2 * r)));
      CHECK(std::equal(x.begin(), x.end(), gx.begin() + std::ptrdiff_t(2 * r * 6)));
    }
    batches += more;
  }
  CHECK(batches == 9);
  SECTION("in order: batch k's rows, and the leftover's (the last share holds none of its 5)") {
    whole.batch_in_order(2, gx, gy);
    parts[1].batch_in_order(2, x, y);
    CHECK(std::equal(x.begin(), x.end(), gx.begin() + 12));
    CHECK(std::equal(y.begin(), y.end(), gy.begin() + 2));
    CHECK(whole.partial_batch_in_order(gx, gy) == 5);
    CHECK(parts[0].partial_batch_in_order(x, y) == 2);
    CHECK(std::equal(y.begin(), y.end(), gy.begin()));
    CHECK(parts[1].partial_batch_in_order(x, y) == 2);
    CHECK(std::equal(y.begin(), y.end(), gy.begin() + 2));
    CHECK(parts[2].partial_batch_in_order(x, y) == 1);
    CHECK(y[0] == gy[4]);
  }
  SECTION("a share that does not exist, and a global batch larger than the set") {
    CHECK_THROWS_WITH(Part(split, 0, 1, 1, tg::data::PartialBatch::drop, tg::data::Share{3, 3}),
                      Catch::Contains("share 3 of 3 does not exist"));
    CHECK_THROWS_WITH(Part(split, 0, 1, 1, tg::data::PartialBatch::drop, tg::data::Share{0, 12}),
                      Catch::Contains("fewer images (23) than one batch (24)"));
  }
}
