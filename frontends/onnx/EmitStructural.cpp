//===- EmitStructural.cpp - ONNX data-movement ops -----------------------===//
//
// Reshape and friends (tensor.collapse/expand_shape), Transpose
// (linalg.transpose), Concat (tensor.insert_slice), Slice
// (tensor.extract_slice) and Split. Shapes, axes and indices that define
// the result type are known at import time or computed from dims (symbolic
// sizes). Gathers, padding and generated tensors: EmitIndexing.cpp.
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

/// The product of `sizes`, folded where known.
OpFoldResult multiplySizes(GraphBuilder &g, ArrayRef<OpFoldResult> sizes) {
  OpFoldResult product = g.b.getIndexAttr(1);
  for (OpFoldResult size : sizes)
    product = *combineSizes(g, "Mul", product, size);
  return product;
}

/// Drops the run-time sizes `a` and `b` share (provably the same), so that
/// products of what is left compare or divide statically.
void cancelCommonSizes(SmallVectorImpl<OpFoldResult> &a,
                       SmallVectorImpl<OpFoldResult> &b) {
  for (auto it = b.begin(); it != b.end();) {
    auto same = llvm::find_if(a, [&](OpFoldResult size) {
      return !getConstantIntValue(*it) && isSameSize(size, *it);
    });
    if (same == a.end()) {
      ++it;
      continue;
    }
    a.erase(same);
    it = b.erase(it);
  }
}

