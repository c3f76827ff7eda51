//===- PartialAttentionBlock.cpp - one block of a partial -----------------===//
//
// One block of up to kTokenBlock positions of a partial attention task: its
// tokens (sparse), scores, the online softmax step and the PV accumulation.
//
//===----------------------------------------------------------------------===//

#include "codegen/PartialAttentionLowering.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

/// One block of up to 16 positions from `blockStart`: tokens themselves,
/// or (resolve) positions into the selected entries.
void PartialAttentionLowering::processBlock(Value blockStart, Value count,
                                            bool resolve) {
  tb = blockStart;
  resolving = resolve;
  // 1. Dense positions from a multiple of 16: one run of a paged cache.
  if (paged && !resolve)
    paged->beginRun(e, bi, blockStart, kTokenBlock);
  else if (paged)
    paged->endRun();
  // 2. Sparse: the block's tokens.
  if (resolve)
    resolveBlockTokens(count);
  // 3. Scores, -inf past a short last block.
  padBlockScores(count);
  scoreBlock(count);
  // 4. The online softmax step, probabilities in place of the scores.
  updateRunningSoftmax();
  // 5. Probabilities times V into the accumulators.
  accumulateValues(count);
}

/// The token of each of the block's positions, -1 where its entry selects
/// nothing or the token is past the sequence.
void PartialAttentionLowering::resolveBlockTokens(Value count) {
  e.forLoop(e.index(0), count, {}, [&](Value j, ValueRange) {
    Value position = arith::AddIOp::create(b, tb, j);
    Value entry = e.load(
        indices, {bi, hk, arith::DivUIOp::create(b, position, blockSize)});
    Value t = arith::AddIOp::create(
        b, arith::MulIOp::create(b, e.toIndex(entry), blockSize),
        arith::RemUIOp::create(b, position, blockSize));
    Value valid = arith::AndIOp::create(
        b, e.icmp(arith::CmpIPredicate::sge, entry, e.i32(0)),
        e.icmp(arith::CmpIPredicate::slt, t, n));
    memref::StoreOp::create(b, e.select(valid, t, e.index(-1)), blockTokens, j);
    return SmallVector<Value>{};
  });
}

/// A short last block: its missing scores are -inf.
void PartialAttentionLowering::padBlockScores(Value count) {
  forEachHead([&](Value g) {
    e.forLoop(count, e.index(kTokenBlock), {}, [&](Value j, ValueRange) {
      memref::StoreOp::create(b, e.negInf(), weights, ValueRange{g, j});
      return SmallVector<Value>{};
    });
  });
}

/// Scores: each K row (widened once) against the tile's query heads.
void PartialAttentionLowering::scoreBlock(Value count) {
  forEachTile([&](ArrayRef<Value> heads) {
    e.forLoop(e.index(0), count, {}, [&](Value j, ValueRange) {
      SmallVector<Value> skipped(heads.size(), e.negInf());
      SmallVector<Value> scores =
          onToken(j, skipped, [&](Value t) { return scoreToken(t, heads); });
      for (auto [g, score] : llvm::zip(heads, scores))
        memref::StoreOp::create(b, score, weights, ValueRange{g, j});
      return SmallVector<Value>{};
    });
  });
}

/// Token `t`'s scaled (softcapped) score for each of `heads`.
SmallVector<Value> PartialAttentionLowering::scoreToken(Value t,
                                                        ArrayRef<Value> heads) {
  SmallVector<Value> zeros(heads.size(), qkLoop->zero());
  SmallVector<Value> dots = qkLoop->over(zeros, [&](Value d, ValueRange acc) {
    Value key = qkLoop->load(k, kvAt(t), d);
    SmallVector<Value> next;
    for (auto [g, a] : llvm::zip(heads, acc))
      next.push_back(qkLoop->fma(qkLoop->load(q, {bi, headOf(g)}, d), key, a));
    return next;
  });
  prefetchValueRow(t);
  SmallVector<Value> result;
  for (Value dot : qkLoop->sums(dots)) {
    Value score = e.mul(dot, scale);
    if (softcap > 0) {
      Value cap = e.f32(softcap);
      score = e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
    }
    result.push_back(score);
  }
  return result;
}

