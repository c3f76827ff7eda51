//===- Lowerings.h - hgc ops to host loop nests -----------------*- C++ -*-===//
//
// One entry per split-level op; LowerToLoopsPatterns.cpp wraps each in a
// rewrite pattern. Each reads its tensor operands through
// bufferization.to_buffer and returns fresh buffers through
// bufferization.to_tensor, so one-shot bufferization takes the module the rest
// of the way. Every entry builds and replaces through the given rewriter, so a
// conversion driver sees each step.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_LOWERINGS_H
#define HGC_CODEGEN_LOWERINGS_H

#include "dialect/HgcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::hgc::lowering {

/// What convert-hgc-to-loops decides before rewriting: the pass options and
/// which partials and dense attentions run on the device.
struct LowerToLoopsOptions {
  /// Tokens per parallel chunk of a host partial (split-K).
  int64_t kvSplit = 2048;
  /// Count the tokens each selection keeps for the runtime.
  bool countSelected = false;
  /// Device partials and device attentions (target=nvptx) with the id of
  /// their `@hgc_device_partial_<id>`, numbered in op order.
  DenseMap<Operation *, int64_t> deviceIds;
};

/// One pattern per op convert-hgc-to-loops lowers: the hgc ops of the split
/// level, hgc.transfer/hgc.wait (host fallback), aggregated linalg ops and
/// MatMul-shaped contractions.
void populateLowerToLoopsPatterns(RewritePatternSet &patterns,
                                  const LowerToLoopsOptions &options);
/// Marks what those patterns lower illegal, everything else legal.
void configureLowerToLoopsTarget(ConversionTarget &target,
                                 const LowerToLoopsOptions &options);

/// Split-K online softmax; `splitTokens` tokens per parallel chunk.
void lowerPartialAttention(RewriterBase &rewriter, PartialAttentionOp op,
                           int64_t splitTokens);
/// Log-sum-exp combination of partial outputs.
void lowerLseMerge(RewriterBase &rewriter, LseMergeOp op);
/// The mean value weighed into a partial for the mass it does not hold.
void lowerMeanFold(RewriterBase &rewriter, MeanFoldOp op);
/// The estimate of the unselected tokens from their blocks' moments.
void lowerTailEstimate(RewriterBase &rewriter, TailEstimateOp op);
/// The private declaration of runtime entry point `name` in `module`
/// (created once).
func::FuncOp declareRuntimeFunction(ModuleOp module, StringRef name,
                                    FunctionType type);

/// Top-k selection (exact per token, per token from key codes, or per block
/// from key summaries), with the mass keep rule when the op has one.
/// With `countSelected`, also counts the kept tokens for the runtime
/// (hgc_rt_compiled_count_selected).
LogicalResult lowerSelect(RewriterBase &rewriter, SelectOp op,
                          bool countSelected);
/// The reference semantics of hgc.attention (prefill, masks, past KV).
void lowerAttention(RewriterBase &rewriter, AttentionOp op);
/// Whether `op` is a MatMul-shaped contraction lowerContraction takes:
/// C[b..., m, n] += A[b..., m, k] * B[k, n] into a zero-filled f32 init.
bool isLowerableContraction(linalg::GenericOp op);
/// Such a contraction as parallel 8-lane loops streaming B's rows in order.
void lowerContraction(RewriterBase &rewriter, linalg::GenericOp op);
/// A tier's view of a cache bound over plain tensors. A paged cache's
/// one-range tier is kept for its readers when `readsPaged` holds for each
/// (PagedKV.h): the view is replaced by a copy only they read.
LogicalResult lowerKVView(RewriterBase &rewriter, KVViewOp op,
                          function_ref<bool(Operation *)> readsPaged);
/// Whether `view` is such a kept copy: a paged one-range tier whose lengths
/// nobody reads and whose key and value only `readsPaged` readers read.
bool isKeptForPagedReaders(KVViewOp view,
                           function_ref<bool(Operation *)> readsPaged);
/// A tier's per-block key summaries of a cache bound over plain tensors.
LogicalResult lowerKVSummaries(RewriterBase &rewriter, KVSummariesOp op);
/// A tier's per-token key codes of a cache bound over plain tensors.
LogicalResult lowerKVKeyCodes(RewriterBase &rewriter, KVKeyCodesOp op);
/// A tier's product-quantized codes and codebooks, bound with the cache.
LogicalResult lowerKVPqCodes(RewriterBase &rewriter, KVPqCodesOp op);
/// A bound cache's tier keys channel-major: the engine's copy sliced, else
/// transposed.
LogicalResult lowerKVChannelKeys(RewriterBase &rewriter, KVChannelKeysOp op);
/// A bound cache's tier mean value: from the engine's block sums, else from
/// the values.
LogicalResult lowerKVValueMean(RewriterBase &rewriter, KVValueMeanOp op);

