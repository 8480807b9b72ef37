// Adapts the GPT pretrained by gpt_pretrain (gpt_fortunes.safetensors) to the fortune file it never saw,
// songs-poems, three ways (--mode):
//   full  every parameter trains
//   last  the last block, the final LayerNorm and the head train; embeddings and the other blocks
//         are frozen at compile time (no gradient code for them: tg::freeze, tg::freeze_first)
//   lora  rank --rank adapters on every block's in_proj, out_proj, linear1 and linear2 (layers/lora.hpp), all base
//         weights frozen; the adapters are saved alone with PEFT's names, and merged into the base weights for
//         inference (the merged model's validation figure is printed beside the adapted one's)
// For each: validation bits per character on songs-poems' held-out entries before and after, the step time, the
// trainable parameter count and the step's working memory, and one `finetune:` line with all of them.
//   ./build/examples/gpt_finetune --mode lora [--checkpoint gpt_fortunes.safetensors] [--steps 300]
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <typegrad/data/prefetch.hpp>
#include <typegrad/data/text.hpp>
#include <typegrad/io/safetensors.hpp>
#include <typegrad/typegrad.hpp>

#include "flags.hpp"
#include "gpt_model.hpp"

namespace {
using examples::bits_per_character, examples::B, examples::Blocks, examples::E, examples::Gpt, examples::T, examples::V;
constexpr std::size_t Rank = 4;

// the GPT with LoRA blocks: the base names of Gpt plus the adapters'
struct GptLora {
  BOOST_HANA_DEFINE_STRUCT(
      GptLora, (tg::Embedding<V, E>, token), (tg::PositionalEmbedding<T, E>, position),
      (tg::Repeat<Blocks, tg::LoraTransformerBlock<E, examples::Heads, examples::Hidden, true, Rank>>, blocks),
      (tg::LayerNorm<E>, norm), (tg::Linear<E, V>, head));
  template <class X>
  auto operator()(X&& tokens) const {  // everything but the adapters frozen
    constexpr std::size_t N = tg::expr_t<X>::shape_type::dims[0];
    auto h = blocks(tg::freeze(position(token(std::forward<X>(tokens)))));
    return tg::reshape<N * T, V>(tg::frozen(head)(tg::frozen(norm)(h)));
  }
  Gpt merged() const {
    Gpt g;
    g.token = token;
    g.position = position;
    for (std::size_t t = 0; t < Blocks; ++t) g.blocks[t] = blocks[t].merged();
    g.norm = norm;
    g.head = head;
    return g;
  }
};

struct Options {
  std::string mode = "lora", checkpoint = "gpt_fortunes.safetensors", data = tg::data::fortunes_dir,
              file = "songs-poems", save;
  std::size_t steps = 300, warmup = 20;
  double lr = 0, alpha = 8;  // lr 0: the mode's default
  std::uint64_t seed = 1;
};

// the step of a model whose call already freezes what must not train
template <class Model>
auto lm_step(const Model& model) {
  return tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
}

struct Data {
  tg::data::ByteVocabulary vocabulary;
  tg::data::TokenWindows<B, T> train, validation;
};

// trains `step` for o.steps; prints before/after; returns the `finetune:` line's figures
template <class Step>
void fine_tune(const Options& o, Data& d, Step& step, double lr, const std::string& what) {
  const double before = bits_per_character(step, d.validation, d.vocabulary);
  std::size_t trainable = 0;
  step.for_each_gradient([&](const auto*, const auto*, std::size_t n) { trainable += n; });
  std::printf("%s: %zu trainable parameters, step working memory %.1f MB; validation before: %.3f bits/char\n",
              what.c_str(), trainable, double(step.total_workspace_bytes()) / 1e6, before);
  auto optimizer =
      tg::optim::make(step, tg::optim::AdamW{.weight_decay = 0.0},
                      tg::sched::warmup(o.warmup, tg::sched::Cosine{lr, o.steps, lr / 10}), {.clip_norm = 1.0});
  tg::data::Prefetcher prefetch(d.train);
  tg::Tensor<std::int32_t, B, T> x;
  tg::Tensor<std::int32_t, B * T> y;
  std::vector<double> times;
  double recent = 0;
  for (std::size_t done = 0; done < o.steps;) {
    if (!prefetch.next(x, y)) continue;  // an epoch ended: reshuffled
    const auto t0 = std::chrono::steady_clock::now();
    const float loss = step(x, y);
    optimizer.update(step);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!std::isfinite(loss)) throw std::runtime_error("the loss became " + std::to_string(loss));
    recent += loss;
    if (++done % 50 == 0) {
      std::printf("step %zu: train loss %.4f\n", done, recent / 50);
      std::fflush(stdout);
      recent = 0;
    }
  }
  const double after = bits_per_character(step, d.validation, d.vocabulary);
  std::nth_element(times.begin(), times.begin() + std::ptrdiff_t(times.size() / 2), times.end());
  std::printf("finetune: mode %s bits_per_char_before %.3f after %.3f step_ms %.1f trainable %zu workspace_bytes %zu\n",
              o.mode.c_str(), before, after, times[times.size() / 2], trainable, step.total_workspace_bytes());
}

