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
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

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

/// KV heads [first, first + count) attended under one placement.
struct HeadGroup {
  int64_t first = 0, count = 0;
  PlacementAttr placement;
};

/// The head groups of `placement` over `kvHeads` heads, in head order: the
/// heads of each override (split into contiguous runs) under its nested
/// placement, the rest under the placement's own tiers. One group covering
/// every head means no override.
SmallVector<HeadGroup> getHeadGroups(PlacementAttr placement, int64_t kvHeads) {
  SmallVector<PlacementAttr> owner(kvHeads);
  PlacementAttr base = PlacementAttr::get(
      placement.getContext(), placement.getSink(), placement.getWindow(),
      placement.getTiers(), ArrayRef<HeadPlacementAttr>{});
  for (int64_t h = 0; h < kvHeads; ++h)
    owner[h] = base;
  for (HeadPlacementAttr override : placement.getHeads())
    for (int64_t h : override.getHeads())
      owner[h] = override.getPlacement();
  SmallVector<HeadGroup> groups;
  for (int64_t h = 0; h < kvHeads; ++h) {
    if (!groups.empty() && groups.back().placement == owner[h])
      ++groups.back().count;
    else
      groups.push_back({h, 1, owner[h]});
  }
  return groups;
}

/// One tier's chosen candidates: indices into its tokens (or blocks of
/// `blockSize`), and the share of its mass they hold for a selection that
/// estimates the rest.
struct TierSelection {
  Value indices, coverage;
  int64_t blockSize = 1;
};

/// The view of one tier of `cache` for the KV heads of `group` (of the
/// whole cache when `wholeCache`).
KVViewOp emitTierView(OpBuilder &builder, Location loc, Value cache,
                      const HeadGroup &group, IntegerAttr firstHead,
                      TierPolicyAttr policy, int64_t batch) {
  auto cacheType = cast<KVCacheType>(cache.getType());
  auto kvType = RankedTensorType::get(
      {batch, group.count, ShapedType::kDynamic, cacheType.getHeadDim()},
      cacheType.getElementType());
  auto lengthsType = RankedTensorType::get({batch}, builder.getI32Type());
  return KVViewOp::create(builder, loc, kvType, kvType, lengthsType, cache,
                          policy.getTier(), group.placement, firstHead);
}

