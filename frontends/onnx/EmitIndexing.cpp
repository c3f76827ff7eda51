//===- EmitIndexing.cpp - ONNX gathers, padding and generated tensors -----===//
//
// Gather and GatherND (linalg.generic + tensor.extract, indices wrapped and
// clamped so a bad index cannot read outside the tensor), Pad (tensor.pad),
// and the tensors a node generates from sizes: ConstantOfShape, Range and
// Trilu's triangle.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Index `index` into a dimension of `size`: negative counts from the end,
/// then clamped into range so a bad index cannot read outside the tensor.
Value wrapAndClampIndex(OpBuilder &b, Location loc, Value index,
                        Value sizeValue) {
  index = arith::IndexCastOp::create(b, loc, b.getIndexType(), index);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, index, zero);
  Value wrapped = arith::AddIOp::create(b, loc, index, sizeValue);
  index = arith::SelectOp::create(b, loc, negative, wrapped, index);
  Value last = arith::SubIOp::create(b, loc, sizeValue, one);
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
  Value dataValue = node.operand(0);
  SmallVector<OpFoldResult> dataSizes = g.mixedSizes(dataValue);
  SmallVector<OpFoldResult> sizes(dataSizes.begin(), dataSizes.begin() + axis);
  sizes.append(g.mixedSizes(node.operand(1)));
  sizes.append(dataSizes.begin() + axis + 1, dataSizes.end());
  int64_t outRank = int64_t(sizes.size());
  Value dim = g.indexValue(dataSizes[axis]);
  // The indices operand is read through the dims it occupies in the result.
  SmallVector<AffineExpr> indexExprs;
  for (int64_t d = 0; d < indexRank; ++d)
    indexExprs.push_back(g.b.getAffineDimExpr(unsigned(axis + d)));
  SmallVector<AffineMap> maps = {
      AffineMap::get(unsigned(outRank), 0, indexExprs, g.b.getContext()),
      g.b.getMultiDimIdentityMap(unsigned(outRank))};
  Value init = g.emptyTensor(sizes, g.elementType(data.type));
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
  if (indices.shape.empty() || ShapedType::isDynamic(indices.shape.back()))
    return node.fail("indices need a static last dim");
  int64_t batchDims, depth;
  SmallVector<int64_t> shape;
  std::string error;
  if (!resolveGatherND(node.node, data.shape, indices.shape, batchDims, depth,
                       shape, error))
    return node.fail(error);
  int64_t outRank = int64_t(shape.size());
  Value dataValue = node.operand(0), indexValue = node.operand(1);
  SmallVector<OpFoldResult> dataSizes = g.mixedSizes(dataValue);
  SmallVector<OpFoldResult> sizes = g.mixedSizes(indexValue);
  sizes.pop_back();
  for (int64_t d = 0; d < batchDims; ++d)
    g.checkSize(sizes[d], dataSizes[d],
                "batch dimension " + llvm::Twine(d) +
                    " differs between data and indices");
  sizes.append(dataSizes.begin() + batchDims + depth, dataSizes.end());
  SmallVector<Value> bounds;
  for (int64_t k = 0; k < depth; ++k)
    bounds.push_back(g.indexValue(dataSizes[batchDims + k]));
  Value init = g.emptyTensor(sizes, g.elementType(data.type));
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
          at.push_back(wrapAndClampIndex(b, loc, index, bounds[k]));
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
  std::optional<SmallVector<OpFoldResult>> sizes = node.sizesInput(0);
  if (!sizes)
    return node.fail("shape must be given and known at compile time or "
                     "computed from dims");
  HostTensor value(kFloat, {});
  std::string error;
  if (const auto *attribute = findAttribute(node.node, "value"))
    if (!readTensor(attribute->t(), "", value, error))
      return node.fail(error);
  RankedTensorType type = g.tensorType(getStaticSizes(*sizes), value.type);
  Type element = type.getElementType();
  Attribute scalar =
      isa<FloatType>(element)
          ? Attribute(g.b.getFloatAttr(element, value.floats[0]))
          : Attribute(g.b.getIntegerAttr(element, value.ints[0]));
  Value result;
  if (type.hasStaticShape()) {
    result = arith::ConstantOp::create(g.b, g.loc,
                                       DenseElementsAttr::get(type, scalar));
  } else {
    Value fill = arith::ConstantOp::create(g.b, g.loc, cast<TypedAttr>(scalar));
    result =
        linalg::FillOp::create(g.b, g.loc, fill, g.emptyTensor(*sizes, element))
            .getResult(0);
  }
  node.setResult(0, result, value.type);
  return success();
}

