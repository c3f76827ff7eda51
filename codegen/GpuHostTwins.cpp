//===- GpuHostTwins.cpp - host twins of GPU kernels for emulation --------===//
//
// The twin is the kernel's own body with its SIMT primitives turned into
// calls to the runtime's emulator, so the host fallback of the device tier
// executes the code that is compiled to PTX, through the same launches.
//
//===----------------------------------------------------------------------===//

#include "codegen/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_GPUHOSTTWINSPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {

/// Declares (once) `@name : (inputs) -> results` for the emulator's calls.
func::FuncOp declareRuntime(ModuleOp module, StringRef name, TypeRange inputs,
                            TypeRange results) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  auto func = func::FuncOp::create(builder, module.getLoc(), name,
                                   builder.getFunctionType(inputs, results));
  func.setPrivate();
  return func;
}

/// A call of emulator function `name` returning an index (an id or size
/// along dimension `dim`).
Value emitIdCall(OpBuilder &b, Location loc, ModuleOp module, StringRef name,
                 gpu::Dimension dim) {
  func::FuncOp callee =
      declareRuntime(module, name, {b.getI32Type()}, {b.getI64Type()});
  Value d = arith::ConstantOp::create(
      b, loc, b.getI32IntegerAttr(static_cast<int32_t>(dim)));
  Value id = func::CallOp::create(b, loc, callee, ValueRange{d}).getResult(0);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), id);
}

LogicalResult buildTwin(ModuleOp module, gpu::GPUFuncOp kernel) {
  for (Type type : kernel.getArgumentTypes())
    if (!isa<MemRefType, IndexType>(type) && !type.isInteger(64))
      return kernel.emitOpError("has an argument of type ")
             << type << " the SIMT emulator cannot pass (memrefs, index and "
             << "i64 only)";
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  Location loc = kernel.getLoc();
  std::string name = ("__hgc_emu_" + kernel.getName()).str();
  if (module.lookupSymbol(name))
    return kernel.emitOpError("has a host twin already: @") << name;
  auto twin = func::FuncOp::create(
      builder, loc, name,
      builder.getFunctionType(kernel.getArgumentTypes(), {}));
  IRMapping mapping;
  kernel.getBody().cloneInto(&twin.getBody(), mapping);
  Block &entry = twin.getBody().front();
  unsigned arguments = kernel.getNumArguments();
  // Workgroup memory: one module global (the emulator runs a block at a
  // time); private memory: the thread's own stack.
  builder.setInsertionPointToStart(&entry);
  unsigned index = 0;
  for (BlockArgument attribution : kernel.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(attribution.getType());
    auto plain = MemRefType::get(type.getShape(), type.getElementType());
    std::string global = name + "_workgroup" + std::to_string(index++);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPoint(twin);
      memref::GlobalOp::create(
          builder, loc, global, builder.getStringAttr("private"), plain,
          Attribute(), /*constant=*/false, builder.getI64IntegerAttr(64));
    }
    Value view = memref::GetGlobalOp::create(builder, loc, plain, global);
    entry.getArgument(arguments + index - 1).replaceAllUsesWith(view);
  }
  for (BlockArgument attribution : kernel.getPrivateAttributions()) {
    auto type = cast<MemRefType>(attribution.getType());
    auto plain = MemRefType::get(type.getShape(), type.getElementType());
    Value view = memref::AllocaOp::create(builder, loc, plain);
    entry.getArgument(attribution.getArgNumber()).replaceAllUsesWith(view);
  }
  entry.eraseArguments(arguments, entry.getNumArguments() - arguments);

  SmallVector<Operation *> gpuOps;
  twin.walk([&](Operation *op) {
    if (isa<gpu::GPUDialect>(op->getDialect()))
      gpuOps.push_back(op);
  });
  for (Operation *op : gpuOps) {
    OpBuilder b(op);
    Location at = op->getLoc();
    Value replacement;
    if (auto id = dyn_cast<gpu::ThreadIdOp>(op))
      replacement =
          emitIdCall(b, at, module, "hgc_emu_thread_id", id.getDimension());
    else if (auto id = dyn_cast<gpu::BlockIdOp>(op))
      replacement =
          emitIdCall(b, at, module, "hgc_emu_block_id", id.getDimension());
    else if (auto dim = dyn_cast<gpu::BlockDimOp>(op))
      replacement =
          emitIdCall(b, at, module, "hgc_emu_block_dim", dim.getDimension());
    else if (auto dim = dyn_cast<gpu::GridDimOp>(op))
      replacement =
          emitIdCall(b, at, module, "hgc_emu_grid_dim", dim.getDimension());
    else if (isa<gpu::BarrierOp>(op)) {
      func::CallOp::create(b, at,
                           declareRuntime(module, "hgc_emu_barrier", {}, {}),
                           ValueRange{});
    } else if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op)) {
      Type type = shuffle.getValue().getType();
      if (!type.isF32() && !type.isInteger(32))
        return shuffle.emitOpError("of ") << type << " is not emulated";
      Value mode = arith::ConstantOp::create(
          b, at, b.getI32IntegerAttr(static_cast<int32_t>(shuffle.getMode())));
      // The emulator shuffles 32-bit words; it reports every source lane
      // it reads as valid, which holds for the full-warp widths hgc emits.
      Value word = shuffle.getValue();
      if (type.isF32())
        word = arith::BitcastOp::create(b, at, b.getI32Type(), word);
      func::FuncOp callee = declareRuntime(
          module, "hgc_emu_shuffle",
          {b.getI32Type(), b.getI32Type(), b.getI32Type(), b.getI32Type()},
          {b.getI32Type()});
      Value result = func::CallOp::create(b, at, callee,
                                          ValueRange{word, shuffle.getOffset(),
                                                     shuffle.getWidth(), mode})
                         .getResult(0);
      if (type.isF32())
        result = arith::BitcastOp::create(b, at, type, result);
      Value valid = arith::ConstantOp::create(b, at, b.getBoolAttr(true));
      shuffle.getShuffleResult().replaceAllUsesWith(result);
      shuffle.getValid().replaceAllUsesWith(valid);
    } else if (isa<gpu::ReturnOp>(op)) {
      func::ReturnOp::create(b, at);
    } else {
      return op->emitOpError("has no host twin in the SIMT emulator");
    }
    if (replacement)
      op->getResult(0).replaceAllUsesWith(replacement);
    op->erase();
  }
  return success();
}

struct GpuHostTwinsPass : hgc::impl::GpuHostTwinsPassBase<GpuHostTwinsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUFuncOp> kernels;
    module.walk([&](gpu::GPUFuncOp func) {
      if (func.isKernel())
        kernels.push_back(func);
    });
    for (gpu::GPUFuncOp kernel : kernels)
      if (failed(buildTwin(module, kernel)))
        return signalPassFailure();
  }
};

} // namespace
