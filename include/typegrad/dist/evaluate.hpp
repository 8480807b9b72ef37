#pragma once
// Evaluation and checkpoints in a data-parallel job: every rank evaluates its share of a dataset and the results
// are summed; rank 0 alone writes a checkpoint and every rank learns whether it was written.
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "typegrad/dist/world.hpp"
#include "typegrad/io/safetensors.hpp"
#include "typegrad/train/evaluate.hpp"

namespace tg::dist {

// tg::train::evaluate over the whole set, split between the ranks (rank r takes batches r, r + R, ...): every
// rank returns the same totals and confusion matrix.
template <std::size_t Classes, class Predict, class Batches>
train::Evaluation evaluate(const World& world, Predict& predict, const Batches& batches) {
  train::Evaluation e =
      train::evaluate<Classes>(predict, batches, std::size_t(world.rank()), std::size_t(world.size()));
  std::vector<std::uint64_t> counts(e.confusion.begin(), e.confusion.end());
  counts.push_back(e.correct);
  counts.push_back(e.total);
  detail::check(MPI_Allreduce(MPI_IN_PLACE, counts.data(), int(counts.size()), MPI_UINT64_T, MPI_SUM, world.comm()),
                "MPI_Allreduce of the evaluation");
  for (std::size_t i = 0; i < e.confusion.size(); ++i) e.confusion[i] = std::size_t(counts[i]);
  e.correct = std::size_t(counts[e.confusion.size()]);
  e.total = std::size_t(counts[e.confusion.size() + 1]);
  return e;
}

// Rank 0 saves the model (tg::io::save: atomic); every rank returns once it is written, or throws DistError with
// rank 0's reason if it could not be.
template <class Model>
void save(const World& world, const std::filesystem::path& path, const Model& model,
          const io::SaveOptions& options = {}) {
  std::string failure;
  if (world.rank() == 0) try {
      io::save(path, model, options);
    } catch (const std::exception& e) {
      failure = e.what();
      if (failure.empty()) failure = "unknown error";
    }
  std::uint64_t length = failure.size();
  detail::check(MPI_Bcast(&length, 1, MPI_UINT64_T, 0, world.comm()), "MPI_Bcast");
  if (length == 0) return;
  failure.resize(length);
  detail::check(MPI_Bcast(failure.data(), int(length), MPI_CHAR, 0, world.comm()), "MPI_Bcast");
  throw DistError("typegrad::dist: rank 0 could not save " + path.string() + ": " + failure);
}

}  // namespace tg::dist
