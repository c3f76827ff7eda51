//===- LoopEmitter.h - host loop-nest builders ------------------*- C++ -*-===//
//
// The small vocabulary every hgc-to-loops lowering writes its loop nests in:
// constants, buffers behind tensor operands, f32-widening loads, scf loops
// with carried values, and 8-lane head-dim vectors.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_LOOPEMITTER_H
#define HGC_CODEGEN_LOOPEMITTER_H

#include "dialect/HgcOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

#include <algorithm>
#include <limits>

namespace mlir::hgc::lowering {

/// A builder inserting before `op`, at its location, through `rewriter`: a
/// rewrite driver sees every op a lowering creates with it.
inline ImplicitLocOpBuilder builderBefore(RewriterBase &rewriter,
                                          Operation *op) {
  ImplicitLocOpBuilder b(op->getLoc(), rewriter);
  b.setInsertionPoint(op);
  return b;
}

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
  /// The read-only buffer behind a tensor operand. Any strides (with unit
  /// innermost one, what vector loads need): a slice of a bound KV tensor is
  /// read in place, not copied to an identity layout first.
  Value buffer(Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
    if (!strides.empty())
      strides.back() = 1;
    auto layout =
        StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides);
    auto memrefType =
        MemRefType::get(type.getShape(), type.getElementType(), layout);
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
    // Integer key codes are signed.
    if (type.isInteger())
      return arith::SIToFPOp::create(b, b.getF32Type(), v);
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
  /// max(x, y) for values that are never NaN and where -0 == +0 (scores):
  /// one vmaxss instead of IEEE maximum's compare-and-blend.
  Value fastMax(Value x, Value y) {
    return arith::MaximumFOp::create(
        b, x, y, arith::FastMathFlags::nnan | arith::FastMathFlags::nsz);
  }
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
    // Blocks without implicit yields: nothing to erase behind a rewriter's
    // back.
    auto op = scf::IfOp::create(b, carried.getTypes(), cond,
                                /*addThenBlock=*/true, /*addElseBlock=*/true);
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

/// f32 lanes per vector: one AVX2 register, and a divisor of every head dim
/// hgc targets (64, 80, 96, 128, 256).
constexpr int64_t kLanes = 8;

/// Most query heads whose accumulators live in registers at once (with the
/// K/V vector and the query lanes they fit AVX2's sixteen registers).
constexpr int64_t kMaxHeadTile = 8;

/// Query heads of a GQA group processed together, sharing each K/V load and
/// its widening: the largest divisor of a static group up to kMaxHeadTile
/// (1 when the head counts are dynamic).
inline int64_t headTile(int64_t qHeads, int64_t kvHeads) {
  if (ShapedType::isDynamic(qHeads) || ShapedType::isDynamic(kvHeads) ||
      kvHeads <= 0 || qHeads % kvHeads != 0)
    return 1;
  int64_t group = qHeads / kvHeads;
  for (int64_t tile = std::min(group, kMaxHeadTile); tile > 1; --tile)
    if (group % tile == 0)
      return tile;
  return 1;
}

/// Head-dim loops over [0, size): 8-wide vectors when the size is static and
/// a multiple of 8 (the loop form the x86 backend turns into FMAs), scalar
/// otherwise.
struct HeadDimLoop {
  Emitter &e;
  Value size;
  bool vectorized;
  int64_t staticSize;

  HeadDimLoop(Emitter &e, Value size, int64_t staticSize)
      : e(e), size(size), vectorized(!ShapedType::isDynamic(staticSize) &&
                                     staticSize % kLanes == 0),
        staticSize(staticSize) {}

  /// Runs `body(d, carried)` over every chunk of the head dim. A static
  /// vectorized size (up to 256 lanes) is unrolled in the IR: no loop
  /// overhead between the FMAs of a token, whatever LLVM's unroller decides.
  SmallVector<Value>
  over(ValueRange init,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    if (!vectorized || staticSize > 256)
      return llvm::to_vector(e.forLoop(e.index(0), size, init, step(), body));
    SmallVector<Value> carried(init.begin(), init.end());
    for (int64_t d = 0; d < staticSize; d += kLanes)
      carried = body(e.index(d), carried);
    return carried;
  }

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
    if (elt.isInteger())
      return arith::SIToFPOp::create(e.b, wide, v);
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
  /// Horizontal maximum of an accumulator of non-NaN values.
  Value max(Value v) {
    return vectorized ? vector::ReductionOp::create(
                            e.b, vector::CombiningKind::MAXIMUMF, v)
                      : v;
  }
  /// Horizontal sum of a dot-product accumulator.
  Value sum(Value v) {
    return vectorized
               ? vector::ReductionOp::create(e.b, vector::CombiningKind::ADD, v)
               : v;
  }
  /// Horizontal sums of several dot-product accumulators. Two, four or
  /// eight 8-lane accumulators are reduced together by pairwise shuffles
  /// (a transposing add tree, ~3 ops per sum instead of ~6 each).
  SmallVector<Value> sums(ArrayRef<Value> accumulators) {
    int64_t n = accumulators.size();
    if (!vectorized || kLanes != 8 || (n != 2 && n != 4 && n != 8)) {
      SmallVector<Value> each;
      for (Value v : accumulators)
        each.push_back(sum(v));
      return each;
    }
    ImplicitLocOpBuilder &b = e.b;
    // [x0+x1, x2+x3, y0+y1, y2+y3 | x4+x5, x6+x7, y4+y5, y6+y7]
    auto pairAdd = [&](Value x, Value y) -> Value {
      Value even = vector::ShuffleOp::create(
          b, x, y, ArrayRef<int64_t>{0, 2, 8, 10, 4, 6, 12, 14});
      Value odd = vector::ShuffleOp::create(
          b, x, y, ArrayRef<int64_t>{1, 3, 9, 11, 5, 7, 13, 15});
      return arith::AddFOp::create(b, even, odd);
    };
    // Four accumulators to [sum a, sum b, sum c, sum d].
    auto fourSums = [&](Value a0, Value a1, Value a2, Value a3) -> Value {
      Value both = pairAdd(pairAdd(a0, a1), pairAdd(a2, a3));
      Value low = vector::ExtractStridedSliceOp::create(
          b, both, ArrayRef<int64_t>{0}, ArrayRef<int64_t>{4},
          ArrayRef<int64_t>{1});
      Value high = vector::ExtractStridedSliceOp::create(
          b, both, ArrayRef<int64_t>{4}, ArrayRef<int64_t>{4},
          ArrayRef<int64_t>{1});
      return arith::AddFOp::create(b, low, high);
    };
    SmallVector<Value> quads;
    if (n == 2)
      quads.push_back(fourSums(accumulators[0], accumulators[1],
                               accumulators[0], accumulators[1]));
    else
      for (int64_t i = 0; i < n; i += 4)
        quads.push_back(fourSums(accumulators[i], accumulators[i + 1],
                                 accumulators[i + 2], accumulators[i + 3]));
    SmallVector<Value> each;
    for (int64_t i = 0; i < n; ++i)
      each.push_back(
          vector::ExtractOp::create(b, quads[i / 4], ArrayRef<int64_t>{i % 4}));
    return each;
  }
  Value fma(Value a, Value b, Value c) {
    return vectorized ? vector::FMAOp::create(e.b, a, b, c).getResult()
                      : e.add(e.mul(a, b), c);
  }
};

} // namespace mlir::hgc::lowering

#endif // HGC_CODEGEN_LOOPEMITTER_H
