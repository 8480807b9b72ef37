#pragma once
// The timing harness of bench/: variants of one case run interleaved, round after round; medians, spread,
// heap allocations per call, and `ratio <case> <peer>/typegrad = X.XX` lines (median of per-round ratios).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

// heap allocations through operator new (allocation_counter.cpp); libtorch's tensor storage uses posix_memalign
// and is not counted
std::size_t heap_allocations();

namespace tgbench {
using Clock = std::chrono::steady_clock;

// The command line every bench program takes: [--rounds R] [--quick] [--only CASE]
struct Options {
  std::size_t rounds = 15;
  bool quick = false;
  std::string only;
  // calls per round: `full`, or at most 3 in a quick run (which only checks that everything runs)
  std::size_t calls(std::size_t full) const { return quick ? std::min<std::size_t>(full, 3) : full; }
  bool wanted(const char* name) const { return std::string(name).rfind(only, 0) == 0; }
};
// Parses argv into o; returns an exit code when the program should stop (--help, bad arguments).
inline std::optional<int> parse(Options& o, int argc, char** argv, const std::string& description) {
  CLI::App app(description);
  app.add_option("--rounds", o.rounds, "timed rounds per case (medians over rounds)");
  app.add_flag("--quick", o.quick, "a few rounds and calls: checks that everything runs");
  app.add_option("--only", o.only, "run the cases whose name starts with this");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.quick) o.rounds = 3;
  return std::nullopt;
}

inline void fill_random(float* p, std::size_t n, std::uint32_t seed, float scale = 0.1f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (std::size_t i = 0; i < n; ++i) p[i] = u(g);
}

struct Variant {
  std::string name;
  std::function<void()> run;
  std::function<void()> finish = {};  // before the clock stops: e.g. wait for queued device work
  // untimed, before the warm-up and before each round's calls (and its settling pause): e.g. the thread count
  // this variant runs with, so that variants on 1 and on 2 threads alternate round by round in one row
  std::function<void()> enter = {};
};

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The median over rounds of variant a's time over variant b's in the same round (`us`: compare's result)
inline double paired_ratio(const std::vector<std::vector<double>>& us, std::size_t a, std::size_t b) {
  std::vector<double> ratios;
  for (std::size_t r = 0; r < us[a].size(); ++r) ratios.push_back(us[a][r] / us[b][r]);
  return median(ratios);
}

// The single-core peak the GFLOP/s lines are compared with (0: not measured, no percentages printed).
inline double& peak_gflops() {
  static double peak = 0;
  return peak;
}

// times `iterations` calls of each variant per round, rounds interleaved; variant 0 is typegrad. `flop`: the
// algorithmic FLOPs of one call (bench/flops.hpp), printed as GFLOP/s and percent of peak_gflops() (0: none).
// Returns the per-round times of each variant. `settle`: an untimed pause before each variant's calls, for rows
// with more than one thread: a library's idle workers keep spinning after its calls (OpenBLAS's for up to 2^28
// cycles, libgomp's under its default wait policy), and on a 2-core machine they would take a core from the next
// variant's timed calls; the pause lets them go to sleep, so each variant is timed on an otherwise idle machine.
// One untimed call follows the pause: the first call after it paid for cores woken from idle (their caches
// refilled, a pool's workers asleep): LeNet's 2-thread step, Intel 0xA7, 1610-1627 us against 1000 for the
// 20th, and the round's median 1065 against 1014 without pauses (a 5% handicap the 1-thread rows, which have
// no pause, did not carry).
inline std::vector<std::vector<double>> compare(const std::string& name, std::vector<Variant> variants,
                                                std::size_t rounds, std::size_t iterations, double flop = 0,
                                                std::chrono::milliseconds settle = {}) {
  std::vector<double> allocs(variants.size());
  for (std::size_t k = 0; k < variants.size(); ++k) {
    if (variants[k].enter) variants[k].enter();
    for (std::size_t i = 0; i < std::max<std::size_t>(iterations / 4, 2); ++i) variants[k].run();  // warm-up
    const std::size_t before = heap_allocations();
    variants[k].run();
    allocs[k] = double(heap_allocations() - before);
    if (variants[k].finish) variants[k].finish();
  }
  std::vector<std::vector<double>> us(variants.size());
  for (std::size_t r = 0; r < rounds; ++r)
    for (std::size_t k = 0; k < variants.size(); ++k) {
      if (variants[k].enter) variants[k].enter();
      if (settle.count() > 0) {
        std::this_thread::sleep_for(settle);
        variants[k].run();  // untimed: the pause's cost, not the variant's (above)
        if (variants[k].finish) variants[k].finish();
      }
      const auto t0 = Clock::now();
      for (std::size_t i = 0; i < iterations; ++i) variants[k].run();
      if (variants[k].finish) variants[k].finish();
      us[k].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / double(iterations));
    }
  std::printf("\n%s (us per call, %zu rounds x %zu calls)\n", name.c_str(), rounds, iterations);
  for (std::size_t k = 0; k < variants.size(); ++k)
    std::printf("  %-22s median %10.3f  min %10.3f  max %10.3f  allocations/call %g\n", variants[k].name.c_str(),
                median(us[k]), *std::min_element(us[k].begin(), us[k].end()),
                *std::max_element(us[k].begin(), us[k].end()), allocs[k]);
  if (flop > 0)
    for (std::size_t k = 0; k < variants.size(); ++k) {
      const double gflops = flop / median(us[k]) / 1e3;
      if (peak_gflops() > 0)
        std::printf("gflops %s %s = %.1f (%.0f%% of peak)\n", name.c_str(), variants[k].name.c_str(), gflops,
                    100 * gflops / peak_gflops());
      else
        std::printf("gflops %s %s = %.1f\n", name.c_str(), variants[k].name.c_str(), gflops);
    }
  for (std::size_t k = 1; k < variants.size(); ++k)
    std::printf("ratio %s %s/typegrad = %.2f\n", name.c_str(), variants[k].name.c_str(), paired_ratio(us, k, 0));
  std::fflush(stdout);
  return us;
}

}  // namespace tgbench
