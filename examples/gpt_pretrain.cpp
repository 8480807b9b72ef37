// Pretrains a small GPT on Debian's fortune files (every category but songs-poems, kept for fine-tuning):
//   byte tokens -> token + learned position embeddings -> 4 pre-LN causal Transformer blocks (tg::Repeat;
//   E 128, 4 heads, FFN 512) -> LayerNorm -> linear head over the vocabulary; cross-entropy at every position.
// AdamW, linear warm-up then cosine decay, clipping at global norm 1. Every --eval-every steps: validation bits
// per character (UTF-8 characters of the held-out entries, data/text.hpp); at the end a safetensors checkpoint
// (PyTorch names: token.weight, blocks.0.self_attn.in_proj_weight, ...; the vocabulary in its metadata) and text
// sampled with temperature and top-k.
//   ./build/examples/gpt_pretrain [--steps 2000] [--data DIR] [--save FILE] [--history FILE.csv]
//   mpirun -np 2 ./build/examples/gpt_pretrain --distributed    data parallel: global batches of 32 windows
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <random>
#include <typegrad/data/prefetch.hpp>
#include <typegrad/data/text.hpp>
#include <typegrad/io/safetensors.hpp>
#include <typegrad/train/history.hpp>
#include <typegrad/train/progress.hpp>
#include <typegrad/typegrad.hpp>

#include "flags.hpp"
#include "gpt_model.hpp"
#ifdef TYPEGRAD_EXAMPLE_MPI
#include <typegrad/dist/data_parallel.hpp>
#include <typegrad/dist/evaluate.hpp>
#endif

namespace {
using examples::B, examples::Gpt, examples::T, examples::V;

struct Options {
  std::size_t accumulate = 1;  // optimizer steps over this many batches (the gradients' mean)
  std::size_t steps = 2000, eval_every = 250, eval_batches = 20, warmup = 100, sample = 400, top_k = 10;
  double lr = 2e-3, temperature = 0.8;
  std::uint64_t seed = 1;
  bool distributed = false;
  std::string data = tg::data::fortunes_dir, exclude = "songs-poems", save = "gpt_fortunes.safetensors", history,
              prompt = "The ";
};

// `count` bytes after `prompt`, each drawn from the softmax of logits / temperature over the top k
template <class Predict>
std::string sample(Predict& predict, const tg::data::ByteVocabulary& vocabulary, const Options& o) {
  std::vector<std::int32_t> tokens = vocabulary.encode(o.prompt);
  std::mt19937_64 rng(o.seed);
  tg::Tensor<std::int32_t, 1, T> context;
  for (std::size_t i = 0; i < o.sample; ++i) {
    const std::size_t start = tokens.size() > T ? tokens.size() - T : 0, used = tokens.size() - start;
    for (std::size_t t = 0; t < T; ++t) context(0, t) = t < used ? tokens[start + t] : 0;  // causal: the rest unread
    const auto logits = predict(context);                                                  // [T, V]
    std::vector<std::pair<float, std::int32_t>> top;
    for (std::size_t v = 0; v < vocabulary.size(); ++v) top.emplace_back(logits(used - 1, v), std::int32_t(v));
    const std::size_t k = std::min<std::size_t>(o.top_k, top.size());
    std::partial_sort(top.begin(), top.begin() + std::ptrdiff_t(k), top.end(), std::greater<>());
    std::vector<double> weights(k);
    for (std::size_t j = 0; j < k; ++j) weights[j] = std::exp((top[j].first - top[0].first) / o.temperature);
    std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
    tokens.push_back(top[pick(rng)].second);
  }
  return vocabulary.decode(tokens);
}

// The processes training together: this one, or under --distributed the ranks of an MPI job (tg::dist), each
// reading and computing B of every global batch of B R windows; gradients averaged with one all-reduce per step.
struct Team {
#ifdef TYPEGRAD_EXAMPLE_MPI
  std::unique_ptr<tg::dist::World> world;
  int rank() const { return world ? world->rank() : 0; }
  int size() const { return world ? world->size() : 1; }
  double sum(double v) const {
    if (world)
      tg::dist::detail::check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, world->comm()), "MPI_Allreduce");
    return v;
  }
#else
  int rank() const { return 0; }
  int size() const { return 1; }
  double sum(double v) const { return v; }
