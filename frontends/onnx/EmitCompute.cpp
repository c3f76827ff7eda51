//===- EmitCompute.cpp - ONNX MatMul, Gemm, Softmax, reductions ----------===//
//
// Contractions are linalg.generic with f32 accumulation for 16-bit floats
// (then truncated), Softmax is linalg.softmax (the op hgc-raise-attention
// anchors on), reductions are linalg.reduce.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Accumulation type of a float element type: f32 for 16-bit floats.
Type accumulatorType(OpBuilder &b, Type element) {
  return element.getIntOrFloatBitWidth() < 32 ? b.getF32Type() : element;
}

Value zeroFilled(GraphBuilder &g, ArrayRef<OpFoldResult> sizes, Type element) {
  Value init = g.emptyTensor(sizes, element);
  Value zero = arith::ConstantOp::create(g.b, g.loc, g.b.getZeroAttr(element));
  return linalg::FillOp::create(g.b, g.loc, zero, init).getResult(0);
}

/// Rounds an accumulator tensor back to `element`.
Value truncateTo(GraphBuilder &g, Value value, Type element) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == element)
    return value;
  return buildBroadcastGeneric(
      g, {value}, type.getShape(), element,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return arith::TruncFOp::create(b, loc, element, args[0]);
      });
}

/// A MatMul operand with its unit dims inserted (numpy rules).
struct MatMulOperand {
  Value value;
  ArrayRef<int64_t> shape;

  /// How many result batch dims lead this operand's batch dims.
  int64_t lead(int64_t batchRank) const {
    return batchRank - (int64_t(shape.size()) - 2);
  }
};

/// Maps of A, B and the result over loops (batch..., m, n, k); a unit batch
/// dim that broadcasts reads index 0.
SmallVector<AffineMap> matMulMaps(OpBuilder &b, ArrayRef<int64_t> batch,
                                  ArrayRef<int64_t> aShape,
                                  ArrayRef<int64_t> bShape) {
  int64_t nb = int64_t(batch.size());
  unsigned dims = unsigned(nb + 3);
  auto operandMap = [&](ArrayRef<int64_t> shape, unsigned row, unsigned col) {
    int64_t lead = nb - (int64_t(shape.size()) - 2);
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < int64_t(shape.size()) - 2; ++d)
      exprs.push_back(shape[d] == 1 && batch[lead + d] != 1
                          ? b.getAffineConstantExpr(0)
                          : b.getAffineDimExpr(unsigned(lead + d)));
    exprs.push_back(b.getAffineDimExpr(row));
    exprs.push_back(b.getAffineDimExpr(col));
    return AffineMap::get(dims, 0, exprs, b.getContext());
  };
  unsigned dm = unsigned(nb), dn = unsigned(nb + 1), dk = unsigned(nb + 2);
  SmallVector<AffineExpr> outExprs;
  for (unsigned d = 0; d < unsigned(nb); ++d)
    outExprs.push_back(b.getAffineDimExpr(d));
  outExprs.push_back(b.getAffineDimExpr(dm));
  outExprs.push_back(b.getAffineDimExpr(dn));
  return {operandMap(aShape, dm, dk), operandMap(bShape, dk, dn),
          AffineMap::get(dims, 0, outExprs, b.getContext())};
}

/// Run-time result sizes: batch dims from an operand dynamic there, m from
/// A, n from B.
SmallVector<OpFoldResult> matMulSizes(GraphBuilder &g, ArrayRef<int64_t> batch,
                                      const MatMulOperand &a,
                                      const MatMulOperand &b) {
  int64_t nb = int64_t(batch.size());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < nb; ++d) {
    OpFoldResult size = g.b.getIndexAttr(batch[d]);
    for (const MatMulOperand *operand : {&a, &b}) {
      int64_t at = d - operand->lead(nb);
      if (ShapedType::isDynamic(batch[d]) && at >= 0 &&
          ShapedType::isDynamic(operand->shape[at])) {
        size = g.mixedSizes(operand->value)[at];
        break;
      }
    }
    sizes.push_back(size);
  }
  sizes.push_back(g.mixedSizes(a.value)[a.shape.size() - 2]);
  sizes.push_back(g.mixedSizes(b.value).back());
  return sizes;
}

