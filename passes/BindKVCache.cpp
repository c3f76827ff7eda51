//===- BindKVCache.cpp - decode-step attention onto a KV cache -----------===//

#include "dialect/HgcOps.h"
#include "dialect/PresentKV.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_BINDKVCACHEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// True when `op`'s mask gives each key one value per sequence, the same for
/// every head (right-aligned `[batch or 1, 1, 1, keys]` or shorter), the
/// shape padding masks take; whether it is padding is checked at run time.
bool isPerKeyMask(AttentionOp op) {
  auto mask = cast<RankedTensorType>(op.getMask().getType());
  int64_t rank = mask.getRank();
  ArrayRef<int64_t> dims = mask.getShape();
  // The query axis may be dynamic with the query's length (1 when bound).
  bool dynamicQuery = op.getQuery().getType().isDynamicDim(2);
  for (int64_t axis = 1; axis <= 2 && rank - 1 - axis >= 0; ++axis)
    if (dims[rank - 1 - axis] != 1 &&
        !(axis == 1 && dynamicQuery && ShapedType::isDynamic(dims[rank - 2])))
      return false;
  if (rank < 4 || dims[0] == 1 || ShapedType::isDynamic(dims[0]))
    return true; // a dynamic mask batch is 1 or the batch: read at run time
  return dims[0] == op.getQuery().getType().getDimSize(0);
}

/// Why `op` is not a single decode step this pass can bind, or null.
const char *whyNotDecodeStep(AttentionOp op) {
  RankedTensorType q = op.getQuery().getType(), k = op.getKey().getType(),
                   v = op.getValue().getType();
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return "3-D attention";
  if (q.getDimSize(2) != 1 && !q.isDynamicDim(2))
    return "more than one query token";
  if (op.getQkMatmulOutput())
    return "a QK output";
  if (op->hasAttr(kDenseFallbackAttr))
    return "the dense path kept for runs that are not one-token steps";
  if (op.getMask() && (op.getNonpadKvSeqlen() || !isPerKeyMask(op)))
    return "a mask that is not per key, or one beside nonpad_kv_seqlen";
  if (ShapedType::isDynamic(k.getDimSize(1)) ||
      ShapedType::isDynamic(k.getDimSize(3)) ||
      k.getDimSize(3) != v.getDimSize(3))
    return "KV heads or head sizes that are dynamic or differ";
  Type elt = k.getElementType();
  if (!elt.isF32() && !elt.isF16() && !elt.isBF16())
    return "a KV element type the cache cannot hold";
  return nullptr;
}

/// `value` as `type` (the op's result types may be more or less static).
Value castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
}

