//===- RuntimeKVLowering.cpp - views of runtime-owned KV caches -----------===//
//
// A tier of an hgc.runtime_kv cache is gathered by the KV runtime into fresh
// buffers (hgc-rt/compiled.h): one call for the capacity the batch needs,
// one that fills keys, values and lengths. Pointers cross as i64, which is
// how the C entry points take them on the 64-bit targets hgc supports.
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

func::FuncOp declareRuntimeFunction(ModuleOp module, StringRef name,
                                    FunctionType type) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto callee = func::FuncOp::create(b, module.getLoc(), name, type);
  callee.setPrivate();
  return callee;
}

namespace {
constexpr StringLiteral kViewTokens = "hgc_rt_compiled_view_tokens";
constexpr StringLiteral kView = "hgc_rt_compiled_view";

/// The runtime's number for `tier` (hgc_rt_tier: cxl is its far tier); a
/// placement of one tier reads every token (HGC_RT_COMPILED_ALL_TIERS).
int32_t runtimeTier(Tier tier, PlacementAttr placement) {
  if (placement && placement.getTiers().size() == 1)
    return -1;
  switch (tier) {
  case Tier::Device:
    return 0;
  case Tier::Host:
    return 1;
  case Tier::Cxl:
    return 2;
  case Tier::Storage:
    return 3;
  }
  llvm_unreachable("every tier is one of the runtime's");
}

/// The address of `memref`'s first element, as i64.
Value addressOf(Emitter &e, Value memref) {
  ImplicitLocOpBuilder &b = e.b;
  auto type = cast<MemRefType>(memref.getType());
  auto metadata = memref::ExtractStridedMetadataOp::create(b, memref);
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, memref);
  Value offsetBytes = arith::MulIOp::create(
      b, metadata.getOffset(), e.index(type.getElementTypeBitWidth() / 8));
  return arith::IndexCastOp::create(
      b, b.getI64Type(), arith::AddIOp::create(b, base, offsetBytes));
}

/// The head group of a gathered buffer as a fresh buffer of `type` (a view
/// into the gathered one would leave deallocation two owners of it).
Value copyHeadGroup(Emitter &e, Value gathered, std::optional<uint64_t> first,
                    RankedTensorType type) {
  if (!first)
    return gathered;
  Value group = selectHeadGroup(e, gathered, first, type.getDimSize(1));
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < 4; ++d)
    sizes.push_back(e.dim(group, d));
  Value fresh = e.alloc(type, sizes);
  memref::CopyOp::create(e.b, group, fresh);
  return fresh;
}

struct RuntimeView {
  Value key, value, lengths; // fresh buffers
  Value capacity;            // index: tokens per (sequence, head) row
};

