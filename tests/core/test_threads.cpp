// tg::set_num_threads: the pool's partition covers every index once, and a training step gives bit-for-bit the
// same losses and parameters on 1, 2 and 3 threads (every kernel that is split writes each element from exactly
// one part, with the same arithmetic as on one thread; core/threads.hpp).
#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#ifdef __linux__
#include <sched.h>
#endif
#include <thread>
#include <vector>

#include "typegrad/typegrad.hpp"

namespace {
void fill_uniform(float* p, std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i) p[i] = u(g);
}

struct restore_one_thread {
  ~restore_one_thread() { tg::set_num_threads(1); }
};

// the pool at exactly n threads, past the CPUs if need be (tg::set_num_threads stops at them): the partitions into
// 3 and 4 parts are covered on a 2-CPU machine too
void use_threads(std::size_t n) { tg::detail::thread_pool::instance().resize(n); }

constexpr std::size_t N = 96;

// a small convolutional network with every kernel kind the host splits: conv2d (by image), batch norm and pooling
// (by plane), GEMMs (by rows), large fused regions with and without a broadcast operand, reductions by segment
struct Net {
  BOOST_HANA_DEFINE_STRUCT(Net, (tg::Conv2d<1, 8, 3>, conv1), (tg::BatchNorm<8>, norm1), (tg::Conv2d<8, 16, 3>, conv2),
                           (tg::Linear<16 * 5 * 5, 64>, fc1), (tg::Linear<64, 10>, fc2));
  explicit Net(std::uint64_t seed) : conv1(seed), conv2(seed + 1), fc1(seed + 2), fc2(seed + 3) {}
  auto operator()(auto x) const {
    auto h = tg::max_pool2d<2>(tg::relu(norm1(conv1(x))));  // [N, 8, 13, 13]
    auto k = tg::avg_pool2d<2>(tg::relu(conv2(h)));         // [N, 16, 5, 5]
    auto f = tg::relu(fc1(tg::reshape<N, 16 * 5 * 5>(k)));  // [N, 64]
    return fc2(f * f + f);                                  // a region without broadcast operands
  }
};

// LeNet's second stage (64 images): a max pooling over a convolution's buffer with 20,480 outputs read from 81,920
// inputs (split by plane from parallel_elements inputs; counted in outputs it stayed on one thread), and a linear layer
// whose B^T each part builds itself (64 x 50 x 320)
constexpr std::size_t LN = 64;
struct LenetTail {
  BOOST_HANA_DEFINE_STRUCT(LenetTail, (tg::Conv2d<1, 20, 5>, conv), (tg::Linear<320, 50>, fc1),
                           (tg::Linear<50, 10>, fc2));
  explicit LenetTail(std::uint64_t seed) : conv(seed), fc1(seed + 1), fc2(seed + 2) {}
  auto operator()(auto x) const {
    auto h = tg::relu(tg::max_pool2d<2>(conv(x)));  // [LN, 20, 4, 4]
    return fc2(tg::relu(fc1(tg::reshape<LN, 320>(h))));
  }
};

// the losses of 4 Adam steps into `losses`, the trained parameters returned
template <class Model, std::size_t B, std::size_t H>
std::vector<float> train(std::size_t threads, std::vector<float>& losses) {
  use_threads(threads);
  Model net(7);
  tg::Tensor<float, B, 1, H, H> x;
  tg::Tensor<std::int32_t, B> y;
  fill_uniform(x.data(), x.size(), 3);
  for (std::size_t i = 0; i < B; ++i) y[i] = std::int32_t(i * 7 % 10);
  auto step = tg::compile<tg::Input<float, B, 1, H, H>, tg::Labels<B, 10>>(
      [&](auto a, auto b) { return tg::cross_entropy(net(a), b); });
  auto opt = tg::optim::make(step, tg::optim::Adam{}, tg::sched::Constant{1e-3});
  for (int s = 0; s < 4; ++s) {
    losses.push_back(step(x, y));
    opt.update(step);
  }
  std::vector<float> weights;
  tg::for_each_parameter(
      net, [&](const std::string&, const auto& p) { weights.insert(weights.end(), p.data(), p.data() + p.size()); });
  return weights;
}

