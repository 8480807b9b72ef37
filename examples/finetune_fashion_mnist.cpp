// Fine-tuning: train LeNet on Fashion-MNIST classes 0-4, save a safetensors checkpoint, then load it into
// a new model, freeze the feature extractor (no gradient code is generated for it) and train only the
// classifier head on classes 5-9. Reports accuracies and the median step time with and without freezing.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <typegrad/data/batches.hpp>
#include <typegrad/io/safetensors.hpp>
#include <typegrad/train/evaluate.hpp>
#include <typegrad/typegrad.hpp>

#include "fashion_common.hpp"

namespace {
constexpr std::size_t B = 64, E = 1000;
using Features = tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>,
                                tg::MaxPool2d<2>, tg::ReLU, tg::Flatten>;
using Head = tg::Sequential<tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>, tg::LogSoftmax<1>>;
struct LeNet {
  BOOST_HANA_DEFINE_STRUCT(LeNet, (Features, features), (Head, head));
  explicit LeNet(std::uint64_t seed)
      : features(tg::Conv2d<1, 10, 5>(seed), {}, {}, tg::Conv2d<10, 20, 5>(seed + 1), {}, {}, {}),
        head(tg::Linear<320, 50>(seed + 2), {}, tg::Linear<50, 10>(seed + 3), {}) {}
};

using Batches = tg::data::ImageBatches<B, 1, 28, 28>;
using TestBatches = tg::data::ImageBatches<E, 1, 28, 28>;

// trains `step` for `epochs` over `data` (--check-finite, --stats: examples::Watch); returns the median step time
// in ms
template <class Step, class Opt>
double train(const examples::Options& o, Step& step, Opt& opt, Batches& data, const tg::ParameterNames& names,
             const char* what, const char* stats_tag) {
  examples::Watch<Step> watch(o, step, names, stats_tag);
  const int epochs = o.epochs;
  Batches::images_type x;
  Batches::labels_type y;
  std::vector<double> ms;
  tg::train::Progress progress(B);
  std::printf("%s\n", what);
  for (int e = 1; e <= epochs; ++e) {
    progress.start_epoch(e, data.batches_per_epoch());
    std::size_t n = 0;
    while (data.next(x, y)) {
      const auto t0 = std::chrono::steady_clock::now();
      const float loss = watch(step, x, y);
      examples::check_finite(loss, e, n + 1);
      opt.update(step);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      progress.step(++n, loss);
    }
    progress.end_epoch();
    watch.print();
  }
  watch.finish();
  std::nth_element(ms.begin(), ms.begin() + std::ptrdiff_t(ms.size() / 2), ms.end());
  return ms[ms.size() / 2];
}

// accuracy on every test image of the selected classes
template <class Predict>
double accuracy(Predict& predict, const tg::data::LabelledImages& test) {
  TestBatches batches(test, examples::fashion_mean, examples::fashion_std, 0);
  return tg::train::evaluate<10>(predict, batches).accuracy();
}
}  // namespace

int main(int argc, char** argv) try {
  auto o =
      examples::parse(argc, argv, "LeNet: train on classes 0-4, fine-tune the head on 5-9", "64", {.checkpoint = true});
  if (o.batch != B) throw std::invalid_argument("this example is compiled for --batch 64 only");
  const auto train_all = tg::data::read_mnist_split(o.data, "train");
  const auto test_all = tg::data::read_mnist_split(o.data, "t10k");
  const auto train_a = tg::data::select_classes(train_all, 0, 4), train_b = tg::data::select_classes(train_all, 5, 9);
  const auto test_a = tg::data::select_classes(test_all, 0, 4), test_b = tg::data::select_classes(test_all, 5, 9);
  const double lr = o.lr > 0 ? o.lr : 0.02;
  const std::filesystem::path checkpoint = o.checkpoint;

  // 1. classes 0-4, everything trainable
  LeNet base(o.seed);
  auto full_step = tg::observed(tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(base.head(base.features(x)), y); }));
  auto full_opt = tg::optim::make(full_step, tg::optim::Momentum{0.9}, tg::sched::Constant{lr});
  Batches data_a(train_a, examples::fashion_mean, examples::fashion_std, o.seed);
  const double full_ms =
      train(o, full_step, full_opt, data_a, tg::parameter_names_by_address(base), "classes 0-4, all layers", "all");
  auto predict_base =
      tg::compile_inference<tg::Input<float, E, 1, 28, 28>>([&](auto x) { return base.head(base.features(x)); });
  std::printf("accuracy on classes 0-4: %.4f\n", accuracy(predict_base, test_a));
  tg::io::save(checkpoint, base, {.metadata = {{"trained_on", "fashion-mnist classes 0-4"}}});
  std::printf("saved %s\n", checkpoint.c_str());

  // 2. a new model: pretrained features loaded and frozen, a fresh head trained on classes 5-9
  LeNet tuned(o.seed + 100);
  const auto report = tg::io::load(checkpoint, tuned, {.only = {"features."}});
  std::printf("loaded %zu tensors (features), kept %zu fresh (head)\n", report.loaded.size(), report.unused.size());
  auto head_step = tg::observed(tg::compile<tg::Input<float, B, 1, 28, 28>, tg::Labels<B, 10>>(
      [&](auto x, auto y) { return tg::nll_loss(tuned.head(tg::frozen(tuned.features)(x)), y); }));
  static_assert(decltype(head_step)::gradient_leaf_count == 4, "only the head's weights and biases are trained");
  auto head_opt = tg::optim::make(head_step, tg::optim::Momentum{0.9}, tg::sched::Constant{lr});
  Batches data_b(train_b, examples::fashion_mean, examples::fashion_std, o.seed + 1);
  const double head_ms =
      train(o, head_step, head_opt, data_b, tg::parameter_names_by_address(tuned), "classes 5-9, head only", "head");
  auto predict_tuned =
      tg::compile_inference<tg::Input<float, E, 1, 28, 28>>([&](auto x) { return tuned.head(tuned.features(x)); });
  std::printf("accuracy on classes 5-9 after fine-tuning the head: %.4f\n", accuracy(predict_tuned, test_b));
  std::printf("median step time: %.3f ms with every layer trainable, %.3f ms with the features frozen (%.2fx)\n",
              full_ms, head_ms, full_ms / head_ms);
  std::printf("test_accuracy: %.4f\n", accuracy(predict_tuned, test_b));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "finetune_fashion_mnist: %s\n", e.what());
  return 1;
}
