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
LogicalResult verifyScaleAndSoftcap(Operation *op, std::optional<APFloat> scale,
                                    APFloat softcap) {
  if (scale && !scale->isFinite())
    return op->emitOpError("scale must be finite");
  if (!softcap.isFinite() || softcap.isNegative())
    return op->emitOpError("softcap must be finite and >= 0 (0 disables it)");
  return success();
}

/// The decode query `[batch, q_heads, head_dim]`.
FailureOr<ArrayRef<int64_t>> getDecodeQueryShape(Operation *op, Value query) {
  auto type = cast<RankedTensorType>(query.getType());
  if (type.getRank() != 3)
    return op->emitOpError("query must be [batch, q_heads, head_dim], got ")
           << type;
  return type.getShape();
}

/// Checks that `qHeads` query heads can share `kvHeads` KV heads.
LogicalResult verifyGroups(Operation *op, int64_t qHeads, int64_t kvHeads) {
  if (ShapedType::isDynamic(qHeads) || ShapedType::isDynamic(kvHeads))
    return success();
  if (kvHeads <= 0 || qHeads % kvHeads != 0)
    return op->emitOpError("q_heads (")
           << qHeads << ") must be a multiple of kv_heads (" << kvHeads << ")";
  return success();
}

/// Per-sequence lengths `[batch]`.
LogicalResult verifyLengths(Operation *op, Value lengths, int64_t batch) {
  if (!lengths)
    return success();
  return verifyShape(op, "lengths", lengths.getType(), {batch});
}

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

