#pragma once
// Readable compile errors. Each check is a class template whose name says what is wrong and whose
// arguments are the operation and the shapes involved; the compiler prints them on the first line
// ("In instantiation of 'struct tg::error::matmul_inner_dims_differ<tg::op::matmul, tg::shape<64, 784>,
// tg::shape<256, 128>, false>'") followed by the message. API entry points instantiate these checks
// before building any node, so the first error is never deep inside the engine.
#include <cstddef>

namespace tg::op {
struct training_step {};
struct value_and_grad {};
}  // namespace tg::op

namespace tg::error {

template <class Operation, class ShapeA, class ShapeB, bool Ok>
struct shapes_not_broadcastable {
  static_assert(Ok,
                "typegrad: operand shapes cannot be broadcast together "
                "(NumPy rule: aligned from the right, each pair of dims must be equal or 1)");
};

template <class Operation, class TypeA, class TypeB, bool Ok>
struct element_types_differ {
  static_assert(Ok, "typegrad: operands have different element types (float vs double); convert one explicitly");
};

// An argument whose elements are not the declared input's (e.g. int64 labels for tg::Labels<B, C>, which is
// int32): its bytes would be misread.
template <class Operation, class DeclaredInput, class DeclaredElement, class GivenElement, bool Ok>
struct argument_element_type_differs {
  static_assert(Ok, "typegrad: a step argument's element type differs from the declared input's; declare the "
                    "input with the argument's type (int64 labels: tg::Labels<batch, classes, std::int64_t>) or "
                    "convert the argument");
};

template <class KernelNode, bool Ok>
struct no_device_implementation {
  static_assert(Ok, "typegrad: this kernel has no device implementation yet: the program cannot run on tg::device");
};

template <class Operation, class ShapeA, class ShapeB, bool Ok>
struct matmul_inner_dims_differ {
  static_assert(Ok, "typegrad: matmul needs A [..., M, K] and B [..., K, N]: the inner dimensions K differ");
};

template <class Operation, class ShapeA, class ShapeB, bool Ok>
struct matmul_rank_unsupported {
  static_assert(Ok, "typegrad: matmul takes 2-D x 2-D, 3-D x 3-D with equal batch, or 3-D x 2-D operands");
};

template <class Operation, class FromShape, class ToShape, bool Ok>
struct reshape_changes_element_count {
  static_assert(Ok, "typegrad: reshape must keep the number of elements");
};

template <class Operation, class Shape, class AxisList, bool Ok>
struct axis_out_of_range {
  static_assert(Ok, "typegrad: an axis is out of range for the operand's rank (or repeated)");
};

template <class Operation, class Shape, class Permutation, bool Ok>
struct not_a_permutation {
  static_assert(Ok, "typegrad: permute needs each axis of the operand exactly once");
};

template <class Operation, class Shape, class Range, bool Ok>
struct slice_out_of_bounds {
  static_assert(Ok, "typegrad: slice [begin, end) along the axis must lie inside the operand's dimension");
};

template <class Operation, class FirstProductShape, class SecondProductShape, bool Ok>
struct matmul_sum_products_differ {
  static_assert(Ok, "typegrad: matmul_sum needs two products of the same shape");
};

template <class Operation, class ShapeA, class ShapeB, bool Ok>
struct concat_shapes_differ {
  static_assert(Ok, "typegrad: concat operands must have equal rank and equal dims except along the axis");
};

template <class Operation, class FromShape, class ToShape, bool Ok>
struct cannot_broadcast_to {
  static_assert(Ok, "typegrad: broadcast_to: the operand's shape cannot be broadcast to the target shape");
};

template <class Operation, class LogitsShape, class LabelsShape, bool Ok>
struct loss_label_shape_mismatch {
  static_assert(Ok,
                "typegrad: loss needs logits [batch, classes] and labels Labels<batch, classes> of the same batch and "
                "class count");
};

template <class Operation, class LabelType, bool Ok>
struct labels_must_be_integer_class_indices {
  static_assert(Ok, "typegrad: labels must be a tg::Labels<batch, classes> input (integer class indices)");
};

template <class Operation, class Shape, bool Ok>
struct loss_must_be_scalar {
  static_assert(
      Ok,
      "typegrad: a training step or value_and_grad needs a scalar loss (shape<>); reduce it with tg::sum or tg::mean");
};

template <class Operation, class ExpectedShape, class GivenShape, bool Ok>
struct argument_shape_mismatch {
  static_assert(Ok,
                "typegrad: a step was called with an argument whose shape differs from the one it was compiled for");
};

template <class Operation, class CarryShape, class BodyResultShape, bool Ok>
struct scan_body_changes_carry_shape {
  static_assert(Ok, "typegrad: scan: the body must return a carry of the same shape as the initial carry");
};

template <class Operation, class InputShape, class OutputShape, bool Ok>
struct block_changes_shape {
  static_assert(Ok, "typegrad: Repeat: a repeated block must return its input's shape (block t + 1 reads block t)");
};

template <class Operation, class Shape, bool Ok>
struct scan_needs_time_axis {
  static_assert(Ok, "typegrad: scan: the sequence must have rank >= 1 with time along axis 0");
};

template <class Operation, class InputShape, class WeightShape, bool Ok>
struct conv2d_channels_differ {
  static_assert(Ok, "typegrad: conv2d needs input [N, C, H, W] and weight [O, C, kh, kw] with the same C");
};

template <class Operation, class WeightShape, class BiasShape, bool Ok>
struct conv2d_bias_size {
  static_assert(Ok, "typegrad: conv2d's bias has shape [O], O the weight's first dimension (output channels)");
};

template <class Operation, class InputShape, class Geometry, bool Ok>
struct window_does_not_fit {
  static_assert(Ok, "typegrad: the kernel/pooling window (with padding) does not fit the input's height or width");
};

template <class Operation, class Shape, bool Ok>
struct needs_rank {
  static_assert(Ok, "typegrad: the operand has the wrong rank for this operation (see the shape above)");
};

template <class Operation, class TableShape, class IndexType, bool Ok>
struct indices_must_be_integers {
  static_assert(Ok, "typegrad: gather/embedding indices must be an integer tensor (tg::Input<std::int32_t, ...>)");
};

template <class Operation, class InputShape, class WeightShape, bool Ok>
struct normalized_shape_mismatch {
  static_assert(Ok, "typegrad: layer_norm needs weight and bias of shape [D], D the input's last dimension");
};

template <class Operation, class GatesShape, class CellShape, bool Ok>
struct lstm_cell_shapes_differ {
  static_assert(Ok, "typegrad: lstm_cell needs gates [B, 4H] (i, f, g, o) and a cell state [B, H]");
};

template <class Operation, class InputGatesShape, class HiddenGatesShape, class StateShape, bool Ok>
struct gru_cell_shapes_differ {
  static_assert(Ok, "typegrad: gru_cell needs gates from the input and from the state [B, 3H] (r, z, n) and a state "
                    "[B, H]");
};

template <class Layer, class InputShape, bool Ok>
struct layer_does_not_accept_input {
  static_assert(Ok, "typegrad: the layer does not accept this input shape (its template arguments give the rank and "
                    "features it expects)");
};
}  // namespace tg::error

