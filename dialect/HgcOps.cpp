//===- HgcOps.cpp - hgc operations ---------------------------------------===//
//
// Verifiers check every structural rule the lowering relies on, so that a pass
// never meets a shape it has to guess about. Dynamic dimensions are checked
// wherever the other side is static.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "dialect/ShapeChecks.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::hgc;

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

namespace {
/// Enum attributes print as a bare keyword inside ops: `tier host`.
template <typename EnumAttrT>
ParseResult parseEnumKeyword(OpAsmParser &parser, EnumAttrT &attr) {
  using EnumT = decltype(std::declval<EnumAttrT>().getValue());
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<EnumT> value;
  if constexpr (std::is_same_v<EnumT, Tier>)
    value = symbolizeTier(keyword);
  else
    value = symbolizeSelection(keyword);
  if (!value)
    return parser.emitError(loc, "unknown keyword '") << keyword << "'";
  attr = EnumAttrT::get(parser.getContext(), *value);
  return success();
}

void printEnumKeyword(OpAsmPrinter &printer, Operation *, TierAttr attr) {
  printer << stringifyTier(attr.getValue());
}
void printEnumKeyword(OpAsmPrinter &printer, Operation *, SelectionAttr attr) {
  printer << stringifySelection(attr.getValue());
}
} // namespace

#define GET_OP_CLASSES
#include "dialect/HgcOps.cpp.inc"

