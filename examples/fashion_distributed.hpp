#pragma once
// --distributed: data-parallel training of a Fashion-MNIST example over MPI (tg::dist). Every rank reads its share
// (tg::data::Share) of the same shuffled global batches (same seed) and trains on it; gradients are averaged with
// one MPI_Allreduce per step, so the run equals single-process training on the global batch. Rank 0 prints,
// evaluates with the others (each takes a share of the test set) and writes --save. Any number of ranks whose
// shares are batches the step was compiled for.
#include <chrono>
#include <typegrad/dist/data_parallel.hpp>
#include <typegrad/dist/evaluate.hpp>

#include "fashion_common.hpp"

namespace examples {

// Trains with global batches of Local x R examples on R ranks.
template <std::size_t Local, std::size_t... Item, class Step, class Optimizer, class Predict, class Model>
int distributed_epochs(const Options& o, const tg::dist::World& world, Step& step, Optimizer& optimizer,
                       Predict& predict, const tg::ParameterNames& names, const Model& model) {
  const bool lead = world.rank() == 0;
  const std::size_t ranks = std::size_t(world.size()), G = Local * ranks;
  const auto train = tg::data::read_mnist_split(o.data, "train");
  const auto test = tg::data::read_mnist_split(o.data, "t10k");
  if (lead)
    std::printf("data: %zu training and %zu test images from %s; %d ranks, %zu of each global batch of %zu per rank\n",
                train.size(), test.size(), o.data.c_str(), world.size(), Local, G);
  // this rank's rows of the global batches every rank shuffles alike
  tg::data::ImageBatches<Local, Item...> batches(train, fashion_mean, fashion_std, o.seed,
                                                 tg::data::PartialBatch::carry_over,
                                                 tg::data::Share{std::size_t(world.rank()), ranks});
  tg::data::ImageBatches<eval_batch, Item...> test_batches(test, fashion_mean, fashion_std, 0);
  typename decltype(batches)::images_type x;
  typename decltype(batches)::labels_type y;
  tg::data::Prefetcher prefetch(batches);
  tg::train::Progress progress(G);
  tg::train::History history;
  Watch<Step> watch(o, step, names);
  using clock = std::chrono::steady_clock;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    if (lead) progress.start_epoch(epoch, batches.batches_per_epoch());
    const auto start = clock::now();
    double communication = 0, loss_sum = 0;
    std::size_t done = 0;
    while (prefetch.next(x, y)) {
      const float loss = watch(step, x, y);
      check_finite(loss, epoch, done + 1);
      const auto before = clock::now();
      tg::dist::average_gradients(world, step);
      communication += std::chrono::duration<double>(clock::now() - before).count();
      optimizer.update(step);
      loss_sum += loss;
      ++done;
      if (lead) progress.step(done, loss);  // rank 0's share of the batch
    }
    const double secs = std::chrono::duration<double>(clock::now() - start).count();
    if (lead) progress.end_epoch();
    double mean_loss = loss_sum / double(done);
    tg::dist::detail::check(MPI_Allreduce(MPI_IN_PLACE, &mean_loss, 1, MPI_DOUBLE, MPI_SUM, world.comm()),
                            "MPI_Allreduce of the loss");
    mean_loss /= world.size();
    if (lead)
      std::printf(
          "epoch %d: %.1f s, %.0f examples/s, mean loss %.4f, gradient all-reduce (with waiting for the other ranks) "
          "%.1f%% of the time on rank 0\n",
          epoch, secs, double(done * G) / secs, mean_loss, 100 * communication / secs);
    if (lead) watch.print();
    if (!o.history.empty()) {
      const double accuracy = tg::dist::evaluate<10>(world, predict, test_batches).accuracy();
      history.add({{"epoch", double(epoch)}, {"train_loss", mean_loss}, {"test_accuracy", accuracy}});
    }
  }
  if (lead && !o.history.empty()) history.write_csv(o.history);
  if (lead) watch.finish();
  const auto e = tg::dist::evaluate<10>(world, predict, test_batches);
  if (lead && o.confusion) tg::train::print_confusion(e);
  if (lead) std::printf("test_accuracy: %.4f\n", e.accuracy());
  if (!o.save.empty()) {
    tg::dist::save(world, o.save, model);
    if (lead) std::printf("saved %s\n", o.save.c_str());
  }
  return 0;
}

// Data-parallel training: the step was compiled for Local = --batch / R rows.
template <std::size_t Local, std::size_t... Item, class Step, class Optimizer, class Predict, class Model>
int run_distributed(const Options& o, const tg::dist::World& world, Step& step, Optimizer& optimizer, Predict& predict,
                    const tg::ParameterNames& names, Model& model) {
  tg::dist::check_same_model(world, model);
  tg::dist::broadcast_state(world, model);  // every rank starts from rank 0's initial weights
  return distributed_epochs<Local, Item...>(o, world, step, optimizer, predict, names, model);
}

}  // namespace examples