template <class Model, std::size_t B, std::size_t H>
void check_training_on_1_2_3_threads() {
  std::vector<float> l1, l2, l3;
  const auto w1 = train<Model, B, H>(1, l1), w2 = train<Model, B, H>(2, l2), w3 = train<Model, B, H>(3, l3);
  REQUIRE(l1.size() == 4);
  REQUIRE(l1[3] < l1[0]);  // it trains
  REQUIRE(std::memcmp(l1.data(), l2.data(), l1.size() * sizeof(float)) == 0);
  REQUIRE(std::memcmp(l1.data(), l3.data(), l1.size() * sizeof(float)) == 0);
  REQUIRE(w1.size() == w2.size());
  REQUIRE(std::memcmp(w1.data(), w2.data(), w1.size() * sizeof(float)) == 0);
  REQUIRE(std::memcmp(w1.data(), w3.data(), w1.size() * sizeof(float)) == 0);
}
}  // namespace

TEST_CASE("set_num_threads: the partition covers every index once", "[threads]") {
  restore_one_thread restore;
  for (std::size_t threads : {1, 2, 3, 4}) {
    use_threads(threads);
    REQUIRE(tg::num_threads() == threads);
    for (std::size_t n : {0, 1, 7, 64, 1000, 100001}) {
      std::vector<int> hits(n, 0);
      tg::detail::parallel_for(n, 3, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) ++hits[i];
      });
      for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i] == 1);
    }
  }
  REQUIRE_THROWS_WITH(tg::set_num_threads(0), Catch::Contains("at least 1"));
}

#ifdef __linux__
// Confined to one CPU, a pool of 2 spun waiting for its other thread until the scheduler's tick (a LeNet step 56 ms
// instead of 2): set_num_threads stops at the CPUs of the affinity mask; a pool sized past them still computes.
TEST_CASE("set_num_threads: no more threads than the CPUs the process may run on", "[threads]") {
  restore_one_thread restore;
  cpu_set_t all;
  REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
  struct restore_affinity {
    cpu_set_t set;
    ~restore_affinity() { sched_setaffinity(0, sizeof set, &set); }
  } restore_cpus{all};
  int first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  CHECK(tg::detail::usable_cpus() == 1);
  tg::set_num_threads(2);
  CHECK(tg::num_threads() == 1);

  use_threads(2);  // past the CPUs: the waits yield, and every part still runs once
  std::vector<int> hits(4096, 0);
  for (int round = 0; round < 50; ++round)
    tg::detail::parallel_for(hits.size(), 16, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) ++hits[i];
    });
  for (int h : hits) REQUIRE(h == 50);

  REQUIRE(sched_setaffinity(0, sizeof all, &all) == 0);
  tg::set_num_threads(2);
  CHECK(tg::num_threads() == std::min<std::size_t>(2, std::size_t(CPU_COUNT(&all))));
}
#endif

TEST_CASE("set_num_threads: two user threads splitting at once both finish every index", "[threads]") {
  restore_one_thread restore;
  tg::set_num_threads(2);
  const auto work = [](std::vector<int>& hits) {
    for (int round = 0; round < 200; ++round)
      tg::detail::parallel_for(hits.size(), 16, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) ++hits[i];
      });
  };
  std::vector<int> mine(4096, 0), theirs(4096, 0);
  std::thread other([&] { work(theirs); });  // one of the two holds the pool, the other runs serially
  work(mine);
  other.join();
  for (std::size_t i = 0; i < mine.size(); ++i) {
    REQUIRE(mine[i] == 200);
    REQUIRE(theirs[i] == 200);
  }
}

