//===- PartialAttentionLowering.cpp - partials and LSE merge --------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "codegen/PagedKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

//===----------------------------------------------------------------------===//
// hgc.partial_attention: split-K online softmax over the attended tokens.
//===----------------------------------------------------------------------===//

/// Tokens scored before the online softmax rescales: the block's scores for
/// a whole GQA group stay in L1, and the exps of a block run back to back.
constexpr int64_t kTokenBlock = 16;

void lowerPartialAttention(RewriterBase &rewriter, PartialAttentionOp op,
                           int64_t splitTokens) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  // A paged tier view is read through its block table, in place.
  std::optional<PagedKV> paged = PagedKV::of(e, op.getKey());
  Value q = e.buffer(op.getQuery());
  Value k = paged ? paged->key : e.buffer(op.getKey());
  Value v = paged ? paged->value : e.buffer(op.getValue());
  Value indices = op.getIndices() ? e.buffer(op.getIndices()) : Value();
  Value lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  Value batch = e.dim(q, 0), qHeads = e.dim(q, 1), headDim = e.dim(q, 2);
  Value kvHeads =
      paged ? e.index(op.getKey().getType().getDimSize(1)) : e.dim(k, 1);
  Value tokens = paged ? longestLength(e, lengths) : e.dim(k, 2);
  Value vHeadDim = e.dim(v, 3);
  auto kvAt = [&](Value bi, Value hk, Value t) -> SmallVector<Value> {
    if (paged)
      return paged->at(e, bi, hk, t);
    return {bi, hk, t};
  };
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);
  double softcap = op.getSoftcap().convertToDouble();
  HeadDimLoop qkLoop(e, headDim, op.getQuery().getType().getDimSize(2));
  HeadDimLoop pvLoop(e, vHeadDim, op.getValue().getType().getDimSize(3));
  // Cache lines of a V row to prefetch (a static head dim), each
  // `lineLanes` elements.
  Type kvElement = op.getValue().getType().getElementType();
  int64_t lineLanes =
      64 / std::max<int64_t>(1, kvElement.getIntOrFloatBitWidth() / 8);
  int64_t vDim = op.getValue().getType().getDimSize(3);
  int64_t prefetchLines =
      ShapedType::isDynamic(vDim) ? 0 : llvm::divideCeil(vDim, lineLanes);
  int64_t tile = headTile(op.getQuery().getType().getDimSize(1),
                          op.getKey().getType().getDimSize(1));
  // Lane chunks per PV step: two when the tile's accumulators for both,
  // the V vectors and a probability still fit the 16 vector registers.
  int64_t pvChunks =
      pvLoop.vectorized && vDim % (2 * kLanes) == 0 && 3 * tile + 2 <= 16 ? 2
                                                                          : 1;
  int64_t pvLanes = pvChunks * (pvLoop.vectorized ? kLanes : 1);
  Value out = e.alloc(op.getOutput().getType(), {batch, qHeads, vHeadDim});
  Value lse = e.alloc(op.getLse().getType(), {batch, qHeads});

  // Positions are what the kernel walks: the tokens themselves (dense), or
  // the selected entries expanded to block_size tokens each (sparse).
  // Split-K cuts them into chunks that run in parallel with their own
  // (max, sum, acc); a second pass merges the chunks by log-sum-exp.
  Value blockSize = e.index(op.getBlockSize());
  Value positions =
      indices ? arith::MulIOp::create(b, e.dim(indices, 2), blockSize) : tokens;
  // Selected blocks of whole 16-token blocks are attended block by block;
  // chunks then hold whole entries.
  bool wholeBlocks = indices && op.getBlockSize() % kTokenBlock == 0;
  int64_t chunkPositions =
      std::max(kTokenBlock, splitTokens / kTokenBlock * kTokenBlock);
  if (wholeBlocks)
    chunkPositions = llvm::alignTo(chunkPositions, op.getBlockSize());
  Value chunk = e.index(chunkPositions);
  Value splits = arith::CeilDivUIOp::create(b, positions, chunk);
  splits = arith::MaxUIOp::create(b, splits, e.index(1));
  auto f32Buffer = [&](ArrayRef<Value> sizes) {
    SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
    return memref::AllocOp::create(b, MemRefType::get(shape, b.getF32Type()),
                                   sizes);
  };
  Value partMax = f32Buffer({batch, qHeads, splits});
  Value partSum = f32Buffer({batch, qHeads, splits});
  Value partAcc = f32Buffer({batch, qHeads, splits, vHeadDim});

  // One pass over a KV head's chunk serves every query head of its group:
  // K and V rows come from memory once, then from L1. Token-major paged
  // blocks (NHD) hold every head's row of a token together: a task then
  // takes a chunk for all KV heads, head by head within each 16-token
  // block, so it streams the blocks in address order (a head at a time
  // would stride over the others' rows, which the prefetchers do not
  // follow).
  bool allHeads = paged && !paged->headsMajor && !indices;
  SmallVector<Value> space = {batch, kvHeads, splits};
  if (allHeads)
    space = {batch, splits};
  e.parallel(space, [&](ValueRange row) {
    Value bi = row[0], sp = row.back();
    // The KV head being emitted (a loop over all of them when allHeads).
    Value hk, h0;
    auto setHead = [&](Value head) {
      hk = head;
      h0 = arith::MulIOp::create(b, hk, group);
    };
    auto forEachKVHead = [&](function_ref<void()> body) {
      if (!allHeads) {
        body();
        return;
      }
      e.forLoop(e.index(0), kvHeads, {}, [&](Value head, ValueRange) {
        setHead(head);
        body();
        return SmallVector<Value>{};
      });
    };
    if (!allHeads)
      setHead(row[1]);
    Value n = e.validTokens(lengths, bi, tokens);
    Value begin = arith::MulIOp::create(b, sp, chunk);
    Value end = arith::MinSIOp::create(
        b, arith::AddIOp::create(b, begin, chunk), indices ? positions : n);
    auto scratch = [&](ArrayRef<int64_t> shape, Type type, ValueRange sizes) {
      return memref::AllocaOp::create(b, MemRefType::get(shape, type), sizes);
    };
    Type f32 = b.getF32Type();
    // Running max and sum per query head of the group (of every group when
    // allHeads: they persist across the heads' turns).
    Value stateHeads = allHeads ? qHeads : group;
    Value runMax = scratch({ShapedType::kDynamic}, f32, stateHeads);
    Value runSum = scratch({ShapedType::kDynamic}, f32, stateHeads);
    Value rescale = scratch({ShapedType::kDynamic}, f32, group);
    // Scores of the block, then (in place) its probabilities.
    Value weights =
        scratch({ShapedType::kDynamic, kTokenBlock}, f32, ValueRange{group});
    // Sparse: the block's tokens, -1 where an entry is skipped.
    Value blockTokens = indices && !wholeBlocks
                            ? scratch({kTokenBlock}, b.getIndexType(), {})
                            : Value();
    auto headOf = [&](Value g) { return arith::AddIOp::create(b, h0, g); };
    auto stateOf = [&](Value g) -> Value { return allHeads ? headOf(g) : g; };
    auto accAt = [&](Value g) -> SmallVector<Value> {
      return {bi, headOf(g), sp};
    };
    auto forEachHead = [&](function_ref<void(Value)> body) {
      e.forLoop(e.index(0), group, {}, [&](Value g, ValueRange) {
        body(g);
        return SmallVector<Value>{};
      });
    };
    // Tiles of `tile` heads: g0 + 0 .. g0 + tile - 1.
    auto forEachTile = [&](function_ref<void(ArrayRef<Value>)> body) {
      e.forLoop(e.index(0), group, {}, e.index(tile),
                [&](Value g0, ValueRange) {
                  SmallVector<Value> heads;
                  for (int64_t i = 0; i < tile; ++i)
                    heads.push_back(arith::AddIOp::create(b, g0, e.index(i)));
                  body(heads);
                  return SmallVector<Value>{};
                });
    };
    auto forEachLane = [&](function_ref<void(Value)> body) {
      e.forLoop(e.index(0), vHeadDim, {}, pvLoop.step(),
                [&](Value d, ValueRange) {
                  body(d);
                  return SmallVector<Value>{};
                });
    };
    // Runs `body` on the block's j-th token; sparse skips entries that
    // select nothing (carrying `skipped` instead) without touching K or V.
    Value tb;
    bool resolving = false;
    auto onToken = [&](Value j, ValueRange skipped,
                       function_ref<SmallVector<Value>(Value)> body) {
      if (!resolving)
        return body(arith::AddIOp::create(b, tb, j));
      Value t = memref::LoadOp::create(b, blockTokens, j);
      Value valid = e.icmp(arith::CmpIPredicate::sge, t, e.index(0));
      return llvm::to_vector(
          e.ifThen(valid, skipped, [&]() { return body(t); }));
    };

    forEachKVHead([&] {
      forEachHead([&](Value g) {
        memref::StoreOp::create(b, e.negInf(), runMax, stateOf(g));
        memref::StoreOp::create(b, e.f32(0), runSum, stateOf(g));
        forEachLane([&](Value d) {
          pvLoop.store(pvLoop.zero(), partAcc, accAt(g), d);
        });
      });
    });
    // One block of up to 16 positions from `blockStart`: tokens themselves,
    // or (resolve) positions into the selected entries.
    auto processBlock = [&](Value blockStart, Value count, bool resolve) {
      tb = blockStart;
      resolving = resolve;
      // Dense positions from a multiple of 16: one run of a paged cache.
      if (paged && !resolve)
        paged->beginRun(e, bi, blockStart, kTokenBlock);
      else if (paged)
        paged->endRun();
      if (resolve)
        e.forLoop(e.index(0), count, {}, [&](Value j, ValueRange) {
          Value position = arith::AddIOp::create(b, tb, j);
          Value entry =
              e.load(indices,
                     {bi, hk, arith::DivUIOp::create(b, position, blockSize)});
          Value t = arith::AddIOp::create(
              b, arith::MulIOp::create(b, e.toIndex(entry), blockSize),
              arith::RemUIOp::create(b, position, blockSize));
          Value valid = arith::AndIOp::create(
              b, e.icmp(arith::CmpIPredicate::sge, entry, e.i32(0)),
              e.icmp(arith::CmpIPredicate::slt, t, n));
          memref::StoreOp::create(b, e.select(valid, t, e.index(-1)),
                                  blockTokens, j);
          return SmallVector<Value>{};
        });
      // A short last block: its missing scores are -inf.
      forEachHead([&](Value g) {
        e.forLoop(count, e.index(kTokenBlock), {}, [&](Value j, ValueRange) {
          memref::StoreOp::create(b, e.negInf(), weights, ValueRange{g, j});
          return SmallVector<Value>{};
        });
      });
      // Scores: each K row (widened once) against the tile's query heads.
      forEachTile([&](ArrayRef<Value> heads) {
        e.forLoop(e.index(0), count, {}, [&](Value j, ValueRange) {
          SmallVector<Value> skipped(heads.size(), e.negInf());
          SmallVector<Value> scores = onToken(j, skipped, [&](Value t) {
            SmallVector<Value> zeros(heads.size(), qkLoop.zero());
            SmallVector<Value> dots =
                qkLoop.over(zeros, [&](Value d, ValueRange acc) {
                  Value key = qkLoop.load(k, kvAt(bi, hk, t), d);
                  SmallVector<Value> next;
                  for (auto [g, a] : llvm::zip(heads, acc))
                    next.push_back(
                        qkLoop.fma(qkLoop.load(q, {bi, headOf(g)}, d), key, a));
                  return next;
                });
            // The PV pass reads V column-chunk-wise across the block's
            // rows, a pattern the hardware prefetchers miss: pull each
            // row in (one prefetch per cache line) while its K row
            // streams.
            SmallVector<Value> row = kvAt(bi, hk, t);
            row.push_back(Value());
            for (int64_t line = 0; line < prefetchLines; ++line) {
              row.back() = e.index(line * lineLanes);
              memref::PrefetchOp::create(b, v, row, /*isWrite=*/false,
                                         /*localityHint=*/3,
                                         /*isDataCache=*/true);
            }
            SmallVector<Value> result;
            for (Value dot : qkLoop.sums(dots)) {
              Value score = e.mul(dot, scale);
              if (softcap > 0) {
                Value cap = e.f32(softcap);
                score = e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
              }
              result.push_back(score);
            }
            return result;
          });
          for (auto [g, score] : llvm::zip(heads, scores))
            memref::StoreOp::create(b, score, weights, ValueRange{g, j});
          return SmallVector<Value>{};
        });
      });
      // Online softmax, once per block and head, on the block's 16 scores
      // as one vector (entries past `count` hold -inf and weigh 0): new
      // max, the rescale of what came before, the probabilities in place.
      auto blockType = VectorType::get({kTokenBlock}, f32);
      forEachHead([&](Value g) {
        Value m = memref::LoadOp::create(b, runMax, stateOf(g));
        Value scores = vector::LoadOp::create(b, blockType, weights,
                                              ValueRange{g, e.index(0)});
        Value mNew =
            e.fastMax(m, vector::ReductionOp::create(
                             b, vector::CombiningKind::MAXNUMF, scores));
        // Nothing attended yet: exps against 0 give the zeros they should.
        Value mSafe =
            e.select(e.fcmp(arith::CmpFPredicate::OEQ, mNew, e.negInf()),
                     e.f32(0), mNew);
        Value correction = e.exp(e.sub(m, mSafe));
        Value p = e.exp(
            e.sub(scores, vector::BroadcastOp::create(b, blockType, mSafe)));
        vector::StoreOp::create(b, p, weights, ValueRange{g, e.index(0)});
        Value sum = e.add(
            e.mul(memref::LoadOp::create(b, runSum, stateOf(g)), correction),
            vector::ReductionOp::create(b, vector::CombiningKind::ADD, p));
        memref::StoreOp::create(b, mNew, runMax, stateOf(g));
        memref::StoreOp::create(b, sum, runSum, stateOf(g));
        memref::StoreOp::create(b, correction, rescale, g);
      });
      // Probabilities times V: per group of lane chunks the tile's
      // accumulators stay in registers over the block, each V row widened
      // once and each probability broadcast once per group.
      forEachTile([&](ArrayRef<Value> heads) {
        e.forLoop(
            e.index(0), vHeadDim, {}, e.index(pvLanes),
            [&](Value d0, ValueRange) {
              SmallVector<Value> lanes;
              for (int64_t c = 0; c < pvChunks; ++c)
                lanes.push_back(arith::AddIOp::create(
                    b, d0, e.index(c * (pvLanes / pvChunks))));
              SmallVector<Value> acc;
              for (Value g : heads) {
                Value correction =
                    pvLoop.splat(memref::LoadOp::create(b, rescale, g));
                for (Value d : lanes)
                  acc.push_back(
                      e.mul(pvLoop.load(partAcc, accAt(g), d), correction));
              }
              ValueRange sums = e.forLoop(
                  e.index(0), count, acc, [&](Value j, ValueRange running) {
                    return onToken(j, running, [&](Value t) {
                      SmallVector<Value> values;
                      for (Value d : lanes)
                        values.push_back(pvLoop.load(v, kvAt(bi, hk, t), d));
                      SmallVector<Value> next;
                      for (auto [i, g] : llvm::enumerate(heads)) {
                        Value p = pvLoop.splat(memref::LoadOp::create(
                            b, weights, ValueRange{g, j}));
                        for (auto [c, value] : llvm::enumerate(values))
                          next.push_back(pvLoop.fma(
                              p, value, running[i * values.size() + c]));
                      }
                      return next;
                    });
                  });
              for (auto [i, g] : llvm::enumerate(heads))
                for (auto [c, d] : llvm::enumerate(lanes))
                  pvLoop.store(sums[i * lanes.size() + c], partAcc, accAt(g),
                               d);
              return SmallVector<Value>{};
            });
      });
    };
    // The `kTokenBlock` positions from `first`, clipped to `last`.
    auto blockCount = [&](Value first, Value last) -> Value {
      return arith::SubIOp::create(
          b,
          arith::MinSIOp::create(
              b, arith::AddIOp::create(b, first, e.index(kTokenBlock)), last),
          first);
    };
    if (wholeBlocks) {
      // Selected blocks that are whole token blocks: each selected entry is
      // a contiguous token range, attended like dense tokens (no per-token
      // resolution or branch).
      Value lastEntry = arith::DivUIOp::create(b, end, blockSize);
      e.forLoop(
          arith::DivUIOp::create(b, begin, blockSize), lastEntry, {},
          [&](Value entryIndex, ValueRange) {
            Value entry = e.load(indices, {bi, hk, entryIndex});
            e.ifThen(
                e.icmp(arith::CmpIPredicate::sge, entry, e.i32(0)), {}, [&]() {
                  Value start =
                      arith::MulIOp::create(b, e.toIndex(entry), blockSize);
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
    } else {
      e.forLoop(begin, end, {}, e.index(kTokenBlock),
                [&](Value first, ValueRange) {
                  forEachKVHead([&] {
                    processBlock(first, blockCount(first, end),
                                 /*resolve=*/static_cast<bool>(indices));
                  });
                  return SmallVector<Value>{};
                });
    }
    forEachKVHead([&] {
      forEachHead([&](Value g) {
        SmallVector<Value> at = accAt(g);
        memref::StoreOp::create(
            b, memref::LoadOp::create(b, runMax, stateOf(g)), partMax, at);
        memref::StoreOp::create(
            b, memref::LoadOp::create(b, runSum, stateOf(g)), partSum, at);
      });
    });
  });

  // Merge the chunks; an empty row (every sum 0) gives output 0 and LSE
  // -inf, never NaN.
  e.parallel({batch, qHeads}, [&](ValueRange row) {
    Value bi = row[0], h = row[1];
    Value m = e.forLoop(
        e.index(0), splits, {e.negInf()}, [&](Value sp, ValueRange c) {
          Value ms = memref::LoadOp::create(b, partMax, ValueRange{bi, h, sp});
          return SmallVector<Value>{e.max(c[0], ms)};
        })[0];
    Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, e.negInf());
    Value mSafe = e.select(empty, e.f32(0), m);
    auto weight = [&](Value sp) {
      return e.exp(e.sub(
          memref::LoadOp::create(b, partMax, ValueRange{bi, h, sp}), mSafe));
    };
    Value l =
        e.forLoop(e.index(0), splits, {e.f32(0)}, [&](Value sp, ValueRange c) {
          Value ls = memref::LoadOp::create(b, partSum, ValueRange{bi, h, sp});
          return SmallVector<Value>{e.add(c[0], e.mul(weight(sp), ls))};
        })[0];
    Value nonEmpty = e.fcmp(arith::CmpFPredicate::OGT, l, e.f32(0));
    Value inverse = e.select(nonEmpty, e.div(e.f32(1), l), e.f32(0));
    e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
      Value a = e.forLoop(
          e.index(0), splits, {e.f32(0)}, [&](Value sp, ValueRange c) {
            Value as =
                memref::LoadOp::create(b, partAcc, ValueRange{bi, h, sp, d});
            return SmallVector<Value>{e.add(c[0], e.mul(weight(sp), as))};
          })[0];
      e.storeF32(e.mul(a, inverse), out, {bi, h, d});
      return SmallVector<Value>{};
    });
    Value logSum = e.add(mSafe, e.log(e.select(nonEmpty, l, e.f32(1))));
    memref::StoreOp::create(b, e.select(nonEmpty, logSum, e.negInf()), lse,
                            ValueRange{bi, h});
  });

  Value outTensor = e.tensor(out, op.getOutput().getType());
  rewriter.replaceOp(op, {outTensor, e.tensor(lse, op.getLse().getType())});
}

