// xtensor interop: adaptors share memory with tg tensors; xtensor_fixed data feeds a step without a copy.
#include <xtensor/xmath.hpp>

#include "support.hpp"
#include "typegrad/xtensor.hpp"

TEST_CASE("tg tensors seen through xtensor, and xtensor_fixed seen as tg views", "[integration]") {
  tg::Tensor<double, 2, 3> t{1, 2, 3, 4, 5, 6};
  auto x = tg::as_xtensor(t);
  REQUIRE(x.dimension() == 2);
  CHECK(x.shape()[0] == 2);
  CHECK(x.shape()[1] == 3);
  CHECK(x(1, 2) == 6);
  x(0, 1) = 20;  // writes through to the tg tensor
  CHECK(t(0, 1) == 20);
  CHECK(xt::sum(x)() == Approx(1 + 20 + 3 + 4 + 5 + 6));

  xt::xtensor_fixed<float, xt::xshape<2, 3>> fixed = {{0.f, 1.f, 2.f}, {3.f, 4.f, 5.f}};
  auto p = tg::compile_inference<tg::Input<float, 2, 3>>([](auto v) { return tg::sum<1>(v * v); });
  auto out = p(tg::view_of(fixed));
  CHECK(out[0] == Approx(5.f));
  CHECK(out[1] == Approx(50.f));
  // a dynamically shaped xtensor container is accepted with a run-time size check
  xt::xarray<float> dyn = xt::ones<float>({2, 3});
  CHECK(p(dyn)[1] == Approx(3.f));
  xt::xarray<float> wrong = xt::ones<float>({3, 3});
  CHECK_THROWS_WITH(p(wrong), Catch::Contains("has 9 elements"));
}
