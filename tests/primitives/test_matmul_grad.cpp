// Numerical gradient checks of matmul through BLAS: 2-D, batched, broadcast batch, transposes folded into GEMM;
// matmul_sum (two products into one buffer).
#include "support.hpp"

using namespace tgtest;


TEST_CASE("matmul", "[gradcheck]") {
  SECTION("[M,K] x [K,N]") { check_primitive([](auto a, auto b) { return tg::matmul(a, b); }, random<double, 3, 4>(), random<double, 4, 5>()); }
  SECTION("A^T B") {
    check_primitive([](auto a, auto b) { return tg::matmul(tg::transpose(a), b); }, random<double, 4, 3>(), random<double, 4, 5>());
  }
  SECTION("A B^T") {
    check_primitive([](auto a, auto b) { return tg::matmul(a, tg::transpose(b)); }, random<double, 3, 4>(), random<double, 5, 4>());
  }
  SECTION("A^T B^T") {
    check_primitive([](auto a, auto b) { return tg::matmul(tg::transpose(a), tg::transpose(b)); }, random<double, 4, 3>(),
          random<double, 5, 4>());
  }
  // with libxsmm, A B^T transposes B when it is the smaller copy (above) and A and C when they are (below)
  SECTION("A B^T, wide B: A and C are transposed") {
    check_primitive([](auto a, auto b) { return tg::matmul(a, tg::transpose(b)); }, random<double, 2, 6>(), random<double, 7, 6>());
  }
  SECTION("A^T B^T, wide B") {
    check_primitive([](auto a, auto b) { return tg::matmul(tg::transpose(a), tg::transpose(b)); }, random<double, 6, 2>(),
          random<double, 7, 6>());
  }
  SECTION("batched [B,M,K] x [B,K,N]") {
    check_primitive([](auto a, auto b) { return tg::matmul(a, b); }, random<double, 2, 3, 4>(), random<double, 2, 4, 5>());
  }
  SECTION("broadcast batch [B,M,K] x [K,N]") {
    check_primitive([](auto a, auto b) { return tg::matmul(a, b); }, random<double, 2, 3, 4>(), random<double, 4, 5>());
  }
  SECTION("broadcast batch with B^T") {
    check_primitive([](auto a, auto b) { return tg::matmul(a, tg::transpose(b)); }, random<double, 2, 3, 4>(), random<double, 5, 4>());
  }
  SECTION("batched with B^T (attention's Q K^T), A^T and both: folded into the GEMMs") {
    static_assert(tg::detail::transposed_operand<decltype(tg::transpose(tg::Parameter<double, 2, 5, 4>{}))>::value);
    check_primitive([](auto a, auto b) { return tg::matmul(a, tg::transpose(b)); }, random<double, 2, 3, 4>(),
                    random<double, 2, 5, 4>());
    check_primitive([](auto a, auto b) { return tg::matmul(tg::transpose(a), b); }, random<double, 2, 4, 3>(),
                    random<double, 2, 4, 5>());
    check_primitive([](auto a, auto b) { return tg::matmul(tg::transpose(a), tg::transpose(b)); },
                    random<double, 2, 4, 3>(), random<double, 2, 5, 4>());
    check_primitive([](auto a, auto b) { return tg::matmul(tg::transpose(a), b); }, random<double, 2, 4, 3>(),
                    random<double, 4, 5>());  // A^T of each batch times a shared B
  }
  SECTION("operands that are element-wise regions are materialised") {
    check_primitive([](auto a, auto b) { return tg::matmul(tg::tanh(a), b * b); }, random<double, 3, 4>(), random<double, 4, 2>());
  }
  SECTION("value matches a hand-written product") {
    auto a = random<double, 3, 4>();
    auto b = random<double, 4, 2>();
    auto p = tgtest::compile_inference<tg::Input<double, 3, 4>, tg::Input<double, 4, 2>>(
        [](auto x, auto y) { return tg::matmul(x, y); });
    auto out = p(a, b);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 2; ++j) {
        double s = 0;
        for (std::size_t k = 0; k < 4; ++k) s += a(i, k) * b(k, j);
        CHECK(out(i, j) == near(s, 1e-12));
      }
  }
}

TEST_CASE("matmul_sum", "[gradcheck]") {
  SECTION("A B + C D") {
    check_primitive([](auto a, auto b, auto c, auto d) { return tg::matmul_sum(a, b, c, d); }, random<double, 3, 4>(),
                    random<double, 4, 5>(), random<double, 3, 2>(), random<double, 2, 5>());
  }
  SECTION("transposes in both products, one of them wide (libxsmm transposes A and C there)") {
    check_primitive(
        [](auto a, auto b, auto c, auto d) { return tg::matmul_sum(tg::transpose(a), b, c, tg::transpose(d)); },
        random<double, 4, 3>(), random<double, 4, 7>(), random<double, 3, 2>(), random<double, 7, 2>());
  }
  SECTION("LoRA's form: [B,T,In] x W^T + (s x A^T) B^T, x shared by both products") {
    check_primitive(
        [](auto x, auto w, auto a, auto b) {
          return tg::let(x, [&](auto h) {
            return tg::matmul_sum(h, tg::transpose(w), tg::matmul(h, tg::transpose(a)) * 0.5, tg::transpose(b));
          });
        },
        random<double, 2, 3, 4>(), random<double, 5, 4>(), random<double, 2, 4>(), random<double, 5, 2>());
  }
  SECTION("batched products") {
    check_primitive([](auto a, auto b, auto c, auto d) { return tg::matmul_sum(a, b, c, d); },
                    random<double, 2, 3, 4>(), random<double, 2, 4, 5>(), random<double, 2, 3, 2>(),
                    random<double, 2, 2, 5>());
  }
  SECTION("value matches the two products, written out") {
    auto a = random<double, 3, 4>();
    auto b = random<double, 4, 2>();
    auto c = random<double, 3, 5>();
    auto d = random<double, 5, 2>();
    auto p = tgtest::compile_inference<tg::Input<double, 3, 4>, tg::Input<double, 4, 2>, tg::Input<double, 3, 5>,
                                       tg::Input<double, 5, 2>>(
        [](auto w, auto x, auto y, auto z) { return tg::matmul_sum(w, x, y, z); });
    auto out = p(a, b, c, d);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 2; ++j) {
        double s = 0;
        for (std::size_t k = 0; k < 4; ++k) s += a(i, k) * b(k, j);
        for (std::size_t k = 0; k < 5; ++k) s += c(i, k) * d(k, j);
        CHECK(out(i, j) == near(s, 1e-12));
      }
  }
}

TEST_CASE("Linear layer gradients w.r.t. input and parameters", "[gradcheck]") {
  tg::Linear<5, 3, double> fc{std::uint64_t(rng()())};
  auto x = random<double, 4, 5>();
  TG_CHECK_GRADIENTS(tgtest::check_gradients([&](auto v) { return tg::sum(tg::tanh(fc(v))); }, x), 1e-6);
}
