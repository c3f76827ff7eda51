//===- HgcSplitOps.cpp - verifiers of the split-level hgc ops -------------===//
//
// hgc.kv_view, hgc.kv_summaries, hgc.select, hgc.partial_attention,
// hgc.transfer, hgc.wait and hgc.lse_merge: the ops the split writes, each
// checked against the cache and the shapes its lowering reads.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "dialect/ShapeChecks.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::hgc;

/// A tier view's tier must be one its placement lists (when it has one).
static LogicalResult verifyTierInPlacement(Operation *op,
                                           PlacementAttr placement, Tier tier) {
  if (placement && !placement.getTierPolicy(tier))
    return op->emitOpError("tier '")
           << stringifyTier(tier) << "' is not in the placement";
  return success();
}

//===----------------------------------------------------------------------===//
// KVViewOp
//===----------------------------------------------------------------------===//

LogicalResult KVViewOp::verify() {
  Operation *op = getOperation();
  KVCacheType cache = getCache().getType();
  if (failed(verifyTierInPlacement(op, getPlacementAttr(), getTier())))
    return failure();
  if (PlacementAttr placement = getPlacementAttr()) {
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
  if (failed(
          verifyTierInPlacement(getOperation(), getPlacementAttr(), getTier())))
    return failure();
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
// KVKeyCodesOp
//===----------------------------------------------------------------------===//

LogicalResult KVKeyCodesOp::verify() {
  Operation *op = getOperation();
  if (getBits() != 4 && getBits() != 8)
    return emitOpError("bits must be 4 or 8, got ") << getBits();
  if (failed(
          verifyTierInPlacement(getOperation(), getPlacementAttr(), getTier())))
    return failure();
  KVCacheType cache = getCache().getType();
  RankedTensorType codes = getCodes().getType();
  if (codes.getRank() != 4)
    return emitOpError("codes must be [batch, kv_heads, tokens, head_dim], "
                       "got ")
           << codes;
  int64_t heads = getFirstHead() ? codes.getDimSize(1) : cache.getKvHeads();
  if (failed(verifyShape(op, "codes", codes,
                         {codes.getDimSize(0), heads, codes.getDimSize(2),
                          cache.getHeadDim()})) ||
      failed(verifyShape(op, "scales", getScales().getType(),
                         {codes.getDimSize(0), heads, codes.getDimSize(2)})) ||
      failed(verifyLengths(op, getLengths(), codes.getDimSize(0))))
    return failure();
  if (std::optional<uint64_t> first = getFirstHead())
    if (!ShapedType::isDynamic(heads) &&
        int64_t(*first) + heads > cache.getKvHeads())
      return emitOpError("head group [")
             << *first << ", " << int64_t(*first) + heads
             << ") exceeds the cache's " << cache.getKvHeads() << " KV heads";
  return success();
}

void KVKeyCodesOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

//===----------------------------------------------------------------------===//
// KVChannelKeysOp, KVValueMeanOp
//===----------------------------------------------------------------------===//

/// A head group [firstHead, firstHead + heads) within the cache's KV heads.
static LogicalResult verifyHeadGroup(Operation *op, KVCacheType cache,
                                     std::optional<uint64_t> first,
                                     int64_t heads) {
  if (first && !ShapedType::isDynamic(heads) &&
      int64_t(*first) + heads > cache.getKvHeads())
    return op->emitOpError("head group [")
           << *first << ", " << int64_t(*first) + heads
           << ") exceeds the cache's " << cache.getKvHeads() << " KV heads";
  return success();
}

LogicalResult KVChannelKeysOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyTierInPlacement(op, getPlacementAttr(), getTier())))
    return failure();
  KVCacheType cache = getCache().getType();
  RankedTensorType keys = getKeys().getType();
  if (keys.getRank() != 4)
    return emitOpError("keys must be [batch, kv_heads, head_dim, tokens], "
                       "got ")
           << keys;
  if (keys.getElementType() != cache.getElementType())
    return emitOpError("keys element type ")
           << keys.getElementType() << " differs from the cache's "
           << cache.getElementType();
  int64_t heads = getFirstHead() ? keys.getDimSize(1) : cache.getKvHeads();
  if (failed(verifyShape(op, "keys", keys,
                         {keys.getDimSize(0), heads, cache.getHeadDim(),
                          keys.getDimSize(3)})) ||
      failed(verifyLengths(op, getLengths(), keys.getDimSize(0))))
    return failure();
  return verifyHeadGroup(op, cache, getFirstHead(), heads);
}

void KVChannelKeysOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

LogicalResult KVValueMeanOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyTierInPlacement(op, getPlacementAttr(), getTier())))
    return failure();
  KVCacheType cache = getCache().getType();
  RankedTensorType mean = getMean().getType();
  if (mean.getRank() != 3)
    return emitOpError("mean must be [batch, kv_heads, head_dim], got ")
           << mean;
  int64_t heads = getFirstHead() ? mean.getDimSize(1) : cache.getKvHeads();
  if (failed(verifyShape(op, "mean", mean,
                         {mean.getDimSize(0), heads, cache.getHeadDim()})))
    return failure();
  return verifyHeadGroup(op, cache, getFirstHead(), heads);
}

void KVValueMeanOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  effects.emplace_back(MemoryEffects::Read::get(), &getCacheMutable());
}

//===----------------------------------------------------------------------===//
// KVPqCodesOp
//===----------------------------------------------------------------------===//

LogicalResult KVPqCodesOp::verify() {
  Operation *op = getOperation();
  if (failed(
          verifyTierInPlacement(getOperation(), getPlacementAttr(), getTier())))
    return failure();
  KVCacheType cache = getCache().getType();
  RankedTensorType codes = getCodes().getType();
  RankedTensorType books = getCodebooks().getType();
  int64_t subspaces = static_cast<int64_t>(getSubspaces());
  int64_t centroids = static_cast<int64_t>(getCentroids());
  if (subspaces <= 0 || cache.getHeadDim() % subspaces != 0)
    return emitOpError("subspaces must divide head_dim ")
           << cache.getHeadDim() << ", got " << subspaces;
  if (codes.getRank() != 4 || books.getRank() != 5)
    return emitOpError("codes must be [batch, kv_heads, tokens, subspaces] "
                       "and codebooks [batch, kv_heads, subspaces, "
                       "centroids, head_dim / subspaces]");
  int64_t batch = codes.getDimSize(0);
  int64_t heads = getFirstHead() ? codes.getDimSize(1) : cache.getKvHeads();
  if (failed(verifyShape(op, "codes", codes,
                         {batch, heads, codes.getDimSize(2), subspaces})) ||
      failed(verifyShape(op, "codebooks", books,
                         {batch, heads, subspaces, centroids,
                          cache.getHeadDim() / subspaces})) ||
      failed(verifyProductQuantizer(op, codes, books, cache.getHeadDim())))
    return failure();
  return verifyLengths(op, getLengths(), batch);
}