#endif
  bool lead() const { return rank() == 0; }
};

int run(const Options& o, const Team& team) {
  // one thread: OpenBLAS's second thread made the step no faster here (0.29 s either way) and spun the other core
  openblas_set_num_threads(1);
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const auto corpus = tg::data::read_text_directory(o.data, {o.exclude});
  const auto [train_text, validation_text] = tg::data::split_by_entry(corpus, 10);
  const tg::data::ByteVocabulary vocabulary(corpus);  // every byte of the corpus, held-out entries included
  if (vocabulary.size() > V)
    throw std::runtime_error("the corpus has " + std::to_string(vocabulary.size()) +
                             " distinct bytes; this model's vocabulary holds " + std::to_string(V));
  // the global batch: every rank reads its B of the same shuffled windows
  const std::size_t G = B * std::size_t(team.size());
  tg::data::TokenWindows<B, T> train(vocabulary.encode(train_text), o.seed,
                                     tg::data::Share{std::size_t(team.rank()), std::size_t(team.size())});
  const tg::data::TokenWindows<B, T> validation(vocabulary.encode(validation_text), o.seed);
  if (team.lead())
    std::printf(
        "data: %zu files, %zu training entries (%zu tokens), %zu validation entries (%zu tokens); "
        "vocabulary %zu bytes\n",
        corpus.files.size(), train_text.entries.size(), train.tokens(), validation_text.entries.size(),
        validation.tokens(), vocabulary.size());

  auto model = std::make_unique<Gpt>();
  tg::init::initialize(*model, o.seed);
#ifdef TYPEGRAD_EXAMPLE_MPI
  if (team.world) {
    tg::dist::check_same_model(*team.world, *model);
    tg::dist::broadcast_state(*team.world, *model);
  }
#endif
  auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy((*model)(x), y); });
  auto predict = tg::compile_inference<tg::Input<std::int32_t, 1, T>>([&](auto x) { return (*model)(x); });
  auto optimizer = tg::optim::make(step, tg::optim::AdamW{.weight_decay = 0.1},
                                   tg::sched::warmup(o.warmup, tg::sched::Cosine{o.lr, o.steps, o.lr / 10}),
                                   {.clip_norm = 1.0, .accumulate = o.accumulate});
  std::size_t parameters = 0;
  tg::for_each_parameter(*model, [&](const std::string&, const auto& p) { parameters += p.size(); });
  if (team.lead())
    std::printf(
        "GPT: %zu blocks, E %zu, context %zu, %zu parameters; batch %zu (%d rank(s)); AdamW lr %g (warm-up %zu, cosine "
        "to "
        "%g over %zu steps), clip 1; step workspace %.1f MB\n",
        examples::Blocks, examples::E, T, parameters, G, team.size(), o.lr, o.warmup, o.lr / 10, o.steps,
        double(step.total_workspace_bytes()) / 1e6);

  tg::data::Prefetcher prefetch(train);
  tg::train::Progress progress(G * T * o.accumulate, 50);
  tg::train::History history;
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  std::size_t done = 0, epoch = 1;  // done: optimizer steps
  double since_eval = 0;
  if (team.lead()) progress.start_epoch(1, o.steps);
  while (done < o.steps) {
    if (!prefetch.next(x, y)) {  // the end of an epoch: the windows are reshuffled
      ++epoch;
      continue;
    }
    const float loss = step(x, y);
    if (!std::isfinite(loss))
      throw std::runtime_error("the loss became " + std::to_string(loss) + " at step " + std::to_string(done + 1) +
                               " (try a smaller --lr)");
#ifdef TYPEGRAD_EXAMPLE_MPI
    if (team.world) tg::dist::average_gradients(*team.world, step);
#endif
    since_eval += loss;
    if (!optimizer.update(step)) continue;  // --accumulate: the update comes with the last of its batches
    ++done;
    if (team.lead()) progress.step(done, loss);  // rank 0's share of the batch
    if (done % o.eval_every == 0 || done == o.steps) {
      // the validation batches shared between the ranks, the totals summed
      const auto [nats, characters] =
          examples::validation_totals(step, validation, vocabulary, done == o.steps ? 0 : o.eval_batches,
                                      std::size_t(team.rank()), std::size_t(team.size()));
      const double bpc = examples::bits_per_character(team.sum(nats), std::size_t(team.sum(double(characters))));
      if (!team.lead()) {
        since_eval = 0;
        continue;
      }
      const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
      const std::size_t span = (done % o.eval_every == 0 ? o.eval_every : done % o.eval_every) * o.accumulate;
      std::printf("step %zu (epoch %zu): train loss %.4f, validation %.3f bits/char%s, lr %.3g, %.0f s\n", done, epoch,
                  since_eval / double(span), bpc, done == o.steps ? " (all validation text)" : "",
                  optimizer.learning_rate(), seconds);
      history.add({{"step", double(done)},
                   {"train_loss", since_eval / double(span)},
                   {"val_bits_per_char", bpc},
                   {"lr", optimizer.learning_rate()},
                   {"seconds", seconds}});
      since_eval = 0;
    }
  }
  if (!team.lead()) return 0;  // rank 0 alone writes, samples and reports
  progress.end_epoch();
  if (!o.history.empty()) history.write_csv(o.history);
  if (!o.save.empty()) {  // atomic (io/atomic_file.hpp)
    tg::io::save(o.save, *model,
                 {.metadata = {{"vocabulary", vocabulary.to_string()}, {"format", "typegrad gpt_pretrain"}}});
    std::printf("saved %s (vocabulary in its metadata)\n", o.save.c_str());
  }
  if (o.sample > 0)
    std::printf("--- sample (temperature %g, top-%zu) ---\n%s\n---\n", o.temperature, o.top_k,
                sample(predict, vocabulary, o).c_str());
  std::printf("val_bits_per_char: %.4f\n", history.last("val_bits_per_char"));
  return 0;
}
}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app("Pretrain a small GPT on the fortune files (byte tokens)");
  app.add_option("--steps", o.steps, "training steps")->check(examples::flags::at_least_one);
  app.add_option("--accumulate", o.accumulate,
                 "batches per optimizer step (gradient accumulation: --accumulate 2 on one process computes what "
                 "--distributed computes on 2 ranks)")
      ->check(examples::flags::at_least_one);
  app.add_option("--lr", o.lr, "peak learning rate")->check(examples::flags::positive_finite);
  app.add_option("--warmup", o.warmup, "linear warm-up steps");
  app.add_option("--eval-every", o.eval_every, "steps between validation figures")
      ->check(examples::flags::at_least_one);
  app.add_option("--eval-batches", o.eval_batches, "validation batches for the intermediate figures (0: all)");
  app.add_option("--seed", o.seed, "seed for initialisation, window order and sampling");
  std::size_t threads = 1;
  app.add_option("--threads", threads, "threads a training step may use (tg::set_num_threads)")
      ->check(examples::flags::at_least_one);
  app.add_option("--data", o.data, "directory of UTF-8 text files (fortune format: entries separated by % lines)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--exclude", o.exclude, "a file of --data not to train on (default songs-poems; '' for none)");
  app.add_option("--save", o.save, "safetensors checkpoint to write ('' for none)");
  app.add_option("--history", o.history, "CSV of step, train loss, validation bits/char, lr, seconds");
  app.add_option("--sample", o.sample, "bytes to sample at the end (0: none)");
  app.add_option("--temperature", o.temperature, "sampling temperature")->check(examples::flags::positive_finite);
  app.add_option("--top-k", o.top_k, "sample among the k most likely bytes")->check(examples::flags::at_least_one);
  app.add_option("--prompt", o.prompt, "text the sample starts from");
  app.add_flag("--distributed", o.distributed,
               "data parallel over MPI (mpirun -np R): each rank reads and computes its 16 of every global batch "
               "of 16 R windows; rank 0 prints and saves");
  CLI11_PARSE(app, argc, argv);
  examples::flags::use_threads(threads);
  Team team;
  if (o.distributed) {
#ifdef TYPEGRAD_EXAMPLE_MPI
    team.world = std::make_unique<tg::dist::World>(&argc, &argv);
#else
    throw std::invalid_argument(
        "--distributed: this build has no MPI (scripts/setup.sh installs Open MPI; reconfigure)");
#endif
  }
  return run(o, team);
} catch (const std::exception& e) {
  std::fprintf(stderr, "gpt_pretrain: %s\n", e.what());
  return 1;
}
