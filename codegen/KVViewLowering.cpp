//===- KVViewLowering.cpp - views of bound KV caches ----------------------===//

#include "codegen/BoundKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

//===----------------------------------------------------------------------===//
// Paged caches: one-range tiers read in place
//===----------------------------------------------------------------------===//

/// The first position of the paged cache's single token range `view` reads,
/// when it reads one.
static std::optional<int64_t> getPagedRangeStart(KVViewOp view) {
  auto bind = view.getCache().getDefiningOp<BindKVOp>();
  if (!bind || !bind.isPaged() || !view.getPlacementAttr())
    return std::nullopt;
  FailureOr<BoundTier> tier = BoundTier::of(view);
  return succeeded(tier) ? tier->rangeStart() : std::nullopt;
}

std::optional<PagedKV> getPagedRange(Emitter &e, KVViewOp view) {
  std::optional<int64_t> start = getPagedRangeStart(view);
  if (!start)
    return std::nullopt;
  auto bind = view.getCache().getDefiningOp<BindKVOp>();
  PagedKV paged;
  paged.key = e.buffer(bind.getKey());
  paged.value = e.buffer(bind.getValue());
  paged.table = e.buffer(bind.getBlockTable());
  paged.blockSize = bind.getPagedBlockSize();
  paged.firstPosition = *start;
  paged.firstHead = int64_t(view.getFirstHead().value_or(0));
  paged.headsMajor = bind.isHeadsMajor();
  return paged;
}

std::optional<PagedKV> PagedKV::of(Emitter &e, Value viewed) {
  auto view = viewed.getDefiningOp<KVViewOp>();
  if (!view)
    return std::nullopt;
  return getPagedRange(e, view);
}

bool isKeptForPagedReaders(KVViewOp view,
                           function_ref<bool(Operation *)> readsPaged) {
  return view.getLengths().use_empty() &&
         getPagedRangeStart(view).has_value() &&
         llvm::all_of(view.getKey().getUsers(), readsPaged) &&
         llvm::all_of(view.getValue().getUsers(), readsPaged);
}

std::pair<Value, Value> PagedKV::locate(Emitter &e, Value bi, Value t) const {
  ImplicitLocOpBuilder &b = e.b;
  Value position =
      firstPosition ? arith::AddIOp::create(b, t, e.index(firstPosition)) : t;
  Value block =
      arith::ShRUIOp::create(b, position, e.index(llvm::Log2_64(blockSize)));
  Value slot = arith::AndIOp::create(b, position, e.index(blockSize - 1));
  return {e.toIndex(e.load(table, {bi, block})), slot};
}

SmallVector<Value> PagedKV::atSlot(Emitter &e, Value id, Value slot,
                                   Value hk) const {
  Value head =
      firstHead ? arith::AddIOp::create(e.b, hk, e.index(firstHead)) : hk;
  if (headsMajor)
    return {id, head, slot};
  return {id, slot, head};
}

SmallVector<Value> PagedKV::at(Emitter &e, Value bi, Value hk, Value t) const {
  if (runStart) {
    Value slot = arith::AddIOp::create(e.b, runSlot,
                                       arith::SubIOp::create(e.b, t, runStart));
    return atSlot(e, runId, slot, hk);
  }
  auto [id, slot] = locate(e, bi, t);
  return atSlot(e, id, slot, hk);
}

void PagedKV::beginRun(Emitter &e, Value bi, Value start, int64_t run) {
  endRun();
  if (!keepsRuns(run))
    return;
  std::tie(runId, runSlot) = locate(e, bi, start);
  runStart = start;
}

Value longestLength(Emitter &e, Value lengths) {
  ImplicitLocOpBuilder &b = e.b;
  Value zero = e.index(0);
  return e.forLoop(
      zero, e.dim(lengths, 0), {zero}, [&](Value bi, ValueRange longest) {
        Value n =
            arith::MaxSIOp::create(b, e.toIndex(e.load(lengths, bi)), zero);
        return SmallVector<Value>{arith::MaxSIOp::create(b, longest[0], n)};
      })[0];
}

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

//===----------------------------------------------------------------------===//
// hgc.kv_view
//===----------------------------------------------------------------------===//