namespace {
/// Applies `check` to the placement and to every head override in it.
LogicalResult
forEachPlacement(PlacementAttr placement,
                 function_ref<LogicalResult(PlacementAttr)> check) {
  if (failed(check(placement)))
    return failure();
  for (HeadPlacementAttr head : placement.getHeads())
    if (failed(check(head.getPlacement())))
      return failure();
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

namespace {
/// Q/K/V viewed as [batch, heads, seq, head_size], whatever their rank.
struct HeadsView {
  int64_t batch, heads, seq, headSize;
};

FailureOr<HeadsView> getHeadsView(Operation *op, StringRef name, Value value,
                                  std::optional<int64_t> numHeads,
                                  StringRef numHeadsAttr) {
  auto type = cast<RankedTensorType>(value.getType());
  ArrayRef<int64_t> s = type.getShape();
  if (type.getRank() == 4) {
    if (numHeads && !ShapedType::isDynamic(s[1]) && s[1] != *numHeads)
      return op->emitOpError() << numHeadsAttr << " = " << *numHeads << " but '"
                               << name << "' has " << s[1] << " heads";
    return HeadsView{s[0], s[1], s[2], s[3]};
  }
  if (type.getRank() != 3)
    return op->emitOpError() << "'" << name
                             << "' must be 3-D [batch, seq, hidden] or 4-D "
                                "[batch, heads, seq, head_size], got "
                             << type;
  if (!numHeads)
    return op->emitOpError()
           << "3-D '" << name << "' needs the " << numHeadsAttr << " attribute";
  int64_t headSize = ShapedType::kDynamic;
  if (!ShapedType::isDynamic(s[2])) {
    if (s[2] % *numHeads != 0)
      return op->emitOpError()
             << "'" << name << "' hidden size " << s[2]
             << " is not divisible by " << numHeadsAttr << " = " << *numHeads;
    headSize = s[2] / *numHeads;
  }
  return HeadsView{s[0], *numHeads, s[1], headSize};
}
} // namespace

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  for (auto [name, attr] : {std::make_pair("q_num_heads", getQNumHeads()),
                            std::make_pair("kv_num_heads", getKvNumHeads())})
    if (attr && *attr <= 0)
      return emitOpError() << name << " must be positive, got " << *attr;
  if (failed(verifyScaleAndSoftcap(op, getScale(), getSoftcap())))
    return failure();
  if (getQkMatmulOutputMode() < 0 || getQkMatmulOutputMode() > 3)
    return emitOpError("qk_matmul_output_mode must be 0, 1, 2 or 3, got ")
           << getQkMatmulOutputMode();
  if (std::optional<int64_t> precision = getSoftmaxPrecision())
    if (!llvm::is_contained({1, 10, 11, 16}, *precision))
      return emitOpError("softmax_precision must be an ONNX float type (1 = "
                         "float, 10 = float16, 11 = double, 16 = bfloat16), "
                         "got ")
             << *precision;

  Type elementType = getQuery().getType().getElementType();
  for (auto [name, value] :
       {std::make_pair("key", getKey()), std::make_pair("value", getValue()),
        std::make_pair("past_key", getPastKey()),
        std::make_pair("past_value", getPastValue())})
    if (value && getElementTypeOrSelf(value.getType()) != elementType)
      return emitOpError() << "'" << name << "' element type "
                           << getElementTypeOrSelf(value.getType())
                           << " differs from the query's " << elementType;

  FailureOr<HeadsView> q =
      getHeadsView(op, "query", getQuery(), getQNumHeads(), "q_num_heads");
  if (failed(q))
    return failure();
  FailureOr<HeadsView> k =
      getHeadsView(op, "key", getKey(), getKvNumHeads(), "kv_num_heads");
  if (failed(k))
    return failure();
  FailureOr<HeadsView> v =
      getHeadsView(op, "value", getValue(), getKvNumHeads(), "kv_num_heads");
  if (failed(v))
    return failure();

  if (failed(verifyDim(op, "key batch", k->batch, "query batch", q->batch)) ||
      failed(verifyDim(op, "value batch", v->batch, "query batch", q->batch)) ||
      failed(verifyDim(op, "key head size", k->headSize, "query head size",
                       q->headSize)) ||
      failed(verifyDim(op, "value heads", v->heads, "key heads", k->heads)) ||
      failed(verifyDim(op, "value sequence length", v->seq,
                       "key sequence length", k->seq)) ||
      failed(verifyGroups(op, q->heads, k->heads)))
    return failure();

  // Past and present KV.
  if (static_cast<bool>(getPastKey()) != static_cast<bool>(getPastValue()))
    return emitOpError("past_key and past_value must be given together");
  if (static_cast<bool>(getPresentKey()) !=
      static_cast<bool>(getPresentValue()))
    return emitOpError("present_key and present_value must be returned "
                       "together");
  int64_t past = 0;
  if (getPastKey()) {
    if (getNonpadKvSeqlen())
      return emitOpError("nonpad_kv_seqlen cannot be combined with past KV");
    past = cast<RankedTensorType>(getPastKey().getType()).getRank() == 4
               ? getPastKey().getType().getDimSize(2)
               : ShapedType::kDynamic;
    if (failed(verifyShape(op, "past_key", getPastKey().getType(),
                           {q->batch, k->heads, past, k->headSize})) ||
        failed(verifyShape(op, "past_value", getPastValue().getType(),
                           {q->batch, k->heads, past, v->headSize})))
      return failure();
  }
  int64_t total = addDims(past, k->seq);
  if (getPresentKey() &&
      (failed(verifyShape(op, "present_key", getPresentKey().getType(),
                          {q->batch, k->heads, total, k->headSize})) ||
       failed(verifyShape(op, "present_value", getPresentValue().getType(),
                          {q->batch, k->heads, total, v->headSize}))))
    return failure();
  if (getNonpadKvSeqlen() &&
      failed(verifyShape(op, "nonpad_kv_seqlen", getNonpadKvSeqlen().getType(),
                         {q->batch})))
    return failure();

  // Mask: boolean or additive in the query's type, broadcastable to
  // [batch, q_heads, q_seq, total_seq].
  if (Value mask = getMask()) {
    auto maskType = cast<RankedTensorType>(mask.getType());
    if (!maskType.getElementType().isInteger(1) &&
        maskType.getElementType() != elementType)
      return emitOpError("mask must be i1 or the query's element type ")
             << elementType << ", got " << maskType.getElementType();
    if (maskType.getRank() == 0)
      return emitOpError("mask must have rank >= 1 (its last dimension is "
                         "the token dimension)");
    // ONNX pads a mask shorter than the total sequence with "masked".
    int64_t maskTokens = maskType.getShape().back();
    if (!ShapedType::isDynamic(maskTokens) && !ShapedType::isDynamic(total) &&
        maskTokens > total)
      return emitOpError("mask covers ")
             << maskTokens << " tokens but the total sequence has " << total;
    auto leading = RankedTensorType::get(maskType.getShape().drop_back(),
                                         maskType.getElementType());
    if (failed(verifyBroadcastable(op, "mask", leading,
                                   {q->batch, q->heads, q->seq})))
      return failure();
  }

  // Results.
  if (getOutput().getType().getElementType() != elementType)
    return emitOpError("output element type must be the query's ")
           << elementType;
  SmallVector<int64_t> outputShape =
      getQuery().getType().getRank() == 4
          ? SmallVector<int64_t>{q->batch, q->heads, q->seq, v->headSize}
          : SmallVector<int64_t>{q->batch, q->seq,
                                 mulDims(q->heads, v->headSize)};
  if (failed(verifyShape(op, "output", getOutput().getType(), outputShape)))
    return failure();
  if (getQkMatmulOutput() &&
      failed(verifyShape(op, "qk_matmul_output", getQkMatmulOutput().getType(),
                         {q->batch, q->heads, q->seq, total})))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// DecodeAttentionOp
//===----------------------------------------------------------------------===//

/// A placement whose second tier's candidates can be chosen ahead: two
/// tiers, the second selecting, without head overrides or an estimate of
/// what it leaves out.
static LogicalResult verifyAheadPlacement(Operation *op,
                                          PlacementAttr placement) {
  if (!placement || placement.getTiers().size() != 2 ||
      placement.getTiers()[1].isDense() || !placement.getHeads().empty())
    return op->emitOpError("preselected candidates need a placement of two "
                           "tiers whose second selects, without head "
                           "overrides");
  if (placement.getTiers()[1].getSelection() == Selection::ChannelTopK)
    return op->emitOpError("preselected candidates carry no kept mass for "
                           "channel_topk to fold the rest in with");
  return success();
}

/// Candidates chosen ahead for the second tier of `placement`: [batch,
/// kv_heads, k].
static LogicalResult verifyPreselected(DecodeAttentionOp op,
                                       PlacementAttr placement, int64_t batch) {
  Value preselected = op.getPreselected();
  if (!preselected)
    return success();
  if (failed(verifyAheadPlacement(op, placement)))
    return failure();
  return verifyShape(
      op, "preselected", preselected.getType(),
      {batch, op.getCache().getType().getKvHeads(),
       cast<RankedTensorType>(preselected.getType()).getDimSize(2)});
}

static LogicalResult verifyPlacementFitsCache(Operation *op,
                                              PlacementAttr placement,
                                              KVCacheType cache);

/// A decode query `[batch, q_heads, head_dim]` that fits `cache`: its
/// heads share the cache's KV heads, its head_dim is the cache's.
static FailureOr<ArrayRef<int64_t>>
verifyQueryFitsCache(Operation *op, Value query, KVCacheType cache) {
  FailureOr<ArrayRef<int64_t>> q = getDecodeQueryShape(op, query);
  if (failed(q) || failed(verifyGroups(op, (*q)[1], cache.getKvHeads())) ||
      failed(verifyDim(op, "query head_dim", (*q)[2], "cache head_dim",
                       cache.getHeadDim())))
    return failure();
  return q;
}

LogicalResult DecodeAttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyScaleAndSoftcap(op, getScale(), getSoftcap())))
    return failure();
  KVCacheType cache = getCache().getType();
  FailureOr<ArrayRef<int64_t>> q = verifyQueryFitsCache(op, getQuery(), cache);
  if (failed(q))
    return failure();
  if (getOutput().getType() != getQuery().getType())
    return emitOpError("output type ")
           << getOutput().getType() << " must match the query type "
           << getQuery().getType();

  PlacementAttr placement = getPlacementAttr();
  if (failed(verifyPreselected(*this, placement, (*q)[0])))
    return failure();
  if (!placement)
    return success();
  if (!getSoftcap().isZero() &&
      failed(forEachPlacement(placement, [&](PlacementAttr p) -> LogicalResult {
        for (TierPolicyAttr tier : p.getTiers())
          if (tier.getTail() != Tail::None)
            return emitOpError("tier '")
                   << stringifyTier(tier.getTier())
                   << "' estimates its tail from uncapped scores; it cannot "
                      "with softcap "
                   << getSoftcap().convertToDouble();
        return success();
      })))
    return failure();
  return verifyPlacementFitsCache(op, placement, cache);
}