void KVPqCodesOp::getEffects(
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
    return emitOpError("'dense' selects nothing; use exact_topk, block_topk, "
                       "quant_topk, pq_topk or channel_topk");
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
  if (std::optional<llvm::APFloat> mass = getMass()) {
    if (policy == Selection::BlockTopK)
      return emitOpError("mass applies to token selections; block scores are "
                         "upper bounds, not a softmax");
    if (!mass->isFiniteNonZero() || mass->isNegative() ||
        mass->convertToDouble() > 1.0)
      return emitOpError("mass must be in (0, 1], got ")
             << mass->convertToDouble();
  }
  bool byKeys =
      policy == Selection::ExactTopK || policy == Selection::ChannelTopK;
  if (policy == Selection::BlockTopK && getCoverage())
    return emitOpError("coverage applies to token selections; block scores "
                       "are upper bounds, not a softmax");
  if ((policy == Selection::ChannelTopK) != static_cast<bool>(getChannels()))
    return emitOpError(policy == Selection::ChannelTopK
                           ? "'channel_topk' needs 'channels'"
                           : "'channels' applies to channel_topk only");
  size_t expectedInputs = byKeys ? 1 : 2;
  if (getInputs().size() != expectedInputs)
    return emitOpError() << "'" << name << "' takes " << expectedInputs
                         << (byKeys ? " input (keys)"
                             : policy == Selection::BlockTopK
                                 ? " inputs (block key min, max)"
                             : policy == Selection::PqTopK
                                 ? " inputs (codes, codebooks)"
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
  bool byPq = policy == Selection::PqTopK;
  bool channelMajor = policy == Selection::ChannelTopK;
  if (candidates.getRank() != 4)
    return emitOpError("'") << name << "' input 0 must be [batch, kv_heads, "
                            << (channelMajor ? "head_dim, candidates"
                                : byPq       ? "candidates, subspaces"
                                             : "candidates, head_dim")
                            << "], got " << candidates;
  // [batch, kv_heads, candidates, width]: channel-major keys swap the last
  // two.
  SmallVector<int64_t> c(candidates.getShape());
  if (channelMajor)
    std::swap(c[2], c[3]);
  if (failed(verifyDim(op, "input batch", c[0], "query batch", (*q)[0])) ||
      failed(verifyGroups(op, (*q)[1], c[1])) ||
      (!byPq && failed(verifyDim(op, "input head_dim", c[3], "query head_dim",
                                 (*q)[2]))))
    return failure();

  Type elt = candidates.getElementType();
  if (byPq) {
    auto books = cast<RankedTensorType>(getInputs()[1].getType());
    if (!elt.isInteger(8) && !elt.isInteger(16))
      return emitOpError("pq_topk codes must be i8 or i16, got ") << elt;
    if (!books.getElementType().isF32() || books.getRank() != 5)
      return emitOpError("pq_topk codebooks must be f32 [batch, kv_heads, "
                         "subspaces, centroids, head_dim / subspaces], got ")
             << books;
    if (failed(verifyShape(
            op, "codebooks", books,
            {c[0], c[1], c[3], books.getDimSize(3), books.getDimSize(4)})) ||
        failed(verifyProductQuantizer(op, candidates, books, (*q)[2])))
      return failure();
  } else if (policy == Selection::QuantTopK) {
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
  if (std::optional<uint64_t> channels = getChannels();
      channels && !ShapedType::isDynamic((*q)[2]) &&
      static_cast<int64_t>(*channels) > (*q)[2])
    return emitOpError("channels (")
           << *channels << ") must be at most head_dim (" << (*q)[2] << ")";
  if (failed(verifyLengths(op, getLengths(), (*q)[0])))
    return failure();
  if (Value coverage = getCoverage())
    if (failed(
            verifyShape(op, "coverage", coverage.getType(), {(*q)[0], c[1]})))
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

namespace {
/// The operands and results shared by hgc.partial_attention and
/// hgc.tail_estimate: query, key/value [batch, kv_heads, tokens, head_dim],
/// optional indices (of blocks of `blockSize`) and lengths, output and LSE.
LogicalResult verifyTokenPartial(Operation *op, Value query, Value key,
                                 Value value, Value indices, Value lengths,
                                 int64_t blockSize, Value output, Value lse) {
  if (blockSize <= 0 || !llvm::isPowerOf2_64(blockSize))
    return op->emitOpError("block_size must be a positive power of two, got ")
           << blockSize;
  if (blockSize > 1 && !indices)
    return op->emitOpError("block_size > 1 selects blocks and needs indices");
  FailureOr<ArrayRef<int64_t>> q = getDecodeQueryShape(op, query);
  if (failed(q))
    return failure();
  auto keyType = cast<RankedTensorType>(key.getType());
  auto valueType = cast<RankedTensorType>(value.getType());
  if (keyType.getRank() != 4 || valueType.getRank() != 4)
    return op->emitOpError("key and value must be [batch, kv_heads, tokens, "
                           "head_dim]");
  if (keyType.getElementType() != valueType.getElementType())
    return op->emitOpError("key and value element types differ: ")
           << keyType.getElementType() << " vs " << valueType.getElementType();
  ArrayRef<int64_t> k = keyType.getShape();
  int64_t batch = (*q)[0], kvHeads = k[1], vHeadDim = valueType.getDimSize(3);
  if (failed(verifyDim(op, "key batch", k[0], "query batch", batch)) ||
      failed(verifyGroups(op, (*q)[1], kvHeads)) ||
      failed(verifyDim(op, "key head_dim", k[3], "query head_dim", (*q)[2])) ||
      failed(verifyShape(op, "value", valueType,
                         {batch, kvHeads, k[2], vHeadDim})) ||
      failed(verifyLengths(op, lengths, batch)))
    return failure();
  if (indices && failed(verifyShape(op, "indices", indices.getType(),
                                    {batch, kvHeads, ShapedType::kDynamic})))
    return failure();
  return verifyPartial(op, cast<RankedTensorType>(output.getType()),
                       cast<RankedTensorType>(lse.getType()),
                       {batch, (*q)[1], vHeadDim});
}
} // namespace

LogicalResult PartialAttentionOp::verify() {
  if (failed(verifyScaleAndSoftcap(getOperation(), getScale(), getSoftcap())))
    return failure();
  return verifyTokenPartial(getOperation(), getQuery(), getKey(), getValue(),
                            getIndices(), getLengths(), getBlockSize(),
                            getOutput(), getLse());
}

//===----------------------------------------------------------------------===//
// TailEstimateOp
//===----------------------------------------------------------------------===//

LogicalResult TailEstimateOp::verify() {
  if (failed(verifyScaleAndSoftcap(getOperation(), getScale(), APFloat(0.0f))))
    return failure();
  if (getSummaryBlock() <= 0 || !llvm::isPowerOf2_64(getSummaryBlock()))
    return emitOpError("summary_block must be a positive power of two, got ")
           << getSummaryBlock();
  return verifyTokenPartial(getOperation(), getQuery(), getKey(), getValue(),
                            getIndices(), getLengths(), getBlockSize(),
                            getOutput(), getLse());
}

//===----------------------------------------------------------------------===//
// MeanFoldOp
//===----------------------------------------------------------------------===//

LogicalResult MeanFoldOp::verify() {
  Operation *op = getOperation();
  RankedTensorType outputType = getOutput().getType();
  RankedTensorType meanType = getMean().getType();
  if (outputType.getRank() != 3 || meanType.getRank() != 3)
    return emitOpError("output must be [batch, q_heads, head_dim] and mean "
                       "[batch, kv_heads, head_dim]");
  ArrayRef<int64_t> o = outputType.getShape();
  ArrayRef<int64_t> m = meanType.getShape();
  if (failed(verifyShape(op, "lse", getLse().getType(), {o[0], o[1]})) ||
      failed(verifyShape(op, "mean", meanType, {o[0], m[1], o[2]})) ||
      failed(
          verifyShape(op, "coverage", getCoverage().getType(), {o[0], m[1]})) ||
      failed(verifyGroups(op, o[1], m[1])) ||
      failed(
          verifyShape(op, "folded output", getFoldedOutput().getType(), o)) ||
      failed(verifyShape(op, "folded lse", getFoldedLse().getType(),
                         {o[0], o[1]})))
    return failure();
  return success();
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
