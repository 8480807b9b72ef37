// Models as values: parameter names and shapes by walking the model, output shapes from types,
// deterministic seeded initialisation.
#include "support.hpp"

namespace {
struct LeNet {
  BOOST_HANA_DEFINE_STRUCT(LeNet, (tg::Conv2d<1, 10, 5>, conv1), (tg::Conv2d<10, 20, 5>, conv2),
                           (tg::Linear<320, 50>, fc1), (tg::Linear<50, 10>, fc2));
  explicit LeNet(std::uint64_t seed) : conv1(seed), conv2(seed + 1), fc1(seed + 2), fc2(seed + 3) {}
  auto operator()(auto x) const {
    auto h = tg::relu(tg::max_pool2d<2>(conv1(x)));
    auto g = tg::relu(tg::max_pool2d<2>(conv2(h)));
    return tg::log_softmax<1>(fc2(tg::relu(fc1(tg::Flatten{}(g)))));
  }
};

using SeqLeNet = tg::Sequential<tg::Conv2d<1, 10, 5>, tg::MaxPool2d<2>, tg::ReLU, tg::Conv2d<10, 20, 5>, tg::MaxPool2d<2>,
                                tg::ReLU, tg::Flatten, tg::Linear<320, 50>, tg::ReLU, tg::Linear<50, 10>,
                                tg::LogSoftmax<1>>;
}  // namespace

// the network's output shape is known from its type
using Out = decltype(std::declval<SeqLeNet>()(tg::InputLeaf<0, float, tg::shape<64, 1, 28, 28>, false>{}));
static_assert(std::is_same_v<Out::shape_type, tg::shape<64, 10>>);
using OutOne = decltype(std::declval<LeNet>()(tg::InputLeaf<0, float, tg::shape<1, 1, 28, 28>, false>{}));
static_assert(std::is_same_v<OutOne::shape_type, tg::shape<1, 10>>);

TEST_CASE("parameters are enumerated with their names and shapes", "[static]") {
  LeNet net(1);
  const std::vector<std::string> expected{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                          "fc1.weight",   "fc1.bias",   "fc2.weight",   "fc2.bias"};
  CHECK(tg::parameter_names(net) == expected);
  CHECK(tg::parameter_count(net) == 250 + 10 + 5000 + 20 + 16000 + 50 + 500 + 10);
  std::vector<std::size_t> ranks;
  tg::for_each_parameter(net, [&](const std::string&, auto& p) {
    ranks.push_back(std::remove_reference_t<decltype(p)>::shape_type::rank);
  });
  CHECK(ranks == std::vector<std::size_t>{4, 1, 4, 1, 2, 1, 2, 1});
  SeqLeNet seq;
  const std::vector<std::string> seq_names{"0.weight", "0.bias", "3.weight", "3.bias",
                                           "7.weight", "7.bias", "9.weight", "9.bias"};
  CHECK(tg::parameter_names(seq) == seq_names);
}

