//===- EmitStructural.cpp - ONNX data-movement ops -----------------------===//
//
// Reshape and friends (tensor.collapse/expand_shape), Transpose
// (linalg.transpose), Concat (tensor.insert_slice), Slice
// (tensor.extract_slice), Gather (linalg.generic + tensor.extract), Pad
// (tensor.pad) and ConstantOfShape. Shapes, axes and indices that define
// the result type must be known at import time.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Axes of Squeeze/Unsqueeze: an input from opset 13, an attribute before.
FailureOr<std::optional<SmallVector<int64_t>>> getAxes(NodeEmitter &node) {
  if (node.g.opset < 13)
    return getIntsAttr(node.node, "axes");
  if (!node.hasInput(1))
    return std::optional<SmallVector<int64_t>>();
  const HostTensor *axes = node.constantInput(1);
  if (!axes)
    return (void)node.fail("axes must be known at compile time"), failure();
  return std::optional<SmallVector<int64_t>>(
      SmallVector<int64_t>(axes->ints.begin(), axes->ints.end()));
}

LogicalResult emitReshapeLike(NodeEmitter &node, llvm::StringRef op) {
  GraphValue &input = node.input(0);
  std::optional<SmallVector<int64_t>> axes;
  if (op == "Squeeze" || op == "Unsqueeze") {
    auto given = getAxes(node);
    if (failed(given))
      return failure();
    axes = *given;
  }
  SmallVector<int64_t> shape;
  std::string error;
  if (!inferReshapeLike(node.node, input.shape, node.constantInput(1), axes,
                        shape, error))
    return node.fail(error);
  node.setResult(0, buildReshape(node.g, node.operand(0), shape), input.type);
  return success();
}

LogicalResult emitTranspose(NodeEmitter &node) {
  GraphValue &input = node.input(0);
  int64_t rank = int64_t(input.shape.size());
  SmallVector<int64_t> perm;
  if (auto given = getIntsAttr(node.node, "perm"))
    perm = *given;
  else
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  SmallVector<bool> seen(rank, false);
  if (int64_t(perm.size()) != rank)
    return node.fail("perm has " + std::to_string(perm.size()) +
                     " entries for a rank-" + std::to_string(rank) + " input");
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return node.fail("perm is not a permutation");
    seen[p] = true;
    shape.push_back(input.shape[p]);
  }
  GraphBuilder &g = node.g;
  if (rank <= 1) { // nothing to permute (and linalg.transpose wants rank >= 1)
    g.define(node.node.output(0), input);
    return success();
  }
  Value init =
      tensor::EmptyOp::create(g.b, g.loc, shape, g.elementType(input.type));
  auto transpose =
      linalg::TransposeOp::create(g.b, g.loc, node.operand(0), init, perm);
  node.setResult(0, transpose->getResult(0), input.type);
  return success();
}

LogicalResult emitConcat(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (node.numInputs() == 0 || !node.hasInput(0))
    return node.fail("needs inputs");
  GraphValue &first = node.input(0);
  int64_t rank = int64_t(first.shape.size());
  int64_t axis = getIntAttr(node.node, "axis", 0);
  if (rank == 0 || !normalizeAxis(axis, rank))
    return node.fail("axis is out of range");
  SmallVector<int64_t> shape = first.shape;
  shape[axis] = 0;
  for (size_t i = 0; i < node.numInputs(); ++i) {
    GraphValue &v = node.input(i);
    if (int64_t(v.shape.size()) != rank || v.type != first.type)
      return node.fail("inputs differ in rank or element type");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && v.shape[d] != first.shape[d])
        return node.fail("inputs differ outside the concatenation axis");
    shape[axis] += v.shape[axis];
  }
  Value result =
      tensor::EmptyOp::create(g.b, g.loc, shape, g.elementType(first.type));
  int64_t offset = 0;
  for (size_t i = 0; i < node.numInputs(); ++i) {
    SmallVector<OpFoldResult> offsets(rank, g.b.getIndexAttr(0)), sizes,
        strides(rank, g.b.getIndexAttr(1));
    for (int64_t d : node.input(i).shape)
      sizes.push_back(g.b.getIndexAttr(d));
    offsets[axis] = g.b.getIndexAttr(offset);
    offset += node.input(i).shape[axis];
    if (node.input(i).shape[axis] == 0)
      continue;
    result = tensor::InsertSliceOp::create(g.b, g.loc, node.operand(i), result,
                                           offsets, sizes, strides);
  }
  node.setResult(0, result, first.type);
  return success();
}

