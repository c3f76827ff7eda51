//===- EmitTransformerOps.cpp - RMSNormalization, RotaryEmbedding --------===//
//
// The opset-23 building blocks of Llama-style decoders, each as linalg
// generics computing in f32 (ONNX's stash_type default) and rounding to the
// input type at the end.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
Value toF32(OpBuilder &b, Location loc, Value v) {
  return v.getType().isF32()
             ? v
             : Value(arith::ExtFOp::create(b, loc, b.getF32Type(), v));
}
Value fromF32(OpBuilder &b, Location loc, Value v, Type element) {
  return element.isF32() ? v
                         : Value(arith::TruncFOp::create(b, loc, element, v));
}

/// The sizes of `x` with dims axis.. reduced to 1 (the leading ones may be
/// dynamic).
SmallVector<OpFoldResult> getKeptSizes(GraphBuilder &g, Value x, int64_t axis) {
  SmallVector<OpFoldResult> sizes = g.mixedSizes(x);
  for (size_t d = size_t(axis); d < sizes.size(); ++d)
    sizes[d] = g.b.getIndexAttr(1);
  return sizes;
}
} // namespace

Value mlir::hgc::onnx::buildRmsNorm(GraphBuilder &g, Value x, Value scale,
                                    int64_t axis, double epsilon) {
  auto type = cast<RankedTensorType>(x.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t rank = type.getRank();
  int64_t count = 1;
  for (int64_t d : shape.drop_front(axis))
    count *= d;

  // Sum of squares per leading index, kept as [lead..., 1, ...].
  SmallVector<AffineExpr> keptExprs;
  for (int64_t d = 0; d < rank; ++d) {
    keptExprs.push_back(d >= axis ? g.b.getAffineConstantExpr(0)
                                  : g.b.getAffineDimExpr(unsigned(d)));
  }
  Value init = g.emptyTensor(getKeptSizes(g, x, axis), g.b.getF32Type());
  Value zero = arith::ConstantOp::create(g.b, g.loc, g.b.getF32FloatAttr(0));
  init = linalg::FillOp::create(g.b, g.loc, zero, init).getResult(0);
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d)
    iterators.push_back(d >= axis ? utils::IteratorType::reduction
                                  : utils::IteratorType::parallel);
  SmallVector<AffineMap> maps = {
      g.b.getMultiDimIdentityMap(unsigned(rank)),
      AffineMap::get(unsigned(rank), 0, keptExprs, g.b.getContext())};
  auto sum = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{x}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &b, Location loc, ValueRange args) {
        Value v = toF32(b, loc, args[0]);
        Value squared = arith::MulFOp::create(b, loc, v, v);
        linalg::YieldOp::create(
            b, loc, Value(arith::AddFOp::create(b, loc, args[1], squared)));
      });
  Type element = type.getElementType();
  return buildBroadcastGeneric(
      g, {x, sum.getResult(0), scale}, shape, element,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value n =
            arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(count)));
        Value eps = arith::ConstantOp::create(
            b, loc, b.getF32FloatAttr(float(epsilon)));
        Value meanSquare = arith::DivFOp::create(b, loc, args[1], n);
        Value inverse = math::RsqrtOp::create(
            b, loc, arith::AddFOp::create(b, loc, meanSquare, eps));
        Value normalizedValue =
            arith::MulFOp::create(b, loc, toF32(b, loc, args[0]), inverse);
        Value scaled = arith::MulFOp::create(b, loc, normalizedValue,
                                             toF32(b, loc, args[2]));
        return fromF32(b, loc, scaled, element);
      });
}