namespace {
/// Gathers the tier's tokens (the sinks and the window: few) of sequences
/// of up to `tokens` into fresh [batch, kv_heads, width, head_dim] buffers
/// and returns them as the view's key and value: token `t` of sequence
/// `bi`, KV head `hk`, is at `at(bi, hk, t)` of `key`/`value`.
std::pair<Value, Value> gatherView(Emitter &e, KVViewOp op,
                                   const BoundTier &tier, Value key,
                                   Value value, Value lengths, Value tokens,
                                   Value batch, Value kvHeads, Value width,
                                   Value headDim, KeyIndexFn at) {
  ImplicitLocOpBuilder &b = e.b;
  Value zero = e.index(0);
  SmallVector<Value> sizes = {batch, kvHeads, width, headDim};
  Value keyOut = e.alloc(op.getKey().getType(), sizes);
  Value valueOut = e.alloc(op.getValue().getType(), sizes);
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    e.forLoop(zero, tier.count(e, n), {}, [&](Value j, ValueRange) {
      SmallVector<Value> from = at(bi, hk, tier.source(e, j, n));
      from.push_back(Value());
      e.forLoop(zero, headDim, {}, [&](Value d, ValueRange) {
        from.back() = d;
        memref::StoreOp::create(b, e.load(key, from), keyOut,
                                ValueRange{bi, hk, j, d});
        memref::StoreOp::create(b, e.load(value, from), valueOut,
                                ValueRange{bi, hk, j, d});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
  Value keyTensor = e.tensor(keyOut, op.getKey().getType());
  return {keyTensor, e.tensor(valueOut, op.getValue().getType())};
}

/// A tier of a paged cache: one range whose readers all take blocks in
/// place keeps its view for them (only the lengths are computed); other
/// tiers (the sinks and the window, few tokens) are gathered.
LogicalResult lowerPagedKVView(RewriterBase &rewriter, KVViewOp op,
                               const BoundTier &tier,
                               function_ref<bool(Operation *)> readsPaged) {
  BindKVOp bind = tier.bind;
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Value lengths = e.buffer(bind.getLengths());
  Value table = e.buffer(bind.getBlockTable());
  Value batch = e.dim(table, 0);
  // Positions the table can address: lengths beyond are clamped to it.
  Value capacity = arith::MulIOp::create(b, e.dim(table, 1),
                                         e.index(bind.getPagedBlockSize()));
  auto [width, lengthsOut] = tier.widthAndLengths(e, lengths, batch, capacity,
                                                  op.getLengths().getType(),
                                                  [](Value c) { return c; });
  bool inPlace = getPagedRange(e, op).has_value();
  for (Value result : {op.getKey(), op.getValue()})
    inPlace &= llvm::all_of(result.getUsers(), readsPaged);
  if (inPlace) {
    // A copy without lengths readers (legal: isKeptForPagedReaders), erased
    // once its readers are lowered.
    rewriter.setInsertionPoint(op);
    auto kept = cast<KVViewOp>(rewriter.clone(*op));
    rewriter.replaceOp(op, {kept.getKey(), kept.getValue(), lengthsOut});
    return success();
  }

  PagedKV paged;
  paged.key = e.buffer(bind.getKey());
  paged.value = e.buffer(bind.getValue());
  paged.table = table;
  paged.blockSize = bind.getPagedBlockSize();
  paged.firstHead = int64_t(op.getFirstHead().value_or(0));
  paged.headsMajor = bind.isHeadsMajor();
  auto [keyOut, valueOut] = gatherView(
      e, op, tier, paged.key, paged.value, lengths, capacity, batch,
      e.index(op.getKey().getType().getDimSize(1)), width, e.dim(paged.key, 3),
      [&](Value bi, Value hk, Value t) { return paged.at(e, bi, hk, t); });
  rewriter.replaceOp(op, {keyOut, valueOut, lengthsOut});
  return success();
}
} // namespace

/// The tier's tokens of the bound key/value tensors: the tensors themselves
/// or a slice when they are one range (read in place), else gathered.
LogicalResult lowerKVView(RewriterBase &rewriter, KVViewOp op,
                          function_ref<bool(Operation *)> readsPaged) {
  FailureOr<BoundTier> tier = BoundTier::of(op);
  if (failed(tier))
    return failure();
  BindKVOp bind = tier->bind;
  if (bind.isPaged())
    return lowerPagedKVView(rewriter, op, *tier, readsPaged);
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
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
  auto [width, lengthsOut] = tier->widthAndLengths(e, lengths, batch, tokens,
                                                   op.getLengths().getType(),
                                                   [](Value c) { return c; });
  if (std::optional<int64_t> start = tier->rangeStart()) {
    Value offset = e.index(*start);
    Value keySlice = sliceTokens(e, bind.getKey(), key, offset, width,
                                 op.getKey().getType(), firstHead);
    Value valueSlice = sliceTokens(e, bind.getValue(), value, offset, width,
                                   op.getValue().getType(), firstHead);
    rewriter.replaceOp(op, {keySlice, valueSlice, lengthsOut});
    return success();
  }
  // The sinks and the recent window (few tokens): gathered.
  auto [keyOut, valueOut] =
      gatherView(e, op, *tier, key, value, lengths, tokens, batch, kvHeads,
                 width, headDim, [](Value bi, Value hk, Value t) {
                   return SmallVector<Value>{bi, hk, t};
                 });
  rewriter.replaceOp(op, {keyOut, valueOut, lengthsOut});
  return success();
}

//===----------------------------------------------------------------------===//
// hgc.kv_summaries
//===----------------------------------------------------------------------===//

/// Per-block key min/max of the tier's tokens: a slice of the summaries the
/// cache was bound with when their blocks line up with the tier's, else
/// computed from the keys (one pass over them).
LogicalResult lowerKVSummaries(RewriterBase &rewriter, KVSummariesOp op) {
  FailureOr<BoundTier> tier = BoundTier::of(op);
  if (failed(tier))
    return failure();
  std::optional<int64_t> start = tier->rangeStart();
  if (!start)
    return op.emitOpError("summarizes one token range; the first of several "
                          "tiers holds the sinks and the window apart");
  BindKVOp bind = tier->bind;
  int64_t block = op.getBlockSize();
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  BoundKeys keys(e, bind, op.getFirstHead(),
                 op.getKeyMin().getType().getDimSize(1));
  Value blockSize = e.index(block);
  auto blocksOf = [&](Value count) {
    return arith::CeilDivUIOp::create(b, count, blockSize).getResult();
  };
  auto [width, lengthsOut] =
      tier->widthAndLengths(e, keys.lengths, keys.batch, keys.tokens,
                            op.getLengths().getType(), blocksOf);

  std::optional<uint64_t> bound = bind.getSummaryBlock();
  if (bind.getKeyMin() && bound && int64_t(*bound) == block &&
      *start % block == 0) {
    Value offset = e.index(*start / block);
    SmallVector<Value> slices;
    for (auto [result, summary] : {std::pair(op.getKeyMin(), bind.getKeyMin()),
                                   std::pair(op.getKeyMax(), bind.getKeyMax())})
      slices.push_back(sliceTokens(e, summary, e.buffer(summary), offset, width,
                                   result.getType(),
                                   op.getFirstHead().value_or(0)));
    rewriter.replaceOp(op, {slices[0], slices[1], lengthsOut});
    return success();
  }

  RankedTensorType type = op.getKeyMin().getType();
  auto [keyMin, keyMax] = emitKeySummaries(
      e, type, keys.key, keys.batch, width, block, keys.tokens,
      keys.countOn(*tier), keys.sourceOn(*tier), keys.indexFn());
  Value keyMinTensor = e.tensor(keyMin, type);
  rewriter.replaceOp(op, {keyMinTensor, e.tensor(keyMax, type), lengthsOut});
  return success();
}

//===----------------------------------------------------------------------===//
// hgc.kv_key_codes
//===----------------------------------------------------------------------===//

/// Per-token key codes of the tier's tokens: a slice of the codes the cache
/// was bound with (quantized as the op asks), else quantized from the keys
/// (one pass over them).
LogicalResult lowerKVKeyCodes(RewriterBase &rewriter, KVKeyCodesOp op) {
  FailureOr<BoundTier> tier = BoundTier::of(op);
  if (failed(tier))
    return failure();
  BindKVOp bind = tier->bind;
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  RankedTensorType codesType = op.getCodes().getType();
  RankedTensorType scalesType = op.getScales().getType();
  BoundKeys keys(e, bind, op.getFirstHead(), codesType.getDimSize(1));
  auto [width, lengthsOut] = keys.tokensOn(*tier, op.getLengths().getType());

  // The engine's codes hold 8 bits; a tier of one token range reads them.
  std::optional<int64_t> start = tier->rangeStart();
  if (bind.getKeyCodes() && start && op.getBits() == 8) {
    Value offset = e.index(*start);
    int64_t firstHead = op.getFirstHead().value_or(0);
    Value codes =
        sliceTokens(e, bind.getKeyCodes(), e.buffer(bind.getKeyCodes()), offset,
                    width, codesType, firstHead);
    Value scales =
        sliceTokens(e, bind.getKeyScales(), e.buffer(bind.getKeyScales()),
                    offset, width, scalesType, firstHead);
    rewriter.replaceOp(op, {codes, scales, lengthsOut});
    return success();
  }

  auto [codes, scales] = emitKeyCodes(
      e, codesType, scalesType, op.getBits(), keys.key, keys.batch, width,
      keys.tokens, keys.countOn(*tier), keys.sourceOn(*tier), keys.indexFn());
  Value codesTensor = e.tensor(codes, codesType);
  rewriter.replaceOp(op,
                     {codesTensor, e.tensor(scales, scalesType), lengthsOut});
  return success();
}

//===----------------------------------------------------------------------===//
// hgc.kv_pq_codes
//===----------------------------------------------------------------------===//

/// The tier's slice of the product-quantized codes the cache was bound with,
/// and the head group's codebooks: codebooks are fitted to a sequence's
/// prefill keys by k-means, which a decode step does not redo.
LogicalResult lowerKVPqCodes(RewriterBase &rewriter, KVPqCodesOp op) {
  FailureOr<BoundTier> tier = BoundTier::of(op);
  if (failed(tier))
    return failure();
  BindKVOp bind = tier->bind;
  if (!bind.getPqCodes())
    return op.emitOpError(
        "needs product-quantized codes bound with the cache (hgc.bind_kv ... "
        "pq(codes, codebooks), made by hgc_rt_pq_fit and hgc_rt_pq_encode)");
  std::optional<int64_t> start = tier->rangeStart();
  if (!start)
    return op.emitOpError("reads one token range; the first of several tiers "
                          "holds the sinks and the window apart");
  RankedTensorType codesType = op.getCodes().getType();
  RankedTensorType booksType = op.getCodebooks().getType();
  auto bound = cast<RankedTensorType>(bind.getPqCodebooks().getType());
  for (int64_t d : {2, 3, 4})
    if (!ShapedType::isDynamic(bound.getDimSize(d)) &&
        bound.getDimSize(d) != booksType.getDimSize(d))
      return op.emitOpError("asks for codebooks ")
             << booksType << " but the cache is bound with " << bound;
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  int64_t firstHead = op.getFirstHead().value_or(0);
  BoundKeys keys(e, bind, op.getFirstHead(), codesType.getDimSize(1));
  auto [width, lengthsOut] = keys.tokensOn(*tier, op.getLengths().getType());
  Value codes = sliceTokens(e, bind.getPqCodes(), e.buffer(bind.getPqCodes()),
                            e.index(*start), width, codesType, firstHead);
  // The head group's codebooks.
  SmallVector<OpFoldResult> offsets(5, b.getIndexAttr(0)),
      strides(5, b.getIndexAttr(1)), sizes;
  offsets[1] = b.getIndexAttr(firstHead);
  Value books = bind.getPqCodebooks();
  for (int64_t d = 0; d < 5; ++d)
    sizes.push_back(
        d == 1 ? OpFoldResult(b.getIndexAttr(booksType.getDimSize(1)))
               : OpFoldResult(tensor::DimOp::create(b, books, d).getResult()));
  Value slice =
      tensor::ExtractSliceOp::create(b, books, offsets, sizes, strides);
  if (slice.getType() != booksType)
    slice = tensor::CastOp::create(b, booksType, slice);
  rewriter.replaceOp(op, {codes, slice, lengthsOut});
  return success();
}

} // namespace mlir::hgc::lowering
