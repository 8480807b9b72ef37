#pragma once
// Pipeline model parallelism over MPI: a model split into consecutive stages, stage r on rank r, trained on
// micro-batches in GPipe's schedule (Huang et al. 2019): every micro-batch's forward, then every backward, the
// parameter gradients summed over the micro-batches.
//
//   constexpr std::size_t Micro = 4, m = 16;                       // a batch of 64 in 4 micro-batches of 16
//   auto first = tg::dist::stage<tg::Input<float, m, 1, 28, 28>>([&](auto x) { return features(x); });
//   auto last = tg::dist::stage<tg::dist::Activation<float, m, 320>, tg::Labels<m, 10>>(
//       [&](auto h, auto y) { return tg::nll_loss(head(h), y); });
//   auto pipe = tg::dist::pipeline<Micro>(world, first, last);     // one stage per rank
//   auto opt = pipe.optimizer(tg::optim::Momentum{0.9}, tg::sched::Constant{0.03});
//   float loss = pipe.step(x, y);   // x [64, 1, 28, 28], y [64]: each argument goes to the stage that declares it
//   opt.update();                   // each rank updates its own stage's parameters
//
// Each stage is its own compiled program; a stage after the first reads the previous stage's output through a
// leaf whose gradient the program computes (tg::dist::Activation) and sends that gradient back. Stage s's output
// shape must be stage s + 1's Activation shape: a compile error otherwise, on every rank (all ranks compile all
// stages' types; each builds only its own stage's programs). Activations travel forward and their gradients
// backward with MPI_Send/MPI_Recv, one message per micro-batch.
//
// The result equals the unsplit model trained on the whole batch: the last stage seeds each micro-batch's backward
// pass with 1 / Micro, so the summed gradients are those of the batch's mean loss (tests/dist/test_pipeline.cpp).
// A parameter must belong to one stage (a weight tied across stages would be trained apart on each).
// Memory: a stage keeps Micro programs (each micro-batch's activations live until its backward pass), as GPipe.
#include <array>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "typegrad/api/compile.hpp"
#include "typegrad/core/module.hpp"
#include "typegrad/dist/world.hpp"
#include "typegrad/optim/optimizer.hpp"

namespace tg::op {
struct pipeline_stage {};
}  // namespace tg::op

namespace tg::error {
template <class Operation, class StageOutput, class NextStageInput, bool Ok>
struct stage_boundary_shapes_differ {
  static_assert(Ok,
                "typegrad: pipeline: a stage's output must have the shape of the next stage's tg::dist::Activation "
                "(the first shape is what the stage computes, the second what the next stage declares)");
};
}  // namespace tg::error

namespace tg::dist {

// The first input of every stage after the first: the previous stage's output for one micro-batch. Its gradient
// is computed (like tg::Variable) and sent back to the previous stage.
template <class T, std::size_t... D>
struct Activation : InputSpec<T, shape<D...>, true> {};

template <class Spec>
inline constexpr bool is_activation_v = false;
template <class T, std::size_t... D>
inline constexpr bool is_activation_v<Activation<T, D...>> = true;

// One stage: its inputs for one micro-batch (Specs) and its computation. Nothing is compiled until a Pipeline
// builds the stage on its rank.
template <class F, class... Specs>
struct Stage {
  F f;
  using expression = decltype(tg::detail::trace<Specs...>(std::declval<F&>()));
  using specs = std::tuple<Specs...>;
  static constexpr bool takes_activation = (sizeof...(Specs) > 0) && is_activation_v<std::tuple_element_t<0, specs>>;
  static constexpr std::size_t data_inputs = sizeof...(Specs) - (takes_activation ? 1 : 0);
  using program = BasicProgram<expression, true, host_backend, Specs...>;
  program build() { return program(tg::detail::trace<Specs...>(f)); }
};

template <class... Specs, class F>
Stage<F, Specs...> stage(F f) {
  return Stage<F, Specs...>{std::move(f)};
}

namespace detail {
// [Micro * m, rest...] from a micro-batch's [m, rest...]
template <std::size_t Micro, class S>
struct whole_batch;
template <std::size_t Micro, std::size_t M, std::size_t... Rest>
struct whole_batch<Micro, shape<M, Rest...>> {
  using type = shape<Micro * M, Rest...>;
};

}  // namespace detail

template <std::size_t Micro, class... Stages>
class Pipeline {
  static_assert(Micro >= 1, "tg::dist::Pipeline: at least one micro-batch");
  static_assert(sizeof...(Stages) >= 2, "tg::dist::Pipeline: at least two stages");
  static constexpr std::size_t stage_count = sizeof...(Stages);
  template <std::size_t S>
  using stage_t = std::tuple_element_t<S, std::tuple<Stages...>>;