/// A padding mask read at run time: per sequence, the number of keys it
/// lets through (`[batch]` i32) and whether it is exactly "the first n keys,
/// n >= 1" for every sequence (i1). An additive mask lets a key through
/// with 0 and excludes it with -inf or anything below half the type's
/// lowest value (torch's finfo.min convention: exp underflows to exactly
/// 0); a boolean mask with true / false. Anything else (a bias, holes, a
/// sequence with no key) is not padding and keeps the dense path.
std::pair<Value, Value> buildPaddingLengths(OpBuilder &b, Location loc,
                                            Value mask, Value query) {
  auto type = cast<RankedTensorType>(mask.getType());
  int64_t rank = type.getRank();
  Type element = type.getElementType();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value keys = tensor::DimOp::create(b, loc, mask, rank - 1);
  Value batches = tensor::DimOp::create(b, loc, query, 0);
  // Row of the mask per sequence: its own, or row 0 of a shared mask (a
  // dynamic mask batch picks at run time).
  bool perSequence = rank == 4 && type.getDimSize(0) != 1;
  Value sharedRows;
  if (perSequence && type.isDynamicDim(0))
    sharedRows =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                              tensor::DimOp::create(b, loc, mask, 0), one);
  Value falseValue = arith::ConstantIntOp::create(b, loc, 0, 1);
  Value trueValue = arith::ConstantIntOp::create(b, loc, 1, 1);
  Value valid, threshold;
  if (auto floatType = dyn_cast<FloatType>(element)) {
    valid = arith::ConstantOp::create(b, loc, b.getFloatAttr(floatType, 0.0));
    APFloat lowest = APFloat::getLargest(floatType.getFloatSemantics(), true);
    threshold = arith::ConstantOp::create(
        b, loc, b.getFloatAttr(floatType, lowest.convertToDouble() / 2));
  }
  int64_t batch = cast<RankedTensorType>(query.getType()).getDimSize(0);
  Value init = tensor::EmptyOp::create(
      b, loc, RankedTensorType::get({batch}, b.getI32Type()),
      ShapedType::isDynamic(batch) ? ValueRange{batches} : ValueRange{});
  auto overBatch = scf::ForOp::create(
      b, loc, zero, batches, one, ValueRange{init, falseValue},
      [&](OpBuilder &b, Location loc, Value seq, ValueRange state) {
        Value row = perSequence ? seq : zero;
        if (sharedRows)
          row = arith::SelectOp::create(b, loc, sharedRows, zero, seq);
        auto overKeys = scf::ForOp::create(
            b, loc, zero, keys, one, ValueRange{zero, falseValue, state[1]},
            [&](OpBuilder &b, Location loc, Value key, ValueRange acc) {
              // acc: keys let through, an excluded key seen, not padding.
              SmallVector<Value> at(rank, zero);
              at[rank - 1] = key;
              if (perSequence)
                at[0] = row;
              Value x = tensor::ExtractOp::create(b, loc, mask, at);
              Value through, excluded;
              if (valid) {
                through = arith::CmpFOp::create(
                    b, loc, arith::CmpFPredicate::OEQ, x, valid);
                excluded = arith::CmpFOp::create(
                    b, loc, arith::CmpFPredicate::OLE, x, threshold);
              } else {
                through = x;
                excluded = arith::XOrIOp::create(b, loc, x, trueValue);
              }
              Value neither = arith::XOrIOp::create(
                  b, loc, arith::OrIOp::create(b, loc, through, excluded),
                  trueValue);
              Value hole = arith::AndIOp::create(b, loc, through, acc[1]);
              Value bad = arith::OrIOp::create(
                  b, loc, acc[2], arith::OrIOp::create(b, loc, neither, hole));
              Value count = arith::SelectOp::create(
                  b, loc, through, arith::AddIOp::create(b, loc, acc[0], one),
                  acc[0]);
              Value seen = arith::OrIOp::create(b, loc, acc[1], excluded);
              scf::YieldOp::create(b, loc, ValueRange{count, seen, bad});
            });
        Value count = overKeys.getResult(0);
        Value empty = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                            count, zero);
        Value bad = arith::OrIOp::create(b, loc, overKeys.getResult(2), empty);
        Value length =
            arith::IndexCastOp::create(b, loc, b.getI32Type(), count);
        Value lengths =
            tensor::InsertOp::create(b, loc, length, state[0], ValueRange{seq});
        scf::YieldOp::create(b, loc, ValueRange{lengths, bad});
      });
  Value padding =
      arith::XOrIOp::create(b, loc, overBatch.getResult(1), trueValue);
  return {overBatch.getResult(0), padding};
}

/// Decode attention of `query` (`op`'s, one token) over `key`/`value` bound
/// as a cache, as `op`'s output type.
Value buildDecode(OpBuilder &b, Location loc, AttentionOp op, Value query,
                  Value key, Value value, Value lengths) {
  RankedTensorType k = op.getKey().getType();
  auto cacheType =
      KVCacheType::get(k.getDimSize(1), k.getDimSize(3), k.getElementType());
  Value cache = BindKVOp::create(b, loc, cacheType, key, value, lengths,
                                 /*keyMin=*/Value(), /*keyMax=*/Value(),
                                 /*keyCodes=*/Value(), /*keyScales=*/Value(),
                                 /*pqCodes=*/Value(), /*pqCodebooks=*/Value(),
                                 /*channelKeys=*/Value(), /*valueSums=*/Value(),
                                 /*block_table=*/Value(),
                                 /*summary_block=*/IntegerAttr(),
                                 /*value_block=*/IntegerAttr(),
                                 /*kv_layout=*/StringAttr());

  SmallVector<ReassociationIndices> dropQueryAxis = {{0}, {1}, {2, 3}};
  Type queryType = query.getType();
  Value rows = tensor::CollapseShapeOp::create(b, loc, query, dropQueryAxis);
  auto decode = DecodeAttentionOp::create(
      b, loc, rows.getType(), rows, cache, /*preselected=*/Value(),
      op.getScaleAttr(), op.getSoftcapAttr(), /*placement=*/PlacementAttr());
  Value output = tensor::ExpandShapeOp::create(
      b, loc, queryType, decode.getOutput(), dropQueryAxis);
  return castTo(b, loc, output, op.getOutput().getType());
}