/// What `placement` asks of `cache`: the heads it overrides exist, pq
/// sub-spaces divide head_dim, channels fit it, and a bounded cache holds
/// the hot set and every budget.
static LogicalResult verifyPlacementFitsCache(Operation *op,
                                              PlacementAttr placement,
                                              KVCacheType cache) {
  if (placement.getMaxOverriddenHead() >= cache.getKvHeads())
    return op->emitOpError("placement overrides KV head ")
           << placement.getMaxOverriddenHead() << " but the cache has "
           << cache.getKvHeads() << " KV heads";
  LogicalResult subspacesFit =
      forEachPlacement(placement, [&](PlacementAttr p) -> LogicalResult {
        for (TierPolicyAttr tier : p.getTiers()) {
          if (tier.getSelection() == Selection::PqTopK &&
              cache.getHeadDim() % tier.getPqSubspaces() != 0)
            return op->emitOpError("pq_topk subspaces ")
                   << tier.getPqSubspaces() << " of tier '"
                   << stringifyTier(tier.getTier())
                   << "' do not divide head_dim " << cache.getHeadDim();
          if (tier.getSelection() == Selection::ChannelTopK &&
              tier.getChannels() > cache.getHeadDim())
            return op->emitOpError("channel_topk channels ")
                   << tier.getChannels() << " of tier '"
                   << stringifyTier(tier.getTier()) << "' exceed head_dim "
                   << cache.getHeadDim();
        }
        return success();
      });
  if (failed(subspacesFit) || cache.isUnbounded())
    return subspacesFit;
  int64_t maxTokens = cache.getMaxTokens();
  return forEachPlacement(placement, [&](PlacementAttr p) -> LogicalResult {
    if (p.getSink() + p.getWindow() > maxTokens)
      return op->emitOpError("placement hot set (sink + window = ")
             << p.getSink() + p.getWindow() << ") exceeds the cache's "
             << "max_tokens " << maxTokens;
    for (TierPolicyAttr tier : p.getTiers())
      if (tier.getBudgetTokens() * std::max<int64_t>(tier.getBlockSize(), 1) >
          maxTokens)
        return op->emitOpError("budget of tier '")
               << stringifyTier(tier.getTier()) << "' exceeds the cache's "
               << "max_tokens " << maxTokens;
    return success();
  });
}

void DecodeAttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

//===----------------------------------------------------------------------===//
// PreselectOp
//===----------------------------------------------------------------------===//

LogicalResult PreselectOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyScaleAndSoftcap(op, getScale(), APFloat(0.0f))))
    return failure();
  KVCacheType cache = getCache().getType();
  FailureOr<ArrayRef<int64_t>> q = verifyQueryFitsCache(op, getQuery(), cache);
  if (failed(q))
    return failure();
  PlacementAttr placement = getPlacement();
  if (failed(verifyAheadPlacement(op, placement)) ||
      failed(verifyPlacementFitsCache(op, placement, cache)))
    return failure();
  // The selection's own result type: the budget's count, else dynamic.
  int64_t budget = placement.getTiers()[1].getBudgetTokens();
  return verifyShape(op, "candidates", getCandidates().getType(),
                     {(*q)[0], cache.getKvHeads(),
                      budget > 0 ? budget : ShapedType::kDynamic});
}

void PreselectOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

//===----------------------------------------------------------------------===//
// BindKVOp
//===----------------------------------------------------------------------===//

LogicalResult RuntimeKVOp::verify() {
  if (getSequences().getType().getRank() != 1)
    return emitOpError("sequences must be one id per sequence [batch], got "
                       "rank ")
           << getSequences().getType().getRank();
  return success();
}

/// A paged bind: caches of blocks in `kv_layout`, a block table and the
/// lengths it needs.
/// The engine's key codes and scales: both or neither, [batch, kv_heads,
/// tokens, head_dim] i8 and [batch, kv_heads, tokens] f32 in token order
/// (like whole keys; per sequence, whatever the paging, like summaries).
static LogicalResult verifyBoundCodes(BindKVOp op) {
  if (static_cast<bool>(op.getKeyCodes()) !=
      static_cast<bool>(op.getKeyScales()))
    return op.emitOpError("codes need both the key codes and their scales");
  if (!op.getKeyCodes())
    return success();
  SmallVector<int64_t> key(op.getKey().getType().getShape());
  if (op.isPaged()) {
    KVCacheType cache = op.getCache().getType();
    key = {cast<RankedTensorType>(op.getBlockTable().getType()).getDimSize(0),
           cache.getKvHeads(), ShapedType::kDynamic, cache.getHeadDim()};
  }
  if (failed(verifyShape(op, "key codes", op.getKeyCodes().getType(), key)))
    return failure();
  return verifyShape(op, "key scales", op.getKeyScales().getType(),
                     ArrayRef<int64_t>(key).take_front(3));
}