namespace {
/// Per leading index of `x` (static dims axis..), the f32 sum over dims axis..
/// of `term(x element, kept values)`, kept as [lead..., 1, ...]; `kept` are
/// earlier results of this shape read at the same leading index.
Value reduceTrailing(
    GraphBuilder &g, Value x, int64_t axis, ValueRange kept,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange)> term) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<AffineExpr> keptExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    keptExprs.push_back(d >= axis ? g.b.getAffineConstantExpr(0)
                                  : g.b.getAffineDimExpr(unsigned(d)));
    iterators.push_back(d >= axis ? utils::IteratorType::reduction
                                  : utils::IteratorType::parallel);
  }
  AffineMap keptMap =
      AffineMap::get(unsigned(rank), 0, keptExprs, g.b.getContext());
  Value init = g.emptyTensor(getKeptSizes(g, x, axis), g.b.getF32Type());
  Value zero = arith::ConstantOp::create(g.b, g.loc, g.b.getF32FloatAttr(0));
  init = linalg::FillOp::create(g.b, g.loc, zero, init).getResult(0);
  SmallVector<Value> inputs = {x};
  inputs.append(kept.begin(), kept.end());
  SmallVector<AffineMap> maps = {g.b.getMultiDimIdentityMap(unsigned(rank))};
  maps.append(kept.size() + 1, keptMap);
  return linalg::GenericOp::create(
             g.b, g.loc, init.getType(), inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &b, Location loc, ValueRange args) {
               Value v = term(b, loc, toF32(b, loc, args[0]),
                              args.drop_front().drop_back());
               linalg::YieldOp::create(
                   b, loc,
                   Value(arith::AddFOp::create(b, loc, args.back(), v)));
             })
      .getResult(0);
}

/// ONNX LayerNormalization (opset 17): (X - mean) / sqrt(var + epsilon) *
/// Scale (+ B) over dims axis.., statistics in f32 (two passes: mean, then
/// the variance about it), rounded to X's type.
LogicalResult emitLayerNormalization(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (!node.hasInput(0) || !node.hasInput(1))
    return node.fail("needs X and Scale");
  if (node.wantsOutput(1) || node.wantsOutput(2))
    return node.fail("the Mean and InvStdDev outputs are not supported");
  GraphValue &x = node.input(0);
  if (!isFloatType(x.type) || node.input(1).type != x.type ||
      (node.hasInput(2) && node.input(2).type != x.type))
    return node.fail("X, Scale and B must be floating point of one type");
  int64_t rank = int64_t(x.shape.size());
  int64_t axis = getIntAttr(node.node, "axis", -1);
  if (rank == 0 || !normalizeAxis(axis, rank))
    return node.fail("axis is out of range");
  SmallVector<int64_t> normalized(x.shape.begin() + axis, x.shape.end());
  if (llvm::any_of(normalized, ShapedType::isDynamic))
    return node.fail("the normalized dims must be static");
  for (size_t i = 1; i < 3; ++i) {
    SmallVector<int64_t> joined;
    if (node.hasInput(i) &&
        (!broadcastShapes(normalized, node.input(i).shape, joined) ||
         joined != normalized))
      return node.fail(std::string(i == 1 ? "Scale" : "B") +
                       " does not broadcast to the normalized dims");
  }
  int64_t count = 1;
  for (int64_t d : normalized)
    count *= d;
  double epsilon = getFloatAttr(node.node, "epsilon", 1e-5f);
  Value xValue = node.operand(0);
  auto scaleBy = [&](OpBuilder &b, Location loc, Value sum) -> Value {
    return arith::DivFOp::create(
        b, loc, sum,
        arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(count))));
  };
  Value sum = reduceTrailing(
      g, xValue, axis, {},
      [](OpBuilder &, Location, Value v, ValueRange) { return v; });
  Value squares = reduceTrailing(
      g, xValue, axis, {sum},
      [&](OpBuilder &b, Location loc, Value v, ValueRange kept) -> Value {
        Value centered =
            arith::SubFOp::create(b, loc, v, scaleBy(b, loc, kept[0]));
        return arith::MulFOp::create(b, loc, centered, centered);
      });
  SmallVector<Value> operands = {xValue, sum, squares, node.operand(1)};
  if (node.hasInput(2))
    operands.push_back(node.operand(2));
  Type element = g.elementType(x.type);
  Value result = buildBroadcastGeneric(
      g, operands, x.shape, element,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value mean = scaleBy(b, loc, args[1]);
        Value variance = scaleBy(b, loc, args[2]);
        Value eps = arith::ConstantOp::create(
            b, loc, b.getF32FloatAttr(float(epsilon)));
        Value inverse = math::RsqrtOp::create(
            b, loc, arith::AddFOp::create(b, loc, variance, eps));
        Value y = arith::MulFOp::create(
            b, loc, arith::SubFOp::create(b, loc, toF32(b, loc, args[0]), mean),
            inverse);
        y = arith::MulFOp::create(b, loc, y, toF32(b, loc, args[3]));
        if (args.size() > 4)
          y = arith::AddFOp::create(b, loc, y, toF32(b, loc, args[4]));
        return fromF32(b, loc, y, element);
      });
  node.setResult(0, result, x.type);
  return success();
}

