// scaled_dot_product_attention: its shape rule, numerical gradients (causal and not, query rows in one block, in
// blocks with a ragged last one, an input that is an element-wise region, an input whose gradient it shares), the
// values of the definition written out in primitives, and (host) an assigned gradient written whole, the same bits
// on 1 and 2 threads.
#include "support.hpp"

using namespace tgtest;

namespace {
template <std::size_t Heads, bool Causal, std::size_t B, std::size_t L, std::size_t E3>
using attention_of = tg::ScaledDotProductAttention<Heads, Causal, tg::InputLeaf<0, float, tg::shape<B, L, E3>, false>>;
// qkv [2, 5, 24], 4 heads: y [2, 5, 8], heads of 2
static_assert(std::is_same_v<attention_of<4, true, 2, 5, 24>::shape_type, tg::shape<2, 5, 8>>);
static_assert(attention_of<4, true, 2, 5, 24>::D == 2);
// the host's query blocks: 32 rows, a causal block reaching the keys up to its last row
static_assert(attention_of<8, true, 8, 128, 768>::blocks == 4);
static_assert(attention_of<8, true, 8, 128, 768>::block<1>::keys == 64);
static_assert(attention_of<8, false, 8, 128, 768>::block<1>::keys == 128);
static_assert(attention_of<2, true, 1, 37, 12>::block<1>::rows == 5);  // a ragged last block
static_assert(attention_of<1, true, 1, 264, 3>::blocks == 9 && attention_of<1, true, 1, 264, 3>::block<8>::rows == 8);

// The definition in primitives: heads split by reshape and permute, softmax(Q K^T / sqrt(D) + M) V, heads merged
template <std::size_t Heads, bool Causal, class X>
auto attention_by_definition(X qkv) {
  using S = typename X::shape_type;
  constexpr std::size_t B = S::dims[0], L = S::dims[1], E = S::dims[2] / 3, D = E / Heads;
  auto heads = [](auto p) {
    return tg::reshape<B * Heads, L, D>(tg::permute<0, 2, 1, 3>(tg::reshape<B, L, Heads, D>(p)));
  };
  auto scores = tg::matmul(heads(tg::slice<2, 0, E>(qkv)), tg::permute<0, 2, 1>(heads(tg::slice<2, E, 2 * E>(qkv)))) *
                (1.0 / std::sqrt(double(D)));
  auto masked = [&] {
    if constexpr (Causal) {
      using T = typename X::value_type;
      static const auto m = [] {  // outlives the program, which reads it
        tg::Tensor<T, L, L> t(0);
        for (std::size_t i = 0; i < L; ++i)
          for (std::size_t j = i + 1; j < L; ++j) t(i, j) = -std::numeric_limits<T>::infinity();
        return t;
      }();
      return scores + m;
    } else {
      return scores;
    }
  };
  auto heads_out = tg::matmul(tg::softmax<2>(masked()), heads(tg::slice<2, 2 * E, 3 * E>(qkv)));
  return tg::reshape<B, L, E>(tg::permute<0, 2, 1, 3>(tg::reshape<B, Heads, L, D>(heads_out)));
}

template <std::size_t Heads, bool Causal, std::size_t B, std::size_t L, std::size_t E3>
void check_against_definition() {
  const auto x = random<float, B, L, E3>(-2, 2);
  auto fused = compile_inference<tg::Input<float, B, L, E3>>(
      [](auto qkv) { return tg::scaled_dot_product_attention<Heads, Causal>(qkv); });
  auto defined = compile_inference<tg::Input<float, B, L, E3>>(
      [](auto qkv) { return attention_by_definition<Heads, Causal>(qkv); });
  const auto y = fused(x), want = defined(x);
  for (std::size_t i = 0; i < y.size(); ++i) {
    INFO("element " << i);
    CHECK(y[i] == near(want[i], 1e-5));
  }
}
}  // namespace

TEST_CASE("scaled_dot_product_attention", "[gradcheck]") {
  SECTION("causal, one block of query rows") {
    check_primitive([](auto x) { return tg::scaled_dot_product_attention<2, true>(x); }, random<double, 2, 5, 12>());
  }
  SECTION("not causal, one block") {
    check_primitive([](auto x) { return tg::scaled_dot_product_attention<1, false>(x); }, random<double, 2, 4, 9>());
  }
  SECTION("causal, blocks of 32 and 5 query rows") {
    check_primitive([](auto x) { return tg::scaled_dot_product_attention<2, true>(x); }, random<double, 1, 37, 12>());
  }
  SECTION("not causal, blocks of 32 and 2") {
    check_primitive([](auto x) { return tg::scaled_dot_product_attention<3, false>(x); }, random<double, 1, 34, 9>());
  }
  SECTION("causal, 9 blocks of query rows (the last of 8), reaching 32, 64, ..., 264 keys") {
    check_primitive([](auto x) { return tg::scaled_dot_product_attention<1, true>(x); }, random<double, 1, 264, 3>());
  }
  SECTION("its input an element-wise region") {
    check_primitive([](auto a, auto b) { return tg::scaled_dot_product_attention<2, true>(a * b); },
                    random<double, 2, 6, 12>(), random<double, 2, 6, 12>());
  }
  SECTION("its input's gradient shared with another use (added to, not assigned)") {
    check_primitive([](auto x) { return tg::scaled_dot_product_attention<2, true>(x) + tg::slice<2, 4, 8>(x) * 0.5; },
                    random<double, 1, 35, 12>());
  }
}

TEST_CASE("scaled_dot_product_attention matches its definition", "[value]") {
  check_against_definition<4, true, 2, 40, 192>();   // two blocks, heads of 16
  check_against_definition<3, false, 2, 33, 36>();   // a block of 1 row
  check_against_definition<8, true, 1, 128, 768>();  // the GPT's attention, heads of 32
  check_against_definition<2, true, 1, 300, 24>();   // 10 blocks, the last of 12 rows
}

#ifndef TYPEGRAD_TEST_DEVICE
TEST_CASE("scaled_dot_product_attention writes every element of the gradient it assigns", "[value]") {
  const auto x = random<float, 2, 37, 48>();
  auto f = [](auto qkv) { return tg::sum(tg::scaled_dot_product_attention<4, true>(qkv) * 0.25); };
  auto step = tg::compile<tg::Variable<float, 2, 37, 48>>(f);
  auto fresh = tg::compile<tg::Variable<float, 2, 37, 48>>(f);
  check_in_poisoned_workspace(step, fresh, x);
}

TEST_CASE("scaled_dot_product_attention: the same values and gradients on 1 and 2 threads", "[value]") {
  const auto x = random<float, 4, 64, 96>();
  const auto g = random<float, 4, 64, 32>();
  check_same_on_1_and_2_threads([&](auto a) { return tg::sum(tg::scaled_dot_product_attention<4, true>(a) * g); }, x);
}
#endif