/// The PV pass reads V column-chunk-wise across the block's rows, a pattern
/// the hardware prefetchers miss: pull each row in (one prefetch per cache
/// line) while its K row streams.
void PartialAttentionLowering::prefetchValueRow(Value t) {
  SmallVector<Value> row = kvAt(t);
  row.push_back(Value());
  for (int64_t line = 0; line < prefetchLines; ++line) {
    row.back() = e.index(line * lineLanes);
    memref::PrefetchOp::create(b, v, row, /*isWrite=*/false,
                               /*localityHint=*/3,
                               /*isDataCache=*/true);
  }
}

/// Online softmax, once per block and head, on the block's 16 scores as one
/// vector (entries past the count hold -inf and weigh 0): new max, the
/// rescale of what came before, the probabilities in place.
void PartialAttentionLowering::updateRunningSoftmax() {
  auto blockType = VectorType::get({kTokenBlock}, b.getF32Type());
  forEachHead([&](Value g) {
    Value m = memref::LoadOp::create(b, runMax, stateOf(g));
    Value scores = vector::LoadOp::create(b, blockType, weights,
                                          ValueRange{g, e.index(0)});
    Value mNew = e.fastMax(m, vector::ReductionOp::create(
                                  b, vector::CombiningKind::MAXNUMF, scores));
    // Nothing attended yet: exps against 0 give the zeros they should.
    Value mSafe = e.select(e.fcmp(arith::CmpFPredicate::OEQ, mNew, e.negInf()),
                           e.f32(0), mNew);
    Value correction = e.exp(e.sub(m, mSafe));
    Value p =
        e.exp(e.sub(scores, vector::BroadcastOp::create(b, blockType, mSafe)));
    vector::StoreOp::create(b, p, weights, ValueRange{g, e.index(0)});
    Value sum =
        e.add(e.mul(memref::LoadOp::create(b, runSum, stateOf(g)), correction),
              vector::ReductionOp::create(b, vector::CombiningKind::ADD, p));
    memref::StoreOp::create(b, mNew, runMax, stateOf(g));
    memref::StoreOp::create(b, sum, runSum, stateOf(g));
    memref::StoreOp::create(b, correction, rescale, g);
  });
}

/// Probabilities times V: per group of lane chunks the tile's accumulators
/// stay in registers over the block, each V row widened once and each
/// probability broadcast once per group.
void PartialAttentionLowering::accumulateValues(Value count) {
  forEachTile([&](ArrayRef<Value> heads) {
    e.forLoop(
        e.index(0), vHeadDim, {}, e.index(pvLanes), [&](Value d0, ValueRange) {
          SmallVector<Value> lanes;
          for (int64_t c = 0; c < pvChunks; ++c)
            lanes.push_back(arith::AddIOp::create(
                b, d0, e.index(c * (pvLanes / pvChunks))));
          SmallVector<Value> acc;
          for (Value g : heads) {
            Value correction =
                pvLoop->splat(memref::LoadOp::create(b, rescale, g));
            for (Value d : lanes)
              acc.push_back(
                  e.mul(pvLoop->load(partAcc, accAt(g), d), correction));
          }
          ValueRange sums = e.forLoop(
              e.index(0), count, acc, [&](Value j, ValueRange running) {
                return onToken(j, running, [&](Value t) {
                  SmallVector<Value> values;
                  for (Value d : lanes)
                    values.push_back(pvLoop->load(v, kvAt(t), d));
                  SmallVector<Value> next;
                  for (auto [i, g] : llvm::enumerate(heads)) {
                    Value p = pvLoop->splat(
                        memref::LoadOp::create(b, weights, ValueRange{g, j}));
                    for (auto [c, value] : llvm::enumerate(values))
                      next.push_back(pvLoop->fma(
                          p, value, running[i * values.size() + c]));
                  }
                  return next;
                });
              });
          for (auto [i, g] : llvm::enumerate(heads))
            for (auto [c, d] : llvm::enumerate(lanes))
              pvLoop->store(sums[i * lanes.size() + c], partAcc, accAt(g), d);
          return SmallVector<Value>{};
        });
  });
}

} // namespace mlir::hgc::lowering
