#pragma once
// The processes of an MPI job, and MPI failures as exceptions: what tg::dist's data-parallel training
// (dist/data_parallel.hpp) and pipeline stages (dist/pipeline.hpp) share. Needs MPI where it is included.

// the MPI C API only: the deprecated C++ bindings of Open MPI's and MPICH's headers are not wanted (their casts
// warn under -Wextra)
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace tg::dist {

struct DistError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw DistError(std::string("typegrad::dist: ") + what + " failed: " + std::string(text, std::size_t(length)));
}
template <class T>
MPI_Datatype datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tg::dist: float or double tensors");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}
}  // namespace detail

// The processes of one job (MPI_COMM_WORLD). Initialises MPI unless the program already has, and finalises what
// it initialised. MPI errors are returned, not fatal, so that they surface as DistError exceptions.
class World {
 public:
  World(int* argc, char*** argv) {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
      int provided = 0;
      detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  ~World() {
    if (owns_) MPI_Finalize();
  }
  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return MPI_COMM_WORLD; }
  void barrier() const { detail::check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

 private:
  int rank_ = 0, size_ = 1;
  bool owns_ = false;
};

}  // namespace tg::dist
