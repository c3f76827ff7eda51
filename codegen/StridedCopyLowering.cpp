//===- StridedCopyLowering.cpp - strided memref.copy as row loops ---------===//
//
// MLIR lowers memref.copy between non-contiguous buffers to a call of the C
// runner utils' memrefCopy, an element-at-a-time walk (about 1 GB/s here).
// Concatenating the past KV with a step's new tokens is such a copy of the
// whole cache, every step; so is every slice of a larger tensor. Here those
// copies become parallel rows of vector moves.
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Passes.h"

#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_EXPANDSTRIDEDCOPIESPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::lowering;

namespace {
/// Copies MLIR lowers to memcpy itself (see MemRefToLLVM's CopyOp pattern).
bool isContiguous(MemRefType type) {
  return type.getLayout().isIdentity() ||
         (type.hasStaticShape() && type.getNumElements() > 0 &&
          memref::isStaticShapeAndContiguousRowMajor(type));
}

bool hasUnitInnerStride(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(type.getStridesAndOffset(strides, offset)) &&
         !strides.empty() && strides.back() == 1;
}

void expandCopy(memref::CopyOp op) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  Value source = op.getSource(), target = op.getTarget();
  auto sourceType = cast<MemRefType>(source.getType());
  auto targetType = cast<MemRefType>(target.getType());
  int64_t rank = sourceType.getRank();
  SmallVector<Value> outer;
  for (int64_t d = 0; d + 1 < rank; ++d)
    outer.push_back(e.dim(source, d));
  Value size = e.dim(source, rank - 1);
  bool vectorized = hasUnitInnerStride(sourceType) &&
                    hasUnitInnerStride(targetType) &&
                    sourceType.getElementType().isIntOrFloat();
  e.parallel(outer, [&](ValueRange ivs) {
    auto at = [&](Value n) {
      SmallVector<Value> indices(ivs.begin(), ivs.end());
      indices.push_back(n);
      return indices;
    };
    Value vectorEnd = e.index(0);
    if (vectorized) {
      vectorEnd = arith::MulIOp::create(
          b, arith::DivUIOp::create(b, size, e.index(kLanes)), e.index(kLanes));
      auto vectorType = VectorType::get({kLanes}, sourceType.getElementType());
      e.forLoop(e.index(0), vectorEnd, {}, e.index(kLanes),
                [&](Value n, ValueRange) -> SmallVector<Value> {
                  Value v =
                      vector::LoadOp::create(b, vectorType, source, at(n));
                  vector::StoreOp::create(b, v, target, at(n));
                  return {};
                });
    }
    e.forLoop(vectorEnd, size, {}, [&](Value n, ValueRange) {
      memref::StoreOp::create(b, e.load(source, at(n)), target, at(n));
      return SmallVector<Value>{};
    });
  });
  op.erase();
}

struct ExpandStridedCopiesPass
    : hgc::impl::ExpandStridedCopiesPassBase<ExpandStridedCopiesPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp op) {
      auto source = dyn_cast<MemRefType>(op.getSource().getType());
      auto target = dyn_cast<MemRefType>(op.getTarget().getType());
      if (source && target && source.getRank() > 0 &&
          (!isContiguous(source) || !isContiguous(target)))
        copies.push_back(op);
    });
    for (memref::CopyOp op : copies)
      expandCopy(op);
  }
};
} // namespace