/// The result sizes of a Reshape, Flatten, Squeeze or Unsqueeze of an input
/// of `source` sizes (some known only at run time).
FailureOr<SmallVector<OpFoldResult>>
getDynamicReshapeSizes(NodeEmitter &node, llvm::StringRef op,
                       ArrayRef<OpFoldResult> source,
                       const std::optional<SmallVector<int64_t>> &axes) {
  GraphBuilder &g = node.g;
  int64_t rank = int64_t(source.size());
  auto fail = [&](const llvm::Twine &message) {
    return (void)node.fail(message), failure();
  };
  if (op == "Flatten") {
    int64_t axis = getIntAttr(node.node, "axis", 1);
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis > rank)
      return fail("axis is out of range");
    return SmallVector<OpFoldResult>{multiplySizes(g, source.take_front(axis)),
                                     multiplySizes(g, source.drop_front(axis))};
  }
  if (op == "Unsqueeze") {
    if (!axes)
      return fail("needs axes");
    int64_t outRank = rank + int64_t(axes->size());
    SmallVector<bool> inserted(outRank, false);
    for (int64_t axis : *axes) {
      if (!normalizeAxis(axis, outRank) || inserted[axis])
        return fail("axes are out of range or repeated");
      inserted[axis] = true;
    }
    SmallVector<OpFoldResult> sizes;
    const OpFoldResult *next = source.begin();
    for (int64_t d = 0; d < outRank; ++d)
      sizes.push_back(inserted[d] ? OpFoldResult(g.b.getIndexAttr(1))
                                  : *next++);
    return sizes;
  }
  if (op == "Squeeze") {
    SmallVector<bool> dropped(rank, false);
    if (axes) {
      for (int64_t axis : *axes) {
        if (!normalizeAxis(axis, rank))
          return fail("axis is out of range");
        if (getConstantIntValue(source[axis]) != 1)
          return fail("squeezes a dim that is not 1 at compile time");
        dropped[axis] = true;
      }
    } else {
      for (int64_t d = 0; d < rank; ++d)
        dropped[d] = getConstantIntValue(source[d]) == 1;
    }
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < rank; ++d)
      if (!dropped[d])
        sizes.push_back(source[d]);
    return sizes;
  }
  // Reshape: 0 copies a dim (unless allowzero), one -1 takes the rest.
  std::optional<SmallVector<OpFoldResult>> target = node.sizesInput(1);
  if (!target)
    return fail("the target shape must be known at compile time or "
                "computed from dims");
  bool allowZero = getIntAttr(node.node, "allowzero", 0) != 0;
  SmallVector<OpFoldResult> sizes = *target;
  int64_t inferred = -1;
  for (auto [d, size] : llvm::enumerate(sizes)) {
    std::optional<int64_t> known = getConstantIntValue(size);
    if (known == 0 && !allowZero) {
      if (int64_t(d) >= rank)
        return fail("target dim " + std::to_string(d) +
                    " copies an input dim that does not exist");
      size = source[d];
    } else if (known == -1) {
      if (inferred >= 0)
        return fail("the target shape has more than one -1");
      inferred = int64_t(d);
    } else if (known && *known < 0) {
      return fail("the target shape has a negative dim");
    }
  }
  if (inferred >= 0) {
    // Dims the target shares with the input cancel, so [b, s, -1, 16] of
    // [b, s, 64] infers 4 rather than a run-time size.
    SmallVector<OpFoldResult> numerator(source), others(sizes);
    others.erase(others.begin() + inferred);
    cancelCommonSizes(numerator, others);
    OpFoldResult divisor = multiplySizes(g, others);
    OpFoldResult total = multiplySizes(g, numerator);
    std::optional<OpFoldResult> quotient =
        combineSizes(g, "Div", total, divisor);
    if (!quotient) { // a run-time divisor: never divide by 0
      Value one = arith::ConstantIndexOp::create(g.b, g.loc, 1);
      Value safe =
          arith::MaxSIOp::create(g.b, g.loc, g.indexValue(divisor), one);
      quotient = arith::DivSIOp::create(g.b, g.loc, g.indexValue(total), safe)
                     .getResult();
    }
    sizes[inferred] = *quotient;
  }
  return sizes;
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
  if (llvm::any_of(input.shape, ShapedType::isDynamic) ||
      (op == "Reshape" && node.hasInput(1) && node.input(1).symbolic)) {
    GraphBuilder &g = node.g;
    SmallVector<OpFoldResult> source = g.mixedSizes(node.operand(0));
    FailureOr<SmallVector<OpFoldResult>> sizes =
        getDynamicReshapeSizes(node, op, source, axes);
    if (failed(sizes))
      return failure();
    SmallVector<OpFoldResult> produced(*sizes), consumed(source);
    cancelCommonSizes(produced, consumed);
    if (op == "Reshape") {
      OpFoldResult want = multiplySizes(g, consumed),
                   got = multiplySizes(g, produced);
      std::optional<int64_t> knownWant = getConstantIntValue(want),
                             knownGot = getConstantIntValue(got);
      if (knownWant && knownGot && *knownWant != *knownGot)
        return node.fail("the target shape's element count differs from the "
                         "input's by a factor of " +
                         std::to_string(*knownGot) + "/" +
                         std::to_string(*knownWant));
      g.checkSize(got, want,
                  "the target shape's element count differs from the "
                  "input's");
    }
    node.setResult(0, buildReshape(node.g, node.operand(0), *sizes),
                   input.type);
    return success();
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
  SmallVector<OpFoldResult> sizes = g.mixedSizes(node.operand(0));
  Value init =
      g.emptyTensor(applyPermutation(sizes, perm), g.elementType(input.type));
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
  // One input (TorchScript's copy of a past): the same value.
  if (node.numInputs() == 1) {
    node.setResult(0, node.operand(0), first.type);
    return success();
  }
  // A past given as an append buffer: the new positions are written after
  // it in place.
  if (node.numInputs() == 2 && node.hasInput(1))
    if (Value present =
            g.appendInPlace(node.operand(0), node.operand(1), axis)) {
      node.setResult(0, present, first.type);
      return success();
    }
  // Dims off the axis: static where any input has them static (a dynamic
  // dim is taken to match), else the first input's run-time size.
  SmallVector<OpFoldResult> sizes = g.mixedSizes(node.operand(0));
  for (size_t i = 0; i < node.numInputs(); ++i) {
    GraphValue &v = node.input(i);
    if (int64_t(v.shape.size()) != rank || v.type != first.type)
      return node.fail("inputs differ in rank or element type");
    for (int64_t d = 0; d < rank; ++d) {
      if (d == axis || ShapedType::isDynamic(v.shape[d]))
        continue;
      std::optional<int64_t> known = getConstantIntValue(sizes[d]);
      if (known && *known != v.shape[d])
        return node.fail("inputs differ outside the concatenation axis");
      sizes[d] = g.b.getIndexAttr(v.shape[d]);
    }
  }
  SmallVector<OpFoldResult> offsets;
  OpFoldResult total = g.b.getIndexAttr(0);
  for (size_t i = 0; i < node.numInputs(); ++i) {
    offsets.push_back(total);
    OpFoldResult size = g.mixedSizes(node.operand(i))[axis];
    std::optional<int64_t> a = getConstantIntValue(total),
                           b = getConstantIntValue(size);
    total = a && b ? OpFoldResult(g.b.getIndexAttr(*a + *b))
                   : OpFoldResult(arith::AddIOp::create(g.b, g.loc,
                                                        g.indexValue(total),
                                                        g.indexValue(size))
                                      .getResult());
  }
  sizes[axis] = total;
  Value result = g.emptyTensor(sizes, g.elementType(first.type));
  for (size_t i = 0; i < node.numInputs(); ++i) {
    if (node.input(i).shape[axis] == 0)
      continue;
    SmallVector<OpFoldResult> partSizes = sizes,
                              offsetsAt(rank, g.b.getIndexAttr(0)),
                              strides(rank, g.b.getIndexAttr(1));
    SmallVector<OpFoldResult> own = g.mixedSizes(node.operand(i));
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && node.input(i).shape[d] == ShapedType::kDynamic)
        g.checkSize(own[d], sizes[d],
                    "input " + llvm::Twine(i) + " differs in dim " +
                        llvm::Twine(d) + " outside the concatenation axis");
    partSizes[axis] = own[axis];
    offsetsAt[axis] = offsets[i];
    Value part = node.operand(i);
    RankedTensorType partType =
        g.tensorType(getStaticSizes(partSizes), first.type);
    if (part.getType() != partType)
      part = tensor::CastOp::create(g.b, g.loc, partType, part);
    result = tensor::InsertSliceOp::create(g.b, g.loc, part, result, offsetsAt,
                                           partSizes, strides);
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
  int64_t axis = -1, rank = int64_t(input.shape.size()), first = 0;
  SmallVector<int64_t> sizes;
  std::string error;
  if (!resolveSplit(node.node, input.shape, split,
                    size_t(node.node.output_size()), axis, sizes, error)) {
    // An axis out of range is the error itself.
    bool dynamicAxis =
        axis >= 0 && axis < rank && ShapedType::isDynamic(input.shape[axis]);
    return node.fail(dynamicAxis ? std::string("the split axis must be static")
                                 : error);
  }
  for (auto [i, size] : llvm::enumerate(sizes)) {
    // Dims off the axis are the input's (dynamic ones read at run time).
    SmallVector<OpFoldResult> partSizes = g.mixedSizes(node.operand(0)),
                              offsets(rank, g.b.getIndexAttr(0)),
                              strides(rank, g.b.getIndexAttr(1));
    partSizes[axis] = g.b.getIndexAttr(size);
    offsets[axis] = g.b.getIndexAttr(first);
    first += size;
    Value part = size == 0
                     ? g.emptyTensor(partSizes, g.elementType(input.type))
                     : Value(tensor::ExtractSliceOp::create(
                           g.b, g.loc,
                           g.tensorType(getStaticSizes(partSizes), input.type),
                           node.operand(0), offsets, partSizes, strides));
    node.setResult(i, part, input.type);
  }
  return success();
}

