#!/usr/bin/env bash
# Installs the Debian 12 packages typegrad needs to build, test and run its demo.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libboost-dev            # Boost.Hana
  xtensor-dev libxsimd-dev libxtensor-blas-dev libopenblas-dev
  libxsmm-dev             # JIT GEMM kernels per fixed shape (core/blas.hpp)
  catch2                  # tests
  zlib1g-dev              # .gz IDX files
  dataset-fashion-mnist   # the demo's data
  libtorch-dev            # peer for the cross-check tests and benchmarks
  libcli11-dev            # example command lines
  nlohmann-json3-dev      # safetensors headers
  wamerican               # the character-model example's word list
  fortunes                # gpt_pretrain's text: /usr/share/games/fortunes
  gnuplot-nox             # scripts/plot_history.sh
  graphviz                # scripts/render_graphs.sh: tg::to_dot pictures
  doxygen                 # the API reference: cmake --build build --target docs
  openmpi-bin libopenmpi-dev  # tg::dist: data-parallel training, tests under mpirun -np 2
  time                    # bench/compile_times: /usr/bin/time -v
  clang-14 libclang-rt-14-dev  # tests/fuzz: libFuzzer with ASan and UBSan
)
# The device backend's Thrust: the CUDA toolkit's CCCL when it is installed, else Debian's.
[ -f /usr/local/cuda/include/cccl/thrust/version.h ] || packages+=(libthrust-dev)
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
