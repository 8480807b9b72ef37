// Trains a 784-256-128-10 ReLU MLP on Fashion-MNIST with SGD + momentum on a compiled step, printing the
// loss as it goes down and the test accuracy at the end.
//   mlp_fashion_mnist [--epochs N] [--lr X] [--seed S] [--data DIR]
#include <typegrad/data/idx.hpp>
#include <typegrad/typegrad.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {
constexpr std::size_t batch = 64, eval_batch = 500;

struct Mlp {
  tg::Linear<784, 256> fc1;
  tg::Linear<256, 128> fc2;
  tg::Linear<128, 10> fc3;
  explicit Mlp(std::uint64_t seed) : fc1(seed), fc2(seed + 1), fc3(seed + 2) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

struct Options {
  int epochs = 1;
  float lr = 0.05f;
  float momentum = 0.9f;
  std::uint64_t seed = 1;
  std::string data = tg::data::fashion_mnist_dir;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf("usage: mlp_fashion_mnist [--epochs N] [--lr X] [--seed S] [--data DIR]\n"
                  "  trains a 784-256-128-10 ReLU MLP (batch %zu, SGD momentum 0.9) on an MNIST-format directory\n"
                  "  (default %s) and prints test_accuracy\n",
                  batch, tg::data::fashion_mnist_dir);
      std::exit(0);
    } else if (a == "--epochs") {
      o.epochs = std::stoi(value());
    } else if (a == "--lr") {
      o.lr = std::stof(value());
    } else if (a == "--seed") {
      o.seed = std::stoull(value());
    } else if (a == "--data") {
      o.data = value();
    } else {
      throw std::invalid_argument("unknown option " + a + " (see --help)");
    }
  }
  return o;
}

// pixels / 255, normalised with the Fashion-MNIST training mean and deviation
void load_images(const tg::data::IdxArray& images, std::size_t index, std::size_t count, float* out) {
  const std::uint8_t* px = images.values.data() + index * 784;
  for (std::size_t i = 0; i < count * 784; ++i) out[i] = (px[i] / 255.0f - 0.2860f) / 0.3530f;
}
}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  const auto train = tg::data::read_mnist_split(opt.data, "train");
  const auto test = tg::data::read_mnist_split(opt.data, "t10k");
  std::printf("data: %zu training and %zu test images from %s\n", train.size(), test.size(), opt.data.c_str());

  Mlp model(opt.seed);
  auto step = tg::compile<tg::Input<float, batch, 784>, tg::Labels<batch, 10>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto predict = tg::compile_inference<tg::Input<float, eval_batch, 784>>([&](auto x) { return model(x); });

  auto optimizer = tg::optim::make(step, tg::optim::Momentum{opt.momentum}, tg::sched::Constant{opt.lr});

  tg::Tensor<float, batch, 784> x;
  tg::Tensor<std::int32_t, batch> y;
  std::vector<std::size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(opt.seed);
  const std::size_t steps = train.size() / batch;
  if (train.size() % batch)
    std::printf("note: each epoch uses %zu full batches; the last %zu shuffled images wait for the next epoch\n", steps,
                train.size() % batch);

  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double running = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t s = 0; s < steps; ++s) {
      for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t i = order[s * batch + b];
        load_images(train.images, i, 1, x.data() + b * 784);
        y[b] = train.labels.values[i];
      }
      const float loss = step(x, y);
      if (!std::isfinite(loss)) throw std::runtime_error("loss became " + std::to_string(loss) + " at step " + std::to_string(s));
      optimizer.update(step);
      running += loss;
      if ((s + 1) % 100 == 0) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("epoch %d step %zu/%zu loss %.4f (%.0f examples/s)\n", epoch, s + 1, steps, running / 100,
                    (s + 1) * batch / secs);
        running = 0;
      }
    }
  }

  tg::Tensor<float, eval_batch, 784> xt;
  std::size_t correct = 0;
  for (std::size_t start = 0; start + eval_batch <= test.size(); start += eval_batch) {
    load_images(test.images, start, eval_batch, xt.data());
    const auto logits = predict(xt);
    for (std::size_t b = 0; b < eval_batch; ++b) {
      const float* row = logits.data() + b * 10;
      correct += std::size_t(std::max_element(row, row + 10) - row) == test.labels.values[start + b];
    }
  }
  std::printf("test_accuracy: %.4f\n", double(correct) / double(test.size() / eval_batch * eval_batch));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mlp_fashion_mnist: %s\n", e.what());
  return 1;
}
