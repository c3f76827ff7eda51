//===- PartialAttentionLowering.h - partial attention as loops --*- C++ -*-===//
//
// The state of one hgc.partial_attention being lowered, shared by the task
// structure (PartialAttentionLowering.cpp) and the steps of one block of
// positions (PartialAttentionBlock.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_PARTIALATTENTIONLOWERING_H
#define HGC_CODEGEN_PARTIALATTENTIONLOWERING_H

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "codegen/PagedKV.h"

namespace mlir::hgc::lowering {

/// Tokens scored before the online softmax rescales: the block's scores for
/// a whole GQA group stay in L1, and the exps of a block run back to back.
inline constexpr int64_t kTokenBlock = 16;

/// One hgc.partial_attention as loops. Beside the op-wide state, it holds
/// the state of the task being emitted (the body of the parallel loop over
/// tasks, emitted once).
class PartialAttentionLowering {
public:
  PartialAttentionLowering(PartialAttentionOp op, ImplicitLocOpBuilder &b,
                           int64_t splitTokens)
      : op(op), b(b), e{b}, splitTokens(splitTokens) {}

  void lower(RewriterBase &rewriter);

private:
  // Op-wide steps.
  void readOperands();
  void planVectorization();
  void planChunks();
  SmallVector<Value> taskSpace();
  void emitMerge(ValueRange row);

  // The steps of one task.
  void emitTask(ValueRange row);
  void allocateTaskScratch();
  void resetRunningState();
  void emitSelectedBlocks();
  void emitPositionBlocks();
  void storeTaskPartials();

  // One block of up to kTokenBlock positions.
  void processBlock(Value blockStart, Value count, bool resolve);
  void resolveBlockTokens(Value count);
  void padBlockScores(Value count);
  void scoreBlock(Value count);
  SmallVector<Value> scoreToken(Value t, ArrayRef<Value> heads);
  void prefetchValueRow(Value t);
  void updateRunningSoftmax();
  void accumulateValues(Value count);

  // Loops and indices within a task.
  void setKVHead(Value head);
  void forEachKVHead(function_ref<void()> body);
  void forEachHead(function_ref<void(Value)> body);
  void forEachTile(function_ref<void(ArrayRef<Value>)> body);
  void forEachLane(function_ref<void(Value)> body);
  SmallVector<Value> onToken(Value j, ValueRange skipped,
                             function_ref<SmallVector<Value>(Value)> body);
  Value blockCount(Value first, Value last);
  Value headOf(Value g) { return arith::AddIOp::create(b, h0, g); }
  Value stateOf(Value g) { return allHeads ? headOf(g) : g; }
  SmallVector<Value> accAt(Value g) { return {bi, headOf(g), sp}; }
  SmallVector<Value> kvAt(Value t) {
    if (paged)
      return paged->at(e, bi, hk, t);
    return {bi, hk, t};
  }

  PartialAttentionOp op;
  ImplicitLocOpBuilder &b;
  Emitter e;
  int64_t splitTokens;

  // Operands (a paged tier view is read through its block table, in place)
  // and sizes.
  std::optional<PagedKV> paged;
  Value q, k, v, indices, lengths;
  Value batch, qHeads, headDim, kvHeads, tokens, vHeadDim, group, scale;
  double softcap = 0;
  // Vectorization: head-dim loops, V cache lines to prefetch (each
  // `lineLanes` elements), query heads per tile, lane chunks per PV step.
  std::optional<HeadDimLoop> qkLoop, pvLoop;
  int64_t lineLanes = 0, prefetchLines = 0, tile = 1, pvChunks = 1, pvLanes = 1;
  // Results.
  Value out, lse;
  // Split-K: positions, chunks of `chunk` positions, the chunks' partials.
  Value blockSize, positions, chunk, splits;
  bool wholeBlocks = false, allHeads = false;
  Value partMax, partSum, partAcc;

  // The task: its sequence, chunk and KV head (the one being emitted when
  // allHeads), its valid tokens and positions [begin, end).
  Value bi, sp, hk, h0, n, begin, end;
  // Running max and sum per query head of the group (of every group when
  // allHeads: they persist across the heads' turns), the block's rescale,
  // its scores then (in place) probabilities, and (sparse) its tokens.
  Value runMax, runSum, rescale, weights, blockTokens;
  // The block being emitted: its first position, and whether positions
  // resolve through the selected entries.
  Value tb;
  bool resolving = false;
};

} // namespace mlir::hgc::lowering

#endif // HGC_CODEGEN_PARTIALATTENTIONLOWERING_H