/// The engine's product-quantized keys: codes and codebooks together, codes
/// [batch, kv_heads, tokens, subspaces] in token order (per sequence,
/// whatever the paging, like key codes) and codebooks [batch, kv_heads,
/// subspaces, centroids, head_dim / subspaces].
static LogicalResult verifyBoundPq(BindKVOp op) {
  if (static_cast<bool>(op.getPqCodes()) !=
      static_cast<bool>(op.getPqCodebooks()))
    return op.emitOpError("pq needs both the codes and their codebooks");
  if (!op.getPqCodes())
    return success();
  auto codes = cast<RankedTensorType>(op.getPqCodes().getType());
  auto books = cast<RankedTensorType>(op.getPqCodebooks().getType());
  SmallVector<int64_t> key(op.getKey().getType().getShape());
  if (op.isPaged()) {
    KVCacheType cache = op.getCache().getType();
    key = {cast<RankedTensorType>(op.getBlockTable().getType()).getDimSize(0),
           cache.getKvHeads(), ShapedType::kDynamic, cache.getHeadDim()};
  }
  if (codes.getRank() != 4 || books.getRank() != 5)
    return op.emitOpError("pq codes must be [batch, kv_heads, tokens, "
                          "subspaces] and codebooks [batch, kv_heads, "
                          "subspaces, centroids, head_dim / subspaces]");
  int64_t subspaces = codes.getDimSize(3);
  if (failed(verifyShape(op, "pq codes", codes,
                         {key[0], key[1], key[2], subspaces})) ||
      failed(verifyShape(op, "pq codebooks", books,
                         {key[0], key[1], subspaces, books.getDimSize(3),
                          books.getDimSize(4)})))
    return failure();
  return verifyProductQuantizer(op, codes, books, key[3]);
}

/// The engine's channel-major keys [batch, kv_heads, head_dim, tokens] and
/// per-block value sums [batch, kv_heads, blocks, head_dim] (f32) with their
/// value_block, both per sequence in token order whatever the paging.
static LogicalResult verifyBoundChannelsAndSums(BindKVOp op) {
  KVCacheType cache = op.getCache().getType();
  int64_t batch =
      op.isPaged()
          ? cast<RankedTensorType>(op.getBlockTable().getType()).getDimSize(0)
          : op.getKey().getType().getDimSize(0);
  int64_t tokens =
      op.isPaged() ? ShapedType::kDynamic : op.getKey().getType().getDimSize(2);
  if (Value keys = op.getChannelKeys()) {
    auto type = cast<RankedTensorType>(keys.getType());
    if (type.getElementType() != cache.getElementType())
      return op.emitOpError("channel keys element type ")
             << type.getElementType() << " differs from the cache's "
             << cache.getElementType();
    if (failed(verifyShape(
            op, "channel keys [batch, kv_heads, head_dim, tokens]", type,
            {batch, cache.getKvHeads(), cache.getHeadDim(), tokens})))
      return failure();
  }
  if (static_cast<bool>(op.getValueSums()) != op.getValueBlock().has_value())
    return op.emitOpError("value_sums and value_block go together");
  if (!op.getValueSums())
    return success();
  int64_t block = static_cast<int64_t>(*op.getValueBlock());
  if (failed(verifyBlockSize(op, "value_block", block)))
    return failure();
  int64_t blocks = ShapedType::isDynamic(tokens)
                       ? ShapedType::kDynamic
                       : llvm::divideCeil(tokens, block);
  return verifyShape(op, "value sums [batch, kv_heads, blocks, head_dim]",
                     op.getValueSums().getType(),
                     {batch, cache.getKvHeads(), blocks, cache.getHeadDim()});
}

