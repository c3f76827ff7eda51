//===- KeyCodes.cpp - per-token quantized keys of a tier ------------------===//
//
// The key codes quant_topk selection scores from, computed from the keys of
// a tier: for bound caches without the engine's codes and for runtime caches
// (KVViewLowering.cpp, RuntimeKVLowering.cpp). The arithmetic is the KV
// runtime's (runtime/KVMetadata.cpp): symmetric per token, the largest
// magnitude maps to the top code, round half to even, so codes computed here
// equal the ones the runtime keeps.
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

std::pair<Value, Value>
emitKeyCodes(Emitter &e, RankedTensorType codesType,
             RankedTensorType scalesType, int64_t bits, Value key, Value batch,
             Value width, Value tokens, function_ref<Value(Value)> count,
             function_ref<Value(Value, Value)> source, KeyIndexFn keyAt) {
  ImplicitLocOpBuilder &b = e.b;
  Value headDim = e.dim(key, 3);
  Value kvHeads = e.index(codesType.getDimSize(1));
  double topCode = double((int64_t{1} << (bits - 1)) - 1);
  Value top = e.f32(topCode);
  HeadDimLoop lanes(e, headDim, codesType.getDimSize(3));
  Type codeType = lanes.vectorized
                      ? Type(VectorType::get({kLanes}, b.getI8Type()))
                      : Type(b.getI8Type());
  Value codes = e.alloc(codesType, {batch, kvHeads, width, headDim});
  Value scales = e.alloc(scalesType, {batch, kvHeads, width});
  e.parallel({batch, kvHeads, width}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1], j = row[2];
    // Tokens past a shorter sequence's end are never selected: their scale
    // is 0 and their codes 0, from a clamped (valid) read.
    Value valid = e.icmp(arith::CmpIPredicate::slt, j, count(bi));
    Value t = arith::MinSIOp::create(
        b, source(j, bi), arith::SubIOp::create(b, tokens, e.index(1)));
    SmallVector<Value> at =
        keyAt ? keyAt(bi, hk, t) : SmallVector<Value>{bi, hk, t};
    SmallVector<Value> codeAt = {bi, hk, j};
    // 1. The largest magnitude over the head dim, 8 lanes at a time.
    Value largest =
        lanes.max(lanes.over({lanes.zero()}, [&](Value d, ValueRange m) {
          return SmallVector<Value>{
              e.max(m[0], math::AbsFOp::create(b, lanes.load(key, at, d)))};
        })[0]);
    Value positive = arith::AndIOp::create(
        b, valid, e.fcmp(arith::CmpFPredicate::OGT, largest, e.f32(0)));
    Value scale = e.select(positive, e.div(largest, top), e.f32(0));
    memref::StoreOp::create(b, scale, scales, codeAt);
    // 2. Each element divided by the scale (a division, as the runtime
    //    does: bit-equal codes), rounded half to even and clamped; a zero
    //    scale divides by one and its codes are forced to 0.
    Value divisor = lanes.splat(e.select(positive, scale, e.f32(1)));
    Value high = lanes.splat(top), low = lanes.splat(e.f32(-topCode));
    Value zeros = lanes.zero();
    Value keep = positive;
    if (lanes.vectorized)
      keep = vector::BroadcastOp::create(
          b, VectorType::get({kLanes}, b.getI1Type()), positive);
    lanes.over({}, [&](Value d, ValueRange) {
      Value q =
          math::RoundEvenOp::create(b, e.div(lanes.load(key, at, d), divisor));
      q = e.select(keep, e.max(low, arith::MinimumFOp::create(b, q, high)),
                   zeros);
      lanes.store(arith::FPToSIOp::create(b, codeType, q), codes, codeAt, d);
      return SmallVector<Value>{};
    });
  });
  return {codes, scales};
}

} // namespace mlir::hgc::lowering
