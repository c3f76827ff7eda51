//===- GpuPartialAttentionLowering.cpp - device partials as launches ------===//
//
// A dense partial attention of the device tier is lowered in two steps. In
// convert-hgc-to-loops it becomes a call of a bodiless private function over
// its buffers (output and LSE written by the callee), which bufferization
// and buffer deallocation treat as an ordinary call. After them,
// hgc-launch-device-partials replaces each call with work on one GPU stream:
// operands copied to device memory, the split kernel and the split-merge
// kernel, output and LSE copied back, all asynchronous; a single wait sits
// just before the first read of the results, so the host tier's selection
// and sparse partial run while the device works.
//
//===----------------------------------------------------------------------===//

#include "codegen/GpuKernels.h"
#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "codegen/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::gpu_kernels;

namespace mlir::hgc::lowering {

bool isDevicePartial(PartialAttentionOp op) {
  if (op.getIndices())
    return false;
  auto view = op.getKey().getDefiningOp<KVViewOp>();
  return view && view.getTier() == Tier::Device;
}

gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module) {
  constexpr StringLiteral kName = "hgc_kernels";
  if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kName))
    return existing;
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  return gpu::GPUModuleOp::create(builder, module.getLoc(), kName);
}

/// The op of `block` that holds the first use of any of `values` (after
/// `after`), or the block's terminator.
static Operation *firstUser(ValueRange values, Operation *after) {
  Block *block = after->getBlock();
  Operation *first = block->getTerminator();
  for (Value v : values)
    for (Operation *user : v.getUsers())
      if (Operation *ancestor = block->findAncestorOpInBlock(*user))
        if (after->isBeforeInBlock(ancestor) &&
            ancestor->isBeforeInBlock(first))
          first = ancestor;
  return first;
}

/// Attribute names on the declaration a device partial is called through.
constexpr StringLiteral kDevicePartialAttr = "hgc.device_partial";
constexpr StringLiteral kScaleAttr = "hgc.scale";
constexpr StringLiteral kSoftcapAttr = "hgc.softcap";
/// Operands beyond query, key, value, out and lse (in this order): per-row
/// lengths, a bias, and (last) the query rows per KV sequence.
constexpr StringLiteral kLengthsAttr = "hgc.lengths";
constexpr StringLiteral kBiasAttr = "hgc.bias";
constexpr StringLiteral kRowsAttr = "hgc.rows_per_sequence";

func::CallOp createDevicePartialCall(ImplicitLocOpBuilder &b, ModuleOp module,
                                     int64_t id, ValueRange operands,
                                     std::optional<APFloat> scale,
                                     APFloat softcap, bool hasLengths,
                                     bool hasBias, bool rowsPerSequence) {
  OpBuilder declarations = OpBuilder::atBlockEnd(module.getBody());
  auto callee = func::FuncOp::create(
      declarations, b.getLoc(), "hgc_device_partial_" + std::to_string(id),
      b.getFunctionType(operands.getTypes(), {}));
  callee.setPrivate();
  callee->setAttr(kDevicePartialAttr, b.getUnitAttr());
  if (scale)
    callee->setAttr(kScaleAttr, b.getF32FloatAttr(scale->convertToFloat()));
  callee->setAttr(kSoftcapAttr, b.getF32FloatAttr(softcap.convertToFloat()));
  if (hasLengths)
    callee->setAttr(kLengthsAttr, b.getUnitAttr());
  if (hasBias)
    callee->setAttr(kBiasAttr, b.getUnitAttr());
  if (rowsPerSequence)
    callee->setAttr(kRowsAttr, b.getUnitAttr());
  return func::CallOp::create(b, callee, operands);
}

void lowerPartialAttentionToCall(RewriterBase &rewriter, PartialAttentionOp op,
                                 int64_t id) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  // Views of any strides (a slice of a bound cache): the launch makes
  // them dense before copying them to the device.
  SmallVector<Value> operands = {e.buffer(op.getQuery()), e.buffer(op.getKey()),
                                 e.buffer(op.getValue())};
  if (op.getLengths())
    operands.push_back(e.buffer(op.getLengths()));
  Value batch = e.dim(operands[0], 0);
  Value qHeads = e.dim(operands[0], 1), headDim = e.dim(operands[0], 2);
  Value out = e.alloc(op.getOutput().getType(), {batch, qHeads, headDim});
  Value lse = e.alloc(op.getLse().getType(), {batch, qHeads});
  operands.append({out, lse});
  createDevicePartialCall(b, op->getParentOfType<ModuleOp>(), id, operands,
                          op.getScale(), op.getSoftcap(),
                          static_cast<bool>(op.getLengths()),
                          /*hasBias=*/false, /*rowsPerSequence=*/false);
  Value outTensor = e.tensor(out, op.getOutput().getType());
  rewriter.replaceOp(op, {outTensor, e.tensor(lse, op.getLse().getType())});
}

