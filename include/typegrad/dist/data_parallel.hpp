#pragma once
// Data-parallel training over MPI (needs MPI only where this header is included; link MPI::MPI_CXX or
// MPI::MPI_C: only the C API is used).
//
//   tg::dist::World world(&argc, &argv);          // MPI_Init/Finalize; MPI errors become exceptions
//   tg::dist::check_same_model(world, model);     // every rank built the same model (names, shapes), else an error
//   tg::dist::broadcast_state(world, model);      // rank 0's parameters and buffers everywhere
//   auto step = tg::compile<tg::Input<float, B / R, ...>, ...>(loss);   // the per-rank share of a global batch B
//   tg::dist::shard(world, global_x, local_x);    // rank r takes rows [r B/R, (r+1) B/R) (or reads only them:
//                                                 // ImageBatches, TokenWindows with a tg::data::Share{rank, R})
//   step(local_x, local_y);
//   tg::dist::average_gradients(world, step);     // one MPI_Allreduce over the step's whole gradient block, / R
//   optimizer.update(step);                       // any rule, schedule, clipping (after the reduction), accumulation
//
// Every rank then holds the gradient of the mean loss over the global batch, so training equals single-process
// training on that batch up to the order of floating-point additions (tests/dist/). BatchNorm statistics stay
// per rank (each rank normalises its shard); rank 0 alone should write checkpoints (tg::io::save is atomic).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "typegrad/core/module.hpp"
#include "typegrad/core/program.hpp"
#include "typegrad/dist/world.hpp"

namespace tg::dist {

// What a model is, as text: one "name dtype-size [dims]" line per state tensor, in walk order.
template <class Model>
std::string describe_model(const Model& model) {
  std::string s;
  for_each_state_tensor(model, [&](const std::string& name, const auto& t) {
    using T = std::remove_cvref_t<decltype(t)>;
    s += name + " " + std::to_string(sizeof(typename T::value_type)) + " " +
         tg::detail::shape_string<typename T::shape_type>() + "\n";
  });
  return s;
}

// Throws DistError on every rank unless all ranks built the same model: rank 0's description is broadcast and
// each rank names the first line where its own differs. Call it on every rank, before training.
template <class Model>
void check_same_model(const World& world, const Model& model) {
  const std::string mine = describe_model(model);
  std::uint64_t length = mine.size();
  detail::check(MPI_Bcast(&length, 1, MPI_UINT64_T, 0, world.comm()), "MPI_Bcast");
  std::string reference(length, '\0');
  if (world.rank() == 0) reference = mine;
  detail::check(MPI_Bcast(reference.data(), int(length), MPI_CHAR, 0, world.comm()), "MPI_Bcast");
  std::string difference;
  if (reference != mine) {
    std::size_t a = 0, b = 0;
    for (;;) {
      const std::size_t ea = reference.find('\n', a), eb = mine.find('\n', b);
      const std::string la = ea == std::string::npos ? "(nothing)" : reference.substr(a, ea - a);
      const std::string lb = eb == std::string::npos ? "(nothing)" : mine.substr(b, eb - b);
      if (la != lb) {
        difference = "rank " + std::to_string(world.rank()) + " has " + lb + " where rank 0 has " + la;
        break;
      }
      a = ea + 1;
      b = eb + 1;
    }
  }
  int differs = !difference.empty(), any = 0;
  detail::check(MPI_Allreduce(&differs, &any, 1, MPI_INT, MPI_MAX, world.comm()), "MPI_Allreduce");
  if (any)
    throw DistError("typegrad::dist: the ranks' models differ" +
                    (difference.empty() ? std::string(" (on another rank)") : ": " + difference));
}

// Rank 0's parameters and buffers (BatchNorm statistics) to every rank.
template <class Model>
void broadcast_state(const World& world, Model& model) {
  for_each_state_tensor(model, [&](const std::string&, auto& t) {
    using T = typename std::remove_cvref_t<decltype(t)>::value_type;
    detail::check(MPI_Bcast(t.data(), int(t.size() * sizeof(T)), MPI_BYTE, 0, world.comm()), "MPI_Bcast");
  });
}

namespace detail {
// The gradient block as an array of the loss's element type: its element count (every slot must hold that type).
template <class Program>
constexpr std::size_t gradient_elements() {
  using T = typename Program::value_type;
  constexpr bool one_type = [] {
    for (std::size_t k = 0; k < Program::node_count; ++k)
      if (Program::plan.kind[k] == node_kind::external && Program::plan.needs_adjoint[k] &&
          Program::plan.elem_bytes[k] != sizeof(T))
        return false;
    return true;
  }();
  static_assert(one_type, "tg::dist::average_gradients: parameters of one element type (the loss's) only");
  return Program::gradient_block_bytes / sizeof(T);
}
}  // namespace detail

// The gradients of the last step, summed over ranks and divided by their number: one MPI_Allreduce over the
// step's gradient block (every trainable parameter's slot, tied and repeated ones included).
template <class Program>
void average_gradients(const World& world, Program& step) {
  using T = typename Program::value_type;
  static_assert(!Program::backend::is_device,
                "tg::dist::average_gradients(World&, ...) reduces host memory; a device program's gradients live on "
                "the device: tg::dist::NcclGroup (typegrad/dist/nccl.hpp)");
  constexpr std::size_t count = detail::gradient_elements<Program>();
  if constexpr (count > 0) {
    T* g = static_cast<T*>(step.gradient_block());
    detail::check(MPI_Allreduce(MPI_IN_PLACE, g, int(count), detail::datatype<T>(), MPI_SUM, world.comm()),
                  "MPI_Allreduce of the gradients");
    const T scale = T(1) / T(world.size());
    for (std::size_t i = 0; i < count; ++i) g[i] *= scale;
  }
}

namespace detail {
[[noreturn, gnu::noinline]] inline void throw_shard_mismatch(std::size_t global, int ranks, std::size_t local) {
  throw DistError("typegrad::dist: a global batch of " + std::to_string(global) + " rows does not split into " +
                  std::to_string(ranks) + " shards of " + std::to_string(local));
}
}  // namespace detail

// This rank's rows of a global batch: rank r of R takes rows [r Local, (r + 1) Local), Local = Global / R.
template <class T, std::size_t Global, std::size_t Local, std::size_t... D>
void shard(const World& world, const Tensor<T, Global, D...>& global, Tensor<T, Local, D...>& local) {
  if (std::size_t(world.size()) * Local != Global) detail::throw_shard_mismatch(Global, world.size(), Local);
  constexpr std::size_t row = (std::size_t{1} * ... * D);
  std::memcpy(local.data(), global.data() + std::size_t(world.rank()) * Local * row, Local * row * sizeof(T));
}

}  // namespace tg::dist
