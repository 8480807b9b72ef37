// BatchNorm's host passes by channel (layers/batch_norm_channels.hpp), float and double: the backward pass of
// relu(bn(x)) takes relu's mask from x (affine(a, x, b) > 0), not from the output y. Its gradients must still be
// those of the output the forward pass gave: db[c] = sum of g over y > 0 and dx by the BatchNorm formula with that
// mask, both computed here in double from y alone. Built twice: at the tests' -O0 and at -O3 -march=native
// (test_batch_norm_channels_native), where the passes are vectorised and use an fma.
#include <cstring>
#include <vector>

#include "support.hpp"

using namespace tgtest;

namespace {
constexpr std::size_t N = 4, C = 3, Inner = 20, n = N * Inner;  // 20 values a run: the passes by channel
using S = tg::shape<N, C, Inner, 1>;
std::size_t at(std::size_t b, std::size_t c, std::size_t k) { return (b * C + c) * Inner + k; }

// relu(bn(x)) with weights gamma, beta in training mode: its gradients against sum(relu(bn(x)) w), checked from y
template <class T>
void check_mask_from_output(const tg::TensorOf<T, S>& x, const tg::TensorOf<T, S>& w, double gamma, double beta,
                            double tolerance) {
  tg::BatchNorm2d<C, T> bn;
  for (std::size_t c = 0; c < C; ++c) {
    bn.weight.value[c] = T(gamma * (1 + 0.25 * double(c)));
    bn.bias.value[c] = T(beta * (1 - 0.5 * double(c)));
  }
  static_assert(
      tg::BatchNormNode<tg::Ref<0, T, S>, tg::Ref<1, T, tg::shape<C>>, tg::Ref<2, T, tg::shape<C>>, C>::by_channel);
  auto forward = tgtest::compile_inference<tg::Input<T, N, C, Inner, 1>>([&](auto v) { return tg::relu(bn(v)); });
  const auto y = forward(x);
  const auto r = tg::value_and_grad([&](auto v) { return tg::sum(tg::relu(bn(v)) * w); }, x);
  std::size_t zeros = 0;
  for (std::size_t c = 0; c < C; ++c) {
    double mean = 0, var = 0, sg = 0, sgx = 0;
    for (std::size_t b = 0; b < N; ++b)
      for (std::size_t k = 0; k < Inner; ++k) mean += double(x[at(b, c, k)]) / n;
    for (std::size_t b = 0; b < N; ++b)
      for (std::size_t k = 0; k < Inner; ++k)
        var += (double(x[at(b, c, k)]) - mean) * (double(x[at(b, c, k)]) - mean) / n;
    const double invstd = 1 / std::sqrt(var + 1e-5);
    const auto g = [&](std::size_t i) { return y[i] > T(0) ? double(w[i]) : 0.0; };
    for (std::size_t b = 0; b < N; ++b)
      for (std::size_t k = 0; k < Inner; ++k) {
        const std::size_t i = at(b, c, k);
        zeros += y[i] == T(0);
        sg += g(i);
        sgx += g(i) * (double(x[i]) - mean) * invstd;
      }
    CHECK(double(r.grad(bn.bias)[c]) == near(sg, tolerance));
    CHECK(double(r.grad(bn.weight)[c]) == near(sgx, tolerance));
    // dx = gamma invstd / n (n g - sum g - xhat sum(g xhat))
    for (std::size_t b = 0; b < N; ++b)
      for (std::size_t k = 0; k < Inner; ++k) {
        const std::size_t i = at(b, c, k);
        const double xhat = (double(x[i]) - mean) * invstd;
        const double dx = double(bn.weight.value[c]) * invstd / n * (n * g(i) - sg - xhat * sgx);
        CHECK(double(r.template grad<0>()[i]) == near(dx, tolerance));
      }
  }
  CHECK(zeros > 0);  // the mask has both values
  CHECK(zeros < S::size);
}

template <class T>
void check_masks(double tolerance) {
  const auto w = random_of<T, S>(-1, 1);
  // random values, weights and shifts
  check_mask_from_output<T>(random_of<T, S>(-1, 3), w, 1.3, 0.4, tolerance);
  check_mask_from_output<T>(random_of<T, S>(-2, 2), w, 0.7, -0.6, tolerance);
  // exact zeros: each run holds -1 and 1 seven times and 0 six times, so every channel's mean is exactly 0, and
  // with beta 0 a x + b is exactly 0 where x is: relu's kink, where the mask must be 0 as relu's derivative is
  tg::TensorOf<T, S> ternary;
  for (std::size_t i = 0; i < S::size; ++i) {
    const std::size_t k = i % Inner;
    ternary[i] = T(k < 18 ? double(k % 3) - 1 : k == 18 ? -1 : 1);
  }
  check_mask_from_output<T>(ternary, w, 1.0, 0.0, tolerance);
}
}  // namespace

