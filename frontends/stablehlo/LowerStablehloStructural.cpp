//===- LowerStablehloStructural.cpp - shape and contraction ops to linalg -===//
//
// The ops that move, broadcast or contract whole tensors: constant, iota,
// broadcast_in_dim, dot_general, reduce, reshape and transpose.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

namespace {

Type elementOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type) {
  return tensor::EmptyOp::create(b, loc, type.getShape(),
                                 type.getElementType());
}

FailureOr<Value> lowerConstant(OpBuilder &b, ConstantOp op) {
  return arith::ConstantOp::create(b, op.getLoc(),
                                   cast<TypedAttr>(op.getValue()))
      .getResult();
}

/// The groups of an expand_shape from `from` to `to` when the broadcast
/// only inserts unit dimensions (`dims` in order, sizes kept): a view, where
/// a copy would rewrite a whole KV cache to add its layer axis.
std::optional<SmallVector<ReassociationIndices>>
unitInsertion(RankedTensorType from, RankedTensorType to,
              ArrayRef<int64_t> dims) {
  if (from.getRank() == 0 || !llvm::is_sorted(dims) ||
      llvm::adjacent_find(dims) != dims.end())
    return std::nullopt;
  SmallVector<ReassociationIndices> groups(from.getRank());
  size_t next = 0; // the operand dimension result dims join
  for (int64_t d = 0; d < to.getRank(); ++d) {
    if (next < dims.size() && dims[next] == d) {
      if (to.getDimSize(d) != from.getDimSize(next))
        return std::nullopt;
      groups[next++].push_back(d);
      continue;
    }
    if (to.getDimSize(d) != 1)
      return std::nullopt;
    // Leading and inner unit dims join the next mapped one, trailing ones
    // the last: every group stays contiguous.
    groups[std::min(next, dims.size() - 1)].push_back(d);
  }
  return groups;
}

FailureOr<Value> lowerBroadcast(OpBuilder &b, BroadcastInDimOp op) {
  auto from = cast<RankedTensorType>(op.getOperand().getType());
  auto to = cast<RankedTensorType>(op.getType());
  if (from == to && llvm::equal(op.getBroadcastDimensions(),
                                llvm::seq<int64_t>(0, to.getRank())))
    return op.getOperand();
  if (auto groups = unitInsertion(from, to, op.getBroadcastDimensions());
      groups && from.getRank() < to.getRank())
    return tensor::ExpandShapeOp::create(b, op.getLoc(), to, op.getOperand(),
                                         *groups)
        .getResult();
  MLIRContext *context = b.getContext();
  SmallVector<AffineExpr> exprs;
  for (auto [i, d] : llvm::enumerate(op.getBroadcastDimensions()))
    exprs.push_back(from.getDimSize(i) == 1 && to.getDimSize(d) != 1
                        ? getAffineConstantExpr(0, context)
                        : getAffineDimExpr(d, context));
  int64_t rank = to.getRank();
  SmallVector<AffineMap> maps = {
      AffineMap::get(rank, 0, exprs, context),
      AffineMap::getMultiDimIdentityMap(rank, context)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Location loc = op.getLoc();
  return linalg::GenericOp::create(
             b, loc, to, ValueRange{op.getOperand()}, emptyLike(b, loc, to),
             maps, iterators,
             [&](OpBuilder &nested, Location, ValueRange args) {
               linalg::YieldOp::create(nested, loc, args[0]);
             })
      .getResult(0);
}

FailureOr<Value> lowerIota(OpBuilder &b, IotaOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  int64_t rank = type.getRank();
  Location loc = op.getLoc();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(rank, b.getContext())};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{}, emptyLike(b, loc, type), maps,
             iterators,
             [&](OpBuilder &nested, Location, ValueRange) {
               Value i =
                   linalg::IndexOp::create(nested, loc, op.getIotaDimension());
               Type element = type.getElementType();
               Value v = arith::IndexCastOp::create(nested, loc,
                                                    nested.getI64Type(), i);
               v = convertScalar(nested, loc, v, element);
               linalg::YieldOp::create(nested, loc, v);
             })
      .getResult(0);
}