bool isDevicePartialCall(func::CallOp call) {
  auto module = call->getParentOfType<ModuleOp>();
  auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
  return callee && callee->hasAttr(kDevicePartialAttr);
}

/// The kernel configuration `callee`, a device partial's declaration, and
/// the operands of `call` describe; failure (reported) when key and value
/// head dims differ.
static FailureOr<DecodeKernelConfig>
getDecodeKernelConfig(func::CallOp call, func::FuncOp callee,
                      int64_t minSplitTokens) {
  ValueRange args = call.getOperands();
  auto queryType = cast<MemRefType>(args[0].getType());
  auto keyType = cast<MemRefType>(args[1].getType());
  auto valueType = cast<MemRefType>(args[2].getType());
  if (keyType.getDimSize(3) != valueType.getDimSize(3))
    return call.emitOpError("of a device partial needs equal key and value "
                            "head dims");
  DecodeKernelConfig config;
  config.qHeads = queryType.getDimSize(1);
  config.kvHeads = keyType.getDimSize(1);
  config.headDim = queryType.getDimSize(2);
  config.queryElement = queryType.getElementType();
  config.kvElement = keyType.getElementType();
  config.hasLengths = callee->hasAttr(kLengthsAttr);
  config.hasBias = callee->hasAttr(kBiasAttr);
  config.rowsPerSequence = callee->hasAttr(kRowsAttr);
  if (auto scale = callee->getAttrOfType<FloatAttr>(kScaleAttr))
    config.scale = scale.getValueAsDouble();
  if (auto softcap = callee->getAttrOfType<FloatAttr>(kSoftcapAttr))
    config.softcap = softcap.getValueAsDouble();
  config.minSplitTokens = minSplitTokens;
  // planDecodeKernel rejects a head dim of 0.
  if (ShapedType::isDynamic(config.headDim) ||
      keyType.getDimSize(3) != config.headDim)
    config.headDim = 0;
  return config;
}

/// The sizes of `memref`, static ones as constants.
static SmallVector<Value> getSizes(Emitter &e, Value memref) {
  SmallVector<Value> sizes;
  for (int64_t d = 0, r = cast<MemRefType>(memref.getType()).getRank(); d < r;
       ++d)
    sizes.push_back(e.dim(memref, d));
  return sizes;
}

/// The entries of `sizes` for the dynamic dims of `type`.
static SmallVector<Value> getDynamicSizes(MemRefType type,
                                          ArrayRef<Value> sizes) {
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(size))
      dynamic.push_back(sizes[i]);
  return dynamic;
}

namespace {
/// Builds the stream work that replaces one device partial call, one
/// method per step; every op of the stream waits on the previous one
/// through `token`.
class DevicePartialLauncher {
public:
  DevicePartialLauncher(func::CallOp call, const DecodeKernelConfig &config,
                        const DecodeKernelPlan &plan);

  /// Copies query, key, value and the optional operands to the device.
  void copyOperandsToDevice();
  /// Chooses the splits and allocates the partials, output and LSE.
  void allocateResults();
  /// Launches the split kernel on grid (splits, KV heads, rows), then the
  /// merge kernel on (query heads, rows).
  void launchKernels(gpu::GPUFuncOp partialKernel, gpu::GPUFuncOp mergeKernel);
  /// Copies output and LSE back and frees the device buffers.
  void copyResultsToHost();
  /// Waits for the stream before the first read of the results and frees
  /// the host staging.
  void waitBeforeFirstRead();

private:
  Value deviceAlloc(MemRefType type, ArrayRef<Value> sizes);
  void copy(Value target, Value source);
  Value toDevice(Value host);
  void launch(gpu::GPUFuncOp kernel, gpu::KernelDim3 grid, int64_t threads,
              ArrayRef<Value> operands);