/// A tier's view of a cache the KV runtime owns (hgc.runtime_kv): calls of
/// hgc-rt/compiled.h filling fresh buffers.
LogicalResult lowerRuntimeKVView(RewriterBase &rewriter, KVViewOp op);
/// Key summaries of a runtime cache's tier, computed from its view.
LogicalResult lowerRuntimeKVSummaries(RewriterBase &rewriter, KVSummariesOp op);
/// Key codes of a runtime cache's tier, computed from its view.
LogicalResult lowerRuntimeKVKeyCodes(RewriterBase &rewriter, KVKeyCodesOp op);
LogicalResult lowerRuntimeKVChannelKeys(RewriterBase &rewriter,
                                        KVChannelKeysOp op);
LogicalResult lowerRuntimeKVValueMean(RewriterBase &rewriter, KVValueMeanOp op);

struct Emitter;
/// KV heads [first, first + heads) of a [batch, kv_heads, tokens, dim]
/// buffer (the buffer itself without `first`).
Value selectHeadGroup(Emitter &e, Value buffer, std::optional<uint64_t> first,
                      int64_t heads);
/// Channel-wise key min/max `type` of blocks of `block` tokens per
/// (sequence of `batch`, KV head), `width` blocks wide: the j-th tier token of
/// sequence `bi` is token `source(j, bi)` of `key` (which holds `tokens`), and
/// the tier has `count(bi)` of them. Token `t` of KV head `hk` is read at
/// `keyAt(bi, hk, t)` (a paged cache), else at `[bi, hk, t]`.
using KeyIndexFn = function_ref<SmallVector<Value>(Value, Value, Value)>;
std::pair<Value, Value> emitKeySummaries(
    Emitter &e, RankedTensorType type, Value key, Value batch, Value width,
    int64_t block, Value tokens, function_ref<Value(Value)> count,
    function_ref<Value(Value, Value)> source, KeyIndexFn keyAt = nullptr);

/// Per-token `bits`-bit codes (held in i8) and f32 scales of a tier's keys,
/// `width` tokens wide per (sequence of `batch`, KV head), addressed as for
/// emitKeySummaries; tokens past `count(bi)` get scale 0 and codes 0.
std::pair<Value, Value> emitKeyCodes(Emitter &e, RankedTensorType codesType,
                                     RankedTensorType scalesType, int64_t bits,
                                     Value key, Value batch, Value width,
                                     Value tokens,
                                     function_ref<Value(Value)> count,
                                     function_ref<Value(Value, Value)> source,
                                     KeyIndexFn keyAt = nullptr);

/// A tier's keys [batch, kv_heads, head_dim, width] (`type`) transposed
/// from token-major `key`, addressed as for emitKeyCodes; columns past
/// `count(bi)` are 0.
Value emitChannelMajorKeys(Emitter &e, RankedTensorType type, Value key,
                           Value batch, Value width, Value tokens,
                           function_ref<Value(Value)> count,
                           function_ref<Value(Value, Value)> source,
                           KeyIndexFn keyAt = nullptr);
/// Per (sequence, KV head) f32 mean (`type` [batch, kv_heads, head_dim]) of
/// the `count(bi)` value rows `source(j, bi)` of `value`, addressed as for
/// emitKeyCodes; 0 without rows.
Value emitValueMean(Emitter &e, RankedTensorType type, Value value, Value batch,
                    Value tokens, function_ref<Value(Value)> count,
                    function_ref<Value(Value, Value)> source,
                    KeyIndexFn valueAt = nullptr);

/// A dense partial over the device tier's view (what the GPU target runs).
bool isDevicePartial(PartialAttentionOp op);
/// The module's `gpu.module @hgc_kernels`, created on first use.
gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module);
/// Device partial -> a call of `@hgc_device_partial_<id>` (a bodiless
/// declaration carrying scale and softcap) over identity-layout buffers of
/// its operands and fresh output/LSE buffers the callee writes.
void lowerPartialAttentionToCall(RewriterBase &rewriter, PartialAttentionOp op,
                                 int64_t id);
/// A call of such a declaration.
bool isDevicePartialCall(func::CallOp call);
/// The declaration `@hgc_device_partial_<id>` and a call of it over
/// `operands`: query, key, value, [lengths], [bias], out, lse, [rows per
/// sequence] (see DecodeKernelConfig), with scale and softcap.
func::CallOp createDevicePartialCall(ImplicitLocOpBuilder &b, ModuleOp module,
                                     int64_t id, ValueRange operands,
                                     std::optional<APFloat> scale,
                                     APFloat softcap, bool hasLengths,
                                     bool hasBias, bool rowsPerSequence);
/// Whether hgc.attention that stays dense runs on the device (nvptx) as one
/// partial with a row per query token.
bool isDeviceAttention(AttentionOp op);
/// Such attention -> host loops laying out rows, lengths and mask bias, a
/// device partial call over them, and the output laid back out.
void lowerAttentionToDeviceCall(RewriterBase &rewriter, AttentionOp op,
                                int64_t id);
/// The call -> copies in, split and merge kernels (appended to `kernels`),
/// copies out on one stream; a wait before the first read of the results.
LogicalResult launchDevicePartial(func::CallOp call, gpu::GPUModuleOp kernels,
                                  int64_t minSplitTokens);

} // namespace mlir::hgc::lowering

#endif // HGC_CODEGEN_LOWERINGS_H