/// Split: consecutive slices along the axis (empty parts as empty tensors).
LogicalResult emitSplit(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  GraphValue &input = node.input(0);
  const HostTensor *split = nullptr;
  if (node.hasInput(1) && !(split = node.constantInput(1)))
    return node.fail("split sizes must be known at compile time");
  int64_t axis;
  SmallVector<int64_t> sizes;
  std::string error;
  if (!resolveSplit(node.node, input.shape, split,
                    size_t(node.node.output_size()), axis, sizes, error))
    return node.fail(error);
  int64_t rank = int64_t(input.shape.size()), first = 0;
  for (auto [i, size] : llvm::enumerate(sizes)) {
    SmallVector<int64_t> shape = input.shape, offsets(rank, 0),
                         strides(rank, 1);
    shape[axis] = size;
    offsets[axis] = first;
    first += size;
    Value part = size == 0 ? Value(tensor::EmptyOp::create(
                                 g.b, g.loc, shape, g.elementType(input.type)))
                           : Value(tensor::ExtractSliceOp::create(
                                 g.b, g.loc, g.tensorType(shape, input.type),
                                 node.operand(0), ValueRange{}, ValueRange{},
                                 ValueRange{}, offsets, shape, strides));
    node.setResult(i, part, input.type);
  }
  return success();
}

LogicalResult emitSlice(NodeEmitter &node) {
  if (node.g.opset < 10)
    return node.fail("Slice before opset 10 is not supported");
  const HostTensor *starts = node.hasInput(1) ? node.constantInput(1) : nullptr;
  const HostTensor *ends = node.hasInput(2) ? node.constantInput(2) : nullptr;
  const HostTensor *axes = node.hasInput(3) ? node.constantInput(3) : nullptr;
  const HostTensor *steps = node.hasInput(4) ? node.constantInput(4) : nullptr;
  if (!starts || !ends || (node.hasInput(3) && !axes) ||
      (node.hasInput(4) && !steps))
    return node.fail("starts, ends, axes and steps must be known at compile "
                     "time");
  GraphValue &input = node.input(0);
  SliceBounds bounds;
  std::string error;
  if (!resolveSlice(input.shape, *starts, *ends, axes, steps, bounds, error))
    return node.fail(error);
  if (llvm::any_of(bounds.steps, [](int64_t s) { return s < 0; }))
    return node.fail("negative Slice steps are not supported");
  GraphBuilder &g = node.g;
  // An empty slice (x[..., rotary:] with the whole head rotated) reads
  // nothing; tensor.extract_slice would reject its offset at the end.
  if (llvm::is_contained(bounds.sizes, 0)) {
    node.setResult(0,
                   tensor::EmptyOp::create(g.b, g.loc, bounds.sizes,
                                           g.elementType(input.type)),
                   input.type);
    return success();
  }
  Value result = tensor::ExtractSliceOp::create(
      g.b, g.loc, g.tensorType(bounds.sizes, input.type), node.operand(0),
      ValueRange{}, ValueRange{}, ValueRange{}, bounds.starts, bounds.sizes,
      bounds.steps);
  node.setResult(0, result, input.type);
  return success();
}

/// Index `index` into a dimension of `size`: negative counts from the end,
/// then clamped into range so a bad index cannot read outside the tensor.
Value wrapAndClampIndex(OpBuilder &b, Location loc, Value index, int64_t size) {
  index = arith::IndexCastOp::create(b, loc, b.getIndexType(), index);
  Value sizeValue = arith::ConstantIndexOp::create(b, loc, size);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, index, zero);
  Value wrapped = arith::AddIOp::create(b, loc, index, sizeValue);
  index = arith::SelectOp::create(b, loc, negative, wrapped, index);
  Value last = arith::ConstantIndexOp::create(b, loc, size - 1);
  index = arith::MaxSIOp::create(b, loc, index, zero);
  return arith::MinSIOp::create(b, loc, index, last);
}