namespace tg::error {
// A model whose members the walkers cannot see: they would find no parameters (save would write an empty file).
template <class Model, bool Ok>
struct model_members_not_declared {
  static_assert(Ok, "typegrad: this model's members are not declared, so its parameters cannot be walked, saved "
                    "or loaded: declare them with BOOST_HANA_DEFINE_STRUCT(Model, (tg::Linear<784, 256>, fc1), "
                    "(tg::Linear<256, 10>, fc2)); inside the struct (or use tg::Sequential / std::array)");
};
// An element-wise op given to tg::map (docs/extending.md) without its declarations, or with another number of
// operands than it declares.
template <class Op, bool Ok>
struct elementwise_op_undeclared {
  static_assert(Ok,
                "typegrad: an element-wise op for tg::map declares static constexpr std::size_t arity (its number "
                "of operands) and static constexpr std::uint32_t nondifferentiable_args (bit k: no gradient to "
                "operand k); see docs/extending.md");
};
template <class Op, std::size_t Arity, std::size_t Operands, bool Ok>
struct elementwise_op_arity_differs {
  static_assert(Ok, "typegrad: tg::map was given a number of operands other than the element-wise op's arity");
};
}  // namespace tg::error

namespace tg::detail {
// Instantiates a check at once (firing its static_assert when it fails): use as static_assert(require<...>).
template <class Check>
inline constexpr bool require = sizeof(Check) > 0;
}  // namespace tg::detail