// C = op(A) op(B) (+ C) on 1 thread and on 2 and 3 threads, bit for bit
template <bool TA, bool TB, int M, int Nn, int K, int Beta>
void check_split_gemm() {
  using G = tg::blas::gemm_kernel<float, TA, TB, M, Nn, K, TA ? M : K, TB ? K : Nn, Nn, Beta>;
  std::vector<float> a(M * K), b(K * Nn), c1(M * Nn), c2(M * Nn), scratch(G::scratch_elements + 1);
  fill_uniform(a.data(), a.size(), 1);
  fill_uniform(b.data(), b.size(), 2);
  fill_uniform(c1.data(), c1.size(), 4);
  const std::vector<float> c0 = c1;
  tg::set_num_threads(1);
  G::run(a.data(), b.data(), c1.data(), scratch.data());
  for (std::size_t threads : {2, 3}) {
    c2 = c0;
    use_threads(threads);
    G::run(a.data(), b.data(), c2.data(), scratch.data());
    INFO(M << " x " << Nn << " x " << K << " TA " << TA << " TB " << TB << " on " << threads << " threads");
    REQUIRE(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("set_num_threads: a split GEMM gives the one-thread result bit for bit", "[threads]") {
  restore_one_thread restore;
  check_split_gemm<false, false, 96, 80, 72, 0>();
  check_split_gemm<false, false, 96, 80, 72, 1>();
  check_split_gemm<false, true, 96, 80, 72, 1>();
  check_split_gemm<true, false, 96, 80, 72, 0>();
  check_split_gemm<true, true, 96, 80, 72, 1>();
  // shapes whose rows libxsmm's AVX-512 kernels rounded differently by the height of the call (a dense layer's
  // dW = dy^T x and its dx): C must go through the same row blocks on every thread count
  check_split_gemm<true, false, 64, 400, 96, 0>();
  check_split_gemm<false, false, 96, 400, 64, 0>();
  // past 64M multiply-adds: libxsmm in blocks of 128 rows with AVX-512, else OpenBLAS, also by blocks
  // (LIBXSMM_TARGET=hsw runs the OpenBLAS path on an AVX-512 machine)
  check_split_gemm<false, false, 1040, 256, 256, 0>();
  check_split_gemm<false, true, 1040, 256, 256, 1>();
  // k chunks of a wide block (within 512 KB in AVX-512 builds) with a partial last one: 64 x 768 x 400 in
  // 2 x 136 + 128
  check_split_gemm<false, false, 64, 768, 400, 1>();
  // C = A B^T through C^T = B A^T, each part writing its columns of C (a dense layer's forward): the MLP's shape,
  // and ragged ones (20 rows of C: A^T's register blocks end early; 300 columns: a short last block of C^T)
#ifdef TYPEGRAD_HAVE_LIBXSMM
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 64, 256, 784, 784, 784, 256, 0>::transpose_ac);
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 20, 300, 100, 100, 100, 300, 1>::transpose_ac);
#endif
  check_split_gemm<false, true, 64, 256, 784, 0>();
  check_split_gemm<false, true, 64, 256, 784, 1>();
  check_split_gemm<false, true, 20, 300, 100, 1>();
  // A^T by k chunks in each part: the MLP's shape above, and k 900 in 4 chunks of 184 and one of 164
#ifdef TYPEGRAD_HAVE_LIBXSMM
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 64, 256, 784, 784, 784, 256, 0>::a_by_chunks);
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 20, 64, 900, 900, 900, 64, 1>::a_by_chunks);
#endif
  check_split_gemm<false, true, 20, 64, 900, 1>();
  check_split_gemm<true, true, 20, 300, 100, 0>();
  // B^T built by each part where it fits 64 KB (LeNet's first linear layer, 64 x 50 x 320, and 96 x 80 x 72 above),
  // by the calling thread alone into scratch past that (1040 x 256 x 256 above)