LogicalResult emitGather(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  GraphValue &data = node.input(0);
  GraphValue &indices = node.input(1);
  int64_t rank = int64_t(data.shape.size());
  int64_t axis = getIntAttr(node.node, "axis", 0);
  if (rank == 0 || !normalizeAxis(axis, rank))
    return node.fail("axis is out of range");
  if (isFloatType(indices.type))
    return node.fail("indices must be integers");
  int64_t indexRank = int64_t(indices.shape.size());
  SmallVector<int64_t> shape(data.shape.begin(), data.shape.begin() + axis);
  shape.append(indices.shape.begin(), indices.shape.end());
  shape.append(data.shape.begin() + axis + 1, data.shape.end());
  int64_t outRank = int64_t(shape.size());
  Value dataValue = node.operand(0);
  int64_t dim = data.shape[axis];
  // The indices operand is read through the dims it occupies in the result.
  SmallVector<AffineExpr> indexExprs;
  for (int64_t d = 0; d < indexRank; ++d)
    indexExprs.push_back(g.b.getAffineDimExpr(unsigned(axis + d)));
  SmallVector<AffineMap> maps = {
      AffineMap::get(unsigned(outRank), 0, indexExprs, g.b.getContext()),
      g.b.getMultiDimIdentityMap(unsigned(outRank))};
  Value init =
      tensor::EmptyOp::create(g.b, g.loc, shape, g.elementType(data.type));
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{node.operand(1)}, ValueRange{init},
      maps, iterators, [&](OpBuilder &b, Location loc, ValueRange args) {
        Value index = wrapAndClampIndex(b, loc, args[0], dim);
        SmallVector<Value> at;
        for (int64_t d = 0; d < axis; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d));
        at.push_back(index);
        for (int64_t d = axis + 1; d < rank; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d - 1 + indexRank));
        Value element = tensor::ExtractOp::create(b, loc, dataValue, at);
        linalg::YieldOp::create(b, loc, element);
      });
  node.setResult(0, generic.getResult(0), data.type);
  return success();
}

/// GatherND: out[b.., i.., r..] = data[b.., indices[b.., i.., :], r..] with
/// `batch_dims` leading dims shared by data and indices.
LogicalResult emitGatherND(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  GraphValue &data = node.input(0);
  GraphValue &indices = node.input(1);
  int64_t indexRank = int64_t(indices.shape.size());
  if (isFloatType(indices.type))
    return node.fail("indices must be integers");
  if (llvm::any_of(indices.shape, ShapedType::isDynamic))
    return node.fail("indices need a static shape");
  int64_t batchDims, depth;
  SmallVector<int64_t> shape;
  std::string error;
  if (!resolveGatherND(node.node, data.shape, indices.shape, batchDims, depth,
                       shape, error))
    return node.fail(error);
  int64_t outRank = int64_t(shape.size());
  Value dataValue = node.operand(0), indexValue = node.operand(1);
  Value init =
      tensor::EmptyOp::create(g.b, g.loc, shape, g.elementType(data.type));
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{}, ValueRange{init},
      SmallVector<AffineMap>{g.b.getMultiDimIdentityMap(unsigned(outRank))},
      iterators, [&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> at, indexAt;
        for (int64_t d = 0; d < indexRank - 1; ++d)
          indexAt.push_back(linalg::IndexOp::create(b, loc, d));
        for (int64_t d = 0; d < batchDims; ++d)
          at.push_back(indexAt[d]);
        for (int64_t k = 0; k < depth; ++k) {
          SmallVector<Value> position = indexAt;
          position.push_back(arith::ConstantIndexOp::create(b, loc, k));
          Value index = tensor::ExtractOp::create(b, loc, indexValue, position);
          at.push_back(
              wrapAndClampIndex(b, loc, index, data.shape[batchDims + k]));
        }
        for (int64_t d = indexRank - 1; d < outRank; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d));
        linalg::YieldOp::create(
            b, loc,
            ValueRange{tensor::ExtractOp::create(b, loc, dataValue, at)});
      });
  node.setResult(0, generic.getResult(0), data.type);
  return success();
}