/// Checks X and scale of an RMS normalization over dims axis.. of `x`;
/// normalizes `axis`.
LogicalResult checkRmsInputs(NodeEmitter &node, GraphValue &x,
                             GraphValue &scale, int64_t &axis) {
  if (!isFloatType(x.type) || scale.type != x.type)
    return node.fail("X and scale must be floating point of one type");
  int64_t rank = int64_t(x.shape.size());
  if (rank == 0 || !normalizeAxis(axis, rank))
    return node.fail("axis is out of range");
  SmallVector<int64_t> normalized(x.shape.begin() + axis, x.shape.end());
  if (llvm::any_of(normalized, ShapedType::isDynamic))
    return node.fail("the normalized dims must be static");
  SmallVector<int64_t> ignored;
  if (!broadcastShapes(normalized, scale.shape, ignored) ||
      ignored != normalized)
    return node.fail("scale does not broadcast to the normalized dims");
  return success();
}

/// Y = X / sqrt(mean(X^2 over dims axis..) + epsilon) * scale: ONNX
/// RMSNormalization and onnxruntime's SimplifiedLayerNormalization.
LogicalResult emitRmsNormalization(NodeEmitter &node) {
  if (!node.hasInput(0) || !node.hasInput(1))
    return node.fail("needs X and scale");
  if (node.wantsOutput(1))
    return node.fail("the inv_std_var output is not supported");
  GraphValue &x = node.input(0);
  int64_t axis = getIntAttr(node.node, "axis", -1);
  if (failed(checkRmsInputs(node, x, node.input(1), axis)))
    return failure();
  double epsilon = getFloatAttr(node.node, "epsilon", 1e-5f);
  node.setResult(
      0, buildRmsNorm(node.g, node.operand(0), node.operand(1), axis, epsilon),
      x.type);
  return success();
}

/// onnxruntime's SkipSimplifiedLayerNormalization: s = input + skip
/// (+ bias), output = RMSNorm(s) * gamma over the last dim, and s itself as
/// output 3 (input_skip_bias_sum) for the next residual.
LogicalResult emitSkipRmsNormalization(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  if (!node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2))
    return node.fail("needs input, skip and gamma");
  if (node.wantsOutput(1) || node.wantsOutput(2))
    return node.fail("the mean and inv_std_var outputs are not supported");
  GraphValue &x = node.input(0);
  if (node.input(1).type != x.type ||
      (node.hasInput(3) && node.input(3).type != x.type))
    return node.fail("input, skip and bias must have one element type");
  SmallVector<Value> terms = {node.operand(0), node.operand(1)};
  if (node.hasInput(3))
    terms.push_back(node.operand(3));
  SmallVector<int64_t> shape = x.shape;
  for (size_t i = 1; i < terms.size(); ++i) {
    SmallVector<int64_t> joined;
    if (!broadcastShapes(shape, node.input(i == 1 ? 1 : 3).shape, joined) ||
        joined != x.shape)
      return node.fail("skip and bias must broadcast to the input's shape");
  }
  int64_t axis = -1;
  if (failed(checkRmsInputs(node, x, node.input(2), axis)))
    return failure();
  Type element = g.elementType(x.type);
  Value sum = buildBroadcastGeneric(
      g, terms, shape, element,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value total = arith::AddFOp::create(b, loc, args[0], args[1]);
        return args.size() > 2 ? arith::AddFOp::create(b, loc, total, args[2])
                               : total;
      });
  double epsilon = getFloatAttr(node.node, "epsilon", 1e-5f);
  node.setResult(0, buildRmsNorm(g, sum, node.operand(2), axis, epsilon),
                 x.type);
  node.setResult(3, sum, x.type);
  return success();
}