/// Emits the selection of a selecting tier viewed by `view`: its candidates
/// (exact, from their int8 or product-quantized key codes, on the query's
/// largest channels) or blocks scored from their key summaries.
TierSelection emitTierSelection(OpBuilder &builder, Location loc, Value cache,
                                FloatAttr scale, const HeadGroup &group,
                                IntegerAttr firstHead, TierPolicyAttr policy,
                                Value query, KVViewOp view) {
  auto cacheType = cast<KVCacheType>(cache.getType());
  auto kvType = cast<RankedTensorType>(view.getKey().getType());
  auto lengthsType = cast<RankedTensorType>(view.getLengths().getType());
  int64_t batch = kvType.getDimSize(0);
  Selection selection = policy.getSelection();
  TierSelection chosen;
  SmallVector<Value> inputs = {view.getKey()};
  Value candidates = view.getLengths();
  if (selection == Selection::QuantTopK) {
    auto codesType =
        RankedTensorType::get(kvType.getShape(), builder.getIntegerType(8));
    auto scalesType = RankedTensorType::get(kvType.getShape().take_front(3),
                                            builder.getF32Type());
    auto codes = KVKeyCodesOp::create(
        builder, loc, codesType, scalesType, lengthsType, cache,
        policy.getTier(), group.placement, policy.getQuantBits(), firstHead);
    inputs = {codes.getCodes(), codes.getScales()};
    candidates = codes.getLengths();
  }
  if (selection == Selection::PqTopK) {
    int64_t subspaces = policy.getPqSubspaces();
    int64_t centroids = policy.getPqCentroids();
    Type codeType = builder.getIntegerType(centroids > 256 ? 16 : 8);
    auto codesType = RankedTensorType::get(
        {batch, group.count, ShapedType::kDynamic, subspaces}, codeType);
    auto booksType =
        RankedTensorType::get({batch, group.count, subspaces, centroids,
                               cacheType.getHeadDim() / subspaces},
                              builder.getF32Type());
    auto codes = KVPqCodesOp::create(
        builder, loc, codesType, booksType, lengthsType, cache,
        policy.getTier(), group.placement, subspaces, centroids, firstHead);
    inputs = {codes.getCodes(), codes.getCodebooks()};
    candidates = codes.getLengths();
  }
  if (selection == Selection::ChannelTopK) {
    auto keysType = RankedTensorType::get(
        {batch, group.count, cacheType.getHeadDim(), ShapedType::kDynamic},
        cacheType.getElementType());
    auto keys =
        KVChannelKeysOp::create(builder, loc, keysType, lengthsType, cache,
                                policy.getTier(), group.placement, firstHead);
    inputs = {keys.getKeys()};
    candidates = keys.getLengths();
  }
  if (selection == Selection::BlockTopK) {
    chosen.blockSize = policy.getBlockSize();
    auto summaries = KVSummariesOp::create(
        builder, loc, kvType, kvType, lengthsType, cache, policy.getTier(),
        group.placement, chosen.blockSize, firstHead);
    inputs = {summaries.getKeyMin(), summaries.getKeyMax()};
    candidates = summaries.getLengths();
  }
  bool byCount = policy.getBudgetTokens() > 0;
  int64_t k = byCount ? policy.getBudgetTokens() : ShapedType::kDynamic;
  auto indicesType =
      RankedTensorType::get({batch, group.count, k}, builder.getI32Type());
  // A channel selection weighs the tokens it leaves out by the mass they
  // hold, unless they are estimated: it reports the kept share.
  bool folds =
      selection == Selection::ChannelTopK && policy.getTail() == Tail::None;
  Type coverageType =
      folds ? RankedTensorType::get({batch, group.count}, builder.getF32Type())
            : Type();
  auto select = SelectOp::create(
      builder, loc, indicesType, coverageType, selection, query, inputs,
      candidates, byCount ? builder.getI64IntegerAttr(k) : IntegerAttr(),
      byCount ? FloatAttr()
              : builder.getF64FloatAttr(
                    policy.getBudgetFraction().convertToDouble()),
      chosen.blockSize, scale,
      policy.getMass() ? builder.getF64FloatAttr(*policy.getMass())
                       : FloatAttr(),
      selection == Selection::ChannelTopK
          ? builder.getI64IntegerAttr(policy.getChannels())
          : IntegerAttr());
  chosen.indices = select.getIndices();
  chosen.coverage = select.getCoverage();
  return chosen;
}