TEST_CASE("the same seed gives bitwise identical parameters", "[static]") {
  LeNet a(7), b(7), c(8);
  std::vector<float> va, vb, vc;
  auto collect = [](auto& net, std::vector<float>& out) {
    tg::for_each_parameter(net, [&](const std::string&, auto& p) { out.insert(out.end(), p.value.begin(), p.value.end()); });
  };
  collect(a, va);
  collect(b, vb);
  collect(c, vc);
  CHECK(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
  CHECK(va != vc);
}

namespace {
// every parameter tensor's values, in walk order
template <class M>
std::vector<std::vector<float>> tensors(const M& m) {
  std::vector<std::vector<float>> out;
  tg::for_each_parameter(m, [&](const std::string&, const auto& p) { out.emplace_back(p.value.begin(), p.value.end()); });
  return out;
}
// the tensors drawn at random (LayerNorm's ones and zeros are equal by design, as in PyTorch)
std::vector<std::vector<float>> random_tensors(const std::vector<std::vector<float>>& all) {
  std::vector<std::vector<float>> out;
  for (const auto& t : all)
    if (std::adjacent_find(t.begin(), t.end(), std::not_equal_to<>()) != t.end()) out.push_back(t);
  return out;
}
// no two tensors share their first values (tensors of different sizes would differ anyway)
void check_pairwise_distinct(const std::vector<std::vector<float>>& ts) {
  for (std::size_t i = 0; i < ts.size(); ++i)
    for (std::size_t j = i + 1; j < ts.size(); ++j) {
      INFO("tensors " << i << " and " << j);
      const std::size_t n = std::min({ts[i].size(), ts[j].size(), std::size_t(8)});
      CHECK_FALSE(std::equal(ts[i].begin(), ts[i].begin() + std::ptrdiff_t(n), ts[j].begin()));
    }
}
struct TwoLinear {
  BOOST_HANA_DEFINE_STRUCT(TwoLinear, (tg::Linear<8, 8>, a), (tg::Linear<8, 8>, b));
};
using Block = tg::TransformerEncoderBlock<16, 2, 32>;
}  // namespace

TEST_CASE("default-constructed layers draw from one stream: no two random tensors are equal", "[static]") {
  TwoLinear two;  // both were seed 0, bit-identical
  CHECK(tensors(two.a) != tensors(two.b));
  Block block;
  const auto b = random_tensors(tensors(block));
  CHECK(b.size() == 7);  // in_proj_weight, out_proj, linear1, linear2 (in_proj_bias starts at zero, as PyTorch's)
  check_pairwise_distinct(b);
  SeqLeNet lenet;
  check_pairwise_distinct(random_tensors(tensors(lenet)));
  // composite layers built from seeds: one stream per seed, so no tensor of one equals one of the other
  // (TransformerEncoderBlock(2)'s in_proj was TransformerEncoderBlock(1)'s out_proj)
  auto both = random_tensors(tensors(Block(1)));
  const auto other = random_tensors(tensors(Block(2)));
  both.insert(both.end(), other.begin(), other.end());
  check_pairwise_distinct(both);
}

TEST_CASE("the same seed gives a bit-identical model, through manual_seed or initialize", "[static]") {
  tg::init::manual_seed(5);
  SeqLeNet a;
  Block block_a;
  tg::init::manual_seed(5);
  SeqLeNet b;
  Block block_b;
  CHECK(tensors(a) == tensors(b));
  CHECK(tensors(block_a) == tensors(block_b));
  const auto before = tensors(a);
  tg::init::initialize(a, 9);
  tg::init::initialize(b, 9);
  CHECK(tensors(a) == tensors(b));
  CHECK(tensors(a) != before);
  CHECK(tensors(Block(3)) == tensors(Block(3)));
  CHECK(tensors(tg::Repeat<3, Block>(4)) == tensors(tg::Repeat<3, Block>(4)));
  check_pairwise_distinct(random_tensors(tensors(tg::Repeat<3, Block>(4))));  // each block its own draws
}

TEST_CASE("initialisers follow their formulas", "[static]") {
  tg::init::Generator g(3);
  tg::Parameter<double, 200, 100> w;
  tg::init::kaiming_uniform(w, g);
  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / 100);
  double sq = 0, lo = 1e9, hi = -1e9;
  for (double v : w.value) {
    sq += v * v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(sq / w.size() == Approx(2.0 / 100).epsilon(0.05));  // variance gain^2 / fan_in
  tg::init::xavier_normal(w, g);
  sq = 0;
  for (double v : w.value) sq += v * v;
  CHECK(sq / w.size() == Approx(2.0 / 300).epsilon(0.05));  // 2 / (fan_in + fan_out)
  tg::Parameter<double, 8, 3, 5, 5> conv;
  tg::init::xavier_uniform(conv, g);
  for (double v : conv.value) CHECK(std::abs(v) <= std::sqrt(6.0 / (3 * 25 + 8 * 25)));
  tg::init::zeros(conv);
  for (double v : conv.value) CHECK(v == 0);
}

TEST_CASE("train/eval mode reaches every layer", "[static]") {
  tg::Sequential<tg::Linear<4, 4>, tg::Dropout, tg::BatchNorm1d<4>> net;
  tg::set_training(net, false);
  CHECK_FALSE(net.get<1>().training);
  CHECK_FALSE(net.get<2>().training);
  tg::set_training(net, true);
  CHECK(net.get<1>().training);
}
