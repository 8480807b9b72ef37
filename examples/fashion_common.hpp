#pragma once
// What the Fashion-MNIST examples share: the command line, the data, the epoch loop with a progress line,
// evaluation on the test set and the closing machine-readable line.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <typegrad/api/check_finite.hpp>
#include <typegrad/api/layer_stats.hpp>
#include <typegrad/data/batches.hpp>
#include <typegrad/data/idx.hpp>
#include <typegrad/data/prefetch.hpp>
#include <typegrad/train/evaluate.hpp>
#include <typegrad/train/history.hpp>
#include <typegrad/train/progress.hpp>

namespace examples {

struct Options {
  int epochs = 1;
  std::size_t batch = 64;
  double lr = 0;             // 0: the example's default
  double weight_decay = -1;  // < 0: the example's default (resnet_fashion_mnist)
  std::uint64_t seed = 1;
  std::string data = tg::data::fashion_mnist_dir;
  bool classic = false;
  bool confusion = false;
  bool check_finite = false;  // check every kernel's output and gradients for NaN/Inf (tg::check_finite)
  bool stats = false;         // record per-layer statistics (tg::LayerStats) every stats_every steps
  std::size_t stats_every = 200;
  std::string stats_csv;        // ... and write them all to this CSV
  std::string history;          // CSV of per-epoch loss and time
  std::string save;             // the trained model as safetensors (empty: not saved)
  bool distributed = false;     // data parallel over MPI (mpirun -np R): --batch is the global batch
  std::size_t pad = 0;          // augmentation: random crop with this padding (resnet_fashion_mnist)
  bool flip = false;            // augmentation: random horizontal flip
  std::size_t limit_steps = 0;  // > 0: each epoch stops after this many steps (smoke runs)
  std::string checkpoint = "lenet_classes_0_4.safetensors";  // finetune_fashion_mnist
};

// The flags beyond the common ones that an example offers.
struct Extras {
  int epochs = 1;            // the default of --epochs
  bool classic = false;      // --classic
  bool checkpoint = false;   // --checkpoint
  bool save = false;         // --save
  bool distributed = false;  // --distributed
  bool augment = false;      // --pad, --flip (on by default), --weight-decay
  std::size_t threads = 1;   // the default of --threads
};

// Parses the common flags (options.cpp, compiled once for all examples); `batches` lists the batch sizes
// compiled into the example.
Options parse(int argc, char** argv, const std::string& description, const std::string& batches, Extras extras = {});

// Calls train<B>(o) for the compiled-in batch size that --batch names.
template <std::size_t... Sizes, class Train>
int with_batch_size(const Options& o, Train&& train) {
  int result = -1;
  const bool known = ((o.batch == Sizes ? (result = train.template operator()<Sizes>(o), true) : false) || ...);
  if (!known) {
    std::string list;
    ((list += (list.empty() ? "" : ", ") + std::to_string(Sizes)), ...);
    throw std::invalid_argument("--batch " + std::to_string(o.batch) + " is not compiled in (" + list + ")");
  }
  return result;
}

inline constexpr float fashion_mean = 0.2860f, fashion_std = 0.3530f;
inline constexpr std::size_t eval_batch = 1000;

// Stops training with a plain message when the loss is NaN or infinite.
inline void check_finite(float loss, int epoch, std::size_t step) {
  if (!std::isfinite(loss))
    throw std::runtime_error("the loss became " + std::to_string(loss) + " at epoch " + std::to_string(epoch) +
                             " step " + std::to_string(step) +
                             " (try a smaller --lr; --check-finite names the operation that first produces a NaN or "
                             "infinity)");
}

// --check-finite and --stats on a training step. Both watch its kernels, so the step must be observed
// (tg::observed); asked of one that is not (the device example's), they stop with an error instead of doing nothing.
template <class Step>
class Watch {
 public:
  // csv_tag: this run's part of --stats-csv (FILE.csv -> FILE_<tag>.csv), for programs that train several steps
  Watch(const Options& o, Step& step, const tg::ParameterNames& names, const std::string& csv_tag = "") : o_(o) {
    if (!o.stats_csv.empty() && !csv_tag.empty()) {
      const std::filesystem::path p(o.stats_csv);
      csv_ = (p.parent_path() / (p.stem().string() + "_" + csv_tag + p.extension().string())).string();
    } else {
      csv_ = o.stats_csv;
    }
    if constexpr (observable()) {
      if (o.check_finite) tg::check_finite(step, true, names);
      if (o.stats) stats_.emplace(step, names);
    } else if (o.check_finite || o.stats) {
      throw std::invalid_argument(std::string(o.check_finite ? "--check-finite" : "--stats") +
                                  ": not available for this example (its step is not observed: tg::observed)");
    }
  }
  // runs the step, recording statistics every --stats-every steps
  template <class X, class Y>
  float operator()(Step& step, const X& x, const Y& y) {
    const std::size_t index = count_++;
    if constexpr (observable())
      if (stats_ && index % o_.stats_every == 0) return stats_->record(step, index, x, y);
    return step(x, y);
  }
  // the last recorded table (after an epoch), and every row to --stats-csv (at the end)
  void print() const {
    if constexpr (observable())
      if (stats_) {
        std::printf("per-layer statistics at step %zu:\n", stats_->last().empty() ? 0 : stats_->last().front().step);
        stats_->print();
      }
  }
  void finish() const {
    if constexpr (observable())
      if (stats_ && !csv_.empty()) {
        stats_->write_csv(csv_);
        std::printf("wrote per-layer statistics to %s\n", csv_.c_str());
      }
  }

