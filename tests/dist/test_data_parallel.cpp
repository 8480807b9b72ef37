// Data-parallel training on 2 ranks (mpirun -np 2) equals single-process training on the global batch.
// Every rank also trains a reference copy on the whole global batch and compares its parameters after each phase.
// A plain main (not Catch): every rank must make the same MPI calls, and a failure on one rank fails the job.
#include <cmath>
#include <cstdio>
#include <random>

#include "typegrad/dist/data_parallel.hpp"
#include "typegrad/typegrad.hpp"

namespace {
constexpr std::size_t Global = 8, In = 6, Classes = 3;

struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<In, 16, double>, fc1), (tg::Linear<16, Classes, double>, fc2));
  explicit Net(std::uint64_t seed) { tg::init::initialize(*this, seed); }
  auto operator()(auto x) const { return fc2(tg::tanh(fc1(x))); }
};

int failures = 0;
void expect(bool holds, const std::string& what, int rank) {
  if (!holds) {
    std::printf("rank %d FAILED: %s\n", rank, what.c_str());
    ++failures;
  }
}

// largest |a - b| / max(1, |b|) over all parameters
double difference(const Net& a, const Net& b) {
  double worst = 0;
  std::vector<const double*> pb;
  tg::for_each_parameter(b, [&](const std::string&, const auto& p) { pb.push_back(p.data()); });
  std::size_t k = 0;
  tg::for_each_parameter(a, [&](const std::string&, const auto& p) {
    for (std::size_t i = 0; i < p.size(); ++i)
      worst = std::max(worst, std::abs(p.data()[i] - pb[k][i]) / std::max(1.0, std::abs(pb[k][i])));
    ++k;
  });
  return worst;
}

// k steps of data-parallel training against the same k steps on the global batch, with the optimizer options o
template <class Rule>
double train_both(const tg::dist::World& world, Rule rule, tg::optim::Options o, int steps) {
  constexpr std::size_t Local = Global / 2;
  Net model(1 + std::uint64_t(world.rank()));  // different on purpose: the broadcast must fix it
  tg::dist::broadcast_state(world, model);
  Net reference(1);
  auto local = tg::compile<tg::Input<double, Local, In>, tg::Labels<Local, Classes>>(
      [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto whole = tg::compile<tg::Input<double, Global, In>, tg::Labels<Global, Classes>>(
      [&](auto x, auto y) { return tg::cross_entropy(reference(x), y); });
  auto opt = tg::optim::make(local, rule, tg::sched::Constant{0.1}, o);
  auto ref_opt = tg::optim::make(whole, rule, tg::sched::Constant{0.1}, o);
  std::mt19937 gen(42);  // the same global batches on every rank
  std::normal_distribution<double> u(0, 1);
  tg::Tensor<double, Global, In> x;
  tg::Tensor<std::int32_t, Global> y;
  tg::Tensor<double, Local, In> lx;
  tg::Tensor<std::int32_t, Local> ly;
  for (int s = 0; s < steps; ++s) {
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = u(gen);
    for (std::size_t i = 0; i < Global; ++i) y[i] = std::int32_t(gen() % Classes);
    tg::dist::shard(world, x, lx);
    tg::dist::shard(world, y, ly);
    local(lx, ly);
    tg::dist::average_gradients(world, local);
    opt.update(local);
    whole(x, y);
    ref_opt.update(whole);
  }
  return difference(model, reference);
}
}  // namespace

int main(int argc, char** argv) try {
  tg::dist::World world(&argc, &argv);
  const int r = world.rank();
  expect(world.size() == 2, "runs on 2 ranks (mpirun -np 2)", r);

  Net a(1), b(1 + std::uint64_t(r));
  tg::dist::check_same_model(world, a);
  tg::dist::broadcast_state(world, b);
  expect(difference(a, b) == 0, "after broadcast_state every rank holds rank 0's parameters", r);

  // the reductions add two half-batch means where the reference sums the whole batch: rounding differs, so
  // the comparison is within 1e-12 relative (double), stated in docs/distributed.md
  const double sgd = train_both(world, tg::optim::Momentum{0.9}, {}, 6);
  expect(sgd < 1e-12, "momentum SGD: data parallel = single process (difference " + std::to_string(sgd) + ")", r);
  const double adam = train_both(world, tg::optim::AdamW{}, {.clip_norm = 0.5, .accumulate = 2}, 6);
  expect(
      adam < 1e-12,
      "AdamW, clipping 0.5, accumulation 2: data parallel = single process (difference " + std::to_string(adam) + ")",
      r);
  std::printf("rank %d: relative parameter difference after 6 steps: momentum %.3g, AdamW+clip+accumulate %.3g\n", r,
              sgd, adam);

  // a rank whose model differs is named, on every rank
  struct Other {
    BOOST_HANA_DEFINE_STRUCT(Other, (tg::Linear<In, 16, double>, fc1), (tg::Linear<16, Classes + 1, double>, fc2));
  };
  std::string message;
  try {
    if (r == 1)
      tg::dist::check_same_model(world, Other{});
    else
      tg::dist::check_same_model(world, a);
  } catch (const tg::dist::DistError& e) {
    message = e.what();
  }
  expect(!message.empty(), "differing models are an error on every rank", r);
  if (r == 1)
    expect(message.find("rank 1 has fc2.weight 8 [4, 16] where rank 0 has fc2.weight 8 [3, 16]") != std::string::npos,
           "the error names the differing parameter: " + message, r);

  int all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, world.comm());
  if (r == 0) std::printf("%s\n", all == 0 ? "all data-parallel checks passed" : "data-parallel checks FAILED");
  return all == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::printf("error: %s\n", e.what());
  return 1;
}
