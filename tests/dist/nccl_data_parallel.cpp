// Data-parallel training of a device program over NCCL (mpirun -np 2 on a machine with GPUs): after k steps every
// rank's parameters equal those of one host process trained on the global batch (float: cuBLAS and the host BLAS
// round differently, so within 1e-4 relative). Built in the CUDA variant (-DTYPEGRAD_DEVICE=CUDA), which every CI
// run with nvcc configures for it (CTest device.cuda_variant_builds_nccl_data_parallel; docs/gpu.md).
#include <cmath>
#include <cstdio>
#include <random>
#include <typegrad/device.hpp>
#include <typegrad/dist/nccl.hpp>
#include <typegrad/typegrad.hpp>

namespace {
constexpr std::size_t Global = 64, Local = Global / 2, In = 32, Classes = 10;

struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Linear<In, 64>, fc1), (tg::Linear<64, Classes>, fc2));
  explicit Net(std::uint64_t seed) { tg::init::initialize(*this, seed); }
  auto operator()(auto x) const { return fc2(tg::relu(fc1(x))); }
};

double difference(const Net& a, const Net& b) {
  std::vector<const float*> pb;
  tg::for_each_parameter(b, [&](const std::string&, const auto& p) { pb.push_back(p.data()); });
  double worst = 0;
  std::size_t k = 0;
  tg::for_each_parameter(a, [&](const std::string&, const auto& p) {
    for (std::size_t i = 0; i < p.size(); ++i)
      worst = std::max(worst, std::abs(double(p.data()[i]) - pb[k][i]) / std::max(1.0, std::abs(double(pb[k][i]))));
    ++k;
  });
  return worst;
}
}  // namespace

int main(int argc, char** argv) try {
  tg::dist::World world(&argc, &argv);
  tg::dist::NcclGroup gpus(world);  // before any device memory: picks this rank's GPU
  const int r = world.rank();
  Net model(1 + std::uint64_t(r)), reference(1);
  tg::dist::check_same_model(world, model);
  tg::dist::broadcast_state(world, model);  // rank 0's weights, before the device copies are made
  tg::device::Parameters params;
  auto step = tg::device::compile<tg::Input<float, Local, In>, tg::Labels<Local, Classes>>(
      params, [&](auto x, auto y) { return tg::cross_entropy(model(x), y); });
  auto whole = tg::compile<tg::Input<float, Global, In>, tg::Labels<Global, Classes>>(
      [&](auto x, auto y) { return tg::cross_entropy(reference(x), y); });
  auto opt = tg::optim::make(step, tg::optim::Momentum{0.9}, tg::sched::Constant{0.05});
  auto ref_opt = tg::optim::make(whole, tg::optim::Momentum{0.9}, tg::sched::Constant{0.05});
  std::mt19937 gen(42);  // the same global batches on every rank
  std::normal_distribution<float> u(0, 1);
  tg::Tensor<float, Global, In> x;
  tg::Tensor<std::int32_t, Global> y;
  tg::Tensor<float, Local, In> lx;
  tg::Tensor<std::int32_t, Local> ly;
  tg::device::Tensor<float, Local, In> dx;
  tg::device::Tensor<std::int32_t, Local> dy;
  for (int s = 0; s < 5; ++s) {
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = u(gen);
    for (std::size_t i = 0; i < Global; ++i) y[i] = std::int32_t(gen() % Classes);
    tg::dist::shard(world, x, lx);
    tg::dist::shard(world, y, ly);
    dx.copy_from(lx);
    dy.copy_from(ly);
    step(dx, dy);
    tg::dist::average_gradients(gpus, step);
    opt.update(step);
    whole(x, y);
    ref_opt.update(whole);
  }
  params.download();
  const double d = difference(model, reference);
  std::printf("rank %d (GPU %d): relative parameter difference after 5 steps %.3g\n", r, gpus.device(), d);
  int bad = d < 1e-4 ? 0 : 1, any = 0;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_SUM, world.comm());
  if (r == 0)
    std::printf("%s\n", any == 0 ? "all NCCL data-parallel checks passed" : "NCCL data-parallel checks FAILED");
  return any == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::printf("error: %s\n", e.what());
  return 1;
}
