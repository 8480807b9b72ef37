// A character-level GRU language model over English words (Debian's wamerican word list): each word is
// read as "^word$" padded to 16 characters; the model predicts every next character. Reports the
// validation loss in bits per character and samples new words.
//   char_model_words [--epochs N] [--lr X] [--seed S] [--data FILE]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <random>
#include <string>
#include <typegrad/train/history.hpp>
#include <typegrad/train/progress.hpp>
#include <typegrad/typegrad.hpp>
#include <vector>

#include "flags.hpp"

namespace {
constexpr std::size_t T = 16, B = 64, V = 28, E = 32, H = 128;  // V: '^' start, 'a'-'z', '$' end
constexpr int start_token = 0, end_token = 27;

int encode(char c) { return c - 'a' + 1; }
char decode(int k) { return k == end_token ? '$' : k == start_token ? '^' : char('a' + k - 1); }

struct CharModel {
  BOOST_HANA_DEFINE_STRUCT(CharModel, (tg::Embedding<V, E>, embed), (tg::GRU<E, H>, gru), (tg::Linear<H, V>, out));
  explicit CharModel(std::uint64_t seed) : embed(seed), gru(seed + 1), out(seed + 2) {}
  template <class X>
  auto operator()(X&& chars) const {  // [N, T] int -> [N T, V] logits
    using S = typename tg::expr_t<X>::shape_type;
    return tg::reshape<S::dims[0] * T, V>(out(gru(embed(std::forward<X>(chars)))));
  }
};

// inputs: "^word" padded; targets: one-hot of "word$" with zero rows at padding, scaled by 1 / characters
struct Batch {
  tg::Tensor<std::int32_t, B, T> chars;
  tg::Tensor<float, B * T, V> targets;
  tg::Tensor<float, 1> inv_count;
};

void fill(Batch& b, const std::vector<std::string>& words, std::size_t first, const std::vector<std::size_t>& order) {
  std::fill(b.targets.begin(), b.targets.end(), 0.0f);
  std::size_t count = 0;
  for (std::size_t r = 0; r < B; ++r) {
    const std::string& w = words[order[(first + r) % order.size()]];
    for (std::size_t t = 0; t < T; ++t) {
      b.chars(r, t) = t == 0 ? start_token : (t <= w.size() ? encode(w[t - 1]) : end_token);
      if (t <= w.size()) {
        b.targets(r * T + t, std::size_t(t < w.size() ? encode(w[t]) : end_token)) = 1.0f;
        ++count;
      }
    }
  }
  b.inv_count[0] = 1.0f / float(count);
}

// mean negative log-likelihood (nats) over the real characters
template <class Logits, class Targets, class Scale>
auto masked_nll(Logits&& logits, Targets&& targets, Scale&& inv_count) {
  return -tg::sum(tg::log_softmax<1>(std::forward<Logits>(logits)) * std::forward<Targets>(targets) *
                  std::forward<Scale>(inv_count));
}
}  // namespace

int main(int argc, char** argv) try {
  int epochs = 2;
  double lr = 3e-3;
  std::uint64_t seed = 1;
  std::string data = "/usr/share/dict/american-english";
  std::string history_csv;
  CLI::App app("Character-level GRU over English words");
  app.add_option("--epochs", epochs, "training epochs")->check(examples::flags::at_least_one);
  app.add_option("--lr", lr, "Adam learning rate")->check(examples::flags::positive_finite);
  app.add_option("--seed", seed, "seed for initialisation, shuffling and sampling");
  app.add_option("--data", data, "word list, one word per line")->check(CLI::ExistingFile);
  app.add_option("--history", history_csv, "write the loss history to this CSV file")
      ->check(examples::flags::writable_file);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::ifstream in(data);
  if (!in) throw std::runtime_error(data + ": cannot open");
  std::vector<std::string> words;
  std::size_t skipped = 0;
  for (std::string w; std::getline(in, w);) {
    const bool ok =
        w.size() >= 2 && w.size() < T && std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (ok)
      words.push_back(w);
    else
      ++skipped;
  }
  if (words.size() < 10 * B)
    throw std::runtime_error(data + ": too few usable words (" + std::to_string(words.size()) + ")");
  std::mt19937_64 rng(seed);
  std::shuffle(words.begin(), words.end(), rng);
  const std::size_t n_val = words.size() / 20;
  const std::vector<std::string> val(words.end() - std::ptrdiff_t(n_val), words.end());
  words.resize(words.size() - n_val);
  std::printf("%zu training and %zu validation words (%zu lines skipped: not 2-15 lowercase letters)\n", words.size(),
              val.size(), skipped);

  CharModel model(seed);
  auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Input<float, B * T, V>, tg::Input<float, 1>>(
      [&](auto x, auto y, auto s) { return masked_nll(model(x), y, s); });
  auto adam = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{lr}, {.clip_norm = 1.0});
  auto sampler = tg::compile_inference<tg::Input<std::int32_t, 1, T>>([&](auto x) { return tg::softmax<1>(model(x)); });

  std::vector<std::size_t> order(words.size()), val_order(val.size());
  std::iota(val_order.begin(), val_order.end(), 0);
  Batch batch;
  tg::train::Progress progress(B);
  tg::train::History history;
  const std::size_t steps = words.size() / B;  // the words of an incomplete last batch wait for the next epoch's order
  auto validate = [&] {
    double nats = 0;
    std::size_t chars = 0;
    for (std::size_t first = 0; first + B <= val.size(); first += B) {
      fill(batch, val, first, val_order);
      const double n = 1.0 / batch.inv_count[0];
      nats += double(step.evaluate(batch.chars, batch.targets, batch.inv_count)) * n;
      chars += std::size_t(n);
    }
    return nats / double(chars) / std::numbers::ln2;
  };
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    progress.start_epoch(epoch, steps);
    double train_nats = 0;
    for (std::size_t s = 0; s < steps; ++s) {
      fill(batch, words, s * B, order);
      const float loss = step(batch.chars, batch.targets, batch.inv_count);
      if (!std::isfinite(loss)) throw std::runtime_error("the loss became " + std::to_string(loss));
      adam.update(step);
      train_nats += loss;
      progress.step(s + 1, loss);
    }
    progress.end_epoch();
    const double bits = validate();
    history.add({{"epoch", double(epoch)},
                 {"train_bits_per_char", train_nats / double(steps) / std::numbers::ln2},
                 {"val_bits_per_char", bits}});
    std::printf("epoch %d: validation %.3f bits per character\n", epoch, bits);
  }
  if (!history_csv.empty()) history.write_csv(history_csv);

  // sampling: feed the prefix, draw the next character from the model's distribution
  tg::Tensor<std::int32_t, 1, T> prefix(end_token);
  std::printf("samples:");
  for (int k = 0; k < 8; ++k) {
    std::fill(prefix.begin(), prefix.end(), end_token);
    prefix[0] = start_token;
    std::string word;
    for (std::size_t t = 0; t + 1 < T; ++t) {
      const auto p = sampler(prefix);
      std::discrete_distribution<int> next(p.data() + t * V, p.data() + (t + 1) * V);
      const int c = next(rng);
      if (c == end_token || c == start_token) break;
      word += decode(c);
      prefix[t + 1] = c;
    }
    std::printf(" %s", word.c_str());
  }
  std::printf("\nval_bits_per_char: %.3f\n", history.last("val_bits_per_char"));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "char_model_words: %s\n", e.what());
  return 1;
}