/// One generic over loops (result dims..., contracting dims...).
FailureOr<Value> lowerDotGeneral(OpBuilder &b, DotGeneralOp op) {
  auto lhsType = cast<RankedTensorType>(op.getLhs().getType());
  auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  DotDimensionNumbersAttr dims = op.getDotDimensionNumbers();
  ArrayRef<int64_t> lhsBatch = dims.getLhsBatchingDimensions(),
                    rhsBatch = dims.getRhsBatchingDimensions(),
                    lhsContract = dims.getLhsContractingDimensions(),
                    rhsContract = dims.getRhsContractingDimensions();
  MLIRContext *context = b.getContext();
  int64_t results = resultType.getRank();
  int64_t loops = results + int64_t(lhsContract.size());
  int64_t batch = lhsBatch.size();
  int64_t lhsFree = lhsType.getRank() - batch - int64_t(lhsContract.size());
  auto operandMap = [&](RankedTensorType type, ArrayRef<int64_t> batching,
                        ArrayRef<int64_t> contracting, int64_t freeBase) {
    SmallVector<AffineExpr> exprs;
    int64_t free = 0;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (auto *it = llvm::find(batching, d); it != batching.end())
        exprs.push_back(getAffineDimExpr(it - batching.begin(), context));
      else if (auto *jt = llvm::find(contracting, d); jt != contracting.end())
        exprs.push_back(
            getAffineDimExpr(results + (jt - contracting.begin()), context));
      else
        exprs.push_back(getAffineDimExpr(freeBase + free++, context));
    }
    return AffineMap::get(loops, 0, exprs, context);
  };
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < results; ++d)
    outExprs.push_back(getAffineDimExpr(d, context));
  SmallVector<AffineMap> maps = {
      operandMap(lhsType, lhsBatch, lhsContract, batch),
      operandMap(rhsType, rhsBatch, rhsContract, batch + lhsFree),
      AffineMap::get(loops, 0, outExprs, context)};
  SmallVector<utils::IteratorType> iterators(results,
                                             utils::IteratorType::parallel);
  iterators.append(lhsContract.size(), utils::IteratorType::reduction);
  // Narrow float results accumulate in f32 and round once.
  Type element = resultType.getElementType();
  Type accumulator = element;
  if (auto floatType = dyn_cast<FloatType>(element);
      floatType && floatType.getWidth() < 32)
    accumulator = b.getF32Type();
  auto accType = RankedTensorType::get(resultType.getShape(), accumulator);
  Location loc = op.getLoc();
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accumulator));
  Value init = linalg::FillOp::create(b, loc, zero, emptyLike(b, loc, accType))
                   .getResult(0);
  bool isFloat = isa<FloatType>(accumulator);
  Value sum =
      linalg::GenericOp::create(
          b, loc, accType, ValueRange{op.getLhs(), op.getRhs()}, init, maps,
          iterators,
          [&](OpBuilder &nested, Location, ValueRange args) {
            Value x = convertScalar(nested, loc, args[0], accumulator);
            Value y = convertScalar(nested, loc, args[1], accumulator);
            Value product =
                isFloat ? arith::MulFOp::create(nested, loc, x, y).getResult()
                        : arith::MulIOp::create(nested, loc, x, y).getResult();
            Value next =
                isFloat ? arith::AddFOp::create(nested, loc, args[2], product)
                              .getResult()
                        : arith::AddIOp::create(nested, loc, args[2], product)
                              .getResult();
            linalg::YieldOp::create(nested, loc, next);
          })
          .getResult(0);
  if (accumulator == element)
    return sum;
  SmallVector<AffineMap> identity(
      2, AffineMap::getMultiDimIdentityMap(results, context));
  SmallVector<utils::IteratorType> parallel(results,
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, resultType, ValueRange{sum}, emptyLike(b, loc, resultType),
             identity, parallel,
             [&](OpBuilder &nested, Location, ValueRange args) {
               linalg::YieldOp::create(
                   nested, loc, convertScalar(nested, loc, args[0], element));
             })
      .getResult(0);
}

