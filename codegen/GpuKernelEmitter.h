//===- GpuKernelEmitter.h - writing gpu dialect kernels ---------*- C++ -*-===//
//
// The vocabulary the device kernels share: thread and block ids, warp
// shuffles and butterflies, 16-byte vector loads widened to f32, and the
// creation of an empty kernel.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_GPUKERNELEMITTER_H
#define HGC_CODEGEN_GPUKERNELEMITTER_H

#include "codegen/GpuKernels.h"
#include "codegen/LoopEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::hgc::gpu_kernels {

/// Kernel-side vocabulary beside the loop emitter: ids, shuffles, 16-byte
/// vector loads.
struct KernelEmitter : lowering::Emitter {
  Value threadId() { return gpu::ThreadIdOp::create(b, gpu::Dimension::x); }
  Value blockId(gpu::Dimension d) { return gpu::BlockIdOp::create(b, d); }
  Value shuffleXor(Value v, int64_t offset) {
    return gpu::ShuffleOp::create(b, v, offset, kWarpSize,
                                  gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }
  /// Sum (or max) over the lanes whose ids differ in the bits of
  /// [first, last] (powers of two).
  Value butterfly(Value v, int64_t first, int64_t last, bool isMax) {
    for (int64_t offset = first; offset <= last && offset < kWarpSize;
         offset *= 2) {
      Value other = shuffleXor(v, offset);
      v = isMax ? fastMax(v, other) : add(v, other);
    }
    return v;
  }
  /// A vector of `lanes` elements at `indices`, widened to f32.
  Value loadF32Vector(Value memref, ValueRange indices, int64_t lanes,
                      int64_t alignment) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    Value v = vector::LoadOp::create(b, VectorType::get({lanes}, element),
                                     memref, indices, /*nontemporal=*/false,
                                     llvm::MaybeAlign(alignment));
    return widen(v, lanes);
  }
  Value widen(Value v, int64_t lanes) {
    auto type = VectorType::get({lanes}, b.getF32Type());
    if (cast<VectorType>(v.getType()).getElementType().isF32())
      return v;
    return arith::ExtFOp::create(b, type, v);
  }
  Value splat(Value scalar, int64_t lanes) {
    return vector::BroadcastOp::create(
        b, VectorType::get({lanes}, b.getF32Type()), scalar);
  }
  Value mulIdx(Value x, int64_t c) {
    return arith::MulIOp::create(b, x, index(c));
  }
  Value addIdx(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
};

/// Appends kernel `name` with an empty body to `module`.
inline gpu::GPUFuncOp createKernel(OpBuilder &builder, Location loc,
                                   gpu::GPUModuleOp module, StringRef name,
                                   TypeRange arguments, TypeRange workgroup) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(
      builder, loc, name, builder.getFunctionType(arguments, {}), workgroup);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  return func;
}

} // namespace mlir::hgc::gpu_kernels

#endif // HGC_CODEGEN_GPUKERNELEMITTER_H
