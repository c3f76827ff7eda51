//===- ShapeChecks.cpp - shape rules shared by hgc verifiers -------------===//

#include "dialect/ShapeChecks.h"

#include "mlir/IR/Diagnostics.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace {
bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(shape, os, [&](int64_t dim) {
    if (ShapedType::isDynamic(dim))
      os << "?";
    else
      os << dim;
  });
  os << "]";
  return text;
}
} // namespace

int64_t hgc::addDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
             ? ShapedType::kDynamic
             : a + b;
}

int64_t hgc::mulDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
             ? ShapedType::kDynamic
             : a * b;
}

LogicalResult hgc::verifyDim(Operation *op, StringRef name, int64_t actual,
                             StringRef otherName, int64_t expected) {
  if (dimsCompatible(actual, expected))
    return success();
  return op->emitOpError() << name << " (" << actual << ") must equal "
                           << otherName << " (" << expected << ")";
}

LogicalResult hgc::verifyShape(Operation *op, StringRef name, Type type,
                               ArrayRef<int64_t> expected) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return op->emitOpError() << "'" << name << "' must be a ranked tensor";
  ArrayRef<int64_t> shape = ranked.getShape();
  bool ok = shape.size() == expected.size() &&
            llvm::all_of(llvm::zip(shape, expected), [](auto pair) {
              return dimsCompatible(std::get<0>(pair), std::get<1>(pair));
            });
  if (ok)
    return success();
  return op->emitOpError() << "'" << name << "' has shape "
                           << formatShape(shape) << ", expected "
                           << formatShape(expected);
}

LogicalResult hgc::verifyBroadcastable(Operation *op, StringRef name,
                                       ShapedType type,
                                       ArrayRef<int64_t> target) {
  ArrayRef<int64_t> shape = type.getShape();
  bool ok = shape.size() <= target.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    int64_t dim = shape[shape.size() - 1 - i];
    int64_t want = target[target.size() - 1 - i];
    ok = dim == 1 || dimsCompatible(dim, want);
  }
  if (ok)
    return success();
  return op->emitOpError() << "'" << name << "' of shape " << formatShape(shape)
                           << " does not broadcast to " << formatShape(target);
}

LogicalResult hgc::verifyPartial(Operation *op, RankedTensorType output,
                                 RankedTensorType lse,
                                 ArrayRef<int64_t> outputShape) {
  if (output.getRank() < 1)
    return op->emitOpError("partial output needs at least one dimension");
  if (failed(verifyShape(op, "output", output, outputShape)))
    return failure();
  return verifyShape(op, "lse", lse, output.getShape().drop_back());
}

FailureOr<ArrayRef<int64_t>> hgc::getDecodeQueryShape(Operation *op,
                                                      Value query) {
  auto type = cast<RankedTensorType>(query.getType());
  if (type.getRank() != 3)
    return op->emitOpError("query must be [batch, q_heads, head_dim], got ")
           << type;
  return type.getShape();
}

LogicalResult hgc::verifyGroups(Operation *op, int64_t qHeads,
                                int64_t kvHeads) {
  if (ShapedType::isDynamic(qHeads) || ShapedType::isDynamic(kvHeads))
    return success();
  if (kvHeads <= 0 || qHeads % kvHeads != 0)
    return op->emitOpError("q_heads (")
           << qHeads << ") must be a multiple of kv_heads (" << kvHeads << ")";
  return success();
}

LogicalResult hgc::verifyLengths(Operation *op, Value lengths, int64_t batch) {
  if (!lengths)
    return success();
  return verifyShape(op, "lengths", lengths.getType(), {batch});
}

LogicalResult hgc::verifyKVOfCache(Operation *op, RankedTensorType key,
                                   RankedTensorType value, KVCacheType cache,
                                   Value lengths, StringRef keyName,
                                   StringRef valueName,
                                   std::optional<uint64_t> firstHead) {
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

LogicalResult hgc::verifyBlockSize(Operation *op, StringRef name,
                                   int64_t block) {
  if (block <= 0 || !llvm::isPowerOf2_64(block))
    return op->emitOpError()
           << name << " must be a positive power of two, got " << block;
  return success();
}

LogicalResult hgc::verifyScaleAndSoftcap(Operation *op,
                                         std::optional<APFloat> scale,
                                         APFloat softcap) {
  if (scale && !scale->isFinite())
    return op->emitOpError("scale must be finite");
  if (!softcap.isFinite() || softcap.isNegative())
    return op->emitOpError("softcap must be finite and >= 0 (0 disables it)");
  return success();
}

LogicalResult hgc::verifyProductQuantizer(Operation *op, RankedTensorType codes,
                                          RankedTensorType codebooks,
                                          int64_t headDim) {
  ArrayRef<int64_t> books = codebooks.getShape();
  int64_t subspaces = books[books.size() - 3];
  int64_t centroids = books[books.size() - 2];
  int64_t width = books.back();
  if (!ShapedType::isDynamic(centroids) &&
      (centroids < 2 || centroids > 65536 || !llvm::isPowerOf2_64(centroids)))
    return op->emitOpError("pq centroids must be a power of two in [2, "
                           "65536], got ")
           << centroids;
  if (!ShapedType::isDynamic(subspaces) && !ShapedType::isDynamic(width) &&
      !ShapedType::isDynamic(headDim) && subspaces * width != headDim)
    return op->emitOpError("pq sub-spaces of ")
           << width << " x " << subspaces << " do not make head_dim "
           << headDim;
  unsigned bits = codes.getElementType().getIntOrFloatBitWidth();
  if (!ShapedType::isDynamic(centroids) && (centroids > 256) != (bits == 16))
    return op->emitOpError("pq codes of ")
           << centroids << " centroids must be "
           << (centroids > 256 ? "i16" : "i8") << ", got "
           << codes.getElementType();
  return success();
}
