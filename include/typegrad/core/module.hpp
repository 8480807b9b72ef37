#pragma once
// Walking a model: its parameters (with PyTorch-style dotted names), its sub-modules, its train/eval mode.
// A model is a struct whose members are declared with BOOST_HANA_DEFINE_STRUCT (all of typegrad's layers
// are), a tg::Sequential, a std::array of modules, or a tg::Parameter. The walk is unrolled at compile
// time: each visit sees the member's static type, so shapes are known where the callback runs.
#include <boost/hana/accessors.hpp>
#include <boost/hana/define_struct.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>
#include <boost/hana/concept/struct.hpp>

#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "typegrad/core/errors.hpp"
#include "typegrad/core/tensor.hpp"

namespace tg {

namespace detail {
inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
template <class X>
inline constexpr bool is_std_array_v = false;
template <class X, std::size_t N>
inline constexpr bool is_std_array_v<std::array<X, N>> = true;
}  // namespace detail

// Whether the walkers can see a module's members: a Hana struct, a Sequential, a std::array or module list,
// a parameter, a module with no members at all, or a layer (it says which inputs it `accepts`; typegrad's
// layers without parameters, such as Dropout, hold only settings).
template <class M>
inline constexpr bool walkable_module_v =
    boost::hana::Struct<M>::value || requires(M& m) { m.layers; } || detail::is_std_array_v<M> ||
    requires { M::is_module_list; } || is_parameter_v<M> || std::is_empty_v<M> ||
    requires { bool(M::template accepts<shape<1>>); };

namespace detail {
template <class M, class F>
void walk_modules(M& m, F&& f, const std::string& prefix) {
  f(prefix, m);
  if constexpr (boost::hana::Struct<std::remove_const_t<M>>::value) {
    boost::hana::for_each(boost::hana::accessors<std::remove_const_t<M>>(), [&](auto pair) {
      auto& member = boost::hana::second(pair)(m);
      // a member whose type says names_inline lends its parameters to its parent's names (PyTorch's LSTM
      // holds weight_ih_l0 itself, not cell.weight_ih)
      if constexpr (requires { std::remove_cvref_t<decltype(member)>::names_inline; })
        walk_modules(member, f, prefix);
      else
        walk_modules(member, f, join_name(prefix, boost::hana::to<const char*>(boost::hana::first(pair))));
    });
  } else if constexpr (requires { m.layers; }) {  // Sequential: children named 0, 1, ...
    std::size_t i = 0;
    std::apply([&](auto&... l) { (walk_modules(l, f, join_name(prefix, std::to_string(i++))), ...); }, m.layers);
  } else if constexpr (is_std_array_v<std::remove_const_t<M>> ||
                       requires { std::remove_const_t<M>::is_module_list; }) {  // and tg::Repeat
    for (std::size_t i = 0; i < m.size(); ++i) walk_modules(m[i], f, join_name(prefix, std::to_string(i)));
  }
}
}  // namespace detail

// f(name, module) for the module itself and every sub-module, parents first. A model whose members the walk
// cannot see (a plain struct) is a compile error saying how to declare them.
template <class M, class F>
void for_each_module(M& m, F&& f) {
  static_assert(detail::require<error::model_members_not_declared<std::remove_const_t<M>,
                                                                  walkable_module_v<std::remove_const_t<M>>>>);
  detail::walk_modules(m, f, "");
}

// f(name, parameter) for every tg::Parameter in the model, in declaration order.
template <class M, class F>
void for_each_parameter(M& m, F&& f) {
  for_each_module(m, [&](const std::string& name, auto& x) {
    if constexpr (is_parameter_v<std::remove_const_t<std::remove_reference_t<decltype(x)>>>) f(name, x);
  });
}

// f(name, tensor) for every buffer: layer state that is not trained but belongs to the model (BatchNorm's
// running statistics), declared by a layer as `buffer_names` and `buffers()` (a tuple of references), named
// as PyTorch names them (bn.running_mean).
template <class M, class F>
void for_each_buffer(M& m, F&& f) {
  for_each_module(m, [&](const std::string& name, auto& x) {
    if constexpr (requires { x.buffers(); }) {
      using X = std::remove_cvref_t<decltype(x)>;
      std::size_t i = 0;
      std::apply([&](auto&... b) { (f(detail::join_name(name, X::buffer_names[i++]), b), ...); }, x.buffers());
    }
  });
}

// f(name, tensor) for everything a checkpoint holds (PyTorch's state_dict): parameters, then buffers.
template <class M, class F>
void for_each_state_tensor(M& m, F&& f) {
  for_each_parameter(m, f);
  for_each_buffer(m, f);
}

inline std::vector<std::string> parameter_names(const auto& m) {
  std::vector<std::string> names;
  for_each_parameter(m, [&](const std::string& n, const auto&) { names.push_back(n); });
  return names;
}

inline std::size_t parameter_count(const auto& m) {
  std::size_t n = 0;
  for_each_parameter(m, [&](const std::string&, const auto& p) { n += p.size(); });
  return n;
}

// Train/eval mode: layers whose behaviour depends on it (Dropout, BatchNorm) hold `bool training`; their
// kernels read it on every step, so switching needs no recompilation.
template <class M>
void set_training(M& m, bool training) {
  for_each_module(m, [&](const std::string&, auto& x) {
    if constexpr (requires { x.training = true; }) x.training = training;
  });
}

}  // namespace tg