/// Run-time checks that the inner dims agree and each dynamic batch dim
/// matches the result's.
void checkMatMulSizes(GraphBuilder &g, ArrayRef<OpFoldResult> outSizes,
                      const MatMulOperand &a, const MatMulOperand &b) {
  int64_t nb = int64_t(outSizes.size()) - 2;
  g.checkSize(g.mixedSizes(b.value)[b.shape.size() - 2],
              g.mixedSizes(a.value).back(), "inner dimensions differ");
  for (const MatMulOperand *operand : {&a, &b}) {
    int64_t lead = operand->lead(nb);
    for (int64_t d = 0; d + 2 < int64_t(operand->shape.size()); ++d)
      if (ShapedType::isDynamic(operand->shape[d]))
        g.checkSize(g.mixedSizes(operand->value)[d], outSizes[lead + d],
                    "batch dimensions differ");
  }
}

LogicalResult emitMatMul(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (!node.hasInput(0) || !node.hasInput(1))
    return node.fail("needs two inputs");
  GraphValue &a = node.input(0), &bIn = node.input(1);
  if (!isFloatType(a.type) || a.type != bIn.type)
    return node.fail("needs floating-point inputs of one type");
  if (a.shape.empty() || bIn.shape.empty())
    return node.fail("inputs must have rank >= 1");
  // 1-D operands get a unit dim that the result then drops (numpy rules).
  SmallVector<int64_t> aShape = a.shape, bShape = bIn.shape;
  bool aVector = aShape.size() == 1, bVector = bShape.size() == 1;
  if (aVector)
    aShape.insert(aShape.begin(), 1);
  if (bVector)
    bShape.push_back(1);
  int64_t m = aShape[aShape.size() - 2], k = aShape.back();
  int64_t n = bShape.back(), kB = bShape[bShape.size() - 2];
  if (kB != k && !ShapedType::isDynamic(k) && !ShapedType::isDynamic(kB))
    return node.fail("inner dimensions differ (" + std::to_string(k) + " vs " +
                     std::to_string(kB) + ")");
  bool dynamic = llvm::any_of(aShape, ShapedType::isDynamic) ||
                 llvm::any_of(bShape, ShapedType::isDynamic);
  if (dynamic && (aVector || bVector))
    return node.fail("a 1-D operand beside dynamic dims is not supported");
  SmallVector<int64_t> batch;
  if (!broadcastShapes(ArrayRef<int64_t>(aShape).drop_back(2),
                       ArrayRef<int64_t>(bShape).drop_back(2), batch))
    return node.fail("batch dimensions do not broadcast");
  Value aValue = buildReshape(g, node.operand(0), aShape);
  Value bValue = buildReshape(g, node.operand(1), bShape);

  SmallVector<AffineMap> maps = matMulMaps(g.b, batch, aShape, bShape);
  unsigned loops = maps.front().getNumDims();
  SmallVector<utils::IteratorType> iterators(loops,
                                             utils::IteratorType::parallel);
  iterators[loops - 1] = utils::IteratorType::reduction;
  MatMulOperand lhs{aValue, aShape}, rhs{bValue, bShape};
  SmallVector<OpFoldResult> outSizes = matMulSizes(g, batch, lhs, rhs);
  if (dynamic)
    checkMatMulSizes(g, outSizes, lhs, rhs);
  Type element = g.elementType(a.type);
  Type acc = accumulatorType(g.b, element);
  Value init = zeroFilled(g, outSizes, acc);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{aValue, bValue}, ValueRange{init},
      maps, iterators, [&](OpBuilder &b, Location loc, ValueRange args) {
        Value x = args[0], y = args[1];
        if (x.getType() != acc) {
          x = arith::ExtFOp::create(b, loc, acc, x);
          y = arith::ExtFOp::create(b, loc, acc, y);
        }
        Value product = arith::MulFOp::create(b, loc, x, y);
        Value sum = arith::AddFOp::create(b, loc, args[2], product);
        linalg::YieldOp::create(b, loc, sum);
      });
  Value result = truncateTo(g, generic.getResult(0), element);
  SmallVector<int64_t> finalShape = batch;
  if (!aVector)
    finalShape.push_back(m);
  if (!bVector)
    finalShape.push_back(n);
  node.setResult(0, buildReshape(g, result, finalShape), a.type);
  return success();
}

