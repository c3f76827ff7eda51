//===- LowerToLoopsPatterns.cpp - one pattern per op lowered to loops -----===//
//
// The patterns of convert-hgc-to-loops and the conversion target they run
// under: each pattern hands its op to the lowering beside it (Lowerings.h).
// Which partials and dense attentions run on the device is decided before
// (LowerToLoopsOptions); the patterns only follow it.
//
//===----------------------------------------------------------------------===//

#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::lowering;

namespace {

/// Readers that address a paged cache's blocks in place (PagedKV.h): host
/// partials over a view with lengths, and exact selection.
bool readsPagedInPlace(Operation *user, const LowerToLoopsOptions &options) {
  if (auto partial = dyn_cast<PartialAttentionOp>(user))
    return !options.deviceIds.contains(user) &&
           static_cast<bool>(partial.getLengths());
  if (auto select = dyn_cast<SelectOp>(user))
    return select.getPolicy() == Selection::ExactTopK &&
           static_cast<bool>(select.getLengths());
  return false;
}

/// A pattern that follows the decisions in `options`.
template <typename OpTy> struct LoweringPattern : OpRewritePattern<OpTy> {
  LoweringPattern(MLIRContext *context, const LowerToLoopsOptions &options)
      : OpRewritePattern<OpTy>(context), options(options) {}

  const LowerToLoopsOptions &options;
};

//===----------------------------------------------------------------------===//
// Host fallback of the asynchronous ops
//===----------------------------------------------------------------------===//

/// hgc.wait: the values themselves.
struct WaitToValues : OpRewritePattern<WaitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(WaitOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, op.getValues());
    return success();
  }
};

/// hgc.transfer: its source. Its token may only order other transfers or
/// be waited on, both of which go away with it.
struct TransferToSource : OpRewritePattern<TransferOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TransferOp op,
                                PatternRewriter &rewriter) const override {
    for (Operation *user : op.getToken().getUsers())
      if (!isa<TransferOp, WaitOp>(user))
        return user->emitOpError("uses an hgc.token the host fallback "
                                 "cannot provide");
    rewriter.replaceOp(op, {op.getSource(), Value()});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// The model-level op has no loops of its own: the diagnostic says what
/// produces the ops that have.
struct RejectDecodeAttention : OpRewritePattern<DecodeAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DecodeAttentionOp op,
                                PatternRewriter &) const override {
    return op.emitOpError("is not lowered to loops directly; run the "
                          "hgc-hybrid-pipeline (bind, place, split) first");
  }
};

/// Work the device decisions keep on the host, as loops.
template <typename OpTy> struct HostLoopsPattern : LoweringPattern<OpTy> {
  using LoweringPattern<OpTy>::LoweringPattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const final {
    if (this->options.deviceIds.contains(op))
      return rewriter.notifyMatchFailure(op, "runs on the device");
    lowerOnHost(rewriter, op);
    return success();
  }
  virtual void lowerOnHost(RewriterBase &rewriter, OpTy op) const = 0;
};

/// Device work, numbered in `options.deviceIds`, as a call of its
/// `@hgc_device_partial_<id>`.
template <typename OpTy, void (*lowerToCall)(RewriterBase &, OpTy, int64_t)>
struct DeviceCallPattern : LoweringPattern<OpTy> {
  using LoweringPattern<OpTy>::LoweringPattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    auto id = this->options.deviceIds.find(op);
    if (id == this->options.deviceIds.end())
      return rewriter.notifyMatchFailure(op, "runs on the host");
    lowerToCall(rewriter, op, id->second);
    return success();
  }
};

struct PartialAttentionToLoops : HostLoopsPattern<PartialAttentionOp> {
  using HostLoopsPattern::HostLoopsPattern;
  void lowerOnHost(RewriterBase &rewriter,
                   PartialAttentionOp op) const override {
    lowerPartialAttention(rewriter, op, options.kvSplit);
  }
};
using PartialAttentionToDeviceCall =
    DeviceCallPattern<PartialAttentionOp, lowerPartialAttentionToCall>;

struct AttentionToLoops : HostLoopsPattern<AttentionOp> {
  using HostLoopsPattern::HostLoopsPattern;
  void lowerOnHost(RewriterBase &rewriter, AttentionOp op) const override {
    lowerAttention(rewriter, op);
  }
};
using AttentionToDeviceCall =
    DeviceCallPattern<AttentionOp, lowerAttentionToDeviceCall>;

/// An op whose lowering cannot fail, as a pattern.
template <typename OpTy, void (*lower)(RewriterBase &, OpTy)>
struct LowerAlways : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    lower(rewriter, op);
    return success();
  }
};
using LseMergeToLoops = LowerAlways<LseMergeOp, lowerLseMerge>;
using MeanFoldToLoops = LowerAlways<MeanFoldOp, lowerMeanFold>;
using TailEstimateToLoops = LowerAlways<TailEstimateOp, lowerTailEstimate>;

//===----------------------------------------------------------------------===//
// Selection and KV caches
//===----------------------------------------------------------------------===//

