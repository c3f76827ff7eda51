//===- RaiseAttention.cpp - StableHLO attention to hgc.attention ----------===//
//
// Recognizes attention in what JAX emits, whatever the layout:
//
//   S = dot_general(Q, K)          contracting the head dim, batching over
//                                  (batch, KV head) or a subset of them
//   S = S * c | S / c              splat constants, any number
//   S = select(mask, S, -big)      or S + bias: at most one mask
//   S = transpose(S) | convert(S)  anywhere on the way
//   P = exp(S - max(S)) / sum(exp(S - max(S)))   over the key axis
//   P = convert(P)                 optional
//   Y = dot_general(P, V)          contracting the keys
//
// The axes are followed by label: each axis of Q, K and V is named by its role
// in the two dot_generals (batch, KV head, group, query position, key
// position, head dim), so BTNH, BNTH, GQA's extra group axis and the
// transposes XLA inserts all match. The match becomes Q, K, V (and the mask)
// transposed into hgc.attention's [B, H, T, D] layout, one hgc.attention,
// and its output transposed back into Y's layout. A softmax that is not part
// of such a pattern is left alone (it lowers exactly).
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "frontends/stablehlo/Invariance.h"
#include "frontends/stablehlo/Passes.h"
#include "frontends/stablehlo/RaiseAttentionMatch.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_RAISESTABLEHLOATTENTIONPASS
#include "frontends/stablehlo/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;
using hgc::AttentionOp;

namespace {

/// Builds hgc.attention for one match, before its P x V.
class RaisedAttentionBuilder {
public:
  RaisedAttentionBuilder(const AttentionMatch &match, PatternRewriter &rewriter)
      : match(match), rewriter(rewriter), pv(match.pv), loc(pv.getLoc()),
        batch(match.sizeOf(Batch)), kvHeads(match.sizeOf(KvHead)),
        heads(kvHeads * match.sizeOf(Group)), queries(match.sizeOf(Query)),
        keys(match.sizeOf(Key)), headDim(match.sizeOf(HeadDim)),
        valueDim(match.sizeOf(ValueDim)) {}

  // 1. Arrange Q, K and V into [B, H, T, D] ([B, KV heads, S, D] for K, V).
  // 2. Arrange the mask into an additive bias [B, H, T, S] ([B, 1, T, S]
  //    when it is the same for every head).
  // 3. One hgc.attention with the scale.
  // 4. Its output back into P x V's layout.
  Value build() {
    rewriter.setInsertionPoint(pv);
    Value query = arrange(match.query, match.queryRoles,
                          {Batch, KvHead, Group, Query, HeadDim},
                          {batch, heads, queries, headDim});
    Value key =
        arrange(match.key, match.keyRoles, {Batch, KvHead, Key, HeadDim},
                {batch, kvHeads, keys, headDim});
    Value value =
        arrange(match.value, match.valueRoles, {Batch, KvHead, Key, ValueDim},
                {batch, kvHeads, keys, valueDim});
    Value bias = match.mask ? buildBias() : Value();
    Type element = match.element;
    auto outType =
        RankedTensorType::get({batch, heads, queries, valueDim}, element);
    auto attention = AttentionOp::create(
        rewriter, loc, outType, Type(), Type(), Type(), query, key, value, bias,
        Value(), Value(), Value(), IntegerAttr(), IntegerAttr(),
        rewriter.getF32FloatAttr(match.scale), rewriter.getBoolAttr(false),
        rewriter.getF32FloatAttr(0.0f), rewriter.getI64IntegerAttr(0),
        IntegerAttr());
    return restoreLayout(attention.getOutput());
  }

private:
  /// `x` with roles `roles` in the order `want` (missing roles are unit
  /// axes), reshaped to `shape`.
  Value arrange(Value x, ArrayRef<Role> roles, ArrayRef<Role> want,
                ArrayRef<int64_t> shape) {
    SmallVector<int64_t> permutation;
    for (Role r : want)
      for (auto [axis, have] : llvm::enumerate(roles))
        if (have == r)
          permutation.push_back(axis);
    auto type = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> permuted;
    for (int64_t p : permutation)
      permuted.push_back(type.getDimSize(p));
    auto permutedType = RankedTensorType::get(permuted, type.getElementType());
    Value transposed = x;
    if (!llvm::equal(permutation, llvm::seq<int64_t>(0, permutation.size())))
      transposed =
          TransposeOp::create(rewriter, loc, permutedType, x,
                              rewriter.getDenseI64ArrayAttr(permutation));
    auto shaped = RankedTensorType::get(shape, type.getElementType());
    if (shaped == transposed.getType())
      return transposed;
    return ReshapeOp::create(rewriter, loc, shaped, transposed);
  }