LogicalResult DecodeAttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyScaleAndSoftcap(op, getScale(), getSoftcap())))
    return failure();
  FailureOr<ArrayRef<int64_t>> q = getDecodeQueryShape(op, getQuery());
  if (failed(q))
    return failure();
  KVCacheType cache = getCache().getType();
  if (failed(verifyGroups(op, (*q)[1], cache.getKvHeads())) ||
      failed(verifyDim(op, "query head_dim", (*q)[2], "cache head_dim",
                       cache.getHeadDim())))
    return failure();
  if (getOutput().getType() != getQuery().getType())
    return emitOpError("output type ")
           << getOutput().getType() << " must match the query type "
           << getQuery().getType();

  PlacementAttr placement = getPlacementAttr();
  if (!placement)
    return success();
  if (placement.getMaxOverriddenHead() >= cache.getKvHeads())
    return emitOpError("placement overrides KV head ")
           << placement.getMaxOverriddenHead() << " but the cache has "
           << cache.getKvHeads() << " KV heads";
  if (cache.isUnbounded())
    return success();
  int64_t maxTokens = cache.getMaxTokens();
  return forEachPlacement(placement, [&](PlacementAttr p) -> LogicalResult {
    if (p.getSink() + p.getWindow() > maxTokens)
      return emitOpError("placement hot set (sink + window = ")
             << p.getSink() + p.getWindow() << ") exceeds the cache's "
             << "max_tokens " << maxTokens;
    for (TierPolicyAttr tier : p.getTiers())
      if (tier.getBudgetTokens() * std::max<int64_t>(tier.getBlockSize(), 1) >
          maxTokens)
        return emitOpError("budget of tier '")
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
// BindKVOp
//===----------------------------------------------------------------------===//

namespace {
/// Checks key/value tensors `[batch, kv_heads, tokens, head_dim]` (and their
/// `[batch]` lengths) against the cache they are bound to or viewed from.
LogicalResult verifyKVOfCache(Operation *op, RankedTensorType key,
                              RankedTensorType value, KVCacheType cache,
                              Value lengths, StringRef keyName = "key",
                              StringRef valueName = "value",
                              std::optional<uint64_t> firstHead = {}) {
  if (key != value)
    return op->emitOpError()
           << keyName << " and " << valueName << " must have one type, got "
           << key << " and " << value;
  if (key.getElementType() != cache.getElementType())
    return op->emitOpError()
           << keyName << " element type " << key.getElementType()
           << " differs from the cache's " << cache.getElementType();
  int64_t batch = key.getRank() == 4 ? key.getDimSize(0) : ShapedType::kDynamic;
  int64_t heads = cache.getKvHeads();
  if (firstHead) {
    // A head group [first_head, first_head + heads) of the cache.
    heads = key.getRank() == 4 ? key.getDimSize(1) : ShapedType::kDynamic;
    if (ShapedType::isDynamic(heads) || heads <= 0 ||
        int64_t(*firstHead) + heads > cache.getKvHeads())
      return op->emitOpError()
             << "KV heads [" << *firstHead << ", " << *firstHead << " + "
             << heads << ") are not within the cache's " << cache.getKvHeads();
  }
  if (failed(verifyShape(
          op, keyName, key,
          {batch, heads, ShapedType::kDynamic, cache.getHeadDim()})))
    return failure();
  return verifyLengths(op, lengths, batch);
}

LogicalResult verifyBlockSize(Operation *op, StringRef name, int64_t block) {
  if (block <= 0 || !llvm::isPowerOf2_64(block))
    return op->emitOpError()
           << name << " must be a positive power of two, got " << block;
  return success();
}
} // namespace

LogicalResult RuntimeKVOp::verify() {
  if (getSequences().getType().getRank() != 1)
    return emitOpError("sequences must be one id per sequence [batch], got "
                       "rank ")
           << getSequences().getType().getRank();
  return success();
}

/// A paged bind: caches of blocks in `kv_layout`, a block table and the
/// lengths it needs.
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

//===----------------------------------------------------------------------===//
// KVViewOp
//===----------------------------------------------------------------------===//

LogicalResult KVViewOp::verify() {
  Operation *op = getOperation();
  KVCacheType cache = getCache().getType();
  if (PlacementAttr placement = getPlacementAttr()) {
    if (!placement.getTierPolicy(getTier()))
      return emitOpError("tier '")
             << stringifyTier(getTier()) << "' is not in the placement";
    if (!placement.getHeads().empty())
      return emitOpError("views one placement for all KV heads; per-head "
                         "overrides need one view per head group");
  }
  return verifyKVOfCache(op, getKey().getType(), getValue().getType(), cache,
                         getLengths(), "key", "value", getFirstHead());
}

void KVViewOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

//===----------------------------------------------------------------------===//
// KVSummariesOp
//===----------------------------------------------------------------------===//

LogicalResult KVSummariesOp::verify() {
  if (failed(verifyBlockSize(getOperation(), "block_size", getBlockSize())))
    return failure();
  if (PlacementAttr placement = getPlacementAttr())
    if (!placement.getTierPolicy(getTier()))
      return emitOpError("tier '")
             << stringifyTier(getTier()) << "' is not in the placement";
  return verifyKVOfCache(getOperation(), getKeyMin().getType(),
                         getKeyMax().getType(), getCache().getType(),
                         getLengths(), "key minimum", "key maximum",
                         getFirstHead());
}

void KVSummariesOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

//===----------------------------------------------------------------------===//
// SelectOp
//===----------------------------------------------------------------------===//

LogicalResult SelectOp::verify() {
  Operation *op = getOperation();
  Selection policy = getPolicy();
  StringRef name = stringifySelection(policy);
  if (policy == Selection::Dense)
    return emitOpError("'dense' selects nothing; use exact_topk, block_topk "
                       "or quant_topk");
  if (getScale() && !getScale()->isFinite())
    return emitOpError("scale must be finite");
  std::optional<llvm::APFloat> fraction = getFraction();
  if (static_cast<bool>(getK()) == static_cast<bool>(fraction))
    return emitOpError("needs a budget: exactly one of 'k' (a count) or "
                       "'fraction'");
  if (fraction && (!fraction->isFiniteNonZero() || fraction->isNegative() ||
                   fraction->convertToDouble() > 1.0))
    return emitOpError("fraction must be in (0, 1], got ")
           << fraction->convertToDouble();
  size_t expectedInputs = policy == Selection::ExactTopK ? 1 : 2;
  if (getInputs().size() != expectedInputs)
    return emitOpError() << "'" << name << "' takes " << expectedInputs
                         << (policy == Selection::ExactTopK ? " input (keys)"
                             : policy == Selection::BlockTopK
                                 ? " inputs (block key min, max)"
                                 : " inputs (key codes, scales)")
                         << ", got " << getInputs().size();
  if (policy == Selection::BlockTopK) {
    if (getBlockSize() <= 0 || !llvm::isPowerOf2_64(getBlockSize()))
      return emitOpError("block_size must be a positive power of two, got ")
             << getBlockSize();
  } else if (getBlockSize() != 1) {
    return emitOpError("block_size applies to block_topk only");
  }

  FailureOr<ArrayRef<int64_t>> q = getDecodeQueryShape(op, getQuery());
  if (failed(q))
    return failure();
  auto candidates = cast<RankedTensorType>(getInputs()[0].getType());
  if (candidates.getRank() != 4)
    return emitOpError("'") << name << "' input 0 must be [batch, kv_heads, "
                            << "candidates, head_dim], got " << candidates;
  ArrayRef<int64_t> c = candidates.getShape();
  if (failed(verifyDim(op, "input batch", c[0], "query batch", (*q)[0])) ||
      failed(verifyGroups(op, (*q)[1], c[1])) ||
      failed(verifyDim(op, "input head_dim", c[3], "query head_dim", (*q)[2])))
    return failure();

  Type elt = candidates.getElementType();
  if (policy == Selection::QuantTopK) {
    if (!elt.isInteger(8))
      return emitOpError("quant_topk key codes must be i8, got ") << elt;
    auto scales = cast<RankedTensorType>(getInputs()[1].getType());
    if (!scales.getElementType().isF32())
      return emitOpError("quant_topk scales must be f32, got ")
             << scales.getElementType();
    if (failed(verifyShape(op, "scales", scales, {c[0], c[1], c[2]})))
      return failure();
  } else {
    if (!isa<FloatType>(elt))
      return emitOpError("'")
             << name << "' keys must be floating point, got " << elt;
    if (policy == Selection::BlockTopK &&
        getInputs()[1].getType() != candidates)
      return emitOpError("block key min and max must have one type, got ")
             << candidates << " and " << getInputs()[1].getType();
  }
  if (failed(verifyLengths(op, getLengths(), (*q)[0])))
    return failure();
  if (fraction && !getIndices().getType().isDynamicDim(2))
    return emitOpError("a fractional budget is sized at run time: the last "
                       "indices dimension must be dynamic");
  int64_t k = getK() ? static_cast<int64_t>(*getK()) : ShapedType::kDynamic;
  return verifyShape(op, "indices", getIndices().getType(), {(*q)[0], c[1], k});
}

//===----------------------------------------------------------------------===//
// PartialAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult PartialAttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyScaleAndSoftcap(op, getScale(), getSoftcap())))
    return failure();
  if (getBlockSize() <= 0 || !llvm::isPowerOf2_64(getBlockSize()))
    return emitOpError("block_size must be a positive power of two, got ")
           << getBlockSize();
  if (getBlockSize() > 1 && !getIndices())
    return emitOpError("block_size > 1 selects blocks and needs indices");
  FailureOr<ArrayRef<int64_t>> q = getDecodeQueryShape(op, getQuery());
  if (failed(q))
    return failure();
  RankedTensorType keyType = getKey().getType();
  RankedTensorType valueType = getValue().getType();
  if (keyType.getRank() != 4 || valueType.getRank() != 4)
    return emitOpError("key and value must be [batch, kv_heads, tokens, "
                       "head_dim]");
  if (keyType.getElementType() != valueType.getElementType())
    return emitOpError("key and value element types differ: ")
           << keyType.getElementType() << " vs " << valueType.getElementType();
  ArrayRef<int64_t> k = keyType.getShape();
  int64_t batch = (*q)[0], kvHeads = k[1], vHeadDim = valueType.getDimSize(3);
  if (failed(verifyDim(op, "key batch", k[0], "query batch", batch)) ||
      failed(verifyGroups(op, (*q)[1], kvHeads)) ||
      failed(verifyDim(op, "key head_dim", k[3], "query head_dim", (*q)[2])) ||
      failed(verifyShape(op, "value", valueType,
                         {batch, kvHeads, k[2], vHeadDim})) ||
      failed(verifyLengths(op, getLengths(), batch)))
    return failure();
  if (Value indices = getIndices())
    if (failed(verifyShape(op, "indices", indices.getType(),
                           {batch, kvHeads, ShapedType::kDynamic})))
      return failure();
  return verifyPartial(op, getOutput().getType(), getLse().getType(),
                       {batch, (*q)[1], vHeadDim});
}

//===----------------------------------------------------------------------===//
// TransferOp
//===----------------------------------------------------------------------===//

LogicalResult TransferOp::verify() {
  if (getFrom() == getTo())
    return emitOpError("transfer from tier '")
           << stringifyTier(getFrom()) << "' to itself";
  if (!isa<RankedTensorType, MemRefType>(getSource().getType()))
    return emitOpError("transfers ranked tensors or memrefs, got ")
           << getSource().getType();
  return success();
}

//===----------------------------------------------------------------------===//
// WaitOp
//===----------------------------------------------------------------------===//

LogicalResult
WaitOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                         ValueRange operands, DictionaryAttr attributes,
                         OpaqueProperties properties, RegionRange regions,
                         SmallVectorImpl<Type> &inferredReturnTypes) {
  WaitOp::Adaptor adaptor(operands, attributes, properties, regions);
  llvm::append_range(inferredReturnTypes, adaptor.getValues().getTypes());
  return success();
}