 private:
  static constexpr bool observable() {
    if constexpr (requires { typename Step::backend; })
      return tg::is_observed_v<Step>;
    else
      return false;
  }
  const Options& o_;
  std::string csv_;
  std::size_t count_ = 0;
  std::conditional_t<observable(), std::optional<tg::LayerStats<Step>>, std::optional<int>> stats_;
};

// Switches a model between training and evaluation mode (tg::set_training) around each evaluation; none: no
// layer depends on the mode.
struct NoModes {
  void operator()(bool) const {}
};

// Trains for o.epochs with `update` after each step, then evaluates `predict` (batches of E images) on the test
// split. `names` names the parameters for --check-finite and --stats (Watch); `set_training(bool)` sets the
// model's mode.
template <std::size_t B, std::size_t E, std::size_t... Item, class Step, class Optimizer, class Predict,
          class Modes = NoModes>
int run_evaluated_by(const Options& o, Step& step, Optimizer& optimizer, Predict& predict,
                     const tg::ParameterNames& names = {}, Modes set_training = {}) {
  const auto train = tg::data::read_mnist_split(o.data, "train");
  const auto test = tg::data::read_mnist_split(o.data, "t10k");
  std::printf("data: %zu training and %zu test images from %s\n", train.size(), test.size(), o.data.c_str());
  tg::data::ImageBatches<B, Item...> batches(train, fashion_mean, fashion_std, o.seed);
  if (batches.leftover())
    std::printf("note: %zu images do not fill a batch of %zu; they open the next epoch instead\n", batches.leftover(),
                B);
  tg::data::ImageBatches<E, Item...> test_batches(test, fashion_mean, fashion_std, 0);
  if constexpr (sizeof...(Item) == 3) {
    if (o.pad > 0 || o.flip) {
      batches.set_augment({o.pad, o.flip, (0 - fashion_mean) / fashion_std});  // pads with the background
      std::printf("augmentation: random crop with padding %zu%s\n", o.pad, o.flip ? ", horizontal flip" : "");
    }
  }
  const auto evaluate = [&] {
    set_training(false);
    const auto e = tg::train::evaluate<10>(predict, test_batches);
    set_training(true);
    return e;
  };

  tg::train::Progress progress(B);
  typename decltype(batches)::images_type x;
  typename decltype(batches)::labels_type y;
  tg::data::Prefetcher prefetch(batches);
  tg::train::History history;
  Watch<Step> watch(o, step, names);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    progress.start_epoch(epoch, batches.batches_per_epoch());
    std::size_t done = 0;
    double loss_sum = 0;
    while (prefetch.next(x, y)) {
      if (o.limit_steps > 0 && done == o.limit_steps) continue;  // drain the epoch: the next one starts fresh
      const float loss = watch(step, x, y);
      check_finite(loss, epoch, done + 1);
      optimizer.update(step);
      loss_sum += loss;
      progress.step(++done, loss);
    }
    const double secs = progress.end_epoch();
    std::printf("epoch %d: %.1f s\n", epoch, secs);
    watch.print();
    if (!o.history.empty())  // the curve needs the accuracy after every epoch
      history.add({{"epoch", double(epoch)},
                   {"train_loss", loss_sum / double(done)},
                   {"test_accuracy", evaluate().accuracy()}});
  }
  if (!o.history.empty()) history.write_csv(o.history);
  watch.finish();
  const auto e = evaluate();
  if (o.confusion) tg::train::print_confusion(e);
  std::printf("test_accuracy: %.4f\n", e.accuracy());
  return 0;
}

// The same, evaluating in batches of eval_batch images.
template <std::size_t B, std::size_t... Item, class Step, class Optimizer, class Predict>
int run(const Options& o, Step& step, Optimizer& optimizer, Predict& predict, const tg::ParameterNames& names = {}) {
  return run_evaluated_by<B, eval_batch, Item...>(o, step, optimizer, predict, names);
}

}  // namespace examples