int run(const Options& o) {
  openblas_set_num_threads(1);  // as gpt_pretrain: the second OpenBLAS thread bought nothing here
  const tg::io::SafetensorsFile file(o.checkpoint);
  const auto it = file.metadata().find("vocabulary");
  if (it == file.metadata().end())
    throw std::runtime_error(o.checkpoint + ": no vocabulary in its metadata (written by gpt_pretrain?)");
  const auto vocabulary = tg::data::ByteVocabulary::from_string(it->second);
  const auto corpus = tg::data::read_text_directory(o.data, {}, {o.file});
  const auto [train_text, validation_text] = tg::data::split_by_entry(corpus, 10);
  Data d{vocabulary, tg::data::TokenWindows<B, T>(vocabulary.encode(train_text), o.seed),
         tg::data::TokenWindows<B, T>(vocabulary.encode(validation_text), o.seed)};
  std::printf("%s: %zu training entries (%zu tokens), %zu validation entries (%zu tokens); checkpoint %s\n",
              o.file.c_str(), train_text.entries.size(), d.train.tokens(), validation_text.entries.size(),
              d.validation.tokens(), o.checkpoint.c_str());
  const std::string save = o.save.empty() ? "gpt_" + o.file + "_" + o.mode + ".safetensors" : o.save;
  const std::map<std::string, std::string> metadata{{"vocabulary", vocabulary.to_string()}};

  if (o.mode == "full" || o.mode == "last") {
    auto model = std::make_unique<Gpt>();
    tg::io::load(o.checkpoint, *model);
    if (o.mode == "full") {
      auto step = lm_step(*model);
      fine_tune(o, d, step, o.lr > 0 ? o.lr : 5e-4, "full fine-tuning");
    } else {
      const auto frozen_below = [&](auto x) {  // [B T, V]; blocks 0..Blocks-2, embeddings frozen
        auto h = tg::freeze_first<Blocks - 1>(model->blocks)(tg::freeze(model->position(model->token(x))));
        return tg::reshape<B * T, V>(model->head(model->norm(h)));
      };
      auto step = tg::compile<tg::Input<std::int32_t, B, T>, tg::Labels<B * T, V>>(
          [&](auto x, auto y) { return tg::cross_entropy(frozen_below(x), y); });
      fine_tune(o, d, step, o.lr > 0 ? o.lr : 1e-3, "the last block, the final LayerNorm and the head");
    }
    tg::io::save(save, *model, {.metadata = metadata});
    std::printf("saved %s\n", save.c_str());
    return 0;
  }
  if (o.mode != "lora") throw std::invalid_argument("--mode must be full, last or lora, not '" + o.mode + "'");
  auto model = std::make_unique<GptLora>();
  tg::init::initialize(*model, o.seed);  // the adapters: A random, B zero (the base is loaded next)
  for (auto& b : model->blocks.blocks) b.set_scaling(o.alpha / double(Rank));
  const auto report = tg::io::load(o.checkpoint, *model, {.allow_missing = true});
  for (const auto& name : report.missing)
    if (name.find("lora_") == std::string::npos)
      throw std::runtime_error(o.checkpoint + ": the base weight '" + name + "' is missing");
  auto step = lm_step(*model);
  fine_tune(o, d, step, o.lr > 0 ? o.lr : 2e-3,
            "LoRA rank " + std::to_string(Rank) + ", alpha " + std::to_string(int(o.alpha)));
  const auto adapters = save.substr(0, save.size() - std::string(".safetensors").size()) + "_adapters.safetensors";
  tg::io::save(adapters, *model, {.metadata = metadata, .select = [](const std::string& n) {
                                    return n.find("lora_") != std::string::npos;
                                  }});
  // merged for inference: W + (alpha / r) B A in every adapted projection, a plain Gpt
  auto merged = std::make_unique<Gpt>(model->merged());
  auto merged_step = lm_step(*merged);
  std::printf("merged into the base weights: validation %.3f bits/char (the adapted model's above)\n",
              bits_per_character(merged_step, d.validation, d.vocabulary));
  tg::io::save(save, *merged, {.metadata = metadata});
  std::printf("saved the adapters alone to %s and the merged model to %s\n", adapters.c_str(), save.c_str());
  return 0;
}
}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app("Fine-tune the pretrained GPT on one fortune file: full, last blocks, or LoRA");
  app.add_option("--mode", o.mode, "full, last or lora")->check(CLI::IsMember({"full", "last", "lora"}));
  app.add_option("--checkpoint", o.checkpoint, "gpt_pretrain's checkpoint")->check(CLI::ExistingFile);
  app.add_option("--data", o.data, "directory of the text files")->check(CLI::ExistingDirectory);
  app.add_option("--file", o.file, "the file to adapt to (default songs-poems)");
  app.add_option("--steps", o.steps, "training steps")->check(examples::flags::at_least_one);
  app.add_option("--warmup", o.warmup, "linear warm-up steps");
  app.add_option("--lr", o.lr, "peak learning rate (default: full 5e-4, last 1e-3, lora 2e-3)")
      ->check(examples::flags::positive_finite);
  app.add_option("--alpha", o.alpha, "LoRA alpha (scaling alpha / rank; rank 4)")
      ->check(examples::flags::positive_finite);
  app.add_option("--seed", o.seed, "seed for the adapters and the window order");
  app.add_option("--save", o.save, "where to save (default gpt_<file>_<mode>.safetensors)");
  CLI11_PARSE(app, argc, argv);
  return run(o);
} catch (const std::exception& e) {
  std::fprintf(stderr, "gpt_finetune: %s\n", e.what());
  return 1;
}