/// Emits the runtime calls gathering `tier` of `cache` into buffers of the
/// view types, before `op`.
FailureOr<RuntimeView> gather(RewriterBase &rewriter, Operation *op,
                              RuntimeKVOp cache, Tier tier,
                              PlacementAttr placement, RankedTensorType kvType,
                              RankedTensorType lengthsType) {
  int32_t number = runtimeTier(tier, placement);
  auto module = op->getParentOfType<ModuleOp>();
  if (!module)
    return op->emitOpError("reads a runtime cache outside a builtin.module");
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  func::FuncOp viewTokens = declareRuntimeFunction(
      module, kViewTokens, b.getFunctionType({i64, i64, i64, i32, i32}, {i64}));
  func::FuncOp view = declareRuntimeFunction(
      module, kView,
      b.getFunctionType({i64, i64, i64, i32, i32, i64, i64, i64, i64}, {}));

  Value sequences = e.buffer(cache.getSequences());
  Value batch = e.dim(sequences, 0);
  Value batch64 = arith::IndexCastOp::create(b, i64, batch);
  Value tierValue = arith::ConstantOp::create(b, b.getI32IntegerAttr(number));
  Value sequencesAddress = addressOf(e, sequences);
  SmallVector<Value> common = {cache.getHandle(), sequencesAddress, batch64,
                               cache.getLayer(), tierValue};
  Value capacity64 = func::CallOp::create(b, viewTokens, common).getResult(0);
  Value capacity = arith::IndexCastOp::create(b, b.getIndexType(), capacity64);
  KVCacheType type = cache.getCache().getType();
  SmallVector<Value> sizes = {batch, e.index(type.getKvHeads()), capacity,
                              e.index(type.getHeadDim())};
  // Every KV head of the cache; a head group's view is a subview of it.
  auto allHeads =
      RankedTensorType::get({kvType.getDimSize(0), type.getKvHeads(),
                             ShapedType::kDynamic, type.getHeadDim()},
                            kvType.getElementType());
  RuntimeView out;
  out.key = e.alloc(allHeads, sizes);
  out.value = e.alloc(allHeads, sizes);
  out.lengths = e.alloc(lengthsType, {batch});
  out.capacity = capacity;
  SmallVector<Value> operands = common;
  operands.append({capacity64, addressOf(e, out.key), addressOf(e, out.value),
                   addressOf(e, out.lengths)});
  func::CallOp::create(b, view, operands);
  return out;
}
} // namespace

LogicalResult lowerRuntimeKVView(RewriterBase &rewriter, KVViewOp op) {
  auto cache = op.getCache().getDefiningOp<RuntimeKVOp>();
  FailureOr<RuntimeView> view =
      gather(rewriter, op, cache, op.getTier(), op.getPlacementAttr(),
             op.getKey().getType(), op.getLengths().getType());
  if (failed(view))
    return failure();
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  RankedTensorType type = op.getKey().getType();
  Value key =
      e.tensor(copyHeadGroup(e, view->key, op.getFirstHead(), type), type);
  Value value =
      e.tensor(copyHeadGroup(e, view->value, op.getFirstHead(), type), type);
  rewriter.replaceOp(
      op, {key, value, e.tensor(view->lengths, op.getLengths().getType())});
  return success();
}

/// From the tier's view (the runtime's pages keep f32 summaries of their
/// own page size; recomputing in the view's blocks keeps any block size and
/// the keys' type).
LogicalResult lowerRuntimeKVSummaries(RewriterBase &rewriter,
                                      KVSummariesOp op) {
  auto cache = op.getCache().getDefiningOp<RuntimeKVOp>();
  RankedTensorType type = op.getKeyMin().getType();
  FailureOr<RuntimeView> view =
      gather(rewriter, op, cache, op.getTier(), op.getPlacementAttr(), type,
             op.getLengths().getType());
  if (failed(view))
    return failure();
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  int64_t block = op.getBlockSize();
  Value blockSize = e.index(block);
  Value batch = e.dim(view->key, 0);
  Value width = arith::CeilDivUIOp::create(b, view->capacity, blockSize);
  auto count = [&](Value bi) { return e.toIndex(e.load(view->lengths, bi)); };
  Value blocks = e.alloc(op.getLengths().getType(), {batch});
  e.parallel({batch}, [&](ValueRange row) {
    Value n = arith::CeilDivUIOp::create(b, count(row[0]), blockSize);
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), n),
                            blocks, row[0]);
  });
  Value key =
      selectHeadGroup(e, view->key, op.getFirstHead(), type.getDimSize(1));
  auto [keyMin, keyMax] =
      emitKeySummaries(e, type, key, batch, width, block, view->capacity, count,
                       [](Value j, Value) { return j; });
  Value keyMinTensor = e.tensor(keyMin, type);
  Value keyMaxTensor = e.tensor(keyMax, type);
  rewriter.replaceOp(op, {keyMinTensor, keyMaxTensor,
                          e.tensor(blocks, op.getLengths().getType())});
  return success();
}

