// Pipeline model parallelism on 2 ranks (mpirun -np 2): a 3-layer MLP split after its first layer, 4 micro-batches,
// against the unsplit model on the whole batch, which every rank also trains (double precision).
// A plain main (not Catch): every rank must make the same MPI calls, and a failure on one rank fails the job.
#include <cmath>
#include <cstdio>
#include <random>

#include "typegrad/dist/pipeline.hpp"
#include "typegrad/typegrad.hpp"

namespace {
constexpr std::size_t Micro = 4, m = 3, Batch = Micro * m, In = 5, Hidden = 7, Classes = 3;

struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<In, Hidden, double>, fc1), (tg::Linear<Hidden, Hidden, double>, fc2),
                           (tg::Linear<Hidden, Classes, double>, fc3));
  explicit Net(std::uint64_t seed) { tg::init::initialize(*this, seed); }
  auto first(auto x) const { return tg::tanh(fc1(x)); }
  auto rest(auto h) const { return fc3(tg::tanh(fc2(h))); }
};

int failures = 0;
int rank = 0;
void expect(bool holds, const std::string& what) {
  if (!holds) {
    std::printf("rank %d FAILED: %s\n", rank, what.c_str());
    ++failures;
  }
}

double relative(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(b)); }

// largest relative difference between the parameters of a and b
double difference(const Net& a, const Net& b) {
  std::vector<const double*> pb;
  tg::for_each_parameter(b, [&](const std::string&, const auto& p) { pb.push_back(p.data()); });
  double worst = 0;
  std::size_t k = 0;
  tg::for_each_parameter(a, [&](const std::string&, const auto& p) {
    for (std::size_t i = 0; i < p.size(); ++i) worst = std::max(worst, relative(p.data()[i], pb[k][i]));
    ++k;
  });
  return worst;
}

struct Batch_ {
  tg::Tensor<double, Batch, In> x;
  tg::Tensor<std::int32_t, Batch> y;
  void fill(std::mt19937& gen) {
    std::normal_distribution<double> u(0, 1);
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = u(gen);
    for (std::size_t i = 0; i < Batch; ++i) y[i] = std::int32_t(gen() % Classes);
  }
};
}  // namespace

int main(int argc, char** argv) try {
  tg::dist::World world(&argc, &argv);
  rank = world.rank();
  expect(world.size() == 2, "runs on 2 ranks (mpirun -np 2)");

  Net net(7), reference(7);
  auto first = tg::dist::stage<tg::Input<double, m, In>>([&](auto x) { return net.first(x); });
  auto last = tg::dist::stage<tg::dist::Activation<double, m, Hidden>, tg::Labels<m, Classes>>(
      [&](auto h, auto y) { return tg::cross_entropy(net.rest(h), y); });
  auto pipe = tg::dist::pipeline<Micro>(world, first, last);
  auto whole = tg::compile<tg::Input<double, Batch, In>, tg::Labels<Batch, Classes>>(
      [&](auto x, auto y) { return tg::cross_entropy(reference.rest(reference.first(x)), y); });

  // one step: the loss (every rank) and this rank's gradients equal the unsplit model's
  std::mt19937 gen(11);  // the same batches on every rank
  Batch_ b;
  b.fill(gen);
  const double loss = pipe.step(b.x, b.y);
  const double expected = whole(b.x, b.y);
  expect(relative(loss, expected) < 1e-12, "loss " + std::to_string(loss) + " = " + std::to_string(expected));
  double worst = 0;
  std::size_t checked = 0;
  pipe.visit_program([&](const auto& program) {
    tg::for_each_parameter(net, [&](const std::string& name, const auto& p) {
      if (!program.has_grad(p)) return;
      ++checked;
      // the same parameter of the reference model, by name
      tg::for_each_parameter(reference, [&](const std::string& other, const auto& r) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(r)>, std::remove_cvref_t<decltype(p)>>)
          if (other == name) {
            const auto g = program.grad(p), h = whole.grad(r);
            for (std::size_t i = 0; i < g.size(); ++i) worst = std::max(worst, relative(g.data()[i], h.data()[i]));
          }
      });
    });
  });
  expect(checked == (rank == 0 ? 2u : 4u),
         "stage " + std::to_string(rank) + " trains its own layers (" + std::to_string(checked) + " parameters)");
  expect(worst < 1e-12, "gradients equal the unsplit model's (difference " + std::to_string(worst) + ")");
  std::printf("rank %d: one step: loss difference %.3g, largest relative gradient difference %.3g\n", rank,
              relative(loss, expected), worst);

  // training: AdamW with clipping by the global norm over both stages; the reference clips its whole gradient
  const tg::optim::Options options{.clip_norm = 0.05};
  auto opt = pipe.optimizer(tg::optim::AdamW{}, tg::sched::Constant{0.05}, options);
  auto ref_opt = tg::optim::make(whole, tg::optim::AdamW{}, tg::sched::Constant{0.05}, options);
  opt.update();
  ref_opt.update(whole);
  expect(relative(pipe.last_gradient_norm(), ref_opt.last_gradient_norm()) < 1e-12,
         "global gradient norm " + std::to_string(pipe.last_gradient_norm()) + " = " +
             std::to_string(ref_opt.last_gradient_norm()));
  for (int s = 0; s < 5; ++s) {
    b.fill(gen);
    pipe.step(b.x, b.y);
    opt.update();
    whole(b.x, b.y);
    ref_opt.update(whole);
  }
  pipe.share_parameters(net);
  const double trained = difference(net, reference);
  expect(trained < 1e-12,
         "after 6 steps every parameter equals the unsplit model's (difference " + std::to_string(trained) + ")");
  std::printf("rank %d: after 6 AdamW steps clipped at %.2g: largest relative parameter difference %.3g\n", rank,
              options.clip_norm, trained);

  // a pipeline of 3 stages on a job of 2 ranks is refused, naming both counts
  std::string message;
  try {
    auto middle = tg::dist::stage<tg::dist::Activation<double, m, Hidden>>([&](auto h) { return tg::tanh(h); });
    auto three = tg::dist::pipeline<Micro>(world, first, middle, last);
  } catch (const tg::dist::DistError& e) {
    message = e.what();
  }
  expect(message.find("the pipeline has 3 stages but the job has 2 ranks") != std::string::npos,
         "3 stages on 2 ranks: " + message);

  int all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, world.comm());
  if (rank == 0) std::printf("%s\n", all == 0 ? "all pipeline checks passed" : "pipeline checks FAILED");
  return all == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::printf("rank %d error: %s\n", rank, e.what());
  return 1;
}