/// Fills the two branches of `choice` (results, no yields yet): each yields
/// what its callback builds with `b`.
void buildBranches(OpBuilder &b, Location loc, scf::IfOp choice,
                   function_ref<SmallVector<Value>()> thenBranch,
                   function_ref<SmallVector<Value>()> elseBranch) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(choice.thenBlock());
  scf::YieldOp::create(b, loc, thenBranch());
  b.setInsertionPointToEnd(choice.elseBlock());
  scf::YieldOp::create(b, loc, elseBranch());
}

/// `op` (or a clone of it) kept dense under an `scf.if` branch.
SmallVector<Value> keepDense(OpBuilder &b, AttentionOp op) {
  Operation *dense = b.clone(*op);
  dense->setAttr(kDenseFallbackAttr, b.getUnitAttr());
  return dense->getResults();
}

/// The results of `op` as one decode step: its output, then present key and
/// value when it has them. `query` is the op's, with its length 1.
SmallVector<Value> buildStep(OpBuilder &b, Location loc, AttentionOp op,
                             Value query) {
  Value key = buildPresentKV(b, loc, op.getPastKey(), op.getKey());
  Value value = buildPresentKV(b, loc, op.getPastValue(), op.getValue());
  Value lengths;
  if (Value nonpad = op.getNonpadKvSeqlen()) {
    auto type = cast<RankedTensorType>(nonpad.getType());
    lengths = arith::TruncIOp::create(
        b, loc, RankedTensorType::get(type.getShape(), b.getI32Type()), nonpad);
  }
  SmallVector<Value> results;
  if (Value mask = op.getMask()) {
    // A padding mask becomes the cache's lengths; any other mask keeps the
    // dense attention, chosen at run time.
    Value maskLengths, padding;
    std::tie(maskLengths, padding) = buildPaddingLengths(b, loc, mask, query);
    auto choice = scf::IfOp::create(b, loc, op.getOutput().getType(), padding,
                                    /*withElseRegion=*/true);
    buildBranches(
        b, loc, choice,
        [&] {
          return SmallVector<Value>{
              buildDecode(b, loc, op, query, key, value, maskLengths)};
        },
        [&] { return SmallVector<Value>{keepDense(b, op)[0]}; });
    results.push_back(choice.getResult(0));
  } else {
    results.push_back(buildDecode(b, loc, op, query, key, value, lengths));
  }
  if (op.getPresentKey()) {
    results.push_back(castTo(b, loc, key, op.getPresentKey().getType()));
    results.push_back(castTo(b, loc, value, op.getPresentValue().getType()));
  }
  return results;
}

/// One decode-step hgc.attention (see whyNotDecodeStep) as decode attention
/// over its keys and values bound as a KV cache.
struct BindDecodeStep : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (const char *why = whyNotDecodeStep(op))
      return rewriter.notifyMatchFailure(op, why);
    rewriter.setInsertionPoint(op);
    Location loc = op.getLoc();
    RankedTensorType queryType = op.getQuery().getType();
    if (!queryType.isDynamicDim(2)) {
      rewriter.replaceOp(op, buildStep(rewriter, loc, op, op.getQuery()));
      return success();
    }
    // A query of run-time length is a decode step when it has one token;
    // other runs (a prompt) keep the dense attention.
    Value length = tensor::DimOp::create(rewriter, loc, op.getQuery(), 2);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value isStep = arith::CmpIOp::create(rewriter, loc,
                                         arith::CmpIPredicate::eq, length, one);
    auto choice = scf::IfOp::create(rewriter, loc, op->getResultTypes(), isStep,
                                    /*withElseRegion=*/true);
    buildBranches(
        rewriter, loc, choice,
        [&] {
          SmallVector<int64_t> stepShape(queryType.getShape());
          stepShape[2] = 1;
          Value query = tensor::CastOp::create(
              rewriter, loc, queryType.clone(stepShape), op.getQuery());
          return buildStep(rewriter, loc, op, query);
        },
        [&] { return keepDense(rewriter, op); });
    rewriter.replaceOp(op, choice.getResults());
    return success();
  }
};

struct BindKVCachePass : hgc::impl::BindKVCachePassBase<BindKVCachePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<BindDecodeStep>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
