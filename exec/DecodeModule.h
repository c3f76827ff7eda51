//===- DecodeModule.h - one decode step as an hgc function ------*- C++ -*-===//
//
// The function libhgc compiles for its decode kernels and hgc-bench times:
// `hgc.bind_kv` over key and value tensors (whole, or blocks read through a
// block table), then `hgc.decode_attention`. Built with OpBuilder here, in
// one place, before the hybrid pipeline places and splits it.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_EXEC_DECODEMODULE_H
#define HGC_EXEC_DECODEMODULE_H

#include "dialect/HgcDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>
#include <string>

namespace mlir::hgc {

/// The signature and attributes of a decode step's function:
///   @entry(queries, keys, values[, block tables, lengths]
///          [, key minimum, key maximum][, key codes, key scales]
///          [, pq codes, pq codebooks][, channel-major keys]
///          [, value sums][, candidates]) -> outputs | candidates
/// Queries and outputs are [batch, query heads, head dim] f32. Any size may
/// be ShapedType::kDynamic.
struct DecodeModuleSpec {
  /// The step itself, the selection of a later step chosen ahead
  /// (`hgc.preselect`: returns the second tier's candidates [batch, kv
  /// heads, k] i32, k the budget's count or dynamic), or the step over
  /// candidates chosen ahead (a trailing argument [batch, kv heads, ?]).
  enum class Ahead { None, Select, Consume };
  Ahead ahead = Ahead::None;
  std::string entry = "hgc_decode";
  int64_t batch = ShapedType::kDynamic;
  int64_t queryHeads = 0, kvHeads = 0, headDim = 0;
  Type kvElementType;
  /// Tokens per sequence of KV bound whole: [batch, kv heads, tokens, head
  /// dim] keys and values. Unused when paged.
  int64_t tokens = ShapedType::kDynamic;
  /// Paged KV when blockSize > 0: caches of `blocks` blocks of blockSize
  /// tokens ([blocks, block, kv heads, head dim]; heads-major swaps the
  /// middle two), block tables [batch, maxBlocks] i32 and lengths [batch]
  /// i32.
  int64_t blockSize = 0;
  int64_t blocks = ShapedType::kDynamic, maxBlocks = ShapedType::kDynamic;
  bool headsMajor = false;
  /// Per-block key summaries [batch, kv heads, summaryBlocks, head dim] of
  /// blocks of summaryBlock tokens (0: none).
  int64_t summaryBlock = 0, summaryBlocks = ShapedType::kDynamic;
  /// Per-token int8 key codes [batch, kv heads, tokens, head dim] and f32
  /// scales [batch, kv heads, tokens], in token order (paged KV: tokens
  /// dynamic, the longest sequence's).
  bool keyCodes = false;
  /// Product-quantized keys (pqSubspaces > 0): codes [batch, kv heads,
  /// tokens, pqSubspaces] (i8, or i16 beyond 256 centroids) in token order
  /// (paged KV: tokens dynamic, the longest sequence's) and f32 codebooks
  /// [batch, kv heads, pqSubspaces, pqCentroids, head dim / pqSubspaces].
  int64_t pqSubspaces = 0, pqCentroids = 0;
  /// Channel-major keys [batch, kv heads, head dim, tokens], in token order
  /// (paged KV: tokens dynamic, the longest sequence's).
  bool channelKeys = false;
  /// Per-block value sums [batch, kv heads, ceil(tokens / valueBlock), head
  /// dim] f32, in token order (0: none).
  int64_t valueBlock = 0;
  /// decode_attention's attributes; unset ones keep the op's defaults.
  std::optional<float> scale, softcap;
  PlacementAttr placement;
};

/// The module holding `spec`'s function; it verifies when the spec's sizes
/// are consistent (the caller's to check).
OwningOpRef<ModuleOp> buildDecodeModule(MLIRContext *context,
                                        const DecodeModuleSpec &spec);

} // namespace mlir::hgc

#endif // HGC_EXEC_DECODEMODULE_H
