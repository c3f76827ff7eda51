//===- KeySummaries.cpp - per-block key min/max of a tier -----------------===//
//
// The key summaries block selection scores against, computed from the keys
// of a tier: for bound caches whose own summaries do not line up with the
// tier's blocks, and for runtime caches (KVViewLowering.cpp,
// RuntimeKVLowering.cpp).
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

/// Channel-wise key min/max of blocks of `block` tokens of each (sequence,
/// KV head): the j-th tier token of sequence `bi` is `source(j, bi)` of
/// `key`, which holds `tokens` tokens; the tier has `count(bi)` of them.
std::pair<Value, Value>
emitKeySummaries(Emitter &e, RankedTensorType type, Value key, Value batch,
                 Value width, int64_t block, Value tokens,
                 function_ref<Value(Value)> count,
                 function_ref<Value(Value, Value)> source, KeyIndexFn keyAt) {
  ImplicitLocOpBuilder &b = e.b;
  // Heads are the summaries' (a paged key cache is laid out otherwise).
  Value headDim = e.dim(key, 3);
  Value kvHeads = e.index(type.getDimSize(1));
  auto indexOf = [&](Value bi, Value hk, Value t) -> SmallVector<Value> {
    if (keyAt)
      return keyAt(bi, hk, t);
    return {bi, hk, t};
  };
  Value blockSize = e.index(block);
  Type element = type.getElementType();
  HeadDimLoop lanes(e, headDim, type.getDimSize(3));
  // Summaries keep the keys' type: min/max of exact values are exact.
  auto narrow = [&](Value wide) -> Value {
    if (element.isF32())
      return wide;
    Type to =
        lanes.vectorized ? Type(VectorType::get({kLanes}, element)) : element;
    return arith::TruncFOp::create(b, to, wide);
  };
  SmallVector<Value> sizes = {batch, kvHeads, width, headDim};
  Value keyMin = e.alloc(type, sizes), keyMax = e.alloc(type, sizes);
  e.parallel({batch, kvHeads, width}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1], blk = row[2];
    Value first = arith::MulIOp::create(b, blk, blockSize);
    Value last = arith::MinSIOp::create(
        b, arith::AddIOp::create(b, first, blockSize), count(bi));
    // Blocks past a shorter sequence's end are never selected; zeros keep
    // them defined.
    Value empty = e.icmp(arith::CmpIPredicate::sge, first, last);
    e.forLoop(e.index(0), headDim, {}, lanes.step(), [&](Value d, ValueRange) {
      Value at = arith::MinSIOp::create(
          b, source(first, bi), arith::SubIOp::create(b, tokens, e.index(1)));
      ValueRange seeds = e.ifThen(
          arith::XOrIOp::create(
              b, empty, arith::ConstantOp::create(b, b.getBoolAttr(true))),
          {lanes.zero(), lanes.zero()}, [&]() {
            Value k0 = lanes.load(key, indexOf(bi, hk, at), d);
            return SmallVector<Value>{k0, k0};
          });
      ValueRange range = e.forLoop(
          arith::AddIOp::create(b, first, e.index(1)), last,
          {seeds[0], seeds[1]}, [&](Value j, ValueRange m) {
            Value k = lanes.load(key, indexOf(bi, hk, source(j, bi)), d);
            return SmallVector<Value>{arith::MinimumFOp::create(b, m[0], k),
                                      arith::MaximumFOp::create(b, m[1], k)};
          });
      SmallVector<Value> at4 = {bi, hk, blk};
      lanes.store(narrow(range[0]), keyMin, at4, d);
      lanes.store(narrow(range[1]), keyMax, at4, d);
      return SmallVector<Value>{};
    });
  });
  return {keyMin, keyMax};
}

} // namespace mlir::hgc::lowering
