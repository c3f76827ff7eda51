//===- ShapeChecks.h - shape rules shared by hgc verifiers ------*- C++ -*-===//
//
// Small helpers that compare (possibly dynamic) dimensions and emit one
// diagnostic naming the operand and both shapes, and the checks the model-
// and split-level verifiers share (queries, head groups, KV of a cache).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_DIALECT_SHAPECHECKS_H
#define HGC_DIALECT_SHAPECHECKS_H

#include "dialect/HgcDialect.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"

namespace mlir::hgc {

/// `a + b`, dynamic if either is.
int64_t addDims(int64_t a, int64_t b);
/// `a * b`, dynamic if either is.
int64_t mulDims(int64_t a, int64_t b);

/// Fails with "NAME (A) must equal OTHER (B)" when both are static and differ.
LogicalResult verifyDim(Operation *op, StringRef name, int64_t actual,
                        StringRef otherName, int64_t expected);

/// Fails unless `type` is a ranked tensor of `expected`'s rank whose
/// dimensions match wherever both sides are static.
LogicalResult verifyShape(Operation *op, StringRef name, Type type,
                          ArrayRef<int64_t> expected);

/// Fails unless `type` (rank <= target rank) broadcasts to `target` under
/// numpy rules: aligned from the right, each dimension 1 or equal.
LogicalResult verifyBroadcastable(Operation *op, StringRef name,
                                  ShapedType type, ArrayRef<int64_t> target);

/// Checks a partial attention result: `output` has `outputShape` and `lse`
/// is shaped like `output` without its last dimension.
LogicalResult verifyPartial(Operation *op, RankedTensorType output,
                            RankedTensorType lse,
                            ArrayRef<int64_t> outputShape);

/// The decode query `[batch, q_heads, head_dim]`.
FailureOr<ArrayRef<int64_t>> getDecodeQueryShape(Operation *op, Value query);

/// Checks that `qHeads` query heads can share `kvHeads` KV heads.
LogicalResult verifyGroups(Operation *op, int64_t qHeads, int64_t kvHeads);

/// Per-sequence lengths `[batch]` (none is fine).
LogicalResult verifyLengths(Operation *op, Value lengths, int64_t batch);

/// Checks key/value tensors `[batch, kv_heads, tokens, head_dim]` (and their
/// `[batch]` lengths) against the cache they are bound to or viewed from;
/// with `firstHead`, a head group [firstHead, firstHead + heads) of it.
LogicalResult verifyKVOfCache(Operation *op, RankedTensorType key,
                              RankedTensorType value, KVCacheType cache,
                              Value lengths, StringRef keyName = "key",
                              StringRef valueName = "value",
                              std::optional<uint64_t> firstHead = {});

/// A scale that is finite (when given) and a softcap that is finite and >= 0.
LogicalResult verifyScaleAndSoftcap(Operation *op, std::optional<APFloat> scale,
                                    APFloat softcap);

/// A block size (`name` in the message) must be a positive power of two.
LogicalResult verifyBlockSize(Operation *op, StringRef name, int64_t block);

/// Product-quantized keys of `headDim`: codes [..., subspaces] of i8 (up to
/// 256 centroids) or i16, codebooks [..., subspaces, centroids, width] with
/// subspaces * width == headDim and centroids a power of two up to 65536
/// (static sizes checked).
LogicalResult verifyProductQuantizer(Operation *op, RankedTensorType codes,
                                     RankedTensorType codebooks,
                                     int64_t headDim);

} // namespace mlir::hgc

#endif // HGC_DIALECT_SHAPECHECKS_H
