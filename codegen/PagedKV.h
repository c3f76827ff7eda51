//===- PagedKV.h - tier views that read paged KV in place -------*- C++ -*-===//
//
// A cache bound over paged KV (hgc.bind_kv with a block table) is viewed per
// tier like any bound cache, but a tier that is one token range (every
// token; the host tier between the sinks and the window) is not gathered:
// its hgc.kv_view (a copy of it, its lengths computed) stays until its
// readers (partial attention, exact selection) are lowered, and they address
// the blocks through the table. The view's key and value are never
// materialized; the view is erased after.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_PAGEDKV_H
#define HGC_CODEGEN_PAGEDKV_H

#include "codegen/LoopEmitter.h"

namespace mlir::hgc::lowering {

/// How the readers of a paged tier view reach its tokens: tier token `t` of
/// sequence `b` is position `firstPosition + t`, slot `p % blockSize` of
/// block `table[b][p / blockSize]` of the key and value caches.
struct PagedKV {
  Value key, value, table; // buffers: the caches and the block table
  int64_t blockSize = 0, firstPosition = 0, firstHead = 0;
  bool headsMajor = false; // [blocks, kv_heads, block, dim], else NHD

  /// The paged cache a view's key or value (`viewed`) reads in place, when
  /// it is one (the view kept for its readers by lowerKVView).
  static std::optional<PagedKV> of(Emitter &e, Value viewed);
  /// Indices of tier token `t` of sequence `bi`, the view's KV head `hk`,
  /// into `key`/`value` (without the head-dim index): from the current run
  /// when one is open (beginRun), else through the table.
  SmallVector<Value> at(Emitter &e, Value bi, Value hk, Value t) const;
  /// Block id and slot of tier token `t` of sequence `bi`.
  std::pair<Value, Value> locate(Emitter &e, Value bi, Value t) const;
  /// Indices of the token in `slot` of block `id`, KV head `hk`.
  SmallVector<Value> atSlot(Emitter &e, Value id, Value slot, Value hk) const;
  /// Opens the run of `run` tier tokens of sequence `bi` from `start` (a
  /// multiple of `run`) when it lies in one block: `at` then reads the
  /// table once for it. Otherwise `at` keeps reading it per token.
  void beginRun(Emitter &e, Value bi, Value start, int64_t run);
  void endRun() { runStart = Value(); }

private:
  /// Whether every run of `run` tier tokens starting at a multiple of `run`
  /// lies in one block: its tokens then sit in consecutive slots.
  bool keepsRuns(int64_t run) const {
    return blockSize % run == 0 && firstPosition % run == 0;
  }
  Value runStart, runId, runSlot; // the open run, if any
};

/// The paged cache bound for `cache` and the first position of `tier`'s
/// single token range, when the tier is one (all tokens, or those between
/// the sinks and the window).
std::optional<PagedKV> getPagedRange(Emitter &e, KVViewOp view);

/// The longest of `lengths` (i32 [batch]): the token count a reader of a
/// paged view walks up to.
Value longestLength(Emitter &e, Value lengths);

} // namespace mlir::hgc::lowering

#endif // HGC_CODEGEN_PAGEDKV_H
