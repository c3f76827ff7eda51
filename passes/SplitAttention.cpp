//===- SplitAttention.cpp - decode attention into per-tier partials ------===//
//
// One hgc.decode_attention becomes, per tier of its placement, a KV view, an
// optional selection and a partial attention; the partials are combined by
// hgc.lse_merge. This is the hybrid algorithm's structure: every later pass
// (transfers, lowering) works on these split-level ops.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_SPLITATTENTIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// Output and log-sum-exp of one tier's partial attention.
struct Partial {
  Value output;
  Value lse;
};

/// Emits the view, selection and partial attention of one tier.
FailureOr<Partial> emitTierPartial(OpBuilder &builder, DecodeAttentionOp op,
                                   TierPolicyAttr policy) {
  Location loc = op.getLoc();
  KVCacheType cache = op.getCache().getType();
  RankedTensorType queryType = op.getQuery().getType();
  int64_t batch = queryType.getDimSize(0);
  int64_t qHeads = queryType.getDimSize(1);
  Selection selection = policy.getSelection();
  if (selection == Selection::QuantTopK)
    return op.emitOpError("cannot split tier '")
           << stringifyTier(policy.getTier())
           << "': 'quant_topk' needs quantized keys from the KV runtime";

  auto kvType = RankedTensorType::get(
      {batch, cache.getKvHeads(), ShapedType::kDynamic, cache.getHeadDim()},
      cache.getElementType());
  auto lengthsType = RankedTensorType::get({batch}, builder.getI32Type());
  auto view =
      KVViewOp::create(builder, loc, kvType, kvType, lengthsType, op.getCache(),
                       policy.getTier(), op.getPlacementAttr());

  // Candidates: the tier's tokens (exact), or its blocks scored from their
  // key summaries.
  Value indices;
  int64_t blockSize = 1;
  if (selection != Selection::Dense) {
    SmallVector<Value> inputs = {view.getKey()};
    Value candidates = view.getLengths();
    if (selection == Selection::BlockTopK) {
      blockSize = policy.getBlockSize();
      auto summaries = KVSummariesOp::create(
          builder, loc, kvType, kvType, lengthsType, op.getCache(),
          policy.getTier(), op.getPlacementAttr(), blockSize);
      inputs = {summaries.getKeyMin(), summaries.getKeyMax()};
      candidates = summaries.getLengths();
    }
    bool byCount = policy.getBudgetTokens() > 0;
    int64_t k = byCount ? policy.getBudgetTokens() : ShapedType::kDynamic;
    auto indicesType = RankedTensorType::get({batch, cache.getKvHeads(), k},
                                             builder.getI32Type());
    auto select = SelectOp::create(
        builder, loc, indicesType, selection, op.getQuery(), inputs, candidates,
        byCount ? builder.getI64IntegerAttr(k) : IntegerAttr(),
        byCount ? FloatAttr()
                : builder.getF64FloatAttr(
                      policy.getBudgetFraction().convertToDouble()),
        blockSize, op.getScaleAttr());
    indices = select.getIndices();
  }

  auto outputType = RankedTensorType::get({batch, qHeads, cache.getHeadDim()},
                                          builder.getF32Type());
  auto lseType = RankedTensorType::get({batch, qHeads}, builder.getF32Type());
  auto partial = PartialAttentionOp::create(
      builder, loc, outputType, lseType, op.getQuery(), view.getKey(),
      view.getValue(), indices, view.getLengths(), op.getScaleAttr(),
      op.getSoftcapAttr(), builder.getI64IntegerAttr(blockSize));
  return Partial{partial.getOutput(), partial.getLse()};
}

LogicalResult splitDecodeAttention(DecodeAttentionOp op) {
  PlacementAttr placement = op.getPlacementAttr();
  if (!placement.getHeads().empty())
    return op.emitOpError("cannot split per-head placement overrides yet");
  OpBuilder builder(op);
  SmallVector<Value> outputs, lses;
  for (TierPolicyAttr policy : placement.getTiers()) {
    FailureOr<Partial> partial = emitTierPartial(builder, op, policy);
    if (failed(partial))
      return failure();
    outputs.push_back(partial->output);
    lses.push_back(partial->lse);
  }
  Value result = outputs.front();
  if (outputs.size() > 1)
    result = LseMergeOp::create(builder, op.getLoc(), outputs.front().getType(),
                                lses.front().getType(), outputs, lses)
                 .getOutput();
  RankedTensorType queryType = op.getQuery().getType();
  if (queryType.getElementType() != builder.getF32Type())
    result = arith::TruncFOp::create(builder, op.getLoc(), queryType, result);
  op.replaceAllUsesWith(result);
  op.erase();
  return success();
}

struct SplitAttentionPass
    : hgc::impl::SplitAttentionPassBase<SplitAttentionPass> {
  void runOnOperation() override {
    SmallVector<DecodeAttentionOp> ops;
    getOperation()->walk([&](DecodeAttentionOp op) {
      if (op.getPlacementAttr())
        ops.push_back(op);
    });
    for (DecodeAttentionOp op : ops)
      if (failed(splitDecodeAttention(op)))
        return signalPassFailure();
  }
};
} // namespace
