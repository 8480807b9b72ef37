// typegrad against hand-written code and libtorch, interleaved in one run: for each case, every round times
// each variant over a batch of iterations; the table gives medians and spread, and each
// `ratio <case> <peer>/typegrad = X.XX` line is the median of the per-round ratios (> 1: typegrad faster).
//   compare [--rounds R] [--quick]
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <typegrad/typegrad.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#ifdef TG_HAVE_TORCH
#include <torch/torch.h>
#endif

namespace {
using Clock = std::chrono::steady_clock;

struct Variant {
  std::string name;
  std::function<void()> run;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// times `iterations` calls of each variant per round, rounds interleaved; variant 0 is typegrad
void compare(const std::string& name, std::vector<Variant> variants, std::size_t rounds, std::size_t iterations) {
  for (auto& v : variants)
    for (std::size_t i = 0; i < std::max<std::size_t>(iterations / 4, 2); ++i) v.run();  // warm-up
  std::vector<std::vector<double>> us(variants.size());
  for (std::size_t r = 0; r < rounds; ++r)
    for (std::size_t k = 0; k < variants.size(); ++k) {
      const auto t0 = Clock::now();
      for (std::size_t i = 0; i < iterations; ++i) variants[k].run();
      us[k].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / double(iterations));
    }
  std::printf("\n%s (us per call, %zu rounds x %zu calls)\n", name.c_str(), rounds, iterations);
  for (std::size_t k = 0; k < variants.size(); ++k)
    std::printf("  %-22s median %10.3f  min %10.3f  max %10.3f\n", variants[k].name.c_str(), median(us[k]),
                *std::min_element(us[k].begin(), us[k].end()), *std::max_element(us[k].begin(), us[k].end()));
  for (std::size_t k = 1; k < variants.size(); ++k) {
    std::vector<double> ratios;
    for (std::size_t r = 0; r < rounds; ++r) ratios.push_back(us[k][r] / us[0][r]);
    std::printf("ratio %s %s/typegrad = %.2f\n", name.c_str(), variants[k].name.c_str(), median(ratios));
  }
}

void fill_random(float* p, std::size_t n, std::uint32_t seed, float scale = 0.1f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (std::size_t i = 0; i < n; ++i) p[i] = u(g);
}

// ---------------------------------------------------------------------------------------------------------
// mlp_step: 784-256-128-10 ReLU, batch 64, cross-entropy, SGD lr 0.01
constexpr std::size_t MB = 64;

struct Mlp {
  BOOST_HANA_DEFINE_STRUCT(Mlp, (tg::Linear<784, 256>, fc1), (tg::Linear<256, 128>, fc2), (tg::Linear<128, 10>, fc3));
  Mlp() : fc1(1), fc2(2), fc3(3) {}
  auto operator()(auto x) const { return fc3(tg::relu(fc2(tg::relu(fc1(x))))); }
};

// the same step written by hand over cblas and loops
struct HandMlp {
  static constexpr int B = MB, I = 784, H1 = 256, H2 = 128, O = 10;
  std::vector<float> w1 = std::vector<float>(H1 * I), b1 = std::vector<float>(H1), w2 = std::vector<float>(H2 * H1),
                     b2 = std::vector<float>(H2), w3 = std::vector<float>(O * H2), b3 = std::vector<float>(O);
  std::vector<float> h1 = std::vector<float>(B * H1), h2 = std::vector<float>(B * H2), z = std::vector<float>(B * O),
                     g1 = std::vector<float>(B * H1), g2 = std::vector<float>(B * H2), gz = std::vector<float>(B * O),
                     dw1 = std::vector<float>(H1 * I), dw2 = std::vector<float>(H2 * H1), dw3 = std::vector<float>(O * H2);
  HandMlp() {
    fill_random(w1.data(), w1.size(), 1);
    fill_random(w2.data(), w2.size(), 2);
    fill_random(w3.data(), w3.size(), 3);
  }
  static void dense(const float* x, const float* w, const float* b, float* y, int n, int in, int out, bool relu) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < out; ++c) {
        float v = y[r * out + c] + b[c];
        y[r * out + c] = relu && v < 0 ? 0 : v;
      }
  }
  float step(const float* x, const std::int32_t* y, float lr) {
    dense(x, w1.data(), b1.data(), h1.data(), B, I, H1, true);
    dense(h1.data(), w2.data(), b2.data(), h2.data(), B, H1, H2, true);
    dense(h2.data(), w3.data(), b3.data(), z.data(), B, H2, O, false);
    float loss = 0;
    for (int r = 0; r < B; ++r) {  // softmax cross-entropy and its gradient
      float m = z[r * O];
      for (int c = 1; c < O; ++c) m = std::max(m, z[r * O + c]);
      float s = 0;
      for (int c = 0; c < O; ++c) s += std::exp(z[r * O + c] - m);
      loss += std::log(s) + m - z[r * O + y[r]];
      for (int c = 0; c < O; ++c) gz[r * O + c] = (std::exp(z[r * O + c] - m) / s - (c == y[r] ? 1.f : 0.f)) / B;
    }
    auto back = [&](const float* g, const float* in, const float* w, float* dw, float* b, float* gin, const float* act,
                    int out, int inn) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, inn, B, 1.0f, g, out, in, inn, 0.0f, dw, inn);
      if (gin) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, inn, out, 1.0f, g, out, w, inn, 0.0f, gin, inn);
        for (int i = 0; i < B * inn; ++i) gin[i] = act[i] > 0 ? gin[i] : 0;
      }
      for (int c = 0; c < out; ++c) {
        float s = 0;
        for (int r = 0; r < B; ++r) s += g[r * out + c];
        b[c] -= lr * s;
      }
    };
    back(gz.data(), h2.data(), w3.data(), dw3.data(), b3.data(), g2.data(), h2.data(), O, H2);
    back(g2.data(), h1.data(), w2.data(), dw2.data(), b2.data(), g1.data(), h1.data(), H2, H1);
    back(g1.data(), x, w1.data(), dw1.data(), b1.data(), nullptr, nullptr, H1, I);
    for (std::size_t i = 0; i < w3.size(); ++i) w3[i] -= lr * dw3[i];
    for (std::size_t i = 0; i < w2.size(); ++i) w2[i] -= lr * dw2[i];
    for (std::size_t i = 0; i < w1.size(); ++i) w1[i] -= lr * dw1[i];
    return loss / B;
  }
};