  // every boundary: stage S's output is stage S + 1's Activation
  template <std::size_t S>
  static constexpr bool boundary_fits() {
    using Out = typename stage_t<S>::expression;
    using Next = stage_t<S + 1>;
    static_assert(Next::takes_activation,
                  "tg::dist::Pipeline: every stage after the first takes a tg::dist::Activation as its first input");
    using In = std::tuple_element_t<0, typename Next::specs>;
    static_assert(std::is_same_v<typename Out::value_type, typename In::value_type>,
                  "tg::dist::Pipeline: a stage's output and the next stage's Activation differ in element type");
    return tg::detail::require<
        error::stage_boundary_shapes_differ<op::pipeline_stage, typename Out::shape_type, typename In::shape_type,
                                            std::is_same_v<typename Out::shape_type, typename In::shape_type>>>;
  }
  static_assert([]<std::size_t... S>(std::index_sequence<S...>) {
    return (boundary_fits<S>() && ...);
  }(std::make_index_sequence<stage_count - 1>{}));
  static_assert(!stage_t<0>::takes_activation, "tg::dist::Pipeline: the first stage takes data, not an Activation");
  static_assert(stage_t<stage_count - 1>::expression::shape_type::rank == 0,
                "tg::dist::Pipeline: the last stage computes the loss (a scalar)");
  static_assert(
      []<std::size_t... S>(std::index_sequence<S...>) {
        return ((stage_t<S>::expression::shape_type::rank > 0) && ...);
      }(std::make_index_sequence<stage_count - 1>{}),
      "tg::dist::Pipeline: every stage but the last passes on a tensor");

  // where stage S's data inputs start among step()'s arguments
  static constexpr std::array<std::size_t, stage_count + 1> first_argument = [] {
    std::array<std::size_t, stage_count + 1> a{};
    std::size_t at = 0;
    [&]<std::size_t... S>(std::index_sequence<S...>) { ((a[S] = at, at += stage_t<S>::data_inputs), ...); }
    (std::index_sequence_for<Stages...>{});
    a[stage_count] = at;
    return a;
  }();

 public:
  using value_type = typename stage_t<stage_count - 1>::expression::value_type;

  // Rank r builds stage r's programs (one per micro-batch); the job must have one rank per stage.
  Pipeline(const World& world, Stages... stages) : world_(world) {
    if (std::size_t(world.size()) != stage_count)
      throw DistError("typegrad::dist: the pipeline has " + std::to_string(stage_count) + " stages but the job has " +
                      std::to_string(world.size()) + " ranks (run one rank per stage)");
    std::tuple<Stages...> all{std::move(stages)...};
    on_my_stage([&]<std::size_t S>() {
      auto& programs = std::get<S>(programs_).emplace();
      programs.reserve(Micro);
      for (std::size_t i = 0; i < Micro; ++i) programs.push_back(std::get<S>(all).build());
      if constexpr (S > 0) activations_.resize(Micro * in_size<S>());
      if constexpr (S + 1 < stage_count) gradients_.resize(Micro * out_size<S>());
    });
  }

  // One training step on a batch of Micro micro-batches: the arguments are whole batches ([Micro * m, ...] for a
  // stage input declared [m, ...]) for the stages' data inputs in stage order (e.g. images for the first stage,
  // labels for the last); each rank reads the ones its stage declares. Returns the batch's mean loss on every rank.
  template <class... Args>
  value_type step(const Args&... args) {
    static_assert(sizeof...(Args) == first_argument[stage_count],
                  "tg::dist::Pipeline::step: one whole-batch argument per data input of the stages, in stage order");
    value_type loss = 0;
    on_my_stage([&]<std::size_t S>() { loss = run_stage<S>(std::tie(args...)); });
    detail::check(MPI_Bcast(&loss, 1, detail::datatype<value_type>(), int(stage_count - 1), world_.comm()),
                  "MPI_Bcast of the loss");
    return loss;
  }

  // Calls f(program) with this rank's stage program that holds the step's summed gradients (for tools and tests:
  // grad(), for_each_gradient()).
  template <class F>
  void visit_program(F&& f) {
    on_my_stage([&]<std::size_t S>() { f(std::get<S>(programs_)->front()); });
  }
  std::size_t stage() const { return std::size_t(world_.rank()); }