  func::CallOp call;
  const DecodeKernelConfig &config;
  const DecodeKernelPlan &plan;
  ImplicitLocOpBuilder b;
  Emitter e;
  Type tokenType;
  Value token;
  SmallVector<Value> deviceBuffers;
  /// Host staging of strided views, freed after the wait.
  SmallVector<Value> staging;
  Value query, key, value, lengths, bias, hostOut, hostLse, rows;
  Value batch, splitTokens, splits, qHeads;
  Value partMax, partSum, partAcc, out, lse;
};
} // namespace

DevicePartialLauncher::DevicePartialLauncher(func::CallOp call,
                                             const DecodeKernelConfig &config,
                                             const DecodeKernelPlan &plan)
    : call(call), config(config), plan(plan), b(call.getLoc(), call), e{b},
      tokenType(gpu::AsyncTokenType::get(call.getContext())) {
  token = gpu::WaitOp::create(b, tokenType, ValueRange{}).getAsyncToken();
}

Value DevicePartialLauncher::deviceAlloc(MemRefType type,
                                         ArrayRef<Value> sizes) {
  auto alloc = gpu::AllocOp::create(b, type, tokenType, ValueRange{token},
                                    getDynamicSizes(type, sizes), ValueRange{},
                                    /*hostShared=*/false);
  token = alloc.getAsyncToken();
  deviceBuffers.push_back(alloc.getMemref());
  return alloc.getMemref();
}

void DevicePartialLauncher::copy(Value target, Value source) {
  token = gpu::MemcpyOp::create(b, tokenType, ValueRange{token}, target, source)
              .getAsyncToken();
}

/// A dense device copy of `host`, packed on the host first when strided.
Value DevicePartialLauncher::toDevice(Value host) {
  auto type = cast<MemRefType>(host.getType());
  auto dense = MemRefType::get(type.getShape(), type.getElementType());
  if (!type.getLayout().isIdentity()) {
    Value packed = memref::AllocOp::create(
        b, dense, getDynamicSizes(dense, getSizes(e, host)));
    memref::CopyOp::create(b, host, packed);
    staging.push_back(packed);
    host = packed;
  }
  Value device = deviceAlloc(dense, getSizes(e, host));
  copy(device, host);
  return device;
}

void DevicePartialLauncher::launch(gpu::GPUFuncOp kernel, gpu::KernelDim3 grid,
                                   int64_t threads, ArrayRef<Value> operands) {
  SmallVector<Value> arguments;
  for (auto [v, type] : llvm::zip(operands, kernel.getArgumentTypes()))
    arguments.push_back(
        v.getType() == type ? v : Value(memref::CastOp::create(b, type, v)));
  token = gpu::LaunchFuncOp::create(
              b, kernel, grid,
              gpu::KernelDim3{e.index(threads), e.index(1), e.index(1)},
              Value(), arguments, tokenType, ValueRange{token})
              .getAsyncToken();
}

void DevicePartialLauncher::copyOperandsToDevice() {
  ValueRange args = call.getOperands();
  query = toDevice(args[0]);
  key = toDevice(args[1]);
  value = toDevice(args[2]);
  unsigned next = 3;
  lengths = config.hasLengths ? toDevice(args[next++]) : Value();
  bias = config.hasBias ? toDevice(args[next++]) : Value();
  hostOut = args[next];
  hostLse = args[next + 1];
  rows = config.rowsPerSequence ? args[next + 2] : Value();
}

void DevicePartialLauncher::allocateResults() {
  batch = e.dim(query, 0);
  Value tokens = e.dim(key, 2);
  // Splits chosen per call: enough blocks to fill the GPU, no split
  // shorter than the minimum.
  splitTokens =
      emitSplitTokens(b, plan, tokens,
                      arith::MulIOp::create(b, batch, e.index(config.kvHeads)));
  splits = arith::MaxUIOp::create(
      b, arith::CeilDivUIOp::create(b, tokens, splitTokens), e.index(1));
  qHeads = e.index(config.qHeads);
  Value headDim = e.index(config.headDim);
  Type f32 = b.getF32Type();
  constexpr int64_t dyn = ShapedType::kDynamic;
  auto partType = MemRefType::get({dyn, dyn, dyn}, f32);
  auto accType = MemRefType::get({dyn, dyn, dyn, dyn}, f32);
  partMax = deviceAlloc(partType, {batch, qHeads, splits});
  partSum = deviceAlloc(partType, {batch, qHeads, splits});
  partAcc = deviceAlloc(accType, {batch, qHeads, splits, headDim});
  out = deviceAlloc(cast<MemRefType>(hostOut.getType()), getSizes(e, hostOut));
  lse = deviceAlloc(cast<MemRefType>(hostLse.getType()), getSizes(e, hostLse));
}