/// A Slice bound (`start` or `end`, constant or symbolic) resolved against
/// a dim of run-time size `dim`: negative counts from the end, then clamped
/// into [0, dim] (positive steps).
OpFoldResult clampBound(GraphBuilder &g, OpFoldResult bound, Value dim) {
  OpBuilder &b = g.b;
  Location loc = g.loc;
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value value = g.indexValue(bound);
  std::optional<int64_t> known = getConstantIntValue(bound);
  if (!known || *known < 0) {
    Value wrapped = arith::AddIOp::create(b, loc, value, dim);
    Value negative =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, value, zero);
    value =
        known
            ? wrapped
            : Value(arith::SelectOp::create(b, loc, negative, wrapped, value));
    value = arith::MaxSIOp::create(b, loc, value, zero);
  }
  return arith::MinSIOp::create(b, loc, value, dim).getResult();
}

/// Slice of a tensor with dynamic dims or bounds known only at run time
/// (`past[:, :, :length]`): offsets and sizes computed in the code.
LogicalResult emitDynamicSlice(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  GraphValue &input = node.input(0);
  auto starts = node.sizesInput(1), ends = node.sizesInput(2);
  const HostTensor *axes = node.hasInput(3) ? node.constantInput(3) : nullptr;
  const HostTensor *steps = node.hasInput(4) ? node.constantInput(4) : nullptr;
  if (!starts || !ends || (node.hasInput(3) && !axes) ||
      (node.hasInput(4) && !steps))
    return node.fail("starts, ends, axes and steps must be known at compile "
                     "time or computed from dims");
  int64_t rank = int64_t(input.shape.size()), n = int64_t(starts->size());
  if (int64_t(ends->size()) != n || (axes && axes->size() != n) ||
      (steps && steps->size() != n))
    return node.fail("Slice starts, ends, axes and steps differ in length");
  SmallVector<OpFoldResult> sizes = g.mixedSizes(node.operand(0)),
                            offsets(rank, g.b.getIndexAttr(0)),
                            strides(rank, g.b.getIndexAttr(1));
  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = axes ? axes->asInt(i) : i;
    if (!normalizeAxis(axis, rank))
      return node.fail("Slice axis " + std::to_string(axis) +
                       " is out of range");
    int64_t step = steps ? steps->asInt(i) : 1;
    if (step <= 0)
      return node.fail("Slice with run-time bounds needs positive steps");
    std::optional<int64_t> knownDim = getConstantIntValue(sizes[axis]),
                           knownStart = getConstantIntValue((*starts)[i]),
                           knownEnd = getConstantIntValue((*ends)[i]);
    if (knownDim && knownStart && knownEnd) {
      auto clamp = [&](int64_t bound) {
        return std::clamp<int64_t>(bound < 0 ? bound + *knownDim : bound, 0,
                                   *knownDim);
      };
      int64_t start = clamp(*knownStart), end = clamp(*knownEnd);
      offsets[axis] = g.b.getIndexAttr(start);
      sizes[axis] =
          g.b.getIndexAttr(end > start ? (end - start + step - 1) / step : 0);
      strides[axis] = g.b.getIndexAttr(step);
      continue;
    }
    Value dim = g.indexValue(sizes[axis]);
    Value start = g.indexValue(clampBound(g, (*starts)[i], dim));
    Value end = g.indexValue(clampBound(g, (*ends)[i], dim));
    Value length = arith::SubIOp::create(g.b, g.loc, end, start);
    length = arith::MaxSIOp::create(
        g.b, g.loc, length, arith::ConstantIndexOp::create(g.b, g.loc, 0));
    if (step != 1)
      length = arith::CeilDivSIOp::create(
          g.b, g.loc, length, arith::ConstantIndexOp::create(g.b, g.loc, step));
    offsets[axis] = start;
    sizes[axis] = length;
    strides[axis] = g.b.getIndexAttr(step);
  }
  if (llvm::any_of(sizes, [](OpFoldResult s) {
        return getConstantIntValue(s) == 0;
      })) { // reads nothing (an offset at the end would not verify)
    node.setResult(0, g.emptyTensor(sizes, g.elementType(input.type)),
                   input.type);
    return success();
  }
  Value result = tensor::ExtractSliceOp::create(
      g.b, g.loc, g.tensorType(getStaticSizes(sizes), input.type),
      node.operand(0), offsets, sizes, strides);
  node.setResult(0, result, input.type);
  return success();
}