#ifdef TYPEGRAD_HAVE_LIBXSMM
  // (AVX2 builds pad its rows of 50 to 56 instead: B^T and C in scratch, written by the calling thread, gemm_kernel::
  // pads_c)
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 64, 50, 320, 320, 320, 50, 0>::part_transposes_b ==
                 (tg::host_vector_bytes != 32));
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 64, 50, 320, 320, 320, 50, 0>::pads_c ==
                 (tg::host_vector_bytes == 32));
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 96, 80, 72, 72, 72, 80, 1>::part_transposes_b);
  STATIC_REQUIRE(tg::blas::gemm_kernel<float, false, true, 1040, 256, 256, 256, 256, 256, 1>::transpose_b);
  STATIC_REQUIRE(!tg::blas::gemm_kernel<float, false, true, 1040, 256, 256, 256, 256, 256, 1>::part_transposes_b);
#endif
  check_split_gemm<false, true, 64, 50, 320, 0>();
  check_split_gemm<false, true, 64, 50, 320, 1>();
  check_split_gemm<false, true, 96, 10, 300, 1>();  // (AVX2 builds: rows of 10 padded to 16)
}

TEST_CASE("set_num_threads: training gives the same losses and weights on 1, 2 and 3 threads", "[threads]") {
  restore_one_thread restore;
  SECTION("every kernel kind the host splits") { check_training_on_1_2_3_threads<Net, N, 28>(); }
  SECTION("LeNet's second stage") { check_training_on_1_2_3_threads<LenetTail, LN, 12>(); }
}

TEST_CASE("set_num_threads: a large clear splits over the threads and clears exactly its bytes", "[threads]") {
  restore_one_thread restore;
  // past two parts' worth of bytes (host_backend::parallel_zero_bytes), an odd length, inside a larger buffer
  const std::size_t bytes = 5 * tg::host_backend::parallel_zero_bytes + 13;
  std::vector<unsigned char> buffer(bytes + 64);
  for (std::size_t threads : {1, 2, 3}) {
    use_threads(threads);
    std::fill(buffer.begin(), buffer.end(), 0xab);
    tg::host_backend::zero(buffer.data() + 32, bytes);
    INFO(threads << " threads");
    CHECK(std::all_of(buffer.begin() + 32, buffer.begin() + 32 + std::ptrdiff_t(bytes), [](auto b) { return b == 0; }));
    CHECK(std::all_of(buffer.begin(), buffer.begin() + 32, [](auto b) { return b == 0xab; }));
    CHECK(std::all_of(buffer.end() - 32, buffer.end(), [](auto b) { return b == 0xab; }));
  }
}

TEST_CASE("set_num_threads: a convolution's dW from im2row (LeNet's second layer) is the same on 1, 2 and 3 threads",
          "[threads]") {
  restore_one_thread restore;
  tg::Conv2d<10, 20, 5> conv(5);  // 20 output channels: dW = dy_n cols_n^T (conv2d.hpp, dw_from_rows)
  tg::Tensor<float, 11, 10, 12, 12> x;
  fill_uniform(x.data(), x.size(), 6);
  auto step = tg::compile<tg::Input<float, 11, 10, 12, 12>>([&](auto a) { return tg::sum(tg::tanh(conv(a))); });
  static_assert(decltype(tg::conv2d(std::declval<tg::Tensor<float, 11, 10, 12, 12>&>(), conv.weight))::dw_from_rows);
  std::vector<float> dw1;
  for (std::size_t threads : {1, 2, 3}) {
    use_threads(threads);
    step(x);
    const auto dw = step.grad(conv.weight);
    if (threads == 1) {
      dw1.assign(dw.begin(), dw.end());
      continue;
    }
    INFO(threads << " threads");
    REQUIRE(std::memcmp(dw1.data(), dw.data(), dw1.size() * sizeof(float)) == 0);
  }
}