TEST_CASE("relu(BatchNorm) backward: relu's mask from x is the forward output's", "[gradcheck]") {
  check_masks<double>(1e-12);
  check_masks<float>(2e-5);
}

// Channels in blocks (several channels' runs image by image) give every value, statistic and gradient of one channel
// at a time, bit for bit: a channel's sums keep their order. 6 channels in blocks of 4: a whole block and a short one.
TEST_CASE("BatchNorm's passes by blocks of channels match one channel at a time bit for bit", "[integration]") {
  STATIC_REQUIRE(tg::detail::batch_norm_block<float, 64, 16, 784>() == 1);  // ResNet-20's: 200 KB a channel
  STATIC_REQUIRE(tg::detail::batch_norm_block<float, 64, 32, 196>() == 3);  // 50 KB
  STATIC_REQUIRE(tg::detail::batch_norm_block<float, 64, 64, 49>() == 15);  // 12.5 KB
  STATIC_REQUIRE(tg::detail::batch_norm_block<float, 1, 512, 16>() == 64);  // at most 64
  constexpr std::size_t I = 3, Ch = 6, In = 21, size = I * Ch * In;
  using one = tg::detail::batch_norm_channels<double, I, Ch, In, 1>;
  using blocks = tg::detail::batch_norm_channels<double, I, Ch, In, 4>;
  const auto x = random_of<double, tg::shape<size>>(-1, 3), r = random_of<double, tg::shape<size>>(-1, 1),
             dy = random_of<double, tg::shape<size>>(-1, 1);
  std::vector<double> gamma(Ch), beta(Ch);
  for (std::size_t c = 0; c < Ch; ++c) gamma[c] = 0.5 + 0.2 * double(c), beta[c] = 0.3 - 0.1 * double(c);
  struct outputs {
    std::vector<double> y = std::vector<double>(size), dx = std::vector<double>(size, 0.25),
                        dr = std::vector<double>(size, -0.5), mean = std::vector<double>(Ch),
                        invstd = std::vector<double>(Ch), rm = std::vector<double>(Ch, 0.1),
                        rv = std::vector<double>(Ch, 0.9), sg = std::vector<double>(Ch), sgx = std::vector<double>(Ch);
  };
  const auto run = [&](auto passes, bool assign, outputs& o) {
    using P = decltype(passes);
    P::template forward<true, true>(x.data(), r.data(), gamma.data(), beta.data(), o.y.data(), o.mean.data(),
                                    o.invstd.data(), o.rm.data(), o.rv.data(), 1e-5, 0.1, true);
    P::template backward<true, true>(x.data(), dy.data(), o.y.data(), gamma.data(), beta.data(), o.mean.data(),
                                     o.invstd.data(), o.sg.data(), o.sgx.data(), o.dx.data(), assign, o.dr.data(),
                                     assign, true);
    P::template backward<true, false>(x.data(), dy.data(), o.y.data(), gamma.data(), beta.data(), o.mean.data(),
                                      o.invstd.data(), o.sg.data(), o.sgx.data(), o.dx.data(), false, nullptr, false,
                                      true);
  };
  for (const bool assign : {true, false}) {
    outputs a, b;
    run(one{}, assign, a);
    run(blocks{}, assign, b);
    const auto same = [](const std::vector<double>& u, const std::vector<double>& v) {
      return std::memcmp(u.data(), v.data(), u.size() * sizeof(double)) == 0;
    };
    INFO("assign " << assign);
    CHECK(same(a.y, b.y));
    CHECK(same(a.mean, b.mean));
    CHECK(same(a.invstd, b.invstd));
    CHECK(same(a.rm, b.rm));
    CHECK(same(a.rv, b.rv));
    CHECK(same(a.sg, b.sg));
    CHECK(same(a.sgx, b.sgx));
    CHECK(same(a.dx, b.dx));
    CHECK(same(a.dr, b.dr));
  }
}