/// Opset-23 RotaryEmbedding: X [batch, heads, seq, head] or [batch, seq,
/// heads * head]; cos/sin caches [positions, rotary/2] indexed by
/// position_ids [batch, seq], or [batch, seq, rotary/2] without them.
LogicalResult emitRotaryEmbedding(NodeEmitter &node) {
  for (size_t i = 0; i < 3; ++i)
    if (!node.hasInput(i))
      return node.fail("needs X, cos_cache and sin_cache");
  GraphValue &x = node.input(0);
  if (!isFloatType(x.type) || node.input(1).type != x.type ||
      node.input(2).type != x.type)
    return node.fail("X and the caches must be floating point of one type");
  int64_t rank = int64_t(x.shape.size());
  if (rank != 3 && rank != 4)
    return node.fail("X must be 3-D or 4-D");
  if (ShapedType::isDynamic(x.shape.back()) ||
      (rank == 4 && ShapedType::isDynamic(x.shape[1])))
    return node.fail("X's heads and head size must be static");
  int64_t heads =
      rank == 4 ? x.shape[1] : getIntAttr(node.node, "num_heads", 0);
  if (heads <= 0 || (rank == 3 && x.shape[2] % heads))
    return node.fail("3-D X needs num_heads dividing its hidden size");
  int64_t headSize = rank == 4 ? x.shape[3] : x.shape[2] / heads;
  int64_t rotary = getIntAttr(node.node, "rotary_embedding_dim", 0);
  if (rotary == 0)
    rotary = headSize;
  if (rotary > headSize || rotary % 2)
    return node.fail("rotary_embedding_dim must be even and <= head size");
  int64_t half = rotary / 2;
  bool hasPositions = node.hasInput(3);
  llvm::ArrayRef<int64_t> cosShape = node.input(1).shape;
  if (cosShape.empty() || cosShape.back() != half ||
      node.input(2).shape != node.input(1).shape)
    return node.fail("cos/sin caches must end in rotary_embedding_dim/2 = " +
                     std::to_string(half));
  if (hasPositions && cosShape.size() != 2)
    return node.fail("with position_ids the caches are [positions, rotary/2]");
  if (!hasPositions && cosShape.size() != 3)
    return node.fail("without position_ids the caches are [batch, seq, "
                     "rotary/2]");
  Value result =
      buildRotary(node.g, node.operand(0), heads, rotary,
                  getIntAttr(node.node, "interleaved", 0) != 0, node.operand(1),
                  node.operand(2), hasPositions ? node.operand(3) : Value());
  node.setResult(0, result, x.type);
  return success();
}
} // namespace

