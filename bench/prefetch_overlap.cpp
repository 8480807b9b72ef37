// Does the prefetch thread hide batch preparation behind the training step? Times an epoch slice of the
// MLP step (batch 64) with batches prepared inline and with tg::data::Prefetcher, interleaved over
// repetitions; prints medians, spread and the paired ratio.
//   prefetch_overlap [--steps N] [--repetitions R] [--data DIR]
#include <CLI/CLI.hpp>
#include <typegrad/data/batches.hpp>
#include <typegrad/data/prefetch.hpp>
#include <typegrad/typegrad.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

namespace {
constexpr std::size_t B = 64;
using Batches = tg::data::ImageBatches<B, 784>;

struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  Mlp() : fc1(1), fc2(2), fc3(3) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

// Data augmentation as a batch source: every image shifted by a random offset in [-2, 2] pixels, zero-filled.
struct Shifted {
  using images_type = Batches::images_type;
  using labels_type = Batches::labels_type;
  explicit Shifted(Batches& source) : inner(source) {}
  Batches& inner;
  std::mt19937 rng{5};
  images_type raw;
  bool next(images_type& x, labels_type& y) {
    if (!inner.next(raw, y)) return false;
    std::uniform_int_distribution<int> d(-2, 2);
    for (std::size_t b = 0; b < B; ++b) {
      const int dy = d(rng), dx = d(rng);
      for (int r = 0; r < 28; ++r)
        for (int c = 0; c < 28; ++c) {
          const int sr = r - dy, sc = c - dx;
          x[b * 784 + std::size_t(r * 28 + c)] =
              sr >= 0 && sr < 28 && sc >= 0 && sc < 28 ? raw[b * 784 + std::size_t(sr * 28 + sc)] : -0.81f;
        }
    }
    return true;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  std::size_t steps = 300, repetitions = 9;
  std::string data = tg::data::fashion_mnist_dir;
  CLI::App app("prefetch overlap benchmark");
  app.add_option("--steps", steps, "training steps per measurement");
  app.add_option("--repetitions", repetitions, "measurements per variant (median reported)");
  app.add_option("--data", data, "MNIST-format directory");
  CLI11_PARSE(app, argc, argv);

  const auto train = tg::data::read_mnist_split(data, "train");
  Mlp model;
  auto step = tg::compile<tg::Input<float, B, 784>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto sgd = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.01});
  Batches::images_type x;
  Batches::labels_type y;

  double waited = 0;  // per step, last prefetched run
  auto run_with = [&]<class Source>(Source& source, bool prefetching) {
    const auto t0 = std::chrono::steady_clock::now();
    if (prefetching) {
      tg::data::Prefetcher<Source> p(source);
      for (std::size_t s = 0; s < steps; ++s) {
        if (!p.next(x, y)) p.next(x, y);
        step(x, y);
        sgd.update(step);
      }
      waited = p.waited_ms() / double(steps);
    } else {
      for (std::size_t s = 0; s < steps; ++s) {
        if (!source.next(x, y)) source.next(x, y);
        step(x, y);
        sgd.update(step);
      }
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / double(steps);
  };
  auto prepare_only = [&]<class Source>(Source& source) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t s = 0; s < steps; ++s)
      if (!source.next(x, y)) source.next(x, y);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / double(steps);
  };
  auto spread = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::make_pair(v.front(), v.back());
  };
  auto measure = [&](const char* label, bool augment) {
    std::vector<double> inline_ms, prefetch_ms, ratios, prepare_ms, waited_ms;
    for (std::size_t r = 0; r <= repetitions; ++r) {  // the first round warms up; rounds interleave the variants
      double a, b, c;
      {
        Batches src(train, 0.2860f, 0.3530f, 1);
        Shifted aug(src);
        a = augment ? run_with(aug, false) : run_with(src, false);
      }
      {
        Batches src(train, 0.2860f, 0.3530f, 1);
        Shifted aug(src);
        b = augment ? run_with(aug, true) : run_with(src, true);
      }
      {
        Batches src(train, 0.2860f, 0.3530f, 1);
        Shifted aug(src);
        c = augment ? prepare_only(aug) : prepare_only(src);
      }
      if (r == 0) continue;
      inline_ms.push_back(a);
      prefetch_ms.push_back(b);
      prepare_ms.push_back(c);
      waited_ms.push_back(waited);
      ratios.push_back(a / b);
    }
    std::printf("\n%s: per step (ms), MLP 784-256-128-10, batch 64, SGD\n", label);
    std::printf("  %-32s %10s %10s %10s\n", "", "median", "min", "max");
    for (auto [name, v] : {std::pair{"batch preparation alone", &prepare_ms},
                           std::pair{"step, batches prepared inline", &inline_ms},
                           std::pair{"step, batches prefetched", &prefetch_ms},
                           std::pair{"  of which waiting for a batch", &waited_ms}})
      std::printf("  %-32s %10.4f %10.4f %10.4f\n", name, median(*v), spread(*v).first, spread(*v).second);
    std::printf("ratio prefetch_%s inline/prefetched = %.2f\n", augment ? "augmented" : "plain", median(ratios));
  };
  measure("pre-normalised batches", false);
  measure("batches with random-shift augmentation", true);
  return 0;
}
