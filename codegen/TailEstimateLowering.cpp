//===- TailEstimateLowering.cpp - hgc.tail_estimate to loops --------------===//
//
// Per (sequence, KV head): the selected tokens are marked, then each block of
// `summary_block` tokens sums the count, keys, squared keys and values of
// its unmarked tokens (the moments a cache could keep per block, less the
// selected tokens' own rows, which a step reads anyway). Each query head of
// the group turns a block's moments into a log-mass and a value mean and
// folds them into an online softmax over blocks. With exact_mass the
// block's log-mass is the log-sum-exp of its unmarked tokens' scores
// instead (the scores an exact selection computed), kept per query head.
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

void lowerTailEstimate(RewriterBase &rewriter, TailEstimateOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Type f32 = b.getF32Type();
  Value q = e.buffer(op.getQuery()), k = e.buffer(op.getKey()),
        v = e.buffer(op.getValue()), indices = e.buffer(op.getIndices());
  Value lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  Value batch = e.dim(q, 0), qHeads = e.dim(q, 1), headDim = e.dim(q, 2);
  Value kvHeads = e.dim(k, 1), tokens = e.dim(k, 2), vDim = e.dim(v, 3);
  Value chosen = e.dim(indices, 2);
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);
  Value scale2 = e.mul(scale, scale);
  Value unit = e.index(op.getBlockSize());
  Value block = e.index(op.getSummaryBlock());
  Value zero = e.index(0);

  Value out = e.alloc(op.getOutput().getType(), {batch, qHeads, vDim});
  Value lse = e.alloc(op.getLse().getType(), {batch, qHeads});
  auto vector = [&](Value size) {
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, f32), ValueRange{size});
  };
  auto fill = [&](Value buffer, Value size, Value value) {
    e.forLoop(zero, size, {}, [&](Value i, ValueRange) {
      memref::StoreOp::create(b, value, buffer, ValueRange{i});
      return SmallVector<Value>{};
    });
  };

  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    // 1. Mark the selected tokens (whole blocks of `unit` for a block
    //    selection), clamped to the valid ones.
    Value selected = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
        ValueRange{n});
    Value unmarked = arith::ConstantOp::create(b, b.getI8IntegerAttr(0));
    Value marked = arith::ConstantOp::create(b, b.getI8IntegerAttr(1));
    e.forLoop(zero, n, {}, [&](Value t, ValueRange) {
      memref::StoreOp::create(b, unmarked, selected, ValueRange{t});
      return SmallVector<Value>{};
    });
    e.forLoop(zero, chosen, {}, [&](Value j, ValueRange) {
      Value index = e.load(indices, {bi, hk, j});
      Value valid = e.icmp(arith::CmpIPredicate::sge, index, e.i32(0));
      e.ifThen(valid, {}, [&] {
        Value first = arith::MulIOp::create(b, e.toIndex(index), unit);
        Value last =
            arith::MinUIOp::create(b, arith::AddIOp::create(b, first, unit), n);
        e.forLoop(first, last, {}, [&](Value t, ValueRange) {
          memref::StoreOp::create(b, marked, selected, ValueRange{t});
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });

    // 2. Per query head of the group: the running max and sum of block
    //    masses and the mass-weighted value means.
    Value h0 = arith::MulIOp::create(b, hk, group);
    Value runMax = vector(group), runSum = vector(group);
    fill(runMax, group, e.negInf());
    fill(runSum, group, e.f32(0));
    Value acc = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, f32),
        ValueRange{group, vDim});
    e.forLoop(zero, group, {}, [&](Value g, ValueRange) {
      e.forLoop(zero, vDim, {}, [&](Value d, ValueRange) {
        memref::StoreOp::create(b, e.f32(0), acc, ValueRange{g, d});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    Value keySum = vector(headDim), keySquares = vector(headDim),
          valueSum = vector(vDim);
    bool exactMass = op.getExactMass();
    // exact_mass: each query head's running max and sum of exp over the
    // block's unmarked tokens.
    Value blockMax = vector(group), blockSum = vector(group);

    // 3. Each block's unselected moments, folded into every query head.
    e.forLoop(zero, n, {}, block, [&](Value start, ValueRange) {
      Value end =
          arith::MinUIOp::create(b, arith::AddIOp::create(b, start, block), n);
      fill(valueSum, vDim, e.f32(0));
      if (!exactMass) {
        fill(keySum, headDim, e.f32(0));
        fill(keySquares, headDim, e.f32(0));
      } else {
        fill(blockMax, group, e.negInf());
        fill(blockSum, group, e.f32(0));
      }
      Value count =
          e.forLoop(start, end, {e.f32(0)}, [&](Value t, ValueRange carried) {
            Value left = e.icmp(arith::CmpIPredicate::eq, e.load(selected, {t}),
                                unmarked);
            return llvm::to_vector(e.ifThen(left, carried, [&] {
              if (exactMass)
                e.forLoop(zero, group, {}, [&](Value g, ValueRange) {
                  Value h = arith::AddIOp::create(b, h0, g);
                  Value dot = e.forLoop(
                      zero, headDim, {e.f32(0)}, [&](Value d, ValueRange sum) {
                        return SmallVector<Value>{
                            e.add(sum[0], e.mul(e.loadF32(q, {bi, h, d}),
                                                e.loadF32(k, {bi, hk, t, d})))};
                      })[0];
                  Value score = e.mul(scale, dot);
                  Value previous = e.load(blockMax, {g});
                  Value next = e.max(previous, score);
                  memref::StoreOp::create(b, next, blockMax, ValueRange{g});
                  memref::StoreOp::create(
                      b,
                      e.add(e.mul(e.load(blockSum, {g}),
                                  e.exp(e.sub(previous, next))),
                            e.exp(e.sub(score, next))),
                      blockSum, ValueRange{g});
                  return SmallVector<Value>{};
                });
              else
                e.forLoop(zero, headDim, {}, [&](Value d, ValueRange) {
                  Value x = e.loadF32(k, {bi, hk, t, d});
                  memref::StoreOp::create(b, e.add(e.load(keySum, {d}), x),
                                          keySum, ValueRange{d});
                  memref::StoreOp::create(
                      b, e.add(e.load(keySquares, {d}), e.mul(x, x)),
                      keySquares, ValueRange{d});
                  return SmallVector<Value>{};
                });
              e.forLoop(zero, vDim, {}, [&](Value d, ValueRange) {
                memref::StoreOp::create(
                    b,
                    e.add(e.load(valueSum, {d}), e.loadF32(v, {bi, hk, t, d})),
                    valueSum, ValueRange{d});
                return SmallVector<Value>{};
              });
              return SmallVector<Value>{e.add(carried[0], e.f32(1))};
            }));
          })[0];
      Value any = e.fcmp(arith::CmpFPredicate::OGT, count, e.f32(0));
      e.ifThen(any, {}, [&] {
        Value inverse = e.div(e.f32(1), count);
        e.forLoop(zero, group, {}, [&](Value g, ValueRange) {
          Value logMass;
          if (exactMass) {
            logMass =
                e.add(e.load(blockMax, {g}), e.log(e.load(blockSum, {g})));
          } else {
            // q . mean and (q * q) . variance, the variance clamped at 0
            // against rounding.
            Value h = arith::AddIOp::create(b, h0, g);
            ValueRange dots =
                e.forLoop(zero, headDim, {e.f32(0), e.f32(0)},
                          [&](Value d, ValueRange sums) {
                            Value x = e.loadF32(q, {bi, h, d});
                            Value mean = e.mul(e.load(keySum, {d}), inverse);
                            Value variance = e.max(
                                e.sub(e.mul(e.load(keySquares, {d}), inverse),
                                      e.mul(mean, mean)),
                                e.f32(0));
                            return SmallVector<Value>{
                                e.add(sums[0], e.mul(x, mean)),
                                e.add(sums[1], e.mul(e.mul(x, x), variance))};
                          });
            logMass = e.add(e.add(e.log(count), e.mul(scale, dots[0])),
                            e.mul(e.mul(e.f32(0.5), scale2), dots[1]));
          }
          Value previous = e.load(runMax, {g});
          Value next = e.max(previous, logMass);
          Value decay = e.exp(e.sub(previous, next));
          Value weight = e.exp(e.sub(logMass, next));
          memref::StoreOp::create(b, next, runMax, ValueRange{g});
          memref::StoreOp::create(
              b, e.add(e.mul(e.load(runSum, {g}), decay), weight), runSum,
              ValueRange{g});
          Value weightPerToken = e.mul(weight, inverse);
          e.forLoop(zero, vDim, {}, [&](Value d, ValueRange) {
            Value a = e.load(acc, {g, d});
            memref::StoreOp::create(
                b,
                e.add(e.mul(a, decay),
                      e.mul(weightPerToken, e.load(valueSum, {d}))),
                acc, ValueRange{g, d});
            return SmallVector<Value>{};
          });
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });

    // 4. Normalized outputs; a head with nothing left out: 0 and -inf.
    e.forLoop(zero, group, {}, [&](Value g, ValueRange) {
      Value h = arith::AddIOp::create(b, h0, g);
      Value sum = e.load(runSum, {g});
      Value positive = e.fcmp(arith::CmpFPredicate::OGT, sum, e.f32(0));
      Value inverse = e.select(positive, e.div(e.f32(1), sum), e.f32(0));
      e.forLoop(zero, vDim, {}, [&](Value d, ValueRange) {
        memref::StoreOp::create(b, e.mul(e.load(acc, {g, d}), inverse), out,
                                ValueRange{bi, h, d});
        return SmallVector<Value>{};
      });
      Value logSum =
          e.add(e.load(runMax, {g}), e.log(e.select(positive, sum, e.f32(1))));
      memref::StoreOp::create(b, e.select(positive, logSum, e.negInf()), lse,
                              ValueRange{bi, h});
      return SmallVector<Value>{};
    });
  });
  rewriter.replaceOp(op, {e.tensor(out, op.getOutput().getType()),
                          e.tensor(lse, op.getLse().getType())});
}

} // namespace mlir::hgc::lowering