  // An optimizer for this rank's stage. Clipping by global norm (options.clip_norm) takes the norm over all stages'
  // gradients (one MPI_Allreduce of the squared norms).
  template <class Rule, class Schedule>
  class StageOptimizer {
   public:
    StageOptimizer(Pipeline& pipe, Rule rule, Schedule schedule, optim::Options options)
        : pipe_(pipe), clip_(options.clip_norm) {
      if (clip_ > 0 && options.accumulate > 1)
        throw std::invalid_argument(
            "tg::dist::Pipeline: clipping with accumulation is not supported (micro-batches already accumulate: "
            "raise Micro instead)");
      options.clip_norm = 0;  // clipped here, over every stage
      pipe.on_my_stage([&]<std::size_t S>() {
        std::get<S>(optimizers_).emplace(optim::make(std::get<S>(pipe.programs_)->front(), rule, schedule, options));
      });
    }
    // Updates this rank's parameters from the last step's gradients; returns whether they changed.
    bool update() {
      bool changed = false;
      pipe_.on_my_stage([&]<std::size_t S>() {
        auto& program = std::get<S>(pipe_.programs_)->front();
        if (clip_ > 0) pipe_.clip_gradients(program, clip_);
        changed = std::get<S>(optimizers_)->update(program);
      });
      return changed;
    }

   private:
    Pipeline& pipe_;
    double clip_;
    std::tuple<std::optional<optim::Optimizer<Rule, typename Stages::program, Schedule>>...> optimizers_;
  };
  template <class Rule, class Schedule>
  StageOptimizer<Rule, Schedule> optimizer(Rule rule, Schedule schedule, optim::Options options = {}) {
    return StageOptimizer<Rule, Schedule>(*this, rule, schedule, options);
  }

  // Every trainable parameter of `model` from the rank whose stage trains it, to all ranks (e.g. before rank 0
  // evaluates or saves the whole model). Buffers (BatchNorm statistics) are not stage-owned: they keep rank 0's.
  template <class Model>
  void share_parameters(Model& model) {
    for_each_parameter(model, [&](const std::string&, auto& p) {
      using T = typename std::remove_cvref_t<decltype(p)>::value_type;
      int mine = -1, owner = -1;
      visit_program([&](const auto& program) {
        if (program.gradient_of(p.data())) mine = world_.rank();
      });
      detail::check(MPI_Allreduce(&mine, &owner, 1, MPI_INT, MPI_MAX, world_.comm()), "MPI_Allreduce");
      if (owner < 0) owner = 0;  // frozen or unused: every rank holds the same initial values
      detail::check(MPI_Bcast(p.data(), int(p.size() * sizeof(T)), MPI_BYTE, owner, world_.comm()), "MPI_Bcast");
    });
  }

 private:
  template <std::size_t S>
  static constexpr std::size_t in_size() {
    return std::tuple_element_t<0, typename stage_t<S>::specs>::shape_type::size;
  }
  template <std::size_t S>
  static constexpr std::size_t out_size() {
    return stage_t<S>::expression::shape_type::size;
  }

  // f.template operator()<S>() for this rank's stage S
  template <class F>
  void on_my_stage(F&& f) {
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      (void)((std::size_t(world_.rank()) == S ? (f.template operator()<S>(), true) : false) || ...);
    }
    (std::index_sequence_for<Stages...>{});
  }

  // Micro-batch i's pointer for stage S's input J (checked against its declaration: shape, element type, labels).
  template <std::size_t S, std::size_t J, class Args>
  const void* input_pointer(const Args& args, std::size_t i) {
    using Spec = std::tuple_element_t<J, typename stage_t<S>::specs>;
    using T = typename Spec::value_type;
    if constexpr (stage_t<S>::takes_activation && J == 0) {
      return activations_.data() + i * in_size<S>();
    } else {
      constexpr std::size_t k = first_argument[S] + J - (stage_t<S>::takes_activation ? 1 : 0);
      const auto& whole = std::get<k>(args);
      using Arg = std::remove_cvref_t<decltype(whole)>;
      using Expected = typename detail::whole_batch<Micro, typename Spec::shape_type>::type;
      static_assert(std::is_same_v<typename Arg::shape_type, Expected>,
                    "tg::dist::Pipeline::step: an argument must be the whole batch, [Micro * m, ...] for a stage "
                    "input declared [m, ...]");
      static_assert(std::is_same_v<typename Arg::value_type, T>,
                    "tg::dist::Pipeline::step: an argument's element type differs from the stage input's");
      const T* micro = whole.data() + i * Spec::shape_type::size;
      return tg::detail::checked_argument<J, Spec, host_backend>(micro);
    }
  }