/// Trilu: the upper (j - i >= k) or lower (j - i <= k) triangle of the last
/// two dims, zeros elsewhere (torch's triu/tril of causal masks).
LogicalResult emitTrilu(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  GraphValue &input = node.input(0);
  int64_t rank = int64_t(input.shape.size());
  if (rank < 2)
    return node.fail("needs an input of rank >= 2");
  OpFoldResult diagonal = g.b.getIndexAttr(0);
  if (node.hasInput(1)) {
    std::optional<SmallVector<OpFoldResult>> k = node.sizesInput(1);
    if (!k || k->size() != 1)
      return node.fail("k must be a scalar known at compile time or "
                       "computed from dims");
    diagonal = (*k)[0];
  }
  bool upper = getIntAttr(node.node, "upper", 1) != 0;
  Value k = g.indexValue(diagonal);
  Type element = g.elementType(input.type);
  Value result = buildBroadcastGeneric(
      g, {node.operand(0)}, input.shape, element,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value row = linalg::IndexOp::create(b, loc, rank - 2);
        Value column = linalg::IndexOp::create(b, loc, rank - 1);
        Value offset = arith::SubIOp::create(b, loc, column, row);
        Value keep = arith::CmpIOp::create(b, loc,
                                           upper ? arith::CmpIPredicate::sge
                                                 : arith::CmpIPredicate::sle,
                                           offset, k);
        Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
        return arith::SelectOp::create(b, loc, keep, args[0], zero);
      });
  node.setResult(0, result, input.type);
  return success();
}

/// Range over bounds computed from dims: an integer 1-D tensor of run-time
/// length max(ceil((limit - start) / delta), 0).
LogicalResult emitRange(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (node.numInputs() != 3)
    return node.fail("needs start, limit and delta");
  int32_t type = node.input(0).type;
  SmallVector<OpFoldResult> bounds;
  for (size_t i = 0; i < 3; ++i) {
    std::optional<SmallVector<OpFoldResult>> scalar = node.sizesInput(i);
    if (isFloatType(type) || node.input(i).type != type || !scalar ||
        scalar->size() != 1)
      return node.fail("Range needs integer scalar bounds known at compile "
                       "time or computed from dims");
    bounds.push_back((*scalar)[0]);
  }
  std::optional<int64_t> delta = getConstantIntValue(bounds[2]);
  if (!delta || *delta == 0)
    return node.fail("Range needs a nonzero delta known at compile time");
  Value start = g.indexValue(bounds[0]), limit = g.indexValue(bounds[1]);
  Value count = arith::SubIOp::create(g.b, g.loc, limit, start);
  count = arith::CeilDivSIOp::create(
      g.b, g.loc, count, arith::ConstantIndexOp::create(g.b, g.loc, *delta));
  count = arith::MaxSIOp::create(g.b, g.loc, count,
                                 arith::ConstantIndexOp::create(g.b, g.loc, 0));
  Type element = g.elementType(type);
  Value init = g.emptyTensor({OpFoldResult(count)}, element);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{}, ValueRange{init},
      SmallVector<AffineMap>{g.b.getMultiDimIdentityMap(1)},
      SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &b, Location loc, ValueRange) {
        Value i = linalg::IndexOp::create(b, loc, 0);
        Value step = arith::ConstantIndexOp::create(b, loc, *delta);
        Value at = arith::AddIOp::create(
            b, loc, start, arith::MulIOp::create(b, loc, i, step));
        linalg::YieldOp::create(
            b, loc,
            ValueRange{arith::IndexCastOp::create(b, loc, element, at)});
      });
  node.setResult(0, generic.getResult(0), type);
  return success();
}
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitIndexingNode(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  if (op == "ConstantOfShape")
    return emitConstantOfShape(node);
  if (op == "Range")
    return emitRange(node);
  if (!llvm::is_contained({"Gather", "GatherND", "Pad", "Trilu"}, op))
    return std::nullopt;
  if (!node.hasInput(0))
    return node.fail("needs an input");
  if (op == "Gather" || op == "GatherND") {
    if (!node.hasInput(1))
      return node.fail("needs indices");
    return op == "Gather" ? emitGather(node) : emitGatherND(node);
  }
  if (op == "Pad")
    return emitPad(node);
  return emitTrilu(node);
}