/// Emits the view, selection and partial attention of one tier for the KV
/// heads of `group` (`query` holds their query heads) into `partials`, with
/// the estimate of the tokens it leaves out when its tail is estimated.
void emitTierPartials(OpBuilder &builder, DecodeAttentionOp op,
                      const HeadGroup &group, bool wholeCache,
                      TierPolicyAttr policy, Value query, Value preselected,
                      SmallVectorImpl<Partial> &partials) {
  Location loc = op.getLoc();
  KVCacheType cache = op.getCache().getType();
  auto queryType = cast<RankedTensorType>(query.getType());
  int64_t batch = queryType.getDimSize(0);
  int64_t qHeads = queryType.getDimSize(1);
  IntegerAttr firstHead =
      wholeCache ? IntegerAttr() : builder.getI64IntegerAttr(group.first);
  KVViewOp view = emitTierView(builder, loc, op.getCache(), group, firstHead,
                               policy, batch);

  TierSelection chosen;
  if (preselected) {
    // Chosen ahead (another query's selection): attended as they are.
    chosen.indices = preselected;
    if (policy.getSelection() == Selection::BlockTopK)
      chosen.blockSize = policy.getBlockSize();
  } else if (!policy.isDense()) {
    chosen = emitTierSelection(builder, loc, op.getCache(), op.getScaleAttr(),
                               group, firstHead, policy, query, view);
  }
  Value indices = chosen.indices, coverage = chosen.coverage;
  int64_t blockSize = chosen.blockSize;

  auto outputType = RankedTensorType::get({batch, qHeads, cache.getHeadDim()},
                                          builder.getF32Type());
  auto lseType = RankedTensorType::get({batch, qHeads}, builder.getF32Type());
  auto partial = PartialAttentionOp::create(
      builder, loc, outputType, lseType, query, view.getKey(), view.getValue(),
      indices, view.getLengths(), op.getScaleAttr(), op.getSoftcapAttr(),
      builder.getI64IntegerAttr(blockSize));
  if (indices && policy.getTail() == Tail::Summary) {
    // The tokens left out, estimated from their blocks' moments (their
    // exact mass where the selection scored every token exactly), merged
    // with the attended ones (instead of a channel selection's mean fold).
    bool exactMass =
        !preselected && policy.getSelection() == Selection::ExactTopK;
    auto tail = TailEstimateOp::create(
        builder, loc, outputType, lseType, query, view.getKey(),
        view.getValue(), indices, view.getLengths(), op.getScaleAttr(),
        builder.getI64IntegerAttr(blockSize),
        builder.getI64IntegerAttr(kTailSummaryBlock),
        exactMass ? builder.getUnitAttr() : UnitAttr());
    partials.push_back({partial.getOutput(), partial.getLse()});
    partials.push_back({tail.getOutput(), tail.getLse()});
    return;
  }
  if (!coverage) {
    partials.push_back({partial.getOutput(), partial.getLse()});
    return;
  }
  auto meanType = RankedTensorType::get(
      {batch, group.count, cache.getHeadDim()}, builder.getF32Type());
  auto mean =
      KVValueMeanOp::create(builder, loc, meanType, op.getCache(),
                            policy.getTier(), group.placement, firstHead);
  auto fold =
      MeanFoldOp::create(builder, loc, outputType, lseType, partial.getOutput(),
                         partial.getLse(), coverage, mean.getMean());
  partials.push_back({fold.getFoldedOutput(), fold.getFoldedLse()});
}

/// The merged f32 output of one head group's tiers.
Value emitGroup(OpBuilder &builder, DecodeAttentionOp op,
                const HeadGroup &group, bool wholeCache, Value query) {
  SmallVector<Partial> partials;
  for (auto [index, policy] : llvm::enumerate(group.placement.getTiers())) {
    // The verifier allows preselected candidates for the second of two
    // tiers only.
    Value preselected = index == 1 ? op.getPreselected() : Value();
    emitTierPartials(builder, op, group, wholeCache, policy, query, preselected,
                     partials);
  }
  SmallVector<Value> outputs, lses;
  for (const Partial &partial : partials) {
    outputs.push_back(partial.output);
    lses.push_back(partial.lse);
  }
  if (outputs.size() == 1)
    return outputs.front();
  return LseMergeOp::create(builder, op.getLoc(), outputs.front().getType(),
                            lses.front().getType(), outputs, lses)
      .getOutput();
}

/// `source[:, first : first + count, :]` (rank 3).
Value sliceHeads(OpBuilder &builder, Location loc, Value source, int64_t first,
                 int64_t count) {
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> offsets = {builder.getIndexAttr(0),
                                       builder.getIndexAttr(first),
                                       builder.getIndexAttr(0)};
  OpFoldResult batch =
      type.isDynamicDim(0)
          ? OpFoldResult(
                tensor::DimOp::create(builder, loc, source, 0).getResult())
          : builder.getIndexAttr(type.getDimSize(0));
  SmallVector<OpFoldResult> sizes = {batch, builder.getIndexAttr(count),
                                     builder.getIndexAttr(type.getDimSize(2))};
  SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(builder, loc, source, offsets, sizes,
                                        strides);
}