LogicalResult emitSlice(NodeEmitter &node) {
  if (node.g.opset < 10)
    return node.fail("Slice before opset 10 is not supported");
  GraphValue &input = node.input(0);
  auto isSymbolic = [&](size_t i) {
    return node.hasInput(i) && node.input(i).symbolic.has_value();
  };
  if (llvm::any_of(input.shape, ShapedType::isDynamic) || isSymbolic(1) ||
      isSymbolic(2))
    return emitDynamicSlice(node);
  const HostTensor *starts = node.hasInput(1) ? node.constantInput(1) : nullptr;
  const HostTensor *ends = node.hasInput(2) ? node.constantInput(2) : nullptr;
  const HostTensor *axes = node.hasInput(3) ? node.constantInput(3) : nullptr;
  const HostTensor *steps = node.hasInput(4) ? node.constantInput(4) : nullptr;
  if (!starts || !ends || (node.hasInput(3) && !axes) ||
      (node.hasInput(4) && !steps))
    return node.fail("starts, ends, axes and steps must be known at compile "
                     "time");
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

} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitStructuralNode(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  if (!llvm::is_contained({"Reshape", "Flatten", "Squeeze", "Unsqueeze",
                           "Transpose", "Concat", "Slice", "Split"},
                          op))
    return std::nullopt;
  if (!node.hasInput(0))
    return node.fail("needs an input");
  if (op == "Transpose")
    return emitTranspose(node);
  if (op == "Concat")
    return emitConcat(node);
  if (op == "Slice")
    return emitSlice(node);
  if (op == "Split")
    return emitSplit(node);
  return emitReshapeLike(node, op);
}
