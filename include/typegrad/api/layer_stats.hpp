#pragma once
// Per-layer statistics of a training step, at the steps you choose: for every kernel's output (named by the layer
// whose parameters it reads: "fc1" for the ReLU region after fc1's matmul) and every parameter gradient, the mean,
// standard deviation, largest |x| and the fraction of exact zeros (dead ReLUs show as a high zero fraction).
//   auto step = tg::observed(tg::compile<...>(...));   // observation is a compile-time choice (api/observe.hpp)
//   tg::LayerStats stats(step, model);                 // model: dotted names
//   float loss = stats.record(step, index, x, y);      // this step is recorded (labelled index); step(x, y) is not
//   stats.print(); stats.write_csv("stats.csv");       // scripts/plot_stats.sh stats.csv plots it
// Off (a program that is not observed) it costs nothing at all; observed but not recording, one call per kernel
// that returns at once; recording, one pass over every output and gradient (bench/observe_overhead.cpp).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "typegrad/api/check_finite.hpp"
#include "typegrad/io/atomic_file.hpp"

namespace tg {

struct TensorStats {
  std::size_t step = 0;  // the step index given to record()
  std::string name;      // layer ("fc1") for an output, parameter ("fc1.weight") for a gradient
  std::string what;      // "output of f1 relu [64, 256]" or "gradient [256, 784]"
  std::size_t count = 0;
  double mean = 0, stddev = 0, max_abs = 0, zero_fraction = 0;
};

namespace detail {
// statistics of n elements of width bytes each (4: float, 8: double) in the backend's memory
template <class Backend>
TensorStats tensor_stats(const void* data, std::size_t n, unsigned char width) {
  TensorStats s;
  s.count = n;
  if (!data || !n) return s;
  std::vector<unsigned char> host;
  if constexpr (Backend::is_device) {
    host.resize(n * width);
    Backend::download(host.data(), data, host.size());
    data = host.data();
  }
  double sum = 0, sum_sq = 0;
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = width == 4 ? double(static_cast<const float*>(data)[i]) : static_cast<const double*>(data)[i];
    sum += v;
    sum_sq += v * v;
    zeros += v == 0;
    s.max_abs = std::max(s.max_abs, std::abs(v));
  }
  s.mean = sum / double(n);
  s.stddev = std::sqrt(std::max(0.0, sum_sq / double(n) - s.mean * s.mean));  // population standard deviation
  s.zero_fraction = double(zeros) / double(n);
  return s;
}
}  // namespace detail

// rows as a table: layer / parameter, tensor, mean, std, max |x|, zero fraction
inline void print_stats(const std::vector<TensorStats>& rows, std::FILE* out = stdout) {
  std::fprintf(out, "%-24s %-40s %11s %11s %11s %7s\n", "layer / parameter", "tensor", "mean", "std", "max |x|",
               "zeros");
  for (const auto& r : rows)
    std::fprintf(out, "%-24s %-40s %11.3e %11.3e %11.3e %6.1f%%\n", r.name.c_str(), r.what.c_str(), r.mean, r.stddev,
                 r.max_abs, 100 * r.zero_fraction);
}

// rows as CSV, written atomically: step,name,tensor,count,mean,std,max_abs,zero_fraction; shapes are written
// [64x256] so that no field holds a comma (scripts/plot_stats.sh reads the file with gnuplot)
inline void write_stats_csv(const std::vector<TensorStats>& rows, const std::filesystem::path& path) {
  std::string text = "step,name,tensor,count,mean,std,max_abs,zero_fraction\n";
  char numbers[160];
  for (const auto& r : rows) {
    std::string tensor;  // "[64, 256]" -> "[64x256]"
    for (std::size_t i = 0; i < r.what.size(); ++i) {
      const bool separator = r.what[i] == ',' && i + 1 < r.what.size() && r.what[i + 1] == ' ';
      tensor.push_back(separator ? 'x' : r.what[i]);
      i += separator;
    }
    std::snprintf(numbers, sizeof numbers, ",%zu,%.9g,%.9g,%.9g,%.9g\n", r.count, r.mean, r.stddev, r.max_abs,
                  r.zero_fraction);
    text.append(std::to_string(r.step)).append(",").append(r.name).append(",").append(tensor).append(numbers);
  }
  io::atomic_write(path, [&](const auto& put) { put(text.data(), text.size()); });
}

template <class Program>
class LayerStats {
 public:
  explicit LayerStats(Program& program, ParameterNames names = {}) : state_(std::make_shared<State>()) {
    state_->info = inspect(program, names);
    state_->names = std::move(names);
    state_->widths = detail::floating_widths(program);
    detail::chain_kernel_hook(program, [state = state_](const auto& p, std::size_t id, bool backward) {
      if (!state->recording || backward || !state->widths[id]) return;
      const std::size_t shown = state->info.node_of[id];
      TensorStats s = detail::tensor_stats<typename Program::backend>(p.value_buffer(id), Program::plan.elements[id],
                                                                      state->widths[id]);
      s.step = state->step;
      s.name = layer_name(state->info, shown);
      s.what =
          "output of f" + std::to_string(Program::plan.kernel_pos[id]) + " " + detail::describe_node(state->info, id);
      state->rows.push_back(std::move(s));
    });
  }
  template <class Model>
  requires walkable_module_v<Model> LayerStats(Program& program, const Model& model)
      : LayerStats(program, parameter_names_by_address(model)) {}

  // Runs the program (the one given to the constructor) on args with recording on, records the gradients it
  // left, and returns what it returns. `step` labels the rows.
  template <class... Args>
  auto record(Program& program, std::size_t step, const Args&... args) {
    state_->step = step;
    const std::size_t first = state_->rows.size();
    state_->recording = true;
    struct off {
      State& s;
      ~off() { s.recording = false; }
    } guard{*state_};
    auto result = program(args...);
    if constexpr (Program::trains)
      program.for_each_trainable([&](auto, const auto* data, const auto* grad, std::size_t n, std::size_t) {
        TensorStats s = detail::tensor_stats<typename Program::backend>(grad, n, sizeof(*grad));
        s.step = step;
        const auto it = state_->names.find(data);
        s.name = it != state_->names.end() ? it->second : "parameter";
        s.what = "gradient";
        state_->rows.push_back(std::move(s));
      });
    last_ = first;
    return result;
  }

  // every row recorded so far, and those of the last record()
  const std::vector<TensorStats>& rows() const { return state_->rows; }
  std::vector<TensorStats> last() const { return {state_->rows.begin() + std::ptrdiff_t(last_), state_->rows.end()}; }

  // the last record()'s rows as a table; every row as CSV (print_stats, write_stats_csv)
  void print(std::FILE* out = stdout) const { print_stats(last(), out); }
  void write_csv(const std::filesystem::path& path) const { write_stats_csv(state_->rows, path); }

 private:
  struct State {
    ProgramInfo info;
    ParameterNames names;
    std::vector<unsigned char> widths;
    std::vector<TensorStats> rows;
    std::size_t step = 0;
    bool recording = false;
  };
  // the layers whose parameters the kernel's region reads, "-" for a kernel that reads none (a pooling layer)
  static std::string layer_name(const ProgramInfo& info, std::size_t kernel) {
    std::string s = detail::layers_of(info, kernel);
    return s.empty() ? "-" : s;
  }

  std::shared_ptr<State> state_;
  std::size_t last_ = 0;
};

}  // namespace tg