/// The f32 output of per-head overrides: each head group attends its own
/// query heads; the outputs go back in head order.
Value emitHeadGroups(OpBuilder &builder, DecodeAttentionOp op,
                     ArrayRef<HeadGroup> groups) {
  Location loc = op.getLoc();
  RankedTensorType queryType = op.getQuery().getType();
  int64_t group =
      queryType.getDimSize(1) / op.getCache().getType().getKvHeads();
  auto outputType =
      RankedTensorType::get(queryType.getShape(), builder.getF32Type());
  SmallVector<Value> dynamic;
  if (queryType.isDynamicDim(0))
    dynamic.push_back(
        tensor::DimOp::create(builder, loc, op.getQuery(), 0).getResult());
  Value result = tensor::EmptyOp::create(builder, loc, outputType.getShape(),
                                         builder.getF32Type(), dynamic);
  for (const HeadGroup &heads : groups) {
    Value query = sliceHeads(builder, loc, op.getQuery(), heads.first * group,
                             heads.count * group);
    Value output = emitGroup(builder, op, heads, /*wholeCache=*/false, query);
    SmallVector<OpFoldResult> offsets = {
        builder.getIndexAttr(0), builder.getIndexAttr(heads.first * group),
        builder.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, output);
    SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
    result = tensor::InsertSliceOp::create(builder, loc, output, result,
                                           offsets, sizes, strides);
  }
  return result;
}

/// One hgc.decode_attention with a placement into its per-tier partials.
struct SplitDecodeAttention : OpRewritePattern<DecodeAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DecodeAttentionOp op,
                                PatternRewriter &rewriter) const override {
    // 1. Group the KV heads by placement (one group without overrides).
    // 2. Emit each group's tier partials and their merge; several groups
    //    are sliced from the query and put back in head order.
    // 3. Replace the op with the f32 output in the query's element type.
    if (!op.getPlacementAttr())
      return rewriter.notifyMatchFailure(op, "no placement");
    SmallVector<HeadGroup> groups = getHeadGroups(
        op.getPlacementAttr(), op.getCache().getType().getKvHeads());

    rewriter.setInsertionPoint(op);
    Value result = groups.size() == 1
                       ? emitGroup(rewriter, op, groups.front(),
                                   /*wholeCache=*/true, op.getQuery())
                       : emitHeadGroups(rewriter, op, groups);

    RankedTensorType queryType = op.getQuery().getType();
    if (queryType.getElementType() != rewriter.getF32Type())
      result =
          arith::TruncFOp::create(rewriter, op.getLoc(), queryType, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// hgc.preselect into its placement's second-tier view and selection, as
/// the split would emit them for the step.
struct SplitPreselect : OpRewritePattern<PreselectOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PreselectOp op,
                                PatternRewriter &rewriter) const override {
    PlacementAttr placement = op.getPlacement();
    HeadGroup group{0, op.getCache().getType().getKvHeads(), placement};
    TierPolicyAttr policy = placement.getTiers()[1];
    int64_t batch = op.getQuery().getType().getDimSize(0);
    rewriter.setInsertionPoint(op);
    KVViewOp view = emitTierView(rewriter, op.getLoc(), op.getCache(), group,
                                 IntegerAttr(), policy, batch);
    TierSelection chosen = emitTierSelection(
        rewriter, op.getLoc(), op.getCache(), op.getScaleAttr(), group,
        IntegerAttr(), policy, op.getQuery(), view);
    Value candidates = chosen.indices;
    if (candidates.getType() != op.getType())
      candidates = tensor::CastOp::create(rewriter, op.getLoc(), op.getType(),
                                          candidates);
    rewriter.replaceOp(op, candidates);
    return success();
  }
};

struct SplitAttentionPass
    : hgc::impl::SplitAttentionPassBase<SplitAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<SplitDecodeAttention, SplitPreselect>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace
