//===- LowerToLoops.cpp - split-level hgc ops to parallel loops ----------===//
//
// Lowers hgc.partial_attention, hgc.select, hgc.lse_merge to scf loops over
// memrefs (scf.parallel over the independent rows, scf.for inside), and
// hgc.transfer/hgc.wait to their host-fallback meaning (the value itself).
// Each op reads its tensor operands through bufferization.to_buffer and
// returns a fresh buffer through bufferization.to_tensor, so one-shot
// bufferization takes the module the rest of the way.
//
// The loop nests are the reference form every target starts from: the
// scf.parallel dimensions are (batch, head) rows, the form GPU mapping and
// OpenMP conversion both consume. Accumulation is f32 whatever the KV type.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

namespace mlir::hgc {
#define GEN_PASS_DEF_LOWERTOLOOPSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {

/// Small vocabulary over ImplicitLocOpBuilder for the loop nests below.
struct Emitter {
  ImplicitLocOpBuilder &b;

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value negInf() { return f32(-std::numeric_limits<double>::infinity()); }
  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value dim(Value memref, int64_t d) {
    return memref::DimOp::create(b, memref, d);
  }
  /// The read-only buffer behind a tensor operand.
  Value buffer(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    return bufferization::ToBufferOp::create(b, memrefType, tensor,
                                             /*read_only=*/true);
  }
  /// A fresh buffer shaped like `type`, dynamic sizes taken from `sizes`.
  Value alloc(RankedTensorType type, ArrayRef<Value> sizes) {
    SmallVector<Value> dynamic;
    for (auto [i, size] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(size))
        dynamic.push_back(sizes[i]);
    return memref::AllocOp::create(
        b, MemRefType::get(type.getShape(), type.getElementType()), dynamic);
  }
  Value tensor(Value buffer, Type type) {
    return bufferization::ToTensorOp::create(b, type, buffer,
                                             /*restrict=*/true,
                                             /*writable=*/true);
  }
  Value load(Value memref, ValueRange indices) {
    return memref::LoadOp::create(b, memref, indices);
  }
  /// Loads and widens to f32, the accumulation type.
  Value loadF32(Value memref, ValueRange indices) {
    Value v = load(memref, indices);
    Type type = v.getType();
    if (type.isF32())
      return v;
    if (type.getIntOrFloatBitWidth() < 32)
      return arith::ExtFOp::create(b, b.getF32Type(), v);
    return arith::TruncFOp::create(b, b.getF32Type(), v);
  }
  /// Stores an f32 value into a buffer of any float type.
  void storeF32(Value v, Value memref, ValueRange indices) {
    Type type = cast<MemRefType>(memref.getType()).getElementType();
    if (type.getIntOrFloatBitWidth() < 32)
      v = arith::TruncFOp::create(b, type, v);
    else if (!type.isF32())
      v = arith::ExtFOp::create(b, type, v);
    memref::StoreOp::create(b, v, memref, indices);
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  Value max(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value exp(Value x) { return math::ExpOp::create(b, x); }
  Value log(Value x) { return math::LogOp::create(b, x); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value icmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, p, x, y);
  }
  Value toIndex(Value i32) {
    return arith::IndexCastOp::create(b, b.getIndexType(), i32);
  }
  /// Valid tokens of sequence `batch`: lengths[batch] clamped to [0, tokens].
  Value validTokens(Value lengths, Value batch, Value tokens,
                    bool isI64 = false) {
    if (!lengths)
      return tokens;
    Value raw = load(lengths, batch);
    Value n = isI64 ? arith::IndexCastOp::create(b, b.getIndexType(), raw)
                    : toIndex(raw);
    n = arith::MaxSIOp::create(b, n, index(0));
    return arith::MinSIOp::create(b, n, tokens);
  }
  /// `scale` or the default 1/sqrt(head_dim).
  Value scale(std::optional<APFloat> attr, Value headDim) {
    if (attr)
      return f32(attr->convertToDouble());
    Value d = arith::IndexCastOp::create(b, b.getI64Type(), headDim);
    d = arith::SIToFPOp::create(b, b.getF32Type(), d);
    return math::RsqrtOp::create(b, d);
  }
  /// for (i = lb; i < ub; ++i) with loop-carried values.
  ValueRange forLoop(Value lb, Value ub, ValueRange init,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return forLoop(lb, ub, init, index(1), body);
  }
  /// for (i = lb; i < ub; i += step) with loop-carried values.
  ValueRange forLoop(Value lb, Value ub, ValueRange init, Value step,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto loop = scf::ForOp::create(
        b, lb, ub, step, init,
        [&](OpBuilder &nested, Location loc, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          scf::YieldOp::create(b, body(iv, args));
        });
    return loop.getResults();
  }
  /// if (cond) then() else carried; both yield `carried`'s types.
  ValueRange ifThen(Value cond, ValueRange carried,
                    function_ref<SmallVector<Value>()> then) {
    auto op = scf::IfOp::create(b, carried.getTypes(), cond,
                                /*withElseRegion=*/true);
    // Without results the builder adds empty yields; ours replace them.
    for (Region *region : {&op.getThenRegion(), &op.getElseRegion()})
      if (!region->front().empty())
        region->front().getTerminator()->erase();
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&op.getThenRegion().front());
      scf::YieldOp::create(b, then());
      b.setInsertionPointToStart(&op.getElseRegion().front());
      scf::YieldOp::create(b, carried);
    }
    return op.getResults();
  }
  /// scf.parallel over [0, ub_i) with no reductions.
  void parallel(ArrayRef<Value> ubs, function_ref<void(ValueRange)> body) {
    if (ubs.empty()) {
      body({});
      return;
    }
    SmallVector<Value> lbs(ubs.size(), index(0)), steps(ubs.size(), index(1));
    scf::ParallelOp::create(
        b, lbs, ubs, steps,
        [&](OpBuilder &nested, Location loc, ValueRange ivs) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          body(ivs);
        });
  }
};

//===----------------------------------------------------------------------===//
// hgc.partial_attention: split-K online softmax over the attended tokens.
//===----------------------------------------------------------------------===//

/// f32 lanes per vector: one AVX2 register, and a divisor of every head dim
/// hgc targets (64, 80, 96, 128, 256).
constexpr int64_t kLanes = 8;

/// Tokens scored before the online softmax rescales (dense partials): the
/// block's scores for a whole GQA group stay in L1.
constexpr int64_t kTokenBlock = 16;

/// Head-dim loops over [0, size): 8-wide vectors when the size is static and
/// a multiple of 8 (the loop form the x86 backend turns into FMAs), scalar
/// otherwise.
struct HeadDimLoop {
  Emitter &e;
  Value size;
  bool vectorized;

  HeadDimLoop(Emitter &e, Value size, int64_t staticSize)
      : e(e), size(size), vectorized(!ShapedType::isDynamic(staticSize) &&
                                     staticSize % kLanes == 0) {}

  Value step() { return e.index(vectorized ? kLanes : 1); }
  Type f32Type() {
    return vectorized ? Type(VectorType::get({kLanes}, e.b.getF32Type()))
                      : Type(e.b.getF32Type());
  }
  /// Loads lanes [d, d + step) of `memref` at `prefix`, widened to f32.
  Value load(Value memref, ValueRange prefix, Value d) {
    SmallVector<Value> at(prefix.begin(), prefix.end());
    at.push_back(d);
    if (!vectorized)
      return e.loadF32(memref, at);
    Type elt = cast<MemRefType>(memref.getType()).getElementType();
    Value v =
        vector::LoadOp::create(e.b, VectorType::get({kLanes}, elt), memref, at);
    if (elt.isF32())
      return v;
    Type wide = VectorType::get({kLanes}, e.b.getF32Type());
    if (elt.getIntOrFloatBitWidth() < 32)
      return arith::ExtFOp::create(e.b, wide, v);
    return arith::TruncFOp::create(e.b, wide, v);
  }
  void store(Value v, Value memref, ValueRange prefix, Value d) {
    SmallVector<Value> at(prefix.begin(), prefix.end());
    at.push_back(d);
    if (vectorized)
      vector::StoreOp::create(e.b, v, memref, at);
    else
      memref::StoreOp::create(e.b, v, memref, at);
  }
  Value splat(Value scalar) {
    return vectorized ? vector::BroadcastOp::create(e.b, f32Type(), scalar)
                      : scalar;
  }
  Value zero() { return splat(e.f32(0)); }
  /// Horizontal sum of a dot-product accumulator.
  Value sum(Value v) {
    return vectorized
               ? vector::ReductionOp::create(e.b, vector::CombiningKind::ADD, v)
               : v;
  }
  Value fma(Value a, Value b, Value c) {
    return vectorized ? vector::FMAOp::create(e.b, a, b, c).getResult()
                      : e.add(e.mul(a, b), c);
  }
};

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
// hgc.attention: the reference semantics, one online softmax per query row.
//===----------------------------------------------------------------------===//

/// Reads Q/K/V in the [batch, heads, seq, head] view whatever their rank:
/// 3-D operands are [batch, seq, heads * head].
struct HeadsAccessor {
  Value buffer;
  Value headSize;
  bool isRank3;

  Value load(Emitter &e, Value b, Value h, Value s, Value d) {
    if (!isRank3)
      return e.loadF32(buffer, {b, h, s, d});
    Value column =
        arith::AddIOp::create(e.b, arith::MulIOp::create(e.b, h, headSize), d);
    return e.loadF32(buffer, {b, s, column});
  }
  void store(Emitter &e, Value v, Value b, Value h, Value s, Value d) {
    if (!isRank3)
      return e.storeF32(v, buffer, {b, h, s, d});
    Value column =
        arith::AddIOp::create(e.b, arith::MulIOp::create(e.b, h, headSize), d);
    e.storeF32(v, buffer, {b, s, column});
  }
};

LogicalResult lowerAttention(AttentionOp op) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  RankedTensorType qType = op.getQuery().getType();
  bool rank3 = qType.getRank() == 3;
  Value qBuf = e.buffer(op.getQuery()), kBuf = e.buffer(op.getKey()),
        vBuf = e.buffer(op.getValue());
  Value batch = e.dim(qBuf, 0);
  Value qHeads, kvHeads, qLen, kvLen, headDim, vHeadDim;
  if (rank3) {
    qHeads = e.index(*op.getQNumHeads());
    kvHeads = e.index(*op.getKvNumHeads());
    qLen = e.dim(qBuf, 1);
    kvLen = e.dim(kBuf, 1);
    headDim = arith::DivUIOp::create(b, e.dim(qBuf, 2), qHeads);
    vHeadDim = arith::DivUIOp::create(b, e.dim(vBuf, 2), kvHeads);
  } else {
    qHeads = e.dim(qBuf, 1);
    kvHeads = e.dim(kBuf, 1);
    qLen = e.dim(qBuf, 2);
    kvLen = e.dim(kBuf, 2);
    headDim = e.dim(qBuf, 3);
    vHeadDim = e.dim(vBuf, 3);
  }
  HeadsAccessor q{qBuf, headDim, rank3}, k{kBuf, headDim, rank3},
      v{vBuf, vHeadDim, rank3};
  Value pastKey = op.getPastKey() ? e.buffer(op.getPastKey()) : Value();
  Value pastValue = op.getPastValue() ? e.buffer(op.getPastValue()) : Value();
  Value past = pastKey ? e.dim(pastKey, 2) : e.index(0);
  Value total = arith::AddIOp::create(b, past, kvLen);
  Value nonpad =
      op.getNonpadKvSeqlen() ? e.buffer(op.getNonpadKvSeqlen()) : Value();
  Value mask = op.getMask() ? e.buffer(op.getMask()) : Value();
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);
  double softcap = op.getSoftcap().convertToDouble();

  SmallVector<Value> outSizes =
      rank3 ? SmallVector<Value>{batch, qLen,
                                 arith::MulIOp::create(b, qHeads, vHeadDim)}
            : SmallVector<Value>{batch, qHeads, qLen, vHeadDim};
  Value out = e.alloc(op.getOutput().getType(), outSizes);
  HeadsAccessor y{out, vHeadDim, rank3};
  Value qkOut;
  int64_t qkMode = op.getQkMatmulOutputMode();
  if (op.getQkMatmulOutput())
    qkOut =
        e.alloc(op.getQkMatmulOutput().getType(), {batch, qHeads, qLen, total});

  // Key/value token `t` of the present KV: past first, then current.
  auto loadKV = [&](HeadsAccessor &current, Value pastBuf, Value bi, Value hk,
                    Value t, Value d) -> Value {
    if (!pastBuf)
      return current.load(e, bi, hk, t, d);
    Value inPast = e.icmp(arith::CmpIPredicate::slt, t, past);
    auto ifOp = scf::IfOp::create(b, b.getF32Type(), inPast,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, e.loadF32(pastBuf, {bi, hk, t, d}));
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(
        b, current.load(e, bi, hk, arith::SubIOp::create(b, t, past), d));
    return ifOp.getResult(0);
  };
  // scale * q.k for query (b, h, s) and token t, softcapped: the score
  // before any mask.
  auto scaledScore = [&](Value bi, Value h, Value s, Value hk,
                         Value t) -> Value {
    Value dot =
        e.forLoop(e.index(0), headDim, {e.f32(0)}, [&](Value d, ValueRange a) {
          Value kd = loadKV(k, pastKey, bi, hk, t, d);
          return SmallVector<Value>{
              e.add(a[0], e.mul(q.load(e, bi, h, s, d), kd))};
        })[0];
    Value score = e.mul(dot, scale);
    if (softcap > 0) {
      Value cap = e.f32(softcap);
      score = e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
    }
    return score;
  };
  // The mask element for (b, h, s, t), broadcast from the right; tokens
  // past a shorter mask's last dimension are masked (ONNX pads it).
  auto maskTerm =
      [&](Value bi, Value h, Value s,
          Value t) -> std::pair<Value, Value> /*(allowed, additive)*/ {
    if (!mask)
      return {Value(), Value()};
    auto type = cast<MemRefType>(mask.getType());
    int64_t rank = type.getRank();
    SmallVector<Value> full = {bi, h, s, t}, at;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t axis = 4 - rank + i;
      at.push_back(type.getDimSize(i) == 1 ? e.index(0) : full[axis]);
    }
    Value inMask = e.icmp(arith::CmpIPredicate::slt, t, e.dim(mask, rank - 1));
    at.back() = e.select(inMask, t, e.index(0));
    Value element = e.load(mask, at);
    if (type.getElementType().isInteger(1))
      return {arith::AndIOp::create(b, inMask, element), Value()};
    return {inMask, e.loadF32(mask, at)};
  };

  e.parallel({batch, qHeads, qLen}, [&](ValueRange row) {
    Value bi = row[0], h = row[1], s = row[2];
    Value hk = arith::DivUIOp::create(b, h, group);
    // Keys this query may see: the causal frontier and the padding length.
    Value limit = total;
    if (nonpad)
      limit = e.validTokens(nonpad, bi, total, /*isI64=*/true);
    if (op.getIsCausal()) {
      Value offset = past;
      if (nonpad && !pastKey)
        offset = arith::SubIOp::create(b, limit, qLen);
      Value frontier = arith::AddIOp::create(
          b, arith::AddIOp::create(b, s, offset), e.index(1));
      frontier = arith::MaxSIOp::create(b, frontier, e.index(0));
      limit = arith::MinSIOp::create(b, limit, frontier);
    }
    Value acc = memref::AllocaOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{vHeadDim});
    e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
      memref::StoreOp::create(b, e.f32(0), acc, d);
      return SmallVector<Value>{};
    });
    ValueRange ml = e.forLoop(
        e.index(0), limit, {e.negInf(), e.f32(0)},
        [&](Value t, ValueRange c) -> SmallVector<Value> {
          std::pair<Value, Value> term = maskTerm(bi, h, s, t);
          Value allowed = term.first, additive = term.second;
          auto attend = [&]() -> SmallVector<Value> {
            Value score = scaledScore(bi, h, s, hk, t);
            if (additive)
              score = e.add(score, additive);
            // A -inf score (from the mask) contributes nothing.
            Value finite = e.fcmp(arith::CmpFPredicate::OGT, score, e.negInf());
            return llvm::to_vector(e.ifThen(finite, c, [&]() {
              Value mNew = e.max(c[0], score);
              Value correction = e.exp(e.sub(c[0], mNew));
              Value p = e.exp(e.sub(score, mNew));
              e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
                Value a = memref::LoadOp::create(b, acc, d);
                Value vd = loadKV(v, pastValue, bi, hk, t, d);
                memref::StoreOp::create(
                    b, e.add(e.mul(a, correction), e.mul(p, vd)), acc, d);
                return SmallVector<Value>{};
              });
              return SmallVector<Value>{mNew,
                                        e.add(e.mul(c[1], correction), p)};
            }));
          };
          if (!allowed)
            return attend();
          return llvm::to_vector(e.ifThen(allowed, c, attend));
        });
    // A fully masked row gives 0 (ONNX's convention).
    Value l = ml[1];
    Value nonEmpty = e.fcmp(arith::CmpFPredicate::OGT, l, e.f32(0));
    Value inverse = e.select(nonEmpty, e.div(e.f32(1), l), e.f32(0));
    e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
      y.store(e, e.mul(memref::LoadOp::create(b, acc, d), inverse), bi, h, s,
              d);
      return SmallVector<Value>{};
    });
    if (!qkOut)
      return;
    // The scores of every present token at the stage the mode names, as the
    // ONNX reference computes them: 0 and 1 the scaled (softcapped) QK, 2
    // with the mask and causal bias added (-inf where disallowed), 3 the
    // softmax (0 for disallowed tokens and fully masked rows).
    e.forLoop(e.index(0), total, {}, [&](Value t, ValueRange) {
      Value score = scaledScore(bi, h, s, hk, t);
      if (qkMode >= 2) {
        std::pair<Value, Value> term = maskTerm(bi, h, s, t);
        Value allowed = e.icmp(arith::CmpIPredicate::slt, t, limit);
        if (term.first)
          allowed = arith::AndIOp::create(b, allowed, term.first);
        if (term.second)
          score = e.add(score, term.second);
        score = e.select(allowed, score, e.negInf());
        if (qkMode == 3) {
          Value p = e.mul(e.exp(e.sub(score, ml[0])), inverse);
          score = e.select(allowed, p, e.f32(0));
        }
      }
      e.storeF32(score, qkOut, {bi, h, s, t});
      return SmallVector<Value>{};
    });
  });
  op.getOutput().replaceAllUsesWith(e.tensor(out, op.getOutput().getType()));
  if (qkOut)
    op.getQkMatmulOutput().replaceAllUsesWith(
        e.tensor(qkOut, op.getQkMatmulOutput().getType()));
  if (op.getPresentKey()) {
    // present = past ++ current as [batch, kv_heads, total, head], whatever
    // the rank of the current key and value.
    for (auto [present, current, pastBuf, dim] :
         {std::make_tuple(op.getPresentKey(), &k, pastKey, headDim),
          std::make_tuple(op.getPresentValue(), &v, pastValue, vHeadDim)}) {
      auto type = cast<RankedTensorType>(present.getType());
      if (!rank3) {
        // Already [batch, kv_heads, seq, head]: one concatenation (copies of
        // contiguous rows once bufferized).
        Value currentTensor =
            present == op.getPresentKey() ? op.getKey() : op.getValue();
        Value pastTensor =
            present == op.getPresentKey() ? op.getPastKey() : op.getPastValue();
        Value joined = pastTensor ? tensor::ConcatOp::create(
                                        b, /*dim=*/2,
                                        ValueRange{pastTensor, currentTensor})
                                        .getResult()
                                  : currentTensor;
        if (joined.getType() != type)
          joined = tensor::CastOp::create(b, type, joined);
        present.replaceAllUsesWith(joined);
        continue;
      }
      Value buffer = e.alloc(type, {batch, kvHeads, total, dim});
      e.parallel({batch, kvHeads, total}, [&](ValueRange at) {
        e.forLoop(e.index(0), dim, {}, [&](Value d, ValueRange) {
          e.storeF32(loadKV(*current, pastBuf, at[0], at[1], at[2], d), buffer,
                     {at[0], at[1], at[2], d});
          return SmallVector<Value>{};
        });
      });
      present.replaceAllUsesWith(e.tensor(buffer, type));
    }
  }
  op.erase();
  return success();
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

//===----------------------------------------------------------------------===//
// hgc.select exact_topk
//===----------------------------------------------------------------------===//

LogicalResult lowerSelect(SelectOp op) {
  if (op.getPolicy() != Selection::ExactTopK)
    return op.emitOpError("lowering of '")
           << stringifySelection(op.getPolicy())
           << "' needs block summaries or quantized keys from the KV runtime";
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  Value q = e.buffer(op.getQuery()), k = e.buffer(op.getInputs()[0]);
  Value lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  Value batch = e.dim(q, 0), qHeads = e.dim(q, 1), headDim = e.dim(q, 2);
  Value kvHeads = e.dim(k, 1), tokens = e.dim(k, 2);
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);

  // Candidates to keep for a sequence of `n` tokens.
  auto budgetFor = [&](Value n) -> Value {
    if (std::optional<uint64_t> count = op.getK())
      return e.index(*count);
    Value nf = arith::SIToFPOp::create(
        b, b.getF64Type(), arith::IndexCastOp::create(b, b.getI64Type(), n));
    Value chosen = math::CeilOp::create(
        b, arith::MulFOp::create(
               b, nf,
               arith::ConstantOp::create(
                   b, b.getF64FloatAttr(op.getFraction()->convertToDouble()))));
    return arith::IndexCastOp::create(
        b, b.getIndexType(),
        arith::FPToSIOp::create(b, b.getI64Type(), chosen));
  };
  // The result holds the largest budget over the batch.
  Value width;
  RankedTensorType resultType = op.getIndices().getType();
  if (!resultType.isDynamicDim(2)) {
    width = e.index(resultType.getDimSize(2));
  } else {
    width =
        e.forLoop(e.index(0), batch, {e.index(0)}, [&](Value bi, ValueRange w) {
          Value n = e.validTokens(lengths, bi, tokens);
          return SmallVector<Value>{
              arith::MaxSIOp::create(b, w[0], budgetFor(n))};
        })[0];
  }
  Value out = e.alloc(resultType, {batch, kvHeads, width});

  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    Value keep = arith::MinSIOp::create(b, budgetFor(n), n);
    // Keeping every candidate needs no scores: the indices in order.
    Value keepAll = e.icmp(arith::CmpIPredicate::sge, keep, n);
    Value scored = e.select(keepAll, e.index(0), n);
    // Score of a token for the group: the maximum over its query heads.
    Value scores = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{scored});
    e.forLoop(e.index(0), scored, {}, [&](Value t, ValueRange) {
      Value best = e.forLoop(
          e.index(0), group, {e.negInf()}, [&](Value g, ValueRange m) {
            Value h = arith::AddIOp::create(
                b, arith::MulIOp::create(b, hk, group), g);
            Value dot = e.forLoop(
                e.index(0), headDim, {e.f32(0)}, [&](Value d, ValueRange s) {
                  return SmallVector<Value>{
                      e.add(s[0], e.mul(e.loadF32(q, {bi, h, d}),
                                        e.loadF32(k, {bi, hk, t, d})))};
                })[0];
            return SmallVector<Value>{e.max(m[0], e.mul(dot, scale))};
          })[0];
      memref::StoreOp::create(b, best, scores, t);
      return SmallVector<Value>{};
    });
    // Otherwise `keep` rounds of argmax (ties to the lower index), each
    // retiring its winner to -inf.
    e.forLoop(e.index(0), width, {}, [&](Value j, ValueRange) {
      Value active = e.icmp(arith::CmpIPredicate::slt, j, keep);
      Value jIndex = arith::IndexCastOp::create(b, b.getI32Type(), j);
      Value identity = e.select(active, jIndex, e.i32(-1));
      Value scan = arith::AndIOp::create(
          b, active,
          arith::XOrIOp::create(
              b, keepAll, arith::ConstantOp::create(b, b.getBoolAttr(true))));
      Value chosen = e.ifThen(scan, {identity}, [&]() {
        ValueRange found = e.forLoop(
            e.index(0), n, {e.negInf(), e.i32(-1)},
            [&](Value t, ValueRange best) {
              Value s = memref::LoadOp::create(b, scores, t);
              Value better = e.fcmp(arith::CmpFPredicate::OGT, s, best[0]);
              Value ti = arith::IndexCastOp::create(b, b.getI32Type(), t);
              return SmallVector<Value>{e.select(better, s, best[0]),
                                        e.select(better, ti, best[1])};
            });
        Value index = found[1];
        Value hit = e.icmp(arith::CmpIPredicate::sge, index, e.i32(0));
        e.ifThen(hit, {}, [&]() {
          memref::StoreOp::create(b, e.negInf(), scores, e.toIndex(index));
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{index};
      })[0];
      memref::StoreOp::create(b, chosen, out, ValueRange{bi, hk, j});
      return SmallVector<Value>{};
    });
    // The deallocation pipeline frees `scores` (it rejects explicit frees).
  });
  op.getIndices().replaceAllUsesWith(e.tensor(out, resultType));
  op.erase();
  return success();
}

//===----------------------------------------------------------------------===//
// hgc.kv_view of a cache bound over plain tensors
//===----------------------------------------------------------------------===//

/// Gathers the tokens `placement` puts on the view's tier out of the bound
/// key/value tensors: on the first tier the sinks then the recent window
/// (every token when the sequence fits the hot set), on the second tier the
/// tokens between them. Later tiers hold nothing without capacity limits.
LogicalResult lowerKVView(KVViewOp op) {
  auto bind = op.getCache().getDefiningOp<BindKVOp>();
  if (!bind)
    return op.emitOpError("reads a runtime-owned cache; the host lowering "
                          "resolves only caches bound with hgc.bind_kv");
  PlacementAttr placement = op.getPlacementAttr();
  if (!placement)
    return op.emitOpError("needs a placement to slice plain KV tensors");
  ArrayRef<TierPolicyAttr> tiers = placement.getTiers();
  int64_t tierIndex = llvm::find_if(tiers,
                                    [&](TierPolicyAttr t) {
                                      return t.getTier() == op.getTier();
                                    }) -
                      tiers.begin();

  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  Value key = e.buffer(bind.getKey()), value = e.buffer(bind.getValue());
  Value lengths = bind.getLengths() ? e.buffer(bind.getLengths()) : Value();
  Value batch = e.dim(key, 0), kvHeads = e.dim(key, 1), tokens = e.dim(key, 2),
        headDim = e.dim(key, 3);
  Value sink = e.index(placement.getSink());
  Value hot = e.index(placement.getSink() + placement.getWindow());
  Value zero = e.index(0);
  auto count = [&](Value n) -> Value {
    if (tiers.size() == 1)
      return n;
    if (tierIndex == 0)
      return arith::MinSIOp::create(b, n, hot);
    if (tierIndex == 1)
      return arith::MaxSIOp::create(b, arith::SubIOp::create(b, n, hot), zero);
    return zero;
  };
  auto source = [&](Value j, Value n) -> Value {
    if (tiers.size() == 1)
      return j;
    if (tierIndex == 1)
      return arith::AddIOp::create(b, sink, j);
    // Past the sinks, the window ends at the sequence's last token.
    Value fits = e.icmp(arith::CmpIPredicate::sle, n, hot);
    Value inSinks = e.icmp(arith::CmpIPredicate::slt, j, sink);
    Value windowed =
        arith::AddIOp::create(b, arith::SubIOp::create(b, n, hot), j);
    return e.select(arith::OrIOp::create(b, fits, inSinks), j, windowed);
  };

  Value width = e.forLoop(zero, batch, {zero}, [&](Value bi, ValueRange w) {
    Value n = e.validTokens(lengths, bi, tokens);
    return SmallVector<Value>{arith::MaxSIOp::create(b, w[0], count(n))};
  })[0];
  Value lengthsOut = e.alloc(op.getLengths().getType(), {batch});
  e.parallel({batch}, [&](ValueRange row) {
    Value n = e.validTokens(lengths, row[0], tokens);
    Value c = arith::IndexCastOp::create(b, b.getI32Type(), count(n));
    memref::StoreOp::create(b, c, lengthsOut, row[0]);
  });
  op.getLengths().replaceAllUsesWith(
      e.tensor(lengthsOut, op.getLengths().getType()));
  // One tier holds every token: the view is the bound tensors themselves
  // (no copy; the partial reads them in place).
  if (tiers.size() == 1) {
    for (auto [result, bound] : {std::pair(op.getKey(), bind.getKey()),
                                 std::pair(op.getValue(), bind.getValue())}) {
      Value view = bound;
      if (view.getType() != result.getType())
        view = tensor::CastOp::create(b, result.getType(), view);
      result.replaceAllUsesWith(view);
    }
    op.erase();
    return success();
  }
  SmallVector<Value> sizes = {batch, kvHeads, width, headDim};
  Value keyOut = e.alloc(op.getKey().getType(), sizes);
  Value valueOut = e.alloc(op.getValue().getType(), sizes);
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    e.forLoop(zero, count(n), {}, [&](Value j, ValueRange) {
      Value t = source(j, n);
      e.forLoop(zero, headDim, {}, [&](Value d, ValueRange) {
        memref::StoreOp::create(b, e.load(key, {bi, hk, t, d}), keyOut,
                                ValueRange{bi, hk, j, d});
        memref::StoreOp::create(b, e.load(value, {bi, hk, t, d}), valueOut,
                                ValueRange{bi, hk, j, d});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
  op.getKey().replaceAllUsesWith(e.tensor(keyOut, op.getKey().getType()));
  op.getValue().replaceAllUsesWith(e.tensor(valueOut, op.getValue().getType()));
  op.erase();
  return success();
}

//===----------------------------------------------------------------------===//
// Host fallback of the asynchronous ops
//===----------------------------------------------------------------------===//

LogicalResult lowerAsync(Operation *root) {
  root->walk([](WaitOp op) {
    op.replaceAllUsesWith(op.getValues());
    op.erase();
  });
  SmallVector<TransferOp> transfers;
  root->walk([&](TransferOp op) { transfers.push_back(op); });
  for (TransferOp op : llvm::reverse(transfers)) {
    op.getResult().replaceAllUsesWith(op.getSource());
    for (Operation *user : op.getToken().getUsers())
      if (!isa<TransferOp>(user))
        return user->emitOpError("uses an hgc.token the host fallback "
                                 "cannot provide");
  }
  for (TransferOp op : llvm::reverse(transfers))
    op.erase();
  return success();
}

struct LowerToLoopsPass : hgc::impl::LowerToLoopsPassBase<LowerToLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    Operation *root = getOperation();
    if (failed(lowerAsync(root)))
      return signalPassFailure();
    // Aggregated linalg ops (linalg.softmax of attention that was not
    // raised) become the generics the rest of the host pipeline lowers.
    SmallVector<linalg::AggregatedOpInterface> aggregated;
    root->walk(
        [&](linalg::AggregatedOpInterface op) { aggregated.push_back(op); });
    for (linalg::AggregatedOpInterface op : aggregated) {
      OpBuilder builder(op);
      FailureOr<SmallVector<Value>> replacements =
          op.decomposeOperation(builder);
      if (failed(replacements)) {
        op->emitOpError("cannot be decomposed for the host");
        return signalPassFailure();
      }
      op->replaceAllUsesWith(*replacements);
      op->erase();
    }
    SmallVector<Operation *> ops;
    WalkResult unsupported = root->walk([&](Operation *op) {
      if (isa<DecodeAttentionOp>(op)) {
        op->emitOpError("is not lowered to loops directly; run the "
                        "hgc-hybrid-pipeline (bind, place, split) first");
        return WalkResult::interrupt();
      }
      if (isa<PartialAttentionOp, LseMergeOp, SelectOp, KVViewOp, AttentionOp>(
              op))
        ops.push_back(op);
      return WalkResult::advance();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();
    for (Operation *op : ops) {
      LogicalResult lowered = success();
      if (auto partial = dyn_cast<PartialAttentionOp>(op))
        lowerPartialAttention(partial, kvSplit);
      else if (auto merge = dyn_cast<LseMergeOp>(op))
        lowerLseMerge(merge);
      else if (auto select = dyn_cast<SelectOp>(op))
        lowered = lowerSelect(select);
      else if (auto attention = dyn_cast<AttentionOp>(op))
        lowered = lowerAttention(attention);
      else
        lowered = lowerKVView(cast<KVViewOp>(op));
      if (failed(lowered))
        return signalPassFailure();
    }
    // Bound caches are read only through the views lowered above.
    root->walk([](BindKVOp op) {
      if (op->use_empty())
        op.erase();
    });
  }
};

} // namespace