void DevicePartialLauncher::launchKernels(gpu::GPUFuncOp partialKernel,
                                          gpu::GPUFuncOp mergeKernel) {
  SmallVector<Value> partialOperands = {query, key, value};
  if (lengths)
    partialOperands.push_back(lengths);
  if (bias)
    partialOperands.push_back(bias);
  partialOperands.append({partMax, partSum, partAcc, splitTokens});
  if (rows)
    partialOperands.push_back(rows);
  launch(partialKernel, {splits, e.index(config.kvHeads), batch},
         plan.threads(), partialOperands);
  launch(mergeKernel, {qHeads, batch, e.index(1)}, kWarpSize,
         {partMax, partSum, partAcc, out, lse});
}

void DevicePartialLauncher::copyResultsToHost() {
  copy(hostOut, out);
  copy(hostLse, lse);
  for (Value buffer : deviceBuffers)
    token = gpu::DeallocOp::create(b, tokenType, ValueRange{token}, buffer)
                .getAsyncToken();
}

void DevicePartialLauncher::waitBeforeFirstRead() {
  // The host reads the results only after the stream is done; everything
  // between the call and that first read overlaps the device.
  Operation *use = firstUser({hostOut, hostLse}, call);
  b.setInsertionPoint(use);
  gpu::WaitOp::create(b, Type(), ValueRange{token});
  for (Value packed : staging)
    memref::DeallocOp::create(b, packed);
}

LogicalResult launchDevicePartial(func::CallOp call, gpu::GPUModuleOp kernels,
                                  int64_t minSplitTokens) {
  // 1. Read the kernel configuration off the callee and plan the kernel.
  // 2. Emit the split kernel and the split-merge kernel into `kernels`.
  // 3. Before the call, on one stream: copy the operands to the device,
  //    allocate partials and results, launch both kernels, copy the
  //    results back and free the device buffers.
  // 4. Wait for the stream before the first read of the results; drop the
  //    call.
  auto module = call->getParentOfType<ModuleOp>();
  auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
  FailureOr<DecodeKernelConfig> config =
      getDecodeKernelConfig(call, callee, minSplitTokens);
  if (failed(config))
    return failure();
  std::string why;
  FailureOr<DecodeKernelPlan> plan = planDecodeKernel(*config, why);
  if (failed(plan))
    return call.emitOpError("cannot run the device partial as a GPU kernel: ")
           << why;

  OpBuilder kernelBuilder(call.getContext());
  std::string base = callee.getSymName().str();
  gpu::GPUFuncOp partialKernel = emitDecodePartialKernel(
      kernelBuilder, call.getLoc(), kernels, base, *config, *plan);
  gpu::GPUFuncOp mergeKernel =
      emitSplitMergeKernel(kernelBuilder, call.getLoc(), kernels,
                           base + "_merge", config->qHeads, config->headDim);

  DevicePartialLauncher launcher(call, *config, *plan);
  launcher.copyOperandsToDevice();
  launcher.allocateResults();
  launcher.launchKernels(partialKernel, mergeKernel);
  launcher.copyResultsToHost();

  launcher.waitBeforeFirstRead();
  call.erase();
  return success();
}

} // namespace mlir::hgc::lowering

//===----------------------------------------------------------------------===//
// hgc-launch-device-partials
//===----------------------------------------------------------------------===//

namespace mlir::hgc {
#define GEN_PASS_DEF_LAUNCHDEVICEPARTIALSPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

namespace {
struct LaunchDevicePartialsPass
    : hgc::impl::LaunchDevicePartialsPassBase<LaunchDevicePartialsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::CallOp> calls;
    module.walk([&](func::CallOp call) {
      if (lowering::isDevicePartialCall(call))
        calls.push_back(call);
    });
    if (calls.empty())
      return;
    gpu::GPUModuleOp kernels = lowering::getOrCreateKernelModule(module);
    for (func::CallOp call : calls)
      if (failed(lowering::launchDevicePartial(call, kernels, minSplitTokens)))
        return signalPassFailure();
    for (func::FuncOp callee :
         llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (callee->hasAttr(lowering::kDevicePartialAttr) &&
          callee.getSymbolUses(module)->empty())
        callee.erase();
  }
};
} // namespace
