//===- PartialAttentionLowering.cpp - hgc.partial_attention to loops ------===//
//
// Split-K online softmax over the attended positions: the tokens themselves
// (dense), or the selected entries expanded to block_size tokens each
// (sparse). Each (batch, KV head, chunk) task keeps its own (max, sum, acc)
// per query head of the GQA group; a second pass merges the chunks by
// log-sum-exp. The steps of one block of positions (the online softmax
// proper) are in PartialAttentionBlock.cpp.
//
//===----------------------------------------------------------------------===//

#include "codegen/PartialAttentionLowering.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

void PartialAttentionLowering::lower(RewriterBase &rewriter) {
  // 1. Operands as buffers (a paged view through its table), with sizes.
  readOperands();
  // 2. Head-dim vectors, head tiles and V prefetches.
  planVectorization();
  // 3. The results.
  out = e.alloc(op.getOutput().getType(), {batch, qHeads, vHeadDim});
  lse = e.alloc(op.getLse().getType(), {batch, qHeads});
  // 4. Positions cut into chunks, with a (max, sum, acc) buffer each.
  planChunks();
  // 5. Per task in parallel: the online softmax over its chunk.
  e.parallel(taskSpace(), [&](ValueRange row) { emitTask(row); });
  // 6. Per (sequence, query head) in parallel: the chunks merged.
  e.parallel({batch, qHeads}, [&](ValueRange row) { emitMerge(row); });
  // 7. The results replace the op's.
  Value outTensor = e.tensor(out, op.getOutput().getType());
  rewriter.replaceOp(op, {outTensor, e.tensor(lse, op.getLse().getType())});
}

void PartialAttentionLowering::readOperands() {
  paged = PagedKV::of(e, op.getKey());
  q = e.buffer(op.getQuery());
  k = paged ? paged->key : e.buffer(op.getKey());
  v = paged ? paged->value : e.buffer(op.getValue());
  indices = op.getIndices() ? e.buffer(op.getIndices()) : Value();
  lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  batch = e.dim(q, 0);
  qHeads = e.dim(q, 1);
  headDim = e.dim(q, 2);
  kvHeads = paged ? e.index(op.getKey().getType().getDimSize(1)) : e.dim(k, 1);
  tokens = paged ? longestLength(e, lengths) : e.dim(k, 2);
  vHeadDim = e.dim(v, 3);
  group = arith::DivUIOp::create(b, qHeads, kvHeads);
  scale = e.scale(op.getScale(), headDim);
  softcap = op.getSoftcap().convertToDouble();
}

void PartialAttentionLowering::planVectorization() {
  qkLoop.emplace(e, headDim, op.getQuery().getType().getDimSize(2));
  pvLoop.emplace(e, vHeadDim, op.getValue().getType().getDimSize(3));
  // Cache lines of a V row to prefetch (a static head dim).
  Type kvElement = op.getValue().getType().getElementType();
  lineLanes = 64 / std::max<int64_t>(1, kvElement.getIntOrFloatBitWidth() / 8);
  int64_t vDim = op.getValue().getType().getDimSize(3);
  prefetchLines =
      ShapedType::isDynamic(vDim) ? 0 : llvm::divideCeil(vDim, lineLanes);
  tile = headTile(op.getQuery().getType().getDimSize(1),
                  op.getKey().getType().getDimSize(1));
  // Lane chunks per PV step: two when the tile's accumulators for both,
  // the V vectors and a probability still fit the 16 vector registers.
  pvChunks =
      pvLoop->vectorized && vDim % (2 * kLanes) == 0 && 3 * tile + 2 <= 16 ? 2
                                                                           : 1;
  pvLanes = pvChunks * (pvLoop->vectorized ? kLanes : 1);
}

/// Split-K cuts the positions into chunks that run in parallel with their
/// own (max, sum, acc).
void PartialAttentionLowering::planChunks() {
  blockSize = e.index(op.getBlockSize());
  positions =
      indices ? arith::MulIOp::create(b, e.dim(indices, 2), blockSize) : tokens;
  // Selected blocks of whole 16-token blocks are attended block by block;
  // chunks then hold whole entries.
  wholeBlocks = indices && op.getBlockSize() % kTokenBlock == 0;
  int64_t chunkPositions =
      std::max(kTokenBlock, splitTokens / kTokenBlock * kTokenBlock);
  if (wholeBlocks)
    chunkPositions = llvm::alignTo(chunkPositions, op.getBlockSize());
  chunk = e.index(chunkPositions);
  splits = arith::CeilDivUIOp::create(b, positions, chunk);
  splits = arith::MaxUIOp::create(b, splits, e.index(1));
  auto f32Buffer = [&](ArrayRef<Value> sizes) {
    SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
    return memref::AllocOp::create(b, MemRefType::get(shape, b.getF32Type()),
                                   sizes);
  };
  partMax = f32Buffer({batch, qHeads, splits});
  partSum = f32Buffer({batch, qHeads, splits});
  partAcc = f32Buffer({batch, qHeads, splits, vHeadDim});
}

