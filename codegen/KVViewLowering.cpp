//===- KVViewLowering.cpp - views of bound KV caches ----------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

//===----------------------------------------------------------------------===//
// The tokens a placement puts on one tier of a cache bound over tensors
//===----------------------------------------------------------------------===//

namespace {
/// On the first tier the sinks then the recent window (every token when the
/// sequence fits the hot set), on the second tier the tokens between them.
/// Later tiers hold nothing without capacity limits.
struct BoundTier {
  BindKVOp bind;
  PlacementAttr placement;
  int64_t index;
  int64_t tierCount;

  static FailureOr<BoundTier> get(Operation *op, Value cache, Tier tier,
                                  PlacementAttr placement) {
    auto bind = cache.getDefiningOp<BindKVOp>();
    if (!bind)
      return op->emitOpError("reads a runtime-owned cache; the host lowering "
                             "resolves only caches bound with hgc.bind_kv");
    if (!placement)
      return op->emitOpError("needs a placement to slice plain KV tensors");
    ArrayRef<TierPolicyAttr> tiers = placement.getTiers();
    int64_t index =
        llvm::find_if(tiers,
                      [&](TierPolicyAttr t) { return t.getTier() == tier; }) -
        tiers.begin();
    return BoundTier{bind, placement, index, int64_t(tiers.size())};
  }

  int64_t sink() const { return placement.getSink(); }
  int64_t hot() const { return placement.getSink() + placement.getWindow(); }
  /// The tier's first token when its tokens are one range (all but a split
  /// first tier).
  std::optional<int64_t> rangeStart() const {
    if (tierCount == 1)
      return 0;
    if (index == 0)
      return std::nullopt;
    return sink();
  }
  /// Tokens of a sequence of `n` on this tier.
  Value count(Emitter &e, Value n) const {
    ImplicitLocOpBuilder &b = e.b;
    if (tierCount == 1)
      return n;
    if (index == 0)
      return arith::MinSIOp::create(b, n, e.index(hot()));
    if (index == 1)
      return arith::MaxSIOp::create(
          b, arith::SubIOp::create(b, n, e.index(hot())), e.index(0));
    return e.index(0);
  }
  /// Bound token of the tier's j-th token of a sequence of `n`.
  Value source(Emitter &e, Value j, Value n) const {
    ImplicitLocOpBuilder &b = e.b;
    std::optional<int64_t> start = rangeStart();
    if (start)
      return arith::AddIOp::create(b, e.index(*start), j);
    // Past the sinks, the window ends at the sequence's last token.
    Value fits = e.icmp(arith::CmpIPredicate::sle, n, e.index(hot()));
    Value inSinks = e.icmp(arith::CmpIPredicate::slt, j, e.index(sink()));
    Value windowed = arith::AddIOp::create(
        b, arith::SubIOp::create(b, n, e.index(hot())), j);
    return e.select(arith::OrIOp::create(b, fits, inSinks), j, windowed);
  }
  /// The longest sequence's `units(count)` over the batch, and each
  /// sequence's count as i32 in a fresh `lengthsType` buffer.
  std::pair<Value, Value> widthAndLengths(Emitter &e, Value lengths,
                                          Value batch, Value tokens,
                                          RankedTensorType lengthsType,
                                          function_ref<Value(Value)> units) {
    ImplicitLocOpBuilder &b = e.b;
    Value zero = e.index(0);
    Value width = e.forLoop(zero, batch, {zero}, [&](Value bi, ValueRange w) {
      Value n = e.validTokens(lengths, bi, tokens);
      return SmallVector<Value>{
          arith::MaxSIOp::create(b, w[0], units(count(e, n)))};
    })[0];
    Value out = e.alloc(lengthsType, {batch});
    e.parallel({batch}, [&](ValueRange row) {
      Value n = e.validTokens(lengths, row[0], tokens);
      Value c =
          arith::IndexCastOp::create(b, b.getI32Type(), units(count(e, n)));
      memref::StoreOp::create(b, c, out, row[0]);
    });
    return {width, e.tensor(out, lengthsType)};
  }
};

/// `bound[:, heads, offset : offset + width, :]` (offset clamped to the
/// bound size so an empty range stays in bounds), cast to `type`; `heads` is
/// the result's KV head range from `firstHead`.
Value sliceTokens(Emitter &e, Value bound, Value buffer, Value offset,
                  Value width, Type type, int64_t firstHead) {
  ImplicitLocOpBuilder &b = e.b;
  auto boundType = cast<RankedTensorType>(bound.getType());
  offset = arith::MinSIOp::create(b, offset, e.dim(buffer, 2));
  SmallVector<OpFoldResult> offsets = {
      b.getIndexAttr(0), b.getIndexAttr(firstHead), offset, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes;
  int64_t heads = cast<RankedTensorType>(type).getDimSize(1);
  for (auto [i, size] : llvm::enumerate(boundType.getShape()))
    sizes.push_back(i == 2   ? OpFoldResult(width)
                    : i == 1 ? OpFoldResult(b.getIndexAttr(heads))
                    : ShapedType::isDynamic(size)
                        ? OpFoldResult(e.dim(buffer, i))
                        : b.getIndexAttr(size));
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  Value slice =
      tensor::ExtractSliceOp::create(b, bound, offsets, sizes, strides);
  if (slice.getType() != type)
    slice = tensor::CastOp::create(b, type, slice);
  return slice;
}
} // namespace

Value selectHeadGroup(Emitter &e, Value buffer, std::optional<uint64_t> first,
                      int64_t heads) {
  if (!first)
    return buffer;
  ImplicitLocOpBuilder &b = e.b;
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0),
                                       b.getIndexAttr(int64_t(*first)),
                                       b.getIndexAttr(0), b.getIndexAttr(0)};
  auto type = cast<MemRefType>(buffer.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < 4; ++d)
    sizes.push_back(d == 1 ? b.getIndexAttr(heads)
                    : type.isDynamicDim(d)
                        ? OpFoldResult(e.dim(buffer, d))
                        : b.getIndexAttr(type.getDimSize(d)));
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return memref::SubViewOp::create(b, buffer, offsets, sizes, strides);
}

