#pragma once
// Data-parallel training of device programs with NCCL (the CUDA system of the device backend): the API of
// dist/data_parallel.hpp with the all-reduce on device memory, on the backend's stream. MPI starts the job, picks
// the ranks and carries NCCL's id; NCCL moves the gradients (NVLink, PCIe or the network, as it finds).
//
//   tg::dist::World world(&argc, &argv);
//   tg::dist::NcclGroup gpus(world);          // before any device program: selects this rank's GPU
//   tg::dist::check_same_model(world, model);
//   tg::dist::broadcast_state(world, model);  // host parameters, before tg::device::Parameters copies them
//   auto step = tg::device::compile<tg::Input<float, B / R, ...>, ...>(params, loss);
//   step(x, y);                               // x, y: this rank's shard, copied to the device
//   tg::dist::average_gradients(gpus, step);  // one ncclAllReduce (ncclAvg) over the gradient block, in stream order
//   optimizer.update(step);
//
// Each rank uses GPU (local rank mod the machine's GPU count), the local rank read from Open MPI's
// OMPI_COMM_WORLD_LOCAL_RANK (else the world rank). A rank that dies ends the job through mpirun as in the MPI
// case: NCCL calls of the survivors are killed with it (docs/distributed.md).
#include <nccl.h>

#include <cstdlib>
#include <string>

#include "typegrad/device/backend.hpp"
#include "typegrad/dist/data_parallel.hpp"

#if !TYPEGRAD_DEVICE_IS_CUDA
#error "typegrad/dist/nccl.hpp needs the CUDA system of the device backend (nvcc, -DTYPEGRAD_DEVICE=CUDA)"
#endif

namespace tg::dist {

namespace detail {
inline void check_nccl(ncclResult_t code, const char* what) {
  if (code != ncclSuccess)
    throw DistError(std::string("typegrad::dist: ") + what + " failed: " + ncclGetErrorString(code));
}
template <class T>
ncclDataType_t nccl_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tg::dist: float or double gradients");
  return std::is_same_v<T, float> ? ncclFloat32 : ncclFloat64;
}
}  // namespace detail

// One NCCL communicator over the job's ranks, one GPU per rank.
class NcclGroup {
 public:
  explicit NcclGroup(const World& world) : world_(world) {
    int gpus = 0;
    if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0)
      throw DistError("typegrad::dist: NcclGroup: rank " + std::to_string(world.rank()) + " sees no CUDA device");
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    device_ = (local ? std::atoi(local) : world.rank()) % gpus;
    TG_CUDA(cudaSetDevice(device_));
    ncclUniqueId id;
    if (world.rank() == 0) detail::check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    detail::check(MPI_Bcast(&id, int(sizeof id), MPI_BYTE, 0, world.comm()), "MPI_Bcast of the NCCL id");
    detail::check_nccl(ncclCommInitRank(&comm_, world.size(), id, world.rank()), "ncclCommInitRank");
  }
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;
  ~NcclGroup() { ncclCommDestroy(comm_); }

  ncclComm_t comm() const { return comm_; }
  int device() const { return device_; }
  const World& world() const { return world_; }

 private:
  const World& world_;
  ncclComm_t comm_{};
  int device_ = 0;
};

// The gradients of the last step averaged over the ranks: one ncclAllReduce with ncclAvg over the device
// program's gradient block, queued on the backend's stream after the backward pass and before the update.
template <class Program>
void average_gradients(NcclGroup& group, Program& step) {
  using T = typename Program::value_type;
  static_assert(Program::backend::is_device, "tg::dist::average_gradients(NcclGroup&, ...): a device program");
  constexpr std::size_t count = detail::gradient_elements<Program>();
  if constexpr (count > 0)
    detail::check_nccl(ncclAllReduce(step.gradient_block(), step.gradient_block(), count, detail::nccl_type<T>(),
                                     ncclAvg, group.comm(), tg::device::runtime::get().stream),
                       "ncclAllReduce of the gradients");
}

}  // namespace tg::dist
