//===- Lowerings.h - hgc ops to host loop nests -----------------*- C++ -*-===//
//
// One entry per split-level op; LowerToLoops.cpp drives them. Each reads its
// tensor operands through bufferization.to_buffer and returns fresh buffers
// through bufferization.to_tensor, so one-shot bufferization takes the module
// the rest of the way.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_LOWERINGS_H
#define HGC_CODEGEN_LOWERINGS_H

#include "dialect/HgcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::hgc::lowering {

/// Split-K online softmax; `splitTokens` tokens per parallel chunk.
void lowerPartialAttention(PartialAttentionOp op, int64_t splitTokens);
/// Log-sum-exp combination of partial outputs.
void lowerLseMerge(LseMergeOp op);
/// Top-k selection (exact per token, or per block from key summaries).
/// The private declaration of runtime entry point `name` in `module`
/// (created once).
func::FuncOp declareRuntimeFunction(ModuleOp module, StringRef name,
                                    FunctionType type);

/// With `countSelected`, also counts the kept tokens for the runtime
/// (hgc_rt_compiled_count_selected).
LogicalResult lowerSelect(SelectOp op, bool countSelected);
/// The reference semantics of hgc.attention (prefill, masks, past KV).
LogicalResult lowerAttention(AttentionOp op);
/// Whether `op` is a MatMul-shaped contraction lowerContraction takes:
/// C[b..., m, n] += A[b..., m, k] * B[k, n] into a zero-filled f32 init.
bool isLowerableContraction(linalg::GenericOp op);
/// Such a contraction as parallel 8-lane loops streaming B's rows in order.
void lowerContraction(linalg::GenericOp op);
/// A tier's view of a cache bound over plain tensors. A paged cache's
/// one-range tier is kept for its readers when `readsPaged` holds for each
/// (PagedKV.h).
LogicalResult lowerKVView(KVViewOp op,
                          function_ref<bool(Operation *)> readsPaged);
/// A tier's per-block key summaries of a cache bound over plain tensors.
LogicalResult lowerKVSummaries(KVSummariesOp op);

/// A tier's view of a cache the KV runtime owns (hgc.runtime_kv): calls of
/// hgc-rt/compiled.h filling fresh buffers.
LogicalResult lowerRuntimeKVView(KVViewOp op);
/// Key summaries of a runtime cache's tier, computed from its view.
LogicalResult lowerRuntimeKVSummaries(KVSummariesOp op);

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

/// A dense partial over the device tier's view (what the GPU target runs).
bool isDevicePartial(PartialAttentionOp op);
/// The module's `gpu.module @hgc_kernels`, created on first use.
gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module);
/// Device partial -> a call of `@hgc_device_partial_<id>` (a bodiless
/// declaration carrying scale and softcap) over identity-layout buffers of
/// its operands and fresh output/LSE buffers the callee writes.
void lowerPartialAttentionToCall(PartialAttentionOp op, int64_t id);
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
void lowerAttentionToDeviceCall(AttentionOp op, int64_t id);
/// The call -> copies in, split and merge kernels (appended to `kernels`),
/// copies out on one stream; a wait before the first read of the results.
LogicalResult launchDevicePartial(func::CallOp call, gpu::GPUModuleOp kernels,
                                  int64_t minSplitTokens);

} // namespace mlir::hgc::lowering

#endif // HGC_CODEGEN_LOWERINGS_H