LogicalResult emitSoftmax(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  GraphValue &x = node.input(0);
  if (!isFloatType(x.type))
    return node.fail("needs a floating-point input");
  int64_t rank = int64_t(x.shape.size());
  int64_t axis = getIntAttr(node.node, "axis", g.opset >= 13 ? -1 : 1);
  if (rank == 0 || !normalizeAxis(axis, rank))
    return node.fail("axis is out of range");
  // Before opset 13 Softmax normalized over all dims from `axis` on.
  if (g.opset < 13 && axis != rank - 1)
    return node.fail("opset < 13 Softmax over several trailing dims is not "
                     "supported");
  Value init =
      g.emptyTensor(g.mixedSizes(node.operand(0)), g.elementType(x.type));
  auto softmax = linalg::SoftmaxOp::create(g.b, g.loc, init.getType(),
                                           node.operand(0), init, axis);
  node.setResult(0, softmax.getResult()[0], x.type);
  return success();
}

/// The axes a Reduce* node reduces: `noop` when it is the identity (empty
/// axes with noop_with_empty_axes); failure (with `why`) for bad axes.
FailureOr<SmallVector<bool>> resolveReducedAxes(NodeEmitter &node, bool &noop,
                                                std::string &why) {
  llvm::StringRef op = node.node.op_type();
  int64_t rank = int64_t(node.input(0).shape.size());
  std::optional<SmallVector<int64_t>> axes;
  noop = false;
  if (node.g.opset >= 18 || (op == "ReduceSum" && node.g.opset >= 13)) {
    if (node.hasInput(1)) {
      const HostTensor *given = node.constantInput(1);
      if (!given) {
        why = "axes must be known at compile time";
        return failure();
      }
      axes = SmallVector<int64_t>(given->ints.begin(), given->ints.end());
    }
  } else {
    axes = getIntsAttr(node.node, "axes");
  }
  SmallVector<bool> reduced(rank, false);
  if (!axes || axes->empty()) {
    noop = axes && getIntAttr(node.node, "noop_with_empty_axes", 0);
    reduced.assign(rank, !noop);
    return reduced;
  }
  for (int64_t axis : *axes) {
    if (!normalizeAxis(axis, rank)) {
      why = "axis is out of range";
      return failure();
    }
    reduced[axis] = true;
  }
  return reduced;
}

/// The value a reduction starts from: the identity of its combiner.
TypedAttr reductionStart(OpBuilder &b, llvm::StringRef op, Type acc,
                         bool integer, bool isUnsigned) {
  bool isMax = op == "ReduceMax", isMin = op == "ReduceMin";
  if (integer) {
    unsigned width = acc.getIntOrFloatBitWidth();
    llvm::APInt value =
        isMax   ? (isUnsigned ? llvm::APInt::getMinValue(width)
                              : llvm::APInt::getSignedMinValue(width))
        : isMin ? (isUnsigned ? llvm::APInt::getMaxValue(width)
                              : llvm::APInt::getSignedMaxValue(width))
                : llvm::APInt(width, 0);
    return b.getIntegerAttr(acc, value);
  }
  return isMax   ? b.getFloatAttr(acc, -std::numeric_limits<double>::infinity())
         : isMin ? b.getFloatAttr(acc, std::numeric_limits<double>::infinity())
                 : b.getFloatAttr(acc, 0.0);
}

/// One step of reduction `op`: element `in` combined into `accumulated`.
Value combineScalar(OpBuilder &b, Location loc, llvm::StringRef op, Type acc,
                    bool integer, bool isUnsigned, Value in,
                    Value accumulated) {
  bool isMax = op == "ReduceMax", isMin = op == "ReduceMin";
  if (integer) {
    if (op == "ReduceSumSquare")
      in = arith::MulIOp::create(b, loc, in, in);
    if (isMax)
      return isUnsigned
                 ? Value(arith::MaxUIOp::create(b, loc, in, accumulated))
                 : Value(arith::MaxSIOp::create(b, loc, in, accumulated));
    if (isMin)
      return isUnsigned
                 ? Value(arith::MinUIOp::create(b, loc, in, accumulated))
                 : Value(arith::MinSIOp::create(b, loc, in, accumulated));
    return arith::AddIOp::create(b, loc, in, accumulated);
  }
  if (in.getType() != acc)
    in = arith::ExtFOp::create(b, loc, acc, in);
  if (op == "ReduceSumSquare")
    in = arith::MulFOp::create(b, loc, in, in);
  if (isMax)
    return arith::MaximumFOp::create(b, loc, in, accumulated);
  if (isMin)
    return arith::MinimumFOp::create(b, loc, in, accumulated);
  return arith::AddFOp::create(b, loc, in, accumulated);
}