struct SelectToLoops : LoweringPattern<SelectOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(SelectOp op,
                                PatternRewriter &rewriter) const override {
    return lowerSelect(rewriter, op, options.countSelected);
  }
};

/// Views of runtime-owned caches read through the runtime, views of bound
/// caches through their tensors.
struct KVViewToLoops : LoweringPattern<KVViewOp> {
  using LoweringPattern::LoweringPattern;
  LogicalResult matchAndRewrite(KVViewOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getCache().getDefiningOp<RuntimeKVOp>())
      return lowerRuntimeKVView(rewriter, op);
    return lowerKVView(rewriter, op, [&](Operation *user) {
      return readsPagedInPlace(user, options);
    });
  }
};

/// A cache-level op: through the runtime for runtime-owned caches, through
/// the bound tensors otherwise.
template <typename OpTy, LogicalResult (*lowerRuntime)(RewriterBase &, OpTy),
          LogicalResult (*lowerBound)(RewriterBase &, OpTy)>
struct CacheOpToLoops : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (op.getCache().template getDefiningOp<RuntimeKVOp>())
      return lowerRuntime(rewriter, op);
    return lowerBound(rewriter, op);
  }
};
using KVSummariesToLoops =
    CacheOpToLoops<KVSummariesOp, lowerRuntimeKVSummaries, lowerKVSummaries>;
using KVKeyCodesToLoops =
    CacheOpToLoops<KVKeyCodesOp, lowerRuntimeKVKeyCodes, lowerKVKeyCodes>;
using KVChannelKeysToLoops =
    CacheOpToLoops<KVChannelKeysOp, lowerRuntimeKVChannelKeys,
                   lowerKVChannelKeys>;
using KVValueMeanToLoops =
    CacheOpToLoops<KVValueMeanOp, lowerRuntimeKVValueMean, lowerKVValueMean>;

struct KVPqCodesToLoops : OpRewritePattern<KVPqCodesOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVPqCodesOp op,
                                PatternRewriter &rewriter) const override {
    // A runtime cache keeps no product-quantized codes; BoundTier::get says
    // so for it.
    return lowerKVPqCodes(rewriter, op);
  }
};

//===----------------------------------------------------------------------===//
// Linalg ops of imported models
//===----------------------------------------------------------------------===//

/// Aggregated linalg ops (linalg.softmax of attention that was not raised)
/// become the generics the rest of the host pipeline lowers.
struct DecomposeAggregatedOp
    : OpInterfaceRewritePattern<linalg::AggregatedOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(linalg::AggregatedOpInterface op,
                                PatternRewriter &rewriter) const override {
    FailureOr<SmallVector<Value>> replacements =
        op.decomposeOperation(rewriter);
    if (failed(replacements))
      return op->emitOpError("cannot be decomposed for the host");
    rewriter.replaceOp(op, *replacements);
    return success();
  }
};

/// MatMul-shaped contractions: weights streamed in order by parallel vector
/// loops instead of linalg's column walks.
struct ContractionToLoops : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!isLowerableContraction(op))
      return rewriter.notifyMatchFailure(op, "not MatMul-shaped");
    lowerContraction(rewriter, op);
    return success();
  }
};

} // namespace

void lowering::populateLowerToLoopsPatterns(
    RewritePatternSet &patterns, const LowerToLoopsOptions &options) {
  MLIRContext *context = patterns.getContext();
  patterns.add<WaitToValues, TransferToSource, RejectDecodeAttention,
               LseMergeToLoops, MeanFoldToLoops, TailEstimateToLoops,
               KVSummariesToLoops, KVKeyCodesToLoops, KVChannelKeysToLoops,
               KVValueMeanToLoops, KVPqCodesToLoops, DecomposeAggregatedOp,
               ContractionToLoops>(context);
  patterns.add<PartialAttentionToLoops, PartialAttentionToDeviceCall,
               AttentionToLoops, AttentionToDeviceCall, SelectToLoops,
               KVViewToLoops>(context, options);
}

void lowering::configureLowerToLoopsTarget(ConversionTarget &target,
                                           const LowerToLoopsOptions &options) {
  target.addIllegalOp<TransferOp, WaitOp, DecodeAttentionOp, PartialAttentionOp,
                      LseMergeOp, MeanFoldOp, TailEstimateOp, AttentionOp,
                      SelectOp, KVSummariesOp, KVChannelKeysOp, KVValueMeanOp,
                      KVKeyCodesOp, KVPqCodesOp>();
  // A paged tier view stays for its in-place readers (PagedKV.h).
  target.addDynamicallyLegalOp<KVViewOp>([&options](KVViewOp view) {
    return isKeptForPagedReaders(view, [&](Operation *user) {
      return readsPagedInPlace(user, options);
    });
  });
  target.addDynamicallyLegalOp<linalg::GenericOp>(
      [](linalg::GenericOp op) { return !isLowerableContraction(op); });
  // Everything the lowerings create is legal as created: nothing is folded.
  target.markUnknownOpDynamicallyLegal(
      [](Operation *op) { return !isa<linalg::AggregatedOpInterface>(op); });
}
