// A compiled step makes no heap allocation: operator new is counted around the calls.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "typegrad/typegrad.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
}
void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  ++allocations;
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

TEST_CASE("a compiled training step allocates nothing", "[integration]") {
  tg::Linear<32, 16> fc1(1);
  tg::Linear<16, 4> fc2(2);
  auto step = tg::compile<tg::Input<float, 8, 32>, tg::Labels<8, 4>>(
      [&](auto x, auto y) { return tg::cross_entropy(fc2(tg::gelu(fc1(x))), y) + tg::mean(tg::softmax<1>(fc2(tg::relu(fc1(x))))); });
  auto infer = tg::compile_inference<tg::Input<float, 1, 32>>([&](auto x) { return tg::softmax<1>(fc2(tg::tanh(fc1(x)))); });
  tg::Tensor<float, 8, 32> x(0.25f);
  tg::Tensor<std::int32_t, 8> y(1);
  tg::Tensor<float, 1, 32> one(0.5f);
  step(x, y);  // warm-up: BLAS may allocate its buffers on first use
  infer(one);
  const std::size_t before = allocations.load();
  float total = 0;
  for (int i = 0; i < 10; ++i) {
    total += step(x, y);
    total += infer(one)[0];
  }
  const std::size_t during = allocations.load() - before;
  CHECK(std::isfinite(total));
  CHECK(during == 0);
  // the counter works: a program's construction allocates
  const std::size_t before_build = allocations.load();
  auto another = tg::compile_inference<tg::Input<float, 1, 32>>([&](auto v) { return fc1(v); });
  CHECK(allocations.load() > before_build);
  (void)another;
}