LogicalResult WaitOp::verify() {
  if (getTokens().empty())
    return emitOpError("waits on no token");
  return success();
}

//===----------------------------------------------------------------------===//
// LseMergeOp
//===----------------------------------------------------------------------===//

// %o0, %o1 lse %l0, %l1 attr-dict : OUTPUT_TYPE, LSE_TYPE
ParseResult LseMergeOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> outputs, lses;
  Type outputType, lseType;
  SMLoc operandsLoc = parser.getCurrentLocation();
  if (parser.parseOperandList(outputs) || parser.parseKeyword("lse") ||
      parser.parseOperandList(lses) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parser.parseType(outputType) || parser.parseComma() ||
      parser.parseType(lseType) ||
      parser.resolveOperands(outputs, outputType, operandsLoc,
                             result.operands) ||
      parser.resolveOperands(lses, lseType, operandsLoc, result.operands))
    return failure();
  result.getOrAddProperties<Properties>().operandSegmentSizes = {
      static_cast<int32_t>(outputs.size()), static_cast<int32_t>(lses.size())};
  result.addTypes({outputType, lseType});
  return success();
}

void LseMergeOp::print(OpAsmPrinter &printer) {
  printer << ' ' << getOutputs() << " lse " << getLses();
  printer.printOptionalAttrDict((*this)->getAttrs(),
                                /*elidedAttrs=*/{"operandSegmentSizes"});
  printer << " : " << getOutput().getType() << ", " << getLse().getType();
}

LogicalResult LseMergeOp::verify() {
  if (getOutputs().size() != getLses().size())
    return emitOpError("merges ")
           << getOutputs().size() << " outputs with " << getLses().size()
           << " LSEs; each partial needs both";
  if (getOutputs().size() < 2)
    return emitOpError("merges at least 2 partials, got ")
           << getOutputs().size();
  for (auto [i, output, lse] : llvm::enumerate(getOutputs(), getLses())) {
    if (output.getType() != getOutput().getType())
      return emitOpError("partial ")
             << i << " output type " << output.getType()
             << " differs from the result type " << getOutput().getType();
    if (lse.getType() != getLse().getType())
      return emitOpError("partial ")
             << i << " LSE type " << lse.getType()
             << " differs from the result LSE type " << getLse().getType();
  }
  return verifyPartial(getOperation(), getOutput().getType(),
                       getLse().getType(), getOutput().getType().getShape());
}
