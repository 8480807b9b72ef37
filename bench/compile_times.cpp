// Compile-time cost of the example translation units: wall time and peak memory of the compiler, measured by
// /usr/bin/time -v on the exact commands CMake uses (compile_commands.json). Medians over repetitions.
//   compile_times --build <dir> [--repeat N] [--only NAME]
// Units: the examples, bench/transformer_block_model and the depth probes of bench/depth/ (one unit per CMake
// target; they need not be built first). The build's own object files are left alone.
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {
struct Measure {
  double wall_s;
  double peak_mb;
};

// "h:mm:ss" or "m:ss.ss" from time -v
double parse_elapsed(const std::string& s) {
  double total = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = s.find(':', start);
    total = total * 60 + std::stod(s.substr(start, colon - start));
    if (colon == std::string::npos) return total;
    start = colon + 1;
  }
}

// The unit's command with its object written to a temporary file: writing the build's own object (without the
// dependency file CMake's command also writes) left make unaware of the object's headers, so it was not rebuilt
// when they changed.
std::string to_temporary_object(const std::string& command) {
  static const std::regex output(R"( -o +\S+)");
  const std::string object = (std::filesystem::temp_directory_path() / "typegrad_compile_time.o").string();
  if (!std::regex_search(command, output)) throw std::runtime_error("no -o in the command: " + command);
  return std::regex_replace(command, output, " -o '" + object + "'", std::regex_constants::format_first_only);
}

Measure run_once(const std::string& directory, const std::string& command) {
  const std::string log = (std::filesystem::temp_directory_path() / "typegrad_compile_time.log").string();
  const std::string shell =
      "cd '" + directory + "' && /usr/bin/time -v -o '" + log + "' " + to_temporary_object(command) + " > /dev/null 2>&1";
  if (std::system(shell.c_str()) != 0) throw std::runtime_error("compile failed: " + command);
  std::ifstream in(log);
  std::string line;
  Measure m{-1, -1};
  const std::regex elapsed(R"(Elapsed \(wall clock\) time.*: (\S+))"), rss(R"(Maximum resident set size \(kbytes\): (\d+))");
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, elapsed)) m.wall_s = parse_elapsed(match[1]);
    if (std::regex_search(line, match, rss)) m.peak_mb = std::stod(match[1]) / 1024.0;
  }
  if (m.wall_s < 0 || m.peak_mb < 0) throw std::runtime_error("could not read /usr/bin/time -v output in " + log);
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  std::string build = "build", only;
  int repeat = 3;
  CLI::App app("compile time and peak memory of each example translation unit");
  app.add_option("--build", build, "CMake build directory (with compile_commands.json)");
  app.add_option("--repeat", repeat, "compilations per unit (median wall time, largest peak memory)");
  app.add_option("--only", only, "units whose name contains this");
  CLI11_PARSE(app, argc, argv);
  if (!std::filesystem::exists("/usr/bin/time")) {
    std::fprintf(stderr, "compile_times needs /usr/bin/time (Debian package 'time')\n");
    return 1;
  }
  std::ifstream in(std::filesystem::path(build) / "compile_commands.json");
  if (!in) {
    std::fprintf(stderr, "no compile_commands.json in %s (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)\n",
                 build.c_str());
    return 1;
  }
  const auto commands = nlohmann::json::parse(in);
  // the units and their targets (issue 6): wall seconds, peak MB
  const std::map<std::string, std::pair<double, double>> targets{{"mlp_fashion_mnist", {10, 1024}},
                                                                 {"lenet_fashion_mnist", {15, 1e9}},
                                                                 {"transformer_block_model", {25, 1e9}},
                                                                 {"transformer_lm_12", {40, 2048}},
                                                                 {"transformer_lm_unrolled_12", {40, 2048}},
                                                                 {"resnet20", {40, 1e9}}};
  // depth probes (issue 13): the deep unit's time over the shallow one's, and the target for that ratio
  const std::vector<std::tuple<std::string, std::string, double>> ratios{
      {"residual_stack_32", "residual_stack_1", 2.0}, {"transformer_lm_12", "transformer_lm_1", 1.5}};
  std::map<std::string, double> measured;
  std::printf("%-28s %10s %10s   %s\n", "translation unit", "wall s", "peak MB", "target");
  const std::regex target_dir(R"(CMakeFiles/([^/ ]+)\.dir/)");
  for (const auto& entry : commands) {
    const std::filesystem::path file = entry.at("file").get<std::string>();
    const std::string parent = file.parent_path().filename().string(), stem = file.stem().string();
    const bool example = parent == "examples" && stem != "options";
    if (!(example || stem == "transformer_block_model" || parent == "depth")) continue;
    // the unit's name is its CMake target (the depth probes build one source several times)
    std::string name = stem;
    std::smatch m;
    const std::string command = entry.at("command");
    if (std::regex_search(command, m, target_dir)) name = m[1];
    if (!only.empty() && name.find(only) == std::string::npos) continue;
    std::vector<double> wall;
    double peak = 0;
    for (int r = 0; r < repeat; ++r) {
      const Measure m = run_once(entry.at("directory"), entry.at("command"));
      wall.push_back(m.wall_s);
      peak = std::max(peak, m.peak_mb);
    }
    std::sort(wall.begin(), wall.end());
    const double median = wall[wall.size() / 2];
    std::string verdict = "-";
    if (auto t = targets.find(name); t != targets.end())
      verdict = (median <= t->second.first && peak <= t->second.second ? "within " : "OVER ") +
                std::to_string(int(t->second.first)) + " s" +
                (t->second.second < 1e8 ? " / " + std::to_string(int(t->second.second)) + " MB" : "");
    std::printf("%-28s %10.2f %10.0f   %s\n", name.c_str(), median, peak, verdict.c_str());
    std::printf("compile %s wall_s = %.2f peak_mb = %.0f\n", name.c_str(), median, peak);
    measured[name] = median;
  }
  for (const auto& [deep, shallow, limit] : ratios)
    if (measured.count(deep) && measured.count(shallow)) {
      const double r = measured[deep] / measured[shallow];
      std::printf("ratio compile %s / %s = %.2f (%s %.1f)\n", deep.c_str(), shallow.c_str(), r,
                  r <= limit ? "within" : "OVER", limit);
    }
  return 0;
}