static LogicalResult verifyPagedBind(BindKVOp op) {
  KVCacheType cache = op.getCache().getType();
  StringRef layout = op.getKvLayout().value_or("nhd");
  if (layout != "nhd" && layout != "hnd")
    return op.emitOpError("kv_layout must be \"nhd\" or \"hnd\", got \"")
           << layout << "\"";
  RankedTensorType key = op.getKey().getType();
  if (key != op.getValue().getType())
    return op.emitOpError("key and value caches must have one type, got ")
           << key << " and " << op.getValue().getType();
  if (key.getElementType() != cache.getElementType())
    return op.emitOpError("key element type ")
           << key.getElementType() << " differs from the cache's "
           << cache.getElementType();
  int64_t block = ShapedType::kDynamic;
  SmallVector<int64_t> shape = {ShapedType::kDynamic, block, cache.getKvHeads(),
                                cache.getHeadDim()};
  if (op.isHeadsMajor())
    std::swap(shape[1], shape[2]);
  if (failed(verifyShape(op,
                         "key cache [num_blocks, " +
                             std::string(op.isHeadsMajor()
                                             ? "kv_heads, block_size"
                                             : "block_size, kv_heads") +
                             ", head_dim]",
                         key, shape)))
    return failure();
  if (ShapedType::isDynamic(op.getPagedBlockSize()))
    return op.emitOpError("needs a static block size");
  if (failed(verifyBlockSize(op, "block size", op.getPagedBlockSize())))
    return failure();
  if (!op.getLengths())
    return op.emitOpError("with a block table needs lengths");
  auto table = cast<RankedTensorType>(op.getBlockTable().getType());
  if (table.getRank() != 2)
    return op.emitOpError("block_table must be [batch, max_blocks], got rank ")
           << table.getRank();
  if (failed(verifyLengths(op, op.getLengths(), table.getDimSize(0))))
    return failure();
  if (!cache.isUnbounded())
    return op.emitOpError("a paged cache takes no max_tokens");
  if (static_cast<bool>(op.getKeyMin()) != static_cast<bool>(op.getKeyMax()))
    return op.emitOpError("summaries need both the key minimum and maximum");
  if (static_cast<bool>(op.getKeyMin()) != op.getSummaryBlock().has_value())
    return op.emitOpError("summaries and summary_block go together");
  if (!op.getKeyMin())
    return success();
  // Summaries are per sequence in token order, whatever the paging.
  if (failed(
          verifyBlockSize(op, "summary_block", int64_t(*op.getSummaryBlock()))))
    return failure();
  auto keyMin = cast<RankedTensorType>(op.getKeyMin().getType());
  if (keyMin != op.getKeyMax().getType())
    return op.emitOpError("key minimum and maximum must have one type");
  if (keyMin.getElementType() != cache.getElementType())
    return op.emitOpError("key minimum element type ")
           << keyMin.getElementType() << " differs from the cache's "
           << cache.getElementType();
  return verifyShape(op, "key minimum", keyMin,
                     {table.getDimSize(0), cache.getKvHeads(),
                      ShapedType::kDynamic, cache.getHeadDim()});
}

LogicalResult BindKVOp::verify() {
  KVCacheType cache = getCache().getType();
  if (failed(verifyBoundCodes(*this)) || failed(verifyBoundPq(*this)) ||
      failed(verifyBoundChannelsAndSums(*this)))
    return failure();
  if (isPaged())
    return verifyPagedBind(*this);
  if (getKvLayout())
    return emitOpError("kv_layout needs a block_table");
  if (failed(verifyKVOfCache(getOperation(), getKey().getType(),
                             getValue().getType(), cache, getLengths())))
    return failure();
  int64_t tokens = getKey().getType().getDimSize(2);
  if (!cache.isUnbounded() && !ShapedType::isDynamic(tokens) &&
      tokens > cache.getMaxTokens())
    return emitOpError("binds ")
           << tokens << " tokens to a cache of max_tokens "
           << cache.getMaxTokens();
  if (static_cast<bool>(getKeyMin()) != static_cast<bool>(getKeyMax()))
    return emitOpError("summaries need both the key minimum and maximum");
  if (static_cast<bool>(getKeyMin()) != getSummaryBlock().has_value())
    return emitOpError("summaries and summary_block go together");
  if (!getKeyMin())
    return success();
  int64_t block = static_cast<int64_t>(*getSummaryBlock());
  if (failed(verifyBlockSize(getOperation(), "summary_block", block)))
    return failure();
  auto keyMin = cast<RankedTensorType>(getKeyMin().getType());
  auto keyMax = cast<RankedTensorType>(getKeyMax().getType());
  if (failed(verifyKVOfCache(getOperation(), keyMin, keyMax, cache,
                             /*lengths=*/Value(), "key minimum",
                             "key maximum")))
    return failure();
  // One summary per block of `block` tokens, the last one possibly short.
  int64_t blocks = ShapedType::isDynamic(tokens)
                       ? ShapedType::kDynamic
                       : llvm::divideCeil(tokens, block);
  return verifyShape(getOperation(), "key minimum", keyMin,
                     {getKey().getType().getDimSize(0), cache.getKvHeads(),
                      blocks, cache.getHeadDim()});
}