/// One pass over a KV head's chunk serves every query head of its group:
/// K and V rows come from memory once, then from L1. Token-major paged
/// blocks (NHD) hold every head's row of a token together: a task then
/// takes a chunk for all KV heads, head by head within each 16-token block,
/// so it streams the blocks in address order (a head at a time would
/// stride over the others' rows, which the prefetchers do not follow).
SmallVector<Value> PartialAttentionLowering::taskSpace() {
  allHeads = paged && !paged->headsMajor && !indices;
  if (allHeads)
    return {batch, splits};
  return {batch, kvHeads, splits};
}

void PartialAttentionLowering::emitTask(ValueRange row) {
  // 1. The task's sequence, chunk, KV head and positions [begin, end).
  bi = row[0];
  sp = row.back();
  if (!allHeads)
    setKVHead(row[1]);
  n = e.validTokens(lengths, bi, tokens);
  begin = arith::MulIOp::create(b, sp, chunk);
  end = arith::MinSIOp::create(b, arith::AddIOp::create(b, begin, chunk),
                               indices ? positions : n);
  // 2. Its running state and block buffers, reset.
  allocateTaskScratch();
  resetRunningState();
  // 3. Its blocks: whole selected entries, or runs of 16 positions.
  if (wholeBlocks)
    emitSelectedBlocks();
  else
    emitPositionBlocks();
  // 4. Its (max, sum) partials beside the accumulators.
  storeTaskPartials();
}

void PartialAttentionLowering::allocateTaskScratch() {
  auto scratch = [&](ArrayRef<int64_t> shape, Type type, ValueRange sizes) {
    return memref::AllocaOp::create(b, MemRefType::get(shape, type), sizes);
  };
  Type f32 = b.getF32Type();
  Value stateHeads = allHeads ? qHeads : group;
  runMax = scratch({ShapedType::kDynamic}, f32, stateHeads);
  runSum = scratch({ShapedType::kDynamic}, f32, stateHeads);
  rescale = scratch({ShapedType::kDynamic}, f32, group);
  weights =
      scratch({ShapedType::kDynamic, kTokenBlock}, f32, ValueRange{group});
  // Sparse: the block's tokens, -1 where an entry is skipped.
  blockTokens = indices && !wholeBlocks
                    ? scratch({kTokenBlock}, b.getIndexType(), {})
                    : Value();
}

void PartialAttentionLowering::resetRunningState() {
  forEachKVHead([&] {
    forEachHead([&](Value g) {
      memref::StoreOp::create(b, e.negInf(), runMax, stateOf(g));
      memref::StoreOp::create(b, e.f32(0), runSum, stateOf(g));
      forEachLane([&](Value d) {
        pvLoop->store(pvLoop->zero(), partAcc, accAt(g), d);
      });
    });
  });
}