  /// The mask as a bias to add to the logits, in the element type.
  Value buildBias() {
    const Mask &mask = *match.mask;
    Type element = match.element;
    Value m = mask.value;
    auto maskType = cast<RankedTensorType>(m.getType());
    if (mask.isSelect)
      m = selectToBias(m, maskType);
    else if (maskType.getElementType() != element)
      m = ConvertOp::create(rewriter, loc,
                            RankedTensorType::get(maskType.getShape(), element),
                            m);
    Value bias = arrange(m, match.maskRoles, {Batch, KvHead, Group, Query, Key},
                         {batch, heads, queries, keys});
    // A mask the same for every head (JAX broadcasts a key-padding mask
    // over them) stays per key, [B, 1, T, S]: a decode step then binds
    // it as the cache's lengths instead of running dense.
    SmallVector<bool> same = getInvariantDims(mask.value);
    bool perKey = heads > 1;
    for (auto [axis, role] : llvm::enumerate(match.maskRoles))
      perKey &= (role != KvHead && role != Group) || same[axis];
    if (!perKey)
      return bias;
    return SliceOp::create(
        rewriter, loc,
        RankedTensorType::get({batch, 1, queries, keys}, element), bias,
        rewriter.getDenseI64ArrayAttr({0, 0, 0, 0}),
        rewriter.getDenseI64ArrayAttr({batch, 1, queries, keys}),
        rewriter.getDenseI64ArrayAttr({1, 1, 1, 1}));
  }

  /// select(pred, S, fill) is S + select(pred, 0, fill): the additive form
  /// keeps fully masked rows what JAX makes of them.
  Value selectToBias(Value pred, RankedTensorType maskType) {
    Type element = match.element;
    auto biasType = RankedTensorType::get(maskType.getShape(), element);
    auto scalar = RankedTensorType::get({}, element);
    auto splat = [&](double x) -> Value {
      Value c = ConstantOp::create(
          rewriter, loc, scalar,
          DenseElementsAttr::get(scalar, rewriter.getFloatAttr(element, x)));
      return BroadcastInDimOp::create(rewriter, loc, biasType, c,
                                      rewriter.getDenseI64ArrayAttr({}));
    };
    double fill = std::max(match.mask->fill, -3.0e38);
    if (!element.isF32() && !element.isBF16())
      fill = std::max(fill, -6.0e4); // f16's range
    return shlo::SelectOp::create(rewriter, loc, biasType, pred, splat(0.0),
                                  splat(fill));
  }

  /// The [B, H, T, Dv] output split into [B, KV heads, group, query, value
  /// dim], permuted and reshaped into P x V's result.
  Value restoreLayout(Value output) {
    Type element = match.element;
    Value grouped = ReshapeOp::create(
        rewriter, loc, RankedTensorType::get(match.grouped, element), output);
    Value result = grouped;
    ArrayRef<int64_t> permutation = match.permutation;
    if (!llvm::equal(permutation, llvm::seq<int64_t>(0, permutation.size())))
      result = TransposeOp::create(
          rewriter, loc, RankedTensorType::get(match.permuted, element),
          grouped, rewriter.getDenseI64ArrayAttr(permutation));
    Type resultType = pv.getType();
    if (result.getType() != resultType)
      result = ReshapeOp::create(rewriter, loc, resultType, result);
    return result;
  }

  const AttentionMatch &match;
  PatternRewriter &rewriter;
  DotGeneralOp pv;
  Location loc;
  /// The sizes of attention's axes (`heads` are the query heads).
  int64_t batch, kvHeads, heads, queries, keys, headDim, valueDim;
};

struct RaiseAttention : OpRewritePattern<DotGeneralOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DotGeneralOp pv,
                                PatternRewriter &rewriter) const override {
    FailureOr<AttentionMatch> match = matchAttention(pv, rewriter);
    if (failed(match))
      return failure();
    rewriter.replaceOp(pv, RaisedAttentionBuilder(*match, rewriter).build());
    return success();
  }
};

struct RaiseStablehloAttentionPass
    : hgc::impl::RaiseStablehloAttentionPassBase<RaiseStablehloAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseAttention>(&getContext());
    // One rewrite per P x V; the dead softmax goes with canonicalization.
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    SmallVector<Operation *> dots;
    getOperation()->walk([&](DotGeneralOp op) { dots.push_back(op); });
    if (failed(applyOpPatternsGreedily(dots, std::move(patterns), config)))
      signalPassFailure();
  }
};

} // namespace