Value mlir::hgc::onnx::buildRotary(GraphBuilder &g, Value x, int64_t heads,
                                   int64_t rotaryDim, bool interleaved,
                                   Value cos, Value sin, Value positions) {
  auto type = cast<RankedTensorType>(x.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t rank = type.getRank();
  int64_t headSize = rank == 4 ? shape[3] : shape[2] / heads;
  int64_t rotary = rotaryDim, half = rotaryDim / 2;
  bool hasPositions = static_cast<bool>(positions);
  Value xValue = x, cosValue = cos, sinValue = sin;
  Type element = type.getElementType();
  Value lastPosition;
  if (hasPositions)
    lastPosition =
        arith::SubIOp::create(g.b, g.loc, g.indexValue(g.mixedSizes(cos)[0]),
                              arith::ConstantIndexOp::create(g.b, g.loc, 1));
  Value init = g.emptyTensor(g.mixedSizes(x), element);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{}, ValueRange{init},
      SmallVector<AffineMap>{g.b.getMultiDimIdentityMap(unsigned(rank))},
      iterators, [&](OpBuilder &b, Location loc, ValueRange) {
        auto index = [&](int64_t v) {
          return Value(arith::ConstantIndexOp::create(b, loc, v));
        };
        SmallVector<Value> at;
        for (int64_t d = 0; d < rank; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d));
        Value batch = at[0];
        Value seq = rank == 4 ? at[2] : at[1];
        Value d =
            rank == 4
                ? at[3]
                : Value(arith::RemUIOp::create(b, loc, at[2], index(headSize)));
        auto loadX = [&](Value dim) -> Value {
          SmallVector<Value> where = at;
          if (rank == 4)
            where[3] = dim;
          else
            where[2] = arith::AddIOp::create(
                b, loc, arith::SubIOp::create(b, loc, at[2], d), dim);
          return toF32(b, loc,
                       tensor::ExtractOp::create(b, loc, xValue, where));
        };
        Value xd = loadX(d);
        Value inRotary = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::ult, d, index(rotary));
        // Within the rotary part: the pair partner and the frequency index.
        Value dSafe = arith::MinUIOp::create(b, loc, d, index(rotary - 1));
        Value first, frequency, partner;
        if (interleaved) {
          Value odd = arith::RemUIOp::create(b, loc, dSafe, index(2));
          first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, odd,
                                        index(0));
          frequency = arith::DivUIOp::create(b, loc, dSafe, index(2));
          partner = arith::SelectOp::create(
              b, loc, first, arith::AddIOp::create(b, loc, dSafe, index(1)),
              arith::SubIOp::create(b, loc, dSafe, index(1)));
        } else {
          first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                        dSafe, index(half));
          frequency = arith::RemUIOp::create(b, loc, dSafe, index(half));
          partner = arith::SelectOp::create(
              b, loc, first, arith::AddIOp::create(b, loc, dSafe, index(half)),
              arith::SubIOp::create(b, loc, dSafe, index(half)));
        }
        SmallVector<Value> cacheAt;
        if (hasPositions) {
          Value position = tensor::ExtractOp::create(b, loc, positions,
                                                     ValueRange{batch, seq});
          position =
              arith::IndexCastOp::create(b, loc, b.getIndexType(), position);
          // Positions outside the cache are clamped: never read out of
          // bounds.
          position = arith::MaxSIOp::create(b, loc, position, index(0));
          position = arith::MinSIOp::create(b, loc, position, lastPosition);
          cacheAt = {position, frequency};
        } else {
          cacheAt = {batch, seq, frequency};
        }
        Value c =
            toF32(b, loc, tensor::ExtractOp::create(b, loc, cosValue, cacheAt));
        Value s =
            toF32(b, loc, tensor::ExtractOp::create(b, loc, sinValue, cacheAt));
        Value other = loadX(partner);
        // first: x*cos - partner*sin; second: x*cos + partner*sin.
        Value xc = arith::MulFOp::create(b, loc, xd, c);
        Value ps = arith::MulFOp::create(b, loc, other, s);
        Value rotated = arith::SelectOp::create(
            b, loc, first, arith::SubFOp::create(b, loc, xc, ps),
            arith::AddFOp::create(b, loc, xc, ps));
        Value result = arith::SelectOp::create(b, loc, inRotary, rotated, xd);
        linalg::YieldOp::create(b, loc, fromF32(b, loc, result, element));
      });
  return generic.getResult(0);
}

std::optional<LogicalResult>
mlir::hgc::onnx::emitTransformerNode(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  // onnxruntime registers SimplifiedLayerNormalization in the ONNX domain
  // and its Skip variant in com.microsoft; exporters write both ways.
  bool microsoft = node.node.domain() == "com.microsoft";
  if ((op == "RMSNormalization" && !microsoft) ||
      op == "SimplifiedLayerNormalization")
    return emitRmsNormalization(node);
  if (op == "SkipSimplifiedLayerNormalization")
    return emitSkipRmsNormalization(node);
  if (op == "LayerNormalization" && !microsoft)
    return emitLayerNormalization(node);
  if (op == "RotaryEmbedding" && !microsoft)
    return emitRotaryEmbedding(node);
  return std::nullopt;
}