// ---------------------------------------------------------------------------------------------------------
// tiny: 16-32-32-4 tanh, batch 1
struct Tiny {
  BOOST_HANA_DEFINE_STRUCT(Tiny, (tg::Linear<16, 32>, fc1), (tg::Linear<32, 32>, fc2), (tg::Linear<32, 4>, fc3));
  Tiny() : fc1(4), fc2(5), fc3(6) {}
  auto operator()(auto x) const { return fc3(tg::tanh(fc2(tg::tanh(fc1(x))))); }
};

struct HandTiny {
  float w1[32][16], b1[32], w2[32][32], b2[32], w3[4][32], b3[4];
  float h1[32], h2[32], y[4];
  HandTiny() {
    fill_random(&w1[0][0], 32 * 16, 7);
    fill_random(&w2[0][0], 32 * 32, 8);
    fill_random(&w3[0][0], 4 * 32, 9);
    std::fill(b1, b1 + 32, 0.f);
    std::fill(b2, b2 + 32, 0.f);
    std::fill(b3, b3 + 4, 0.f);
  }
  void forward(const float* x) {
    for (int j = 0; j < 32; ++j) {
      float s = b1[j];
      for (int k = 0; k < 16; ++k) s += w1[j][k] * x[k];
      h1[j] = std::tanh(s);
    }
    for (int j = 0; j < 32; ++j) {
      float s = b2[j];
      for (int k = 0; k < 32; ++k) s += w2[j][k] * h1[k];
      h2[j] = std::tanh(s);
    }
    for (int j = 0; j < 4; ++j) {
      float s = b3[j];
      for (int k = 0; k < 32; ++k) s += w3[j][k] * h2[k];
      y[j] = s;
    }
  }
  // loss = sum(y^2)/2, gradients of all weights (no update: the cost of forward + backward)
  float gw1[32][16], gw2[32][32], gw3[4][32], g1[32], g2[32];
  float forward_backward(const float* x) {
    forward(x);
    float loss = 0;
    for (int j = 0; j < 4; ++j) loss += 0.5f * y[j] * y[j];
    for (int k = 0; k < 32; ++k) g2[k] = 0;
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 32; ++k) {
        gw3[j][k] = y[j] * h2[k];
        g2[k] += y[j] * w3[j][k];
      }
    for (int k = 0; k < 32; ++k) g2[k] *= 1 - h2[k] * h2[k];
    for (int k = 0; k < 32; ++k) g1[k] = 0;
    for (int j = 0; j < 32; ++j)
      for (int k = 0; k < 32; ++k) {
        gw2[j][k] = g2[j] * h1[k];
        g1[k] += g2[j] * w2[j][k];
      }
    for (int k = 0; k < 32; ++k) g1[k] *= 1 - h1[k] * h1[k];
    for (int j = 0; j < 32; ++j)
      for (int k = 0; k < 16; ++k) gw1[j][k] = g1[j] * x[k];
    return loss;
  }
};
}  // namespace

