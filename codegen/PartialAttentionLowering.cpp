//===- PartialAttentionLowering.cpp - hgc.partial_attention, hgc.lse_merge --===//

#include "codegen/Lowerings.h"
#include "codegen/LoopEmitter.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

//===----------------------------------------------------------------------===//
// hgc.partial_attention: split-K online softmax over the attended tokens.
//===----------------------------------------------------------------------===//

/// Tokens scored before the online softmax rescales (dense partials): the
/// block's scores for a whole GQA group stay in L1.
constexpr int64_t kTokenBlock = 16;

void lowerPartialAttention(PartialAttentionOp op, int64_t splitTokens) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  Value q = e.buffer(op.getQuery()), k = e.buffer(op.getKey()),
        v = e.buffer(op.getValue());
  Value indices = op.getIndices() ? e.buffer(op.getIndices()) : Value();
  Value lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  Value batch = e.dim(q, 0), qHeads = e.dim(q, 1), headDim = e.dim(q, 2);
  Value kvHeads = e.dim(k, 1), tokens = e.dim(k, 2), vHeadDim = e.dim(v, 3);
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);
  double softcap = op.getSoftcap().convertToDouble();
  HeadDimLoop qkLoop(e, headDim, op.getQuery().getType().getDimSize(2));
  HeadDimLoop pvLoop(e, vHeadDim, op.getValue().getType().getDimSize(3));
  Value out = e.alloc(op.getOutput().getType(), {batch, qHeads, vHeadDim});
  Value lse = e.alloc(op.getLse().getType(), {batch, qHeads});

  // Split-K: the attended units (tokens, or selected entries) are cut into
  // chunks of `splitTokens` (in tokens) that run in parallel with their own
  // (max, sum, acc); a second pass merges the chunks by log-sum-exp.
  Value blockSize = e.index(op.getBlockSize());
  Value units = indices ? e.dim(indices, 2) : tokens;
  Value chunk = e.index(std::max<int64_t>(1, splitTokens / op.getBlockSize()));
  Value splits = arith::CeilDivUIOp::create(b, units, chunk);
  splits = arith::MaxUIOp::create(b, splits, e.index(1));
  auto f32Buffer = [&](ArrayRef<Value> sizes) {
    SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
    return memref::AllocOp::create(b, MemRefType::get(shape, b.getF32Type()),
                                   sizes);
  };
  Value partMax = f32Buffer({batch, qHeads, splits});
  Value partSum = f32Buffer({batch, qHeads, splits});
  Value partAcc = f32Buffer({batch, qHeads, splits, vHeadDim});

  // q . k for query head h and token t, scaled (and softcapped).
  auto scoreOf = [&](Value bi, Value h, Value hk, Value t) -> Value {
    Value dot =
        qkLoop.sum(e.forLoop(e.index(0), headDim, {qkLoop.zero()},
                             qkLoop.step(), [&](Value d, ValueRange s) {
                               return SmallVector<Value>{qkLoop.fma(
                                   qkLoop.load(q, {bi, h}, d),
                                   qkLoop.load(k, {bi, hk, t}, d), s[0])};
                             })[0]);
    Value score = e.mul(dot, scale);
    if (softcap > 0) {
      Value cap = e.f32(softcap);
      score = e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
    }
    return score;
  };

  if (!indices) {
    // Dense: one pass over a KV head's chunk serves every query head of its
    // group (K and V rows are read from memory once, then from L1), and the
    // online softmax rescales once per block of tokens, not per token.
    e.parallel({batch, kvHeads, splits}, [&](ValueRange row) {
      Value bi = row[0], hk = row[1], sp = row[2];
      Value h0 = arith::MulIOp::create(b, hk, group);
      Value n = e.validTokens(lengths, bi, tokens);
      Value begin = arith::MulIOp::create(b, sp, chunk);
      Value end =
          arith::MinSIOp::create(b, arith::AddIOp::create(b, begin, chunk), n);
      auto scratch = [&](ArrayRef<int64_t> shape, ValueRange sizes) {
        return memref::AllocaOp::create(
            b, MemRefType::get(shape, b.getF32Type()), sizes);
      };
      Value runMax = scratch({ShapedType::kDynamic}, group);
      Value runSum = scratch({ShapedType::kDynamic}, group);
      Value scores = scratch({ShapedType::kDynamic, kTokenBlock}, group);
      auto accAt = [&](Value g) -> SmallVector<Value> {
        return {bi, arith::AddIOp::create(b, h0, g), sp};
      };
      auto forEachHead = [&](function_ref<void(Value)> body) {
        e.forLoop(e.index(0), group, {}, [&](Value g, ValueRange) {
          body(g);
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
      forEachHead([&](Value g) {
        memref::StoreOp::create(b, e.negInf(), runMax, g);
        memref::StoreOp::create(b, e.f32(0), runSum, g);
        forEachLane([&](Value d) {
          pvLoop.store(pvLoop.zero(), partAcc, accAt(g), d);
        });
      });
      e.forLoop(
          begin, end, {}, e.index(kTokenBlock), [&](Value tb, ValueRange) {
            Value count = arith::SubIOp::create(
                b,
                arith::MinSIOp::create(
                    b, arith::AddIOp::create(b, tb, e.index(kTokenBlock)), end),
                tb);
            // Scores of the block, every head of the group per K row.
            e.forLoop(e.index(0), count, {}, [&](Value j, ValueRange) {
              Value t = arith::AddIOp::create(b, tb, j);
              forEachHead([&](Value g) {
                Value h = arith::AddIOp::create(b, h0, g);
                memref::StoreOp::create(b, scoreOf(bi, h, hk, t), scores,
                                        ValueRange{g, j});
              });
              return SmallVector<Value>{};
            });
            // New running max per head; rescale its sum and accumulator once.
            forEachHead([&](Value g) {
              Value m = memref::LoadOp::create(b, runMax, g);
              Value mNew =
                  e.forLoop(e.index(0), count, {m}, [&](Value j, ValueRange c) {
                    Value sj =
                        memref::LoadOp::create(b, scores, ValueRange{g, j});
                    return SmallVector<Value>{e.max(c[0], sj)};
                  })[0];
              Value correction = e.exp(e.sub(m, mNew));
              memref::StoreOp::create(b, mNew, runMax, g);
              memref::StoreOp::create(
                  b, e.mul(memref::LoadOp::create(b, runSum, g), correction),
                  runSum, g);
              Value correctionV = pvLoop.splat(correction);
              forEachLane([&](Value d) {
                Value a = pvLoop.load(partAcc, accAt(g), d);
                pvLoop.store(e.mul(a, correctionV), partAcc, accAt(g), d);
              });
            });
            // Probabilities times V, every head of the group per V row.
            e.forLoop(e.index(0), count, {}, [&](Value j, ValueRange) {
              Value t = arith::AddIOp::create(b, tb, j);
              forEachHead([&](Value g) {
                Value p = e.exp(
                    e.sub(memref::LoadOp::create(b, scores, ValueRange{g, j}),
                          memref::LoadOp::create(b, runMax, g)));
                memref::StoreOp::create(
                    b, e.add(memref::LoadOp::create(b, runSum, g), p), runSum,
                    g);
                Value pV = pvLoop.splat(p);
                forEachLane([&](Value d) {
                  Value a = pvLoop.load(partAcc, accAt(g), d);
                  pvLoop.store(
                      pvLoop.fma(pV, pvLoop.load(v, {bi, hk, t}, d), a),
                      partAcc, accAt(g), d);
                });
              });
              return SmallVector<Value>{};
            });
            return SmallVector<Value>{};
          });
      forEachHead([&](Value g) {
        SmallVector<Value> at = accAt(g);
        memref::StoreOp::create(b, memref::LoadOp::create(b, runMax, g),
                                partMax, at);
        memref::StoreOp::create(b, memref::LoadOp::create(b, runSum, g),
                                partSum, at);
      });
    });
  }

  // Selected entries (sparse): per query head, token by token, in the
  // order the selection gives.
  if (indices)
    e.parallel({batch, qHeads, splits}, [&](ValueRange row) {
      Value bi = row[0], h = row[1], sp = row[2];
      Value hk = arith::DivUIOp::create(b, h, group);
      Value n = e.validTokens(lengths, bi, tokens);
      Value begin = arith::MulIOp::create(b, sp, chunk);
      Value end = arith::MinSIOp::create(
          b, arith::AddIOp::create(b, begin, chunk), indices ? units : n);
      SmallVector<Value> acc = {bi, h, sp};
      e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
        memref::StoreOp::create(b, e.f32(0), partAcc, ValueRange{bi, h, sp, d});
        return SmallVector<Value>{};
      });

      // Folds token `t` into the running (max, sum, acc).
      auto attend = [&](Value t, ValueRange ml) -> SmallVector<Value> {
        Value score = scoreOf(bi, h, hk, t);
        Value m = ml[0], l = ml[1];
        Value mNew = e.max(m, score);
        Value correction = e.exp(e.sub(m, mNew));
        Value p = e.exp(e.sub(score, mNew));
        Value lNew = e.add(e.mul(l, correction), p);
        Value correctionV = pvLoop.splat(correction), pV = pvLoop.splat(p);
        e.forLoop(e.index(0), vHeadDim, {}, pvLoop.step(),
                  [&](Value d, ValueRange) {
                    Value a = pvLoop.load(partAcc, acc, d);
                    a = pvLoop.fma(pV, pvLoop.load(v, {bi, hk, t}, d),
                                   e.mul(a, correctionV));
                    pvLoop.store(a, partAcc, acc, d);
                    return SmallVector<Value>{};
                  });
        return {mNew, lNew};
      };

      SmallVector<Value> init = {e.negInf(), e.f32(0)};
      ValueRange ml = e.forLoop(begin, end, init, [&](Value j, ValueRange c) {
        Value selected = e.load(indices, {bi, hk, j});
        Value valid = e.icmp(arith::CmpIPredicate::sge, selected, e.i32(0));
        ValueRange r = e.ifThen(valid, c, [&]() {
          Value start =
              arith::MulIOp::create(b, e.toIndex(selected), blockSize);
          return llvm::to_vector(
              e.forLoop(e.index(0), blockSize, c, [&](Value u, ValueRange cc) {
                Value t = arith::AddIOp::create(b, start, u);
                Value inRange = e.icmp(arith::CmpIPredicate::slt, t, n);
                return llvm::to_vector(
                    e.ifThen(inRange, cc, [&]() { return attend(t, cc); }));
              }));
        });
        return llvm::to_vector(r);
      });
      memref::StoreOp::create(b, ml[0], partMax, acc);
      memref::StoreOp::create(b, ml[1], partSum, acc);
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

  op.getOutput().replaceAllUsesWith(e.tensor(out, op.getOutput().getType()));
  op.getLse().replaceAllUsesWith(e.tensor(lse, op.getLse().getType()));
  op.erase();
}

//===----------------------------------------------------------------------===//
// hgc.lse_merge
//===----------------------------------------------------------------------===//

void lowerLseMerge(LseMergeOp op) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
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
  op.getOutput().replaceAllUsesWith(e.tensor(out, op.getOutput().getType()));
  op.getLse().replaceAllUsesWith(e.tensor(lse, op.getLse().getType()));
  op.erase();
}

} // namespace mlir::hgc::lowering