/// Channel-wise key min/max of blocks of `block` tokens of each (sequence,
/// KV head): the j-th tier token of sequence `bi` is `source(j, bi)` of
/// `key`, which holds `tokens` tokens; the tier has `count(bi)` of them.
std::pair<Value, Value>
emitKeySummaries(Emitter &e, RankedTensorType type, Value key, Value width,
                 int64_t block, Value tokens, function_ref<Value(Value)> count,
                 function_ref<Value(Value, Value)> source) {
  ImplicitLocOpBuilder &b = e.b;
  Value batch = e.dim(key, 0), kvHeads = e.dim(key, 1), headDim = e.dim(key, 3);
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
            Value k0 = lanes.load(key, {bi, hk, at}, d);
            return SmallVector<Value>{k0, k0};
          });
      ValueRange range = e.forLoop(
          arith::AddIOp::create(b, first, e.index(1)), last,
          {seeds[0], seeds[1]}, [&](Value j, ValueRange m) {
            Value k = lanes.load(key, {bi, hk, source(j, bi)}, d);
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

//===----------------------------------------------------------------------===//
// hgc.kv_view
//===----------------------------------------------------------------------===//

/// The tier's tokens of the bound key/value tensors: the tensors themselves
/// or a slice when they are one range (read in place), else gathered.
LogicalResult lowerKVView(KVViewOp op) {
  FailureOr<BoundTier> tier =
      BoundTier::get(op, op.getCache(), op.getTier(), op.getPlacementAttr());
  if (failed(tier))
    return failure();
  BindKVOp bind = tier->bind;
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  int64_t heads = op.getKey().getType().getDimSize(1);
  int64_t firstHead = op.getFirstHead().value_or(0);
  Value key = selectHeadGroup(e, e.buffer(bind.getKey()), op.getFirstHead(),
                              heads),
        value = selectHeadGroup(e, e.buffer(bind.getValue()), op.getFirstHead(),
                                heads);
  Value lengths = bind.getLengths() ? e.buffer(bind.getLengths()) : Value();
  Value batch = e.dim(key, 0), kvHeads = e.dim(key, 1), tokens = e.dim(key, 2),
        headDim = e.dim(key, 3);
  Value zero = e.index(0);
  auto [width, lengthsOut] = tier->widthAndLengths(e, lengths, batch, tokens,
                                                   op.getLengths().getType(),
                                                   [](Value c) { return c; });
  op.getLengths().replaceAllUsesWith(lengthsOut);
  if (std::optional<int64_t> start = tier->rangeStart()) {
    Value offset = e.index(*start);
    op.getKey().replaceAllUsesWith(sliceTokens(e, bind.getKey(), key, offset,
                                               width, op.getKey().getType(),
                                               firstHead));
    op.getValue().replaceAllUsesWith(
        sliceTokens(e, bind.getValue(), value, offset, width,
                    op.getValue().getType(), firstHead));
    op.erase();
    return success();
  }
  // The sinks and the recent window (few tokens): gathered.
  SmallVector<Value> sizes = {batch, kvHeads, width, headDim};
  Value keyOut = e.alloc(op.getKey().getType(), sizes);
  Value valueOut = e.alloc(op.getValue().getType(), sizes);
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    e.forLoop(zero, tier->count(e, n), {}, [&](Value j, ValueRange) {
      Value t = tier->source(e, j, n);
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
// hgc.kv_summaries
//===----------------------------------------------------------------------===//

/// Per-block key min/max of the tier's tokens: a slice of the summaries the
/// cache was bound with when their blocks line up with the tier's, else
/// computed from the keys (one pass over them).
LogicalResult lowerKVSummaries(KVSummariesOp op) {
  FailureOr<BoundTier> tier =
      BoundTier::get(op, op.getCache(), op.getTier(), op.getPlacementAttr());
  if (failed(tier))
    return failure();
  std::optional<int64_t> start = tier->rangeStart();
  if (!start)
    return op.emitOpError("summarizes one token range; the first of several "
                          "tiers holds the sinks and the window apart");
  BindKVOp bind = tier->bind;
  int64_t block = op.getBlockSize();
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  int64_t heads = op.getKeyMin().getType().getDimSize(1);
  Value key =
      selectHeadGroup(e, e.buffer(bind.getKey()), op.getFirstHead(), heads);
  Value lengths = bind.getLengths() ? e.buffer(bind.getLengths()) : Value();
  Value batch = e.dim(key, 0), tokens = e.dim(key, 2);
  Value blockSize = e.index(block);
  auto blocksOf = [&](Value count) {
    return arith::CeilDivUIOp::create(b, count, blockSize).getResult();
  };
  auto [width, lengthsOut] = tier->widthAndLengths(
      e, lengths, batch, tokens, op.getLengths().getType(), blocksOf);
  op.getLengths().replaceAllUsesWith(lengthsOut);

  std::optional<uint64_t> bound = bind.getSummaryBlock();
  if (bind.getKeyMin() && bound && int64_t(*bound) == block &&
      *start % block == 0) {
    Value offset = e.index(*start / block);
    for (auto [result, summary] : {std::pair(op.getKeyMin(), bind.getKeyMin()),
                                   std::pair(op.getKeyMax(), bind.getKeyMax())})
      result.replaceAllUsesWith(sliceTokens(e, summary, e.buffer(summary),
                                            offset, width, result.getType(),
                                            op.getFirstHead().value_or(0)));
    op.erase();
    return success();
  }

  RankedTensorType type = op.getKeyMin().getType();
  auto [keyMin, keyMax] = emitKeySummaries(
      e, type, key, width, block, tokens,
      [&](Value bi) {
        return tier->count(e, e.validTokens(lengths, bi, tokens));
      },
      [&](Value j, Value bi) {
        return tier->source(e, j, e.validTokens(lengths, bi, tokens));
      });
  op.getKeyMin().replaceAllUsesWith(e.tensor(keyMin, type));
  op.getKeyMax().replaceAllUsesWith(e.tensor(keyMax, type));
  op.erase();
  return success();
}

} // namespace mlir::hgc::lowering