int main(int argc, char** argv) {
  std::size_t rounds = 15;
  bool quick = false;
  CLI::App app("typegrad vs hand-written code and libtorch, interleaved");
  app.add_option("--rounds", rounds, "timed rounds per case (medians over rounds)");
  app.add_flag("--quick", quick, "a few rounds and calls: checks that everything runs");
  CLI11_PARSE(app, argc, argv);
  if (quick) rounds = 3;
  const std::size_t mlp_calls = quick ? 3 : 50, tiny_calls = quick ? 100 : 20000;
#ifdef TG_HAVE_TORCH
  torch::set_num_threads(1);
#endif
  volatile float sink = 0;

  {  // mlp_step
    tg::Tensor<float, MB, 784> x;
    fill_random(x.data(), x.size(), 11, 1.0f);
    tg::Tensor<std::int32_t, MB> y;
    for (std::size_t i = 0; i < MB; ++i) y[i] = std::int32_t(i % 10);
    Mlp model;
    auto step = tg::compile<tg::Input<float, MB, 784>, tg::Labels<MB, 10>>(
        [&](auto a, auto b) { return tg::cross_entropy(model(a), b); });
    auto sgd = tg::optim::make(step, tg::optim::Sgd{}, tg::sched::Constant{0.01});
    HandMlp hand;
    std::vector<Variant> v{{"typegrad", [&] { sink = sink + step(x, y); sgd.update(step); }},
                           {"hand-written", [&] { sink = sink + hand.step(x.data(), y.data(), 0.01f); }}};
#ifdef TG_HAVE_TORCH
    auto net = torch::nn::Sequential(torch::nn::Linear(784, 256), torch::nn::ReLU(), torch::nn::Linear(256, 128),
                                     torch::nn::ReLU(), torch::nn::Linear(128, 10));
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01));
    auto tx = torch::from_blob(x.data(), {long(MB), 784}, torch::kFloat);
    auto ty = torch::from_blob(y.data(), {long(MB)}, torch::kInt).to(torch::kLong);
    v.push_back({"libtorch", [&] {
                   opt.zero_grad();
                   auto loss = torch::nn::functional::cross_entropy(net->forward(tx), ty);
                   loss.backward();
                   opt.step();
                   sink = sink + loss.item<float>();
                 }});
#endif
    compare("mlp_step", v, rounds, mlp_calls);
  }

  {  // tiny_fwd and tiny_fwd_bwd
    Tiny model;
    HandTiny hand;
    tg::Tensor<float, 1, 16> x;
    fill_random(x.data(), 16, 12, 1.0f);
    auto fwd = tg::compile_inference<tg::Input<float, 1, 16>>([&](auto a) { return model(a); });
    auto fwd_bwd = tg::compile<tg::Input<float, 1, 16>>([&](auto a) {
      auto o = model(a);
      return tg::sum(o * o) * 0.5f;
    });
    std::vector<Variant> f{{"typegrad", [&] { sink = sink + fwd(x)[0]; }},
                           {"hand-written", [&] { hand.forward(x.data()); sink = sink + hand.y[0]; }}};
    std::vector<Variant> fb{{"typegrad", [&] { sink = sink + fwd_bwd(x); }},
                            {"hand-written", [&] { sink = sink + hand.forward_backward(x.data()); }}};
#ifdef TG_HAVE_TORCH
    auto net = torch::nn::Sequential(torch::nn::Linear(16, 32), torch::nn::Tanh(), torch::nn::Linear(32, 32),
                                     torch::nn::Tanh(), torch::nn::Linear(32, 4));
    auto tx = torch::from_blob(x.data(), {1, 16}, torch::kFloat);
    f.push_back({"libtorch", [&] {
                   torch::NoGradGuard g;
                   sink = sink + net->forward(tx)[0][0].item<float>();
                 }});
    fb.push_back({"libtorch", [&] {
                    net->zero_grad();
                    auto o = net->forward(tx);
                    auto loss = (o * o).sum() * 0.5;
                    loss.backward();
                    sink = sink + loss.item<float>();
                  }});
#endif
    compare("tiny_fwd", f, rounds, tiny_calls);
    compare("tiny_fwd_bwd", fb, rounds, quick ? tiny_calls : tiny_calls / 4);
  }
  return 0;
}