/// Selected blocks that are whole token blocks: each selected entry is a
/// contiguous token range, attended like dense tokens (no per-token
/// resolution or branch).
void PartialAttentionLowering::emitSelectedBlocks() {
  Value lastEntry = arith::DivUIOp::create(b, end, blockSize);
  e.forLoop(
      arith::DivUIOp::create(b, begin, blockSize), lastEntry, {},
      [&](Value entryIndex, ValueRange) {
        Value entry = e.load(indices, {bi, hk, entryIndex});
        e.ifThen(e.icmp(arith::CmpIPredicate::sge, entry, e.i32(0)), {}, [&]() {
          Value start = arith::MulIOp::create(b, e.toIndex(entry), blockSize);
          Value stop = arith::MinSIOp::create(
              b, arith::AddIOp::create(b, start, blockSize), n);
          e.forLoop(start, stop, {}, e.index(kTokenBlock),
                    [&](Value first, ValueRange) {
                      processBlock(first, blockCount(first, stop),
                                   /*resolve=*/false);
                      return SmallVector<Value>{};
                    });
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
}

void PartialAttentionLowering::emitPositionBlocks() {
  e.forLoop(begin, end, {}, e.index(kTokenBlock), [&](Value first, ValueRange) {
    forEachKVHead([&] {
      processBlock(first, blockCount(first, end),
                   /*resolve=*/static_cast<bool>(indices));
    });
    return SmallVector<Value>{};
  });
}

void PartialAttentionLowering::storeTaskPartials() {
  forEachKVHead([&] {
    forEachHead([&](Value g) {
      SmallVector<Value> at = accAt(g);
      memref::StoreOp::create(b, memref::LoadOp::create(b, runMax, stateOf(g)),
                              partMax, at);
      memref::StoreOp::create(b, memref::LoadOp::create(b, runSum, stateOf(g)),
                              partSum, at);
    });
  });
}

/// Merges the chunks of row (sequence, query head); an empty row (every sum
/// 0) gives output 0 and LSE -inf, never NaN.
void PartialAttentionLowering::emitMerge(ValueRange row) {
  Value seq = row[0], h = row[1];
  Value m = e.forLoop(
      e.index(0), splits, {e.negInf()}, [&](Value split, ValueRange c) {
        Value ms =
            memref::LoadOp::create(b, partMax, ValueRange{seq, h, split});
        return SmallVector<Value>{e.max(c[0], ms)};
      })[0];
  Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, e.negInf());
  Value mSafe = e.select(empty, e.f32(0), m);
  auto weight = [&](Value split) {
    return e.exp(e.sub(
        memref::LoadOp::create(b, partMax, ValueRange{seq, h, split}), mSafe));
  };
  Value l =
      e.forLoop(e.index(0), splits, {e.f32(0)}, [&](Value split, ValueRange c) {
        Value ls =
            memref::LoadOp::create(b, partSum, ValueRange{seq, h, split});
        return SmallVector<Value>{e.add(c[0], e.mul(weight(split), ls))};
      })[0];
  Value nonEmpty = e.fcmp(arith::CmpFPredicate::OGT, l, e.f32(0));
  Value inverse = e.select(nonEmpty, e.div(e.f32(1), l), e.f32(0));
  e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
    Value a = e.forLoop(
        e.index(0), splits, {e.f32(0)}, [&](Value split, ValueRange c) {
          Value as =
              memref::LoadOp::create(b, partAcc, ValueRange{seq, h, split, d});
          return SmallVector<Value>{e.add(c[0], e.mul(weight(split), as))};
        })[0];
    e.storeF32(e.mul(a, inverse), out, {seq, h, d});
    return SmallVector<Value>{};
  });
  Value logSum = e.add(mSafe, e.log(e.select(nonEmpty, l, e.f32(1))));
  memref::StoreOp::create(b, e.select(nonEmpty, logSum, e.negInf()), lse,
                          ValueRange{seq, h});
}

/// The KV head `head` (h0 its first query head) becomes the one emitted.
void PartialAttentionLowering::setKVHead(Value head) {
  hk = head;
  h0 = arith::MulIOp::create(b, hk, group);
}

/// `body` for the task's KV head, or for each in turn when allHeads.
void PartialAttentionLowering::forEachKVHead(function_ref<void()> body) {
  if (!allHeads) {
    body();
    return;
  }
  e.forLoop(e.index(0), kvHeads, {}, [&](Value head, ValueRange) {
    setKVHead(head);
    body();
    return SmallVector<Value>{};
  });
}

void PartialAttentionLowering::forEachHead(function_ref<void(Value)> body) {
  e.forLoop(e.index(0), group, {}, [&](Value g, ValueRange) {
    body(g);
    return SmallVector<Value>{};
  });
}

/// Tiles of `tile` heads: g0 + 0 .. g0 + tile - 1.
void PartialAttentionLowering::forEachTile(
    function_ref<void(ArrayRef<Value>)> body) {
  e.forLoop(e.index(0), group, {}, e.index(tile), [&](Value g0, ValueRange) {
    SmallVector<Value> heads;
    for (int64_t i = 0; i < tile; ++i)
      heads.push_back(arith::AddIOp::create(b, g0, e.index(i)));
    body(heads);
    return SmallVector<Value>{};
  });
}

void PartialAttentionLowering::forEachLane(function_ref<void(Value)> body) {
  e.forLoop(e.index(0), vHeadDim, {}, pvLoop->step(), [&](Value d, ValueRange) {
    body(d);
    return SmallVector<Value>{};
  });
}

/// Runs `body` on the block's j-th token; sparse skips entries that select
/// nothing (carrying `skipped` instead) without touching K or V.
SmallVector<Value> PartialAttentionLowering::onToken(
    Value j, ValueRange skipped, function_ref<SmallVector<Value>(Value)> body) {
  if (!resolving)
    return body(arith::AddIOp::create(b, tb, j));
  Value t = memref::LoadOp::create(b, blockTokens, j);
  Value valid = e.icmp(arith::CmpIPredicate::sge, t, e.index(0));
  return llvm::to_vector(e.ifThen(valid, skipped, [&]() { return body(t); }));
}

/// The `kTokenBlock` positions from `first`, clipped to `last`.
Value PartialAttentionLowering::blockCount(Value first, Value last) {
  return arith::SubIOp::create(
      b,
      arith::MinSIOp::create(
          b, arith::AddIOp::create(b, first, e.index(kTokenBlock)), last),
      first);
}

void lowerPartialAttention(RewriterBase &rewriter, PartialAttentionOp op,
                           int64_t splitTokens) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  PartialAttentionLowering(op, b, splitTokens).lower(rewriter);
}

} // namespace mlir::hgc::lowering