/// ReduceMean's division of `sum` (shape `kept`) by the reduced element
/// count, read at run time when a reduced dim is dynamic.
Value divideByCount(GraphBuilder &g, Value sum, OpFoldResult count,
                    ArrayRef<int64_t> kept) {
  Type acc = cast<RankedTensorType>(sum.getType()).getElementType();
  Value n;
  if (std::optional<int64_t> known = getConstantIntValue(count)) {
    n = arith::ConstantOp::create(g.b, g.loc,
                                  g.b.getFloatAttr(acc, double(*known)));
  } else {
    Value wide = arith::IndexCastUIOp::create(g.b, g.loc, g.b.getI64Type(),
                                              g.indexValue(count));
    n = arith::UIToFPOp::create(g.b, g.loc, acc, wide);
  }
  return buildBroadcastGeneric(
      g, {sum}, kept, acc,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return arith::DivFOp::create(b, loc, args[0], n);
      });
}

LogicalResult emitReduce(NodeEmitter &node, llvm::StringRef op) {
  GraphBuilder &g = node.g;
  GraphValue &x = node.input(0);
  bool integer = !isFloatType(x.type);
  if (integer && (x.type == kBool || op == "ReduceMean"))
    return node.fail(op.str() + " of " + dataTypeName(x.type) +
                     " is not supported");
  int64_t rank = int64_t(x.shape.size());
  bool keepDims = getIntAttr(node.node, "keepdims", 1) != 0;
  bool noop;
  std::string why;
  FailureOr<SmallVector<bool>> resolved = resolveReducedAxes(node, noop, why);
  if (failed(resolved))
    return node.fail(why);
  if (noop) {
    g.define(node.node.output(0), x);
    return success();
  }
  SmallVector<bool> reduced = *resolved;
  SmallVector<int64_t> dims, kept;
  SmallVector<OpFoldResult> sizes = g.mixedSizes(node.operand(0)), keptSizes,
                            keptDimSizes, reducedSizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      dims.push_back(d);
      reducedSizes.push_back(sizes[d]);
    } else {
      kept.push_back(x.shape[d]);
      keptSizes.push_back(sizes[d]);
    }
    keptDimSizes.push_back(reduced[d] ? OpFoldResult(g.b.getIndexAttr(1))
                                      : sizes[d]);
  }
  // ReduceMean's divisor: the reduced element count, read at run time when
  // a reduced dim is dynamic.
  OpFoldResult count = g.b.getIndexAttr(1);
  for (OpFoldResult size : reducedSizes)
    count = *combineSizes(g, "Mul", count, size);
  Type element = g.elementType(x.type);
  // Integers reduce in their own type (wrapping, as onnxruntime does).
  Type acc = integer ? element : accumulatorType(g.b, element);
  bool isUnsigned = x.type == kUInt8 || x.type == kUInt32 || x.type == kUInt64;
  Value init = g.emptyTensor(keptSizes, acc);
  Value startValue = arith::ConstantOp::create(
      g.b, g.loc, reductionStart(g.b, op, acc, integer, isUnsigned));
  init = linalg::FillOp::create(g.b, g.loc, startValue, init).getResult(0);
  auto reduce = linalg::ReduceOp::create(
      g.b, g.loc, ValueRange{node.operand(0)}, ValueRange{init}, dims,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        linalg::YieldOp::create(b, loc,
                                combineScalar(b, loc, op, acc, integer,
                                              isUnsigned, args[0], args[1]));
      });
  Value result = reduce.getResult(0);
  if (op == "ReduceMean")
    result = divideByCount(g, result, count, kept);
  result = truncateTo(g, result, element);
  if (keepDims)
    result = buildReshape(g, result, keptDimSizes);
  node.setResult(0, result, x.type);
  return success();
}