/// From the tier's view, quantized as the runtime quantizes (the runtime's
/// pages keep int8 codes only when the cache was made with quantize_keys).
LogicalResult lowerRuntimeKVKeyCodes(RewriterBase &rewriter, KVKeyCodesOp op) {
  auto cache = op.getCache().getDefiningOp<RuntimeKVOp>();
  RankedTensorType codesType = op.getCodes().getType();
  auto keyType = RankedTensorType::get(
      codesType.getShape(), cache.getCache().getType().getElementType());
  FailureOr<RuntimeView> view =
      gather(rewriter, op, cache, op.getTier(), op.getPlacementAttr(), keyType,
             op.getLengths().getType());
  if (failed(view))
    return failure();
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Value batch = e.dim(view->key, 0);
  Value key =
      selectHeadGroup(e, view->key, op.getFirstHead(), codesType.getDimSize(1));
  auto [codes, scales] = emitKeyCodes(
      e, codesType, op.getScales().getType(), op.getBits(), key, batch,
      view->capacity, view->capacity,
      [&](Value bi) { return e.toIndex(e.load(view->lengths, bi)); },
      [](Value j, Value) { return j; });
  Value codesTensor = e.tensor(codes, codesType);
  rewriter.replaceOp(op,
                     {codesTensor, e.tensor(scales, op.getScales().getType()),
                      e.tensor(view->lengths, op.getLengths().getType())});
  return success();
}

/// From the tier's view, transposed (the runtime keeps no channel-major copy
/// yet).
LogicalResult lowerRuntimeKVChannelKeys(RewriterBase &rewriter,
                                        KVChannelKeysOp op) {
  auto cache = op.getCache().getDefiningOp<RuntimeKVOp>();
  RankedTensorType type = op.getKeys().getType();
  auto kvType =
      RankedTensorType::get({type.getDimSize(0), type.getDimSize(1),
                             ShapedType::kDynamic, type.getDimSize(2)},
                            type.getElementType());
  FailureOr<RuntimeView> view =
      gather(rewriter, op, cache, op.getTier(), op.getPlacementAttr(), kvType,
             op.getLengths().getType());
  if (failed(view))
    return failure();
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Value key =
      selectHeadGroup(e, view->key, op.getFirstHead(), type.getDimSize(1));
  Value out = emitChannelMajorKeys(
      e, type, key, e.dim(view->key, 0), view->capacity, view->capacity,
      [&](Value bi) { return e.toIndex(e.load(view->lengths, bi)); },
      [](Value j, Value) { return j; });
  rewriter.replaceOp(op, {e.tensor(out, type),
                          e.tensor(view->lengths, op.getLengths().getType())});
  return success();
}

/// From the tier's view (the runtime keeps no value sums yet).
LogicalResult lowerRuntimeKVValueMean(RewriterBase &rewriter,
                                      KVValueMeanOp op) {
  auto cache = op.getCache().getDefiningOp<RuntimeKVOp>();
  RankedTensorType type = op.getMean().getType();
  KVCacheType cacheType = cache.getCache().getType();
  auto kvType =
      RankedTensorType::get({type.getDimSize(0), type.getDimSize(1),
                             ShapedType::kDynamic, type.getDimSize(2)},
                            cacheType.getElementType());
  auto lengthsType =
      RankedTensorType::get({type.getDimSize(0)}, rewriter.getI32Type());
  FailureOr<RuntimeView> view =
      gather(rewriter, op, cache, op.getTier(), op.getPlacementAttr(), kvType,
             lengthsType);
  if (failed(view))
    return failure();
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Value value =
      selectHeadGroup(e, view->value, op.getFirstHead(), type.getDimSize(1));
  Value mean = emitValueMean(
      e, type, value, e.dim(view->value, 0), view->capacity,
      [&](Value bi) { return e.toIndex(e.load(view->lengths, bi)); },
      [](Value j, Value) { return j; });
  rewriter.replaceOp(op, e.tensor(mean, type));
  return success();
}

} // namespace mlir::hgc::lowering