LogicalResult emitPad(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (getStringAttr(node.node, "mode", "constant") != "constant")
    return node.fail("only constant-mode Pad is supported");
  GraphValue &input = node.input(0);
  int64_t rank = int64_t(input.shape.size());
  const HostTensor *pads = node.hasInput(1) ? node.constantInput(1) : nullptr;
  if (!pads)
    return node.fail("pads must be known at compile time");
  SmallVector<int64_t> axes;
  if (node.hasInput(3)) {
    const HostTensor *given = node.constantInput(3);
    if (!given)
      return node.fail("axes must be known at compile time");
    for (int64_t i = 0; i < given->size(); ++i) {
      int64_t axis = given->asInt(i);
      if (!normalizeAxis(axis, rank))
        return node.fail("axis is out of range");
      axes.push_back(axis);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  if (pads->size() != 2 * int64_t(axes.size()))
    return node.fail("pads must have two entries per axis");
  SmallVector<int64_t> low(rank, 0), high(rank, 0), shape = input.shape;
  for (auto [i, axis] : llvm::enumerate(axes)) {
    low[axis] = pads->asInt(int64_t(i));
    high[axis] = pads->asInt(int64_t(i + axes.size()));
    if (low[axis] < 0 || high[axis] < 0)
      return node.fail("negative pads are not supported");
    shape[axis] += low[axis] + high[axis];
  }
  HostTensor padValue(input.type, {});
  if (node.hasInput(2)) {
    const HostTensor *given = node.constantInput(2);
    if (!given || given->size() != 1)
      return node.fail("constant_value must be a known scalar");
    padValue = *given;
    padValue.shape.clear();
  }
  Value scalar = tensor::ExtractOp::create(
      g.b, g.loc, g.constantTensor(padValue), ValueRange{});
  SmallVector<OpFoldResult> lowSizes, highSizes;
  for (int64_t d = 0; d < rank; ++d) {
    lowSizes.push_back(g.b.getIndexAttr(low[d]));
    highSizes.push_back(g.b.getIndexAttr(high[d]));
  }
  auto pad =
      tensor::PadOp::create(g.b, g.loc, g.tensorType(shape, input.type),
                            node.operand(0), lowSizes, highSizes, scalar);
  node.setResult(0, pad.getResult(), input.type);
  return success();
}

LogicalResult emitConstantOfShape(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  const HostTensor *shape = node.constantInput(0);
  if (!shape)
    return node.fail("shape must be given and known at compile time");
  HostTensor value(kFloat, {});
  std::string error;
  if (const auto *attribute = findAttribute(node.node, "value"))
    if (!readTensor(attribute->t(), "", value, error))
      return node.fail(error);
  RankedTensorType type = g.tensorType(shape->ints, value.type);
  Type element = type.getElementType();
  Attribute scalar =
      isa<FloatType>(element)
          ? Attribute(g.b.getFloatAttr(element, value.floats[0]))
          : Attribute(g.b.getIntegerAttr(element, value.ints[0]));
  Value result = arith::ConstantOp::create(
      g.b, g.loc, DenseElementsAttr::get(type, scalar));
  node.setResult(0, result, value.type);
  return success();
}
} // namespace

LogicalResult mlir::hgc::onnx::emitRuntimeShape(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  Value input = node.operand(0);
  llvm::ArrayRef<int64_t> shape = node.input(0).shape;
  int64_t rank = int64_t(shape.size());
  auto dimSize = [&](int64_t d) -> Value {
    if (!ShapedType::isDynamic(shape[d]))
      return arith::ConstantOp::create(g.b, g.loc,
                                       g.b.getI64IntegerAttr(shape[d]));
    Value size = tensor::DimOp::create(g.b, g.loc, input, d);
    return arith::IndexCastOp::create(g.b, g.loc, g.b.getI64Type(), size);
  };
  if (node.node.op_type() == "Size") {
    Value count =
        arith::ConstantOp::create(g.b, g.loc, g.b.getI64IntegerAttr(1));
    for (int64_t d = 0; d < rank; ++d)
      count = arith::MulIOp::create(g.b, g.loc, count, dimSize(d));
    Value scalar = tensor::FromElementsOp::create(
        g.b, g.loc, RankedTensorType::get({}, g.b.getI64Type()), count);
    node.setResult(0, scalar, kInt64);
    return success();
  }
  int64_t start = getIntAttr(node.node, "start", 0),
          end = getIntAttr(node.node, "end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  SmallVector<Value> sizes;
  for (int64_t d = start; d < end; ++d)
    sizes.push_back(dimSize(d));
  Value result = tensor::FromElementsOp::create(
      g.b, g.loc,
      RankedTensorType::get({int64_t(sizes.size())}, g.b.getI64Type()), sizes);
  node.setResult(0, result, kInt64);
  return success();
}

std::optional<LogicalResult>
mlir::hgc::onnx::emitStructuralNode(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  if (op != "ConstantOfShape" && !node.hasInput(0))
    return llvm::is_contained({"Reshape", "Flatten", "Squeeze", "Unsqueeze",
                               "Transpose", "Concat", "Slice", "Split",
                               "Gather", "GatherND", "Pad"},
                              op)
               ? std::optional<LogicalResult>(node.fail("needs an input"))
               : std::nullopt;
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" ||
      op == "Unsqueeze")
    return emitReshapeLike(node, op);
  if (op == "Transpose")
    return emitTranspose(node);
  if (op == "Concat")
    return emitConcat(node);
  if (op == "Slice")
    return emitSlice(node);
  if (op == "Gather" || op == "GatherND") {
    if (!node.hasInput(1))
      return node.fail("needs indices");
    return op == "Gather" ? emitGather(node) : emitGatherND(node);
  }
  if (op == "Split")
    return emitSplit(node);
  if (op == "Pad")
    return emitPad(node);
  if (op == "ConstantOfShape")
    return emitConstantOfShape(node);
  return std::nullopt;
}