/// linalg.reduce of every input at once (argmax is a reduce of values and
/// indices), the reducer translated to scalars.
FailureOr<SmallVector<Value>> lowerReduce(OpBuilder &b, ReduceOp op) {
  Location loc = op.getLoc();
  size_t n = op.getInputs().size();
  SmallVector<Value> inits;
  for (auto [init, result] : llvm::zip(op.getInitValues(), op.getResults())) {
    Value scalar = tensor::ExtractOp::create(b, loc, init, ValueRange{});
    inits.push_back(
        linalg::FillOp::create(
            b, loc, scalar,
            emptyLike(b, loc, cast<RankedTensorType>(result.getType())))
            .getResult(0));
  }
  Block &body = op.getBody().front();
  LogicalResult bodyResult = success();
  auto reduce = linalg::ReduceOp::create(
      b, loc, op.getInputs(), inits, op.getDimensions(),
      [&](OpBuilder &nested, Location, ValueRange args) {
        // linalg's (elements..., accumulators...); the reducer's
        // (accumulators..., elements...), rank-0 tensors there, scalars here.
        IRMapping scalars;
        for (size_t i = 0; i < n; ++i) {
          scalars.map(body.getArgument(i), args[n + i]);
          scalars.map(body.getArgument(n + i), args[i]);
        }
        for (Operation &inner : body.without_terminator()) {
          SmallVector<Value> operands;
          for (Value v : inner.getOperands())
            operands.push_back(scalars.lookupOrNull(v));
          Value v;
          if (inner.getNumResults() == 1 &&
              llvm::all_of(operands, [](Value x) { return bool(x); }))
            v = emitElementwiseScalar(nested, &inner, operands,
                                      elementOf(inner.getResult(0)));
          if (!v) {
            if (succeeded(bodyResult))
              bodyResult = inner.emitOpError("is not supported in a reducer");
            v = args[n];
          }
          for (Value result : inner.getResults())
            scalars.map(result, v);
        }
        SmallVector<Value> yielded;
        for (auto [i, v] :
             llvm::enumerate(body.getTerminator()->getOperands())) {
          Value scalar = scalars.lookupOrNull(v);
          yielded.push_back(scalar && scalar.getType() == args[n + i].getType()
                                ? scalar
                                : args[n + i]);
        }
        linalg::YieldOp::create(nested, loc, yielded);
      });
  // The driver rolls back what was built.
  if (failed(bodyResult))
    return failure();
  return SmallVector<Value>(reduce->getResults());
}

/// A collapse or expand where dims merge or split in order (a view of the
/// operand's buffer: a layer's weights sliced from a scanned stack stay in
/// place), else a tensor.reshape.
FailureOr<Value> lowerReshape(OpBuilder &b, ReshapeOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  auto source = cast<RankedTensorType>(op.getOperand().getType());
  Location loc = op.getLoc();
  if (type == source)
    return op.getOperand();
  if (source.getRank() > 0 && type.getRank() > 0 &&
      source.getRank() != type.getRank())
    if (std::optional<SmallVector<ReassociationIndices>> groups =
            getReassociationIndicesForReshape(source, type)) {
      if (source.getRank() > type.getRank())
        return tensor::CollapseShapeOp::create(b, loc, type, op.getOperand(),
                                               *groups)
            .getResult();
      return tensor::ExpandShapeOp::create(b, loc, type, op.getOperand(),
                                           *groups)
          .getResult();
    }
  auto shapeType = RankedTensorType::get({type.getRank()}, b.getI64Type());
  Value shape = arith::ConstantOp::create(
      b, loc, DenseIntElementsAttr::get(shapeType, type.getShape()));
  return tensor::ReshapeOp::create(b, loc, type, op.getOperand(), shape)
      .getResult();
}

FailureOr<Value> lowerTranspose(OpBuilder &b, TransposeOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  Location loc = op.getLoc();
  return linalg::TransposeOp::create(b, loc, op.getOperand(),
                                     emptyLike(b, loc, type),
                                     op.getPermutation())
      ->getResult(0);
}

/// One pattern for reduce: its results are every input's reduction.
struct ReduceToLinalg : OpRewritePattern<ReduceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ReduceOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<SmallVector<Value>> results = lowerReduce(rewriter, op);
    if (failed(results))
      return failure();
    rewriter.replaceOp(op, *results);
    return success();
  }
};

} // namespace

void shlo::populateStablehloStructuralPatterns(RewritePatternSet &patterns) {
  patterns.add<ReplaceWithLowered<ConstantOp, lowerConstant>,
               ReplaceWithLowered<IotaOp, lowerIota>,
               ReplaceWithLowered<BroadcastInDimOp, lowerBroadcast>,
               ReplaceWithLowered<DotGeneralOp, lowerDotGeneral>,
               ReplaceWithLowered<ReshapeOp, lowerReshape>,
               ReplaceWithLowered<TransposeOp, lowerTranspose>, ReduceToLinalg>(
      patterns.getContext());
}