  template <std::size_t S, class Args>
  value_type run_stage(const Args& args) {
    using Out = typename stage_t<S>::expression::value_type;
    auto& programs = *std::get<S>(programs_);
    constexpr int previous = int(S) - 1, next = int(S) + 1;
    value_type loss = 0;
    // forward, micro-batch by micro-batch: receive its activation, run, pass the output on
    for (std::size_t i = 0; i < Micro; ++i) {
      if constexpr (S > 0)
        detail::check(MPI_Recv(activations_.data() + i * in_size<S>(), int(in_size<S>()),
                               detail::datatype<value_type>(), previous, int(i), world_.comm(), MPI_STATUS_IGNORE),
                      "MPI_Recv of an activation");
      const Out* out = [&]<std::size_t... J>(std::index_sequence<J...>) {
        return programs[i].evaluate_at(
            static_cast<const typename std::tuple_element_t<J, typename stage_t<S>::specs>::value_type*>(
                input_pointer<S, J>(args, i))...);
      }
      (std::make_index_sequence<std::tuple_size_v<typename stage_t<S>::specs>>{});
      if constexpr (S + 1 < stage_count)
        detail::check(MPI_Send(out, int(out_size<S>()), detail::datatype<Out>(), next, int(i), world_.comm()),
                      "MPI_Send of an activation");
      else
        loss += *out;
    }
    // backward: each micro-batch from its output's gradient (the last stage: 1 / Micro of the mean loss)
    const value_type seed = value_type(1) / value_type(Micro);
    for (std::size_t i = 0; i < Micro; ++i) {
      const value_type* g = &seed;
      if constexpr (S + 1 < stage_count) {
        g = gradients_.data() + i * out_size<S>();
        detail::check(MPI_Recv(gradients_.data() + i * out_size<S>(), int(out_size<S>()),
                               detail::datatype<value_type>(), next, int(Micro + i), world_.comm(), MPI_STATUS_IGNORE),
                      "MPI_Recv of a gradient");
      }
      programs[i].backward_from(g);
      if constexpr (S > 0)
        detail::check(MPI_Send(programs[i].template grad_input<0>().data(), int(in_size<S>()),
                               detail::datatype<value_type>(), previous, int(Micro + i), world_.comm()),
                      "MPI_Send of a gradient");
    }
    // the step's gradient: the sum over micro-batches, in the first program's gradient block
    using P = typename stage_t<S>::program;
    if constexpr (P::gradient_block_bytes > 0) {
      constexpr std::size_t n = P::gradient_block_bytes / sizeof(value_type);
      auto* total = static_cast<value_type*>(programs[0].gradient_block());
      for (std::size_t i = 1; i < Micro; ++i) {
        const auto* g = static_cast<const value_type*>(programs[i].gradient_block());
        for (std::size_t e = 0; e < n; ++e) total[e] += g[e];
      }
    }
    return loss / value_type(Micro);
  }

  // scales this stage's gradients so that the norm over all stages is at most `limit`
  template <class Program>
  void clip_gradients(Program& program, double limit) {
    double mine = 0, all = 0;
    program.for_each_gradient([&](const auto*, const auto* g, std::size_t n) {
      for (std::size_t e = 0; e < n; ++e) mine += double(g[e]) * double(g[e]);
    });
    detail::check(MPI_Allreduce(&mine, &all, 1, MPI_DOUBLE, MPI_SUM, world_.comm()), "MPI_Allreduce of the norm");
    const double norm = std::sqrt(all);
    last_norm_ = norm;
    if (norm <= limit) return;
    const auto scale = value_type(limit / (norm + 1e-6));  // as tg::optim clips
    auto* block = static_cast<value_type*>(program.gradient_block());
    for (std::size_t e = 0; e < Program::gradient_block_bytes / sizeof(value_type); ++e) block[e] *= scale;
  }

 public:
  // the global gradient norm of the last clipped update (0 without clipping)
  double last_gradient_norm() const { return last_norm_; }

 private:
  const World& world_;
  std::tuple<std::optional<std::vector<typename Stages::program>>...> programs_;
  std::vector<value_type> activations_;  // received activations, one slot per micro-batch (stages after the first)
  std::vector<value_type> gradients_;    // received output gradients (stages before the last)
  double last_norm_ = 0;
};

// tg::dist::pipeline<Micro>(world, first, ..., last): the stage types deduced.
template <std::size_t Micro, class... Stages>
Pipeline<Micro, Stages...> pipeline(const World& world, Stages... stages) {
  return Pipeline<Micro, Stages...>(world, std::move(stages)...);
}

}  // namespace tg::dist
