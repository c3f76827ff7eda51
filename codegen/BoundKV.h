//===- BoundKV.h - the tiers of a cache bound over tensors -------*- C++
//-*-===//
//
// What the lowerings of the cache-level ops (hgc.kv_view, kv_summaries,
// kv_key_codes, kv_pq_codes, kv_channel_keys, kv_value_mean) share for a
// cache bound with hgc.bind_kv: which tokens a placement puts on a tier, and
// how a reader of one head group reaches the bound keys and values, whole or
// paged.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_BOUNDKV_H
#define HGC_CODEGEN_BOUNDKV_H

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "codegen/PagedKV.h"

namespace mlir::hgc::lowering {

/// On the first tier the sinks then the recent window (every token when the
/// sequence fits the hot set); the tokens between them on the later tiers,
/// oldest first, each middle tier up to its capacity, the last the rest.
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

  /// The tier a cache-level op (kv_view, kv_summaries, kv_key_codes, ...)
  /// reads, of the cache it reads it from.
  template <typename OpTy> static FailureOr<BoundTier> of(OpTy op) {
    return get(op, op.getCache(), op.getTier(), op.getPlacementAttr());
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
    return placement.getTierStart(index);
  }
  /// Tokens of a sequence of `n` on this tier.
  Value count(Emitter &e, Value n) const {
    ImplicitLocOpBuilder &b = e.b;
    if (tierCount == 1)
      return n;
    if (index == 0)
      return arith::MinSIOp::create(b, n, e.index(hot()));
    // The cold tokens past those of the tiers before this one.
    int64_t before = placement.getTierStart(index) - sink();
    Value rest = arith::MaxSIOp::create(
        b, arith::SubIOp::create(b, n, e.index(hot() + before)), e.index(0));
    int64_t capacity = placement.getTiers()[index].getCapacity();
    if (capacity == 0)
      return rest;
    return arith::MinSIOp::create(b, rest, e.index(capacity));
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
  std::pair<Value, Value>
  widthAndLengths(Emitter &e, Value lengths, Value batch, Value tokens,
                  RankedTensorType lengthsType,
                  function_ref<Value(Value)> units) const {
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

/// The keys (and, `withValues`, the values) of a bound cache as a reader of
/// one head group of `heads` KV heads addresses them: a paged cache's
/// through its block table.
struct BoundKeys {
  Value key, value, batch, tokens, lengths;
  std::optional<PagedKV> paged;

  BoundKeys(Emitter &e, BindKVOp bind, std::optional<uint64_t> firstHead,
            int64_t heads, bool withValues = false)
      : e(e) {
    lengths = bind.getLengths() ? e.buffer(bind.getLengths()) : Value();
    if (!bind.isPaged()) {
      key = selectHeadGroup(e, e.buffer(bind.getKey()), firstHead, heads);
      if (withValues)
        value = selectHeadGroup(e, e.buffer(bind.getValue()), firstHead, heads);
      batch = e.dim(key, 0);
      tokens = e.dim(key, 2);
      return;
    }
    paged.emplace();
    paged->key = key = e.buffer(bind.getKey());
    if (withValues)
      paged->value = value = e.buffer(bind.getValue());
    paged->table = e.buffer(bind.getBlockTable());
    paged->blockSize = bind.getPagedBlockSize();
    paged->firstHead = int64_t(firstHead.value_or(0));
    paged->headsMajor = bind.isHeadsMajor();
    batch = e.dim(paged->table, 0);
    tokens = arith::MulIOp::create(e.b, e.dim(paged->table, 1),
                                   e.index(paged->blockSize));
  }

  /// The tier's token count of sequence `bi`.
  std::function<Value(Value)> countOn(const BoundTier &tier) const {
    return [this, &tier](Value bi) {
      return tier.count(e, e.validTokens(lengths, bi, tokens));
    };
  }
  /// The bound token of the tier's j-th token of sequence `bi`.
  std::function<Value(Value, Value)> sourceOn(const BoundTier &tier) const {
    return [this, &tier](Value j, Value bi) {
      return tier.source(e, j, e.validTokens(lengths, bi, tokens));
    };
  }
  /// The longest sequence's token count on `tier`, and each sequence's as
  /// i32 in a fresh `lengthsType` buffer (BoundTier::widthAndLengths).
  std::pair<Value, Value> tokensOn(const BoundTier &tier,
                                   RankedTensorType lengthsType) const {
    return tier.widthAndLengths(e, lengths, batch, tokens, lengthsType,
                                [](Value count) { return count; });
  }
  /// Where token `t` of KV head `hk` is: through the table when paged.
  KeyIndexFn indexFn() const {
    if (!paged)
      return nullptr;
    return pagedAt;
  }

private:
  Emitter &e;
  std::function<SmallVector<Value>(Value, Value, Value)> pagedAt =
      [this](Value bi, Value hk, Value t) { return paged->at(e, bi, hk, t); };
};

/// `bound[:, heads, offset : offset + width(, :)]` (offset clamped to the
/// bound size so an empty range stays in bounds), cast to `type`; `heads` is
/// the result's KV head range from `firstHead`. `bound` is [batch, kv_heads,
/// tokens, head_dim] or, for per-token scales, [batch, kv_heads, tokens];
/// with `tokenDim` 3, channel-major [batch, kv_heads, head_dim, tokens].
inline Value sliceTokens(Emitter &e, Value bound, Value buffer, Value offset,
                         Value width, Type type, int64_t firstHead,
                         int64_t tokenDim = 2) {
  ImplicitLocOpBuilder &b = e.b;
  auto boundType = cast<RankedTensorType>(bound.getType());
  offset = arith::MinSIOp::create(b, offset, e.dim(buffer, tokenDim));
  SmallVector<OpFoldResult> offsets(boundType.getRank(), b.getIndexAttr(0));
  offsets[1] = b.getIndexAttr(firstHead);
  offsets[tokenDim] = offset;
  SmallVector<OpFoldResult> sizes;
  int64_t heads = cast<RankedTensorType>(type).getDimSize(1);
  for (auto [i, size] : llvm::enumerate(boundType.getShape()))
    sizes.push_back(int64_t(i) == tokenDim ? OpFoldResult(width)
                    : i == 1               ? OpFoldResult(b.getIndexAttr(heads))
                    : ShapedType::isDynamic(size)
                        ? OpFoldResult(e.dim(buffer, i))
                        : b.getIndexAttr(size));
  SmallVector<OpFoldResult> strides(boundType.getRank(), b.getIndexAttr(1));
  Value slice =
      tensor::ExtractSliceOp::create(b, bound, offsets, sizes, strides);
  if (slice.getType() != type)
    slice = tensor::CastOp::create(b, type, slice);
  return slice;
}

} // namespace mlir::hgc::lowering

#endif // HGC_CODEGEN_BOUNDKV_H