//===----------------------------------------------------------------------===//
// hgc.lse_merge
//===----------------------------------------------------------------------===//

void lowerLseMerge(RewriterBase &rewriter, LseMergeOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  SmallVector<Value> outputs, lses;
  for (Value o : op.getOutputs())
    outputs.push_back(e.buffer(o));
  for (Value l : op.getLses())
    lses.push_back(e.buffer(l));
  int64_t rank = op.getOutput().getType().getRank();
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(e.dim(outputs.front(), d));
  Value out = e.alloc(op.getOutput().getType(), sizes);
  Value lse = e.alloc(op.getLse().getType(), ArrayRef(sizes).drop_back());

  e.parallel(ArrayRef(sizes).drop_back(), [&](ValueRange row) {
    SmallVector<Value> partLse;
    Value m = e.negInf();
    for (Value l : lses) {
      partLse.push_back(e.loadF32(l, row));
      m = e.max(m, partLse.back());
    }
    // All partials empty: weights exp(-inf - 0) = 0, output 0, LSE -inf.
    Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, e.negInf());
    Value mSafe = e.select(empty, e.f32(0), m);
    SmallVector<Value> weights;
    Value sum = e.f32(0);
    for (Value l : partLse) {
      weights.push_back(e.exp(e.sub(l, mSafe)));
      sum = e.add(sum, weights.back());
    }
    Value positive = e.fcmp(arith::CmpFPredicate::OGT, sum, e.f32(0));
    Value inverse = e.select(positive, e.div(e.f32(1), sum), e.f32(0));
    e.forLoop(e.index(0), sizes.back(), {}, [&](Value d, ValueRange) {
      SmallVector<Value> at(row.begin(), row.end());
      at.push_back(d);
      Value acc = e.f32(0);
      for (auto [o, w] : llvm::zip(outputs, weights))
        acc = e.add(acc, e.mul(w, e.loadF32(o, at)));
      e.storeF32(e.mul(acc, inverse), out, at);
      return SmallVector<Value>{};
    });
    Value logSum = e.add(mSafe, e.log(e.select(positive, sum, e.f32(1))));
    memref::StoreOp::create(b, e.select(positive, logSum, e.negInf()), lse,
                            row);
  });
  Value outTensor = e.tensor(out, op.getOutput().getType());
  rewriter.replaceOp(op, {outTensor, e.tensor(lse, op.getLse().getType())});
}

} // namespace mlir::hgc::lowering