/// Gemm: alpha * op(A) op(B) + beta * C, through MatMul's emitter on
/// transposed/reshaped operands built here.
LogicalResult emitGemm(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (!node.hasInput(0) || !node.hasInput(1))
    return node.fail("needs A and B");
  GraphValue &a = node.input(0), &bIn = node.input(1);
  if (a.shape.size() != 2 || bIn.shape.size() != 2 || !isFloatType(a.type) ||
      a.type != bIn.type)
    return node.fail("needs 2-D floating-point A and B of one type");
  bool transA = getIntAttr(node.node, "transA", 0) != 0;
  bool transB = getIntAttr(node.node, "transB", 0) != 0;
  float alpha = getFloatAttr(node.node, "alpha", 1.0f);
  float beta = getFloatAttr(node.node, "beta", 1.0f);
  int64_t m = transA ? a.shape[1] : a.shape[0];
  int64_t k = transA ? a.shape[0] : a.shape[1];
  int64_t kb = transB ? bIn.shape[1] : bIn.shape[0];
  int64_t n = transB ? bIn.shape[0] : bIn.shape[1];
  if (k != kb && !ShapedType::isDynamic(k) && !ShapedType::isDynamic(kb))
    return node.fail("inner dimensions differ");
  SmallVector<OpFoldResult> aSizes = g.mixedSizes(node.operand(0)),
                            bSizes = g.mixedSizes(node.operand(1));
  g.checkSize(bSizes[transB ? 1 : 0], aSizes[transA ? 0 : 1],
              "inner dimensions differ");
  Type element = g.elementType(a.type);
  Type acc = accumulatorType(g.b, element);
  auto map = [&](bool transposed, unsigned row, unsigned col) {
    return AffineMap::get(3, 0,
                          {g.b.getAffineDimExpr(transposed ? col : row),
                           g.b.getAffineDimExpr(transposed ? row : col)},
                          g.b.getContext());
  };
  SmallVector<AffineMap> maps = {map(transA, 0, 2), map(transB, 2, 1),
                                 g.b.getMultiDimIdentityMap(2)};
  maps[2] =
      AffineMap::get(3, 0, {g.b.getAffineDimExpr(0), g.b.getAffineDimExpr(1)},
                     g.b.getContext());
  Value init =
      zeroFilled(g, {aSizes[transA ? 1 : 0], bSizes[transB ? 0 : 1]}, acc);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{node.operand(0), node.operand(1)},
      ValueRange{init}, maps,
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value x = args[0], y = args[1];
        if (x.getType() != acc) {
          x = arith::ExtFOp::create(b, loc, acc, x);
          y = arith::ExtFOp::create(b, loc, acc, y);
        }
        Value product = arith::MulFOp::create(b, loc, x, y);
        linalg::YieldOp::create(
            b, loc, Value(arith::AddFOp::create(b, loc, args[2], product)));
      });
  SmallVector<Value> inputs = {generic.getResult(0)};
  SmallVector<int64_t> shape = {m, n};
  bool hasC = node.hasInput(2);
  if (hasC) {
    SmallVector<int64_t> joined;
    if (!broadcastShapes(shape, node.input(2).shape, joined) || joined != shape)
      return node.fail("C does not broadcast to the result");
    inputs.push_back(node.operand(2));
  }
  Value result = buildBroadcastGeneric(
      g, inputs, shape, element,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value r = arith::MulFOp::create(
            b, loc, args[0],
            arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, alpha)));
        if (hasC) {
          Value c = args[1];
          if (c.getType() != acc)
            c = arith::ExtFOp::create(b, loc, acc, c);
          c = arith::MulFOp::create(
              b, loc, c,
              arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, beta)));
          r = arith::AddFOp::create(b, loc, r, c);
        }
        return r.getType() == element
                   ? r
                   : Value(arith::TruncFOp::create(b, loc, element, r));
      });
  node.setResult(0, result, a.type);
  return success();
}
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitComputeNode(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  if (op == "MatMul")
    return emitMatMul(node);
  if (op == "Gemm")
    return emitGemm(node);
  if (op == "Softmax" ||
      llvm::is_contained({"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                          "ReduceSumSquare"},
                         op)) {
    if (!node.hasInput(0))
      return node.fail("needs an input");
    return op == "Softmax" ? emitSoftmax(node) : emitReduce(node, op);
  }
  return std::nullopt;
}
