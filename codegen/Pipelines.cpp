//===- Pipelines.cpp - named hgc pass pipelines --------------------------===//

#include "codegen/Pipelines.h"
#include "codegen/Passes.h"
#include "passes/Passes.h"
#include "passes/policies/PlacementPolicy.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::hgc;

void hgc::buildPlacementPipeline(OpPassManager &pm,
                                 const PlacementOptions &options) {
  // Imported graphs carry identity copies and reshape chains (Cast,
  // Identity, Unsqueeze/Reshape pairs) between the ops raising looks for.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createRaiseAttentionPass());
  pm.addPass(createBindKVCachePass());
  pm.addPass(createPlaceKVPass(options));
  // An unknown policy is hgc-place-kv's error to report.
  const PlacementPolicy *policy = lookupPlacementPolicy(options.policy);
  if (policy && policy->selectsAhead())
    pm.addPass(createSelectAheadPass());
}

void hgc::buildHybridPipeline(OpPassManager &pm,
                              const PlacementOptions &options) {
  buildPlacementPipeline(pm, options);
  pm.addPass(createSplitAttentionPass());
  pm.addPass(createInsertTransfersPass());
}

/// GPU chips hgc emits PTX for.
static constexpr llvm::StringLiteral kChips[] = {"sm_80", "sm_86", "sm_89",
                                                 "sm_90"};

std::string hgc::getCanonicalTargetName(StringRef name) {
  return name == "hybrid" ? "host" : name.str();
}

std::string hgc::checkTargetOptions(const TargetOptions &options) {
  if (options.target != "host" && options.target != "nvptx")
    return "unknown target '" + options.target + "', expected host or nvptx";
  if (!llvm::is_contained(kChips, options.chip))
    return "unknown chip '" + options.chip +
           "', expected sm_80, sm_86, sm_89 or sm_90";
  return "";
}

void hgc::buildHostLoweringPipeline(OpPassManager &pm) {
  buildLoweringPipeline(pm, TargetOptions{});
}

void hgc::buildLoweringPipeline(OpPassManager &pm,
                                const TargetOptions &options) {
  bool gpu = options.target == "nvptx";
  // Elementwise chains of imported models (norms, rotary, gates, residuals)
  // as one loop each.
  pm.addPass(createFuseElementwisePass());
  LowerToLoopsPassOptions loops;
  loops.target = options.target;
  loops.countSelected = options.countSelected;
  pm.addPass(createLowerToLoopsPass(loops));
  // Elementwise arith on tensors (precision casts around the partials).
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // Imported loops (StableHLO while) may carry a fresh tensor per
  // iteration; the deallocation pipeline frees the ones left behind.
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferDeallocationPipelineOptions deallocation;
  bufferization::buildBufferDeallocationPipeline(pm, deallocation);
  // Returned arguments are cloned by the deallocation pipeline.
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createExpandStridedCopiesPass());
  if (gpu) {
    // After deallocation, which does not know GPU ops: device partials
    // become kernels and launches; twins copy the kernels before those
    // become NVVM.
    pm.addPass(createLaunchDevicePartialsPass());
    pm.addPass(createGpuHostTwinsPass());
    GpuNVVMAttachTargetOptions attach;
    attach.chip = options.chip;
    attach.optLevel = 3;
    pm.addPass(createGpuNVVMAttachTarget(attach));
    OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
    kernels.addPass(createConvertGpuOpsToNVVMOps());
    kernels.addPass(createCanonicalizerPass());
    kernels.addPass(createCSEPass());
    kernels.addPass(createReconcileUnrealizedCastsPass());
  }
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createCanonicalizerPass());
  // One small function per loop nest: LLVM's loop passes scale with the
  // function around the loops, and a model's @main holds one nest per op.
  pm.addPass(createOutlineLoopNestsPass());
  // Independent rows run on OpenMP threads (LLVM's libomp); the device tier's
  // host fallback shares the same loops.
  pm.addPass(createConvertSCFToOpenMPPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // LLVM intrinsics first (exp, log, rsqrt); libm for the rest (tanh).
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  ConvertVectorToLLVMPassOptions vectorOptions;
  vectorOptions.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorOptions));
  // Before scf-to-cf: the OpenMP conversion wraps bodies in alloca scopes.
  // Buffers come from the runtime's allocator (hgc-rt/host_alloc.h), which
  // keeps large blocks for the next call instead of faulting in fresh pages.
  FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
  memrefOptions.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  if (gpu) {
    // Launches and copies become mgpu* calls; the kernels become PTX text
    // embedded in the module (loaded by mgpuModuleLoadJIT at start-up).
    pm.addPass(createGpuToLLVMConversionPass());
    GpuModuleToBinaryPassOptions binary;
    binary.compilationTarget = "isa";
    pm.addPass(createGpuModuleToBinaryPass(binary));
  }
  pm.addPass(createReconcileUnrealizedCastsPass());
}

namespace {
struct HybridPipelineOptions
    : public PassPipelineOptions<HybridPipelineOptions> {
  template <typename T> using PassOption = PassOptions::Option<T>;
  PlacementOptionSet<PassOption> placement{
      [this](StringRef name, StringRef help, const auto &value) {
        using T = std::decay_t<decltype(value)>;
        return std::make_unique<PassOption<T>>(
            *this, name, llvm::cl::desc(help), llvm::cl::init(value));
      }};
};
} // namespace

std::string hgc::collectPtx(ModuleOp module) {
  std::string ptx;
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute object : binary.getObjects())
      if (auto gpuObject = dyn_cast<gpu::ObjectAttr>(object))
        if (gpuObject.getFormat() == gpu::CompilationTarget::Assembly)
          ptx += gpuObject.getObject().getValue().str();
  });
  return ptx;
}

namespace {
struct LoweringPipelineOptions
    : public PassPipelineOptions<LoweringPipelineOptions> {
  PassOptions::Option<std::string> target{
      *this, "target", llvm::cl::desc(kTargetHelp),
      llvm::cl::init(TargetOptions{}.target)};
  PassOptions::Option<std::string> chip{*this, "chip",
                                        llvm::cl::desc(kChipHelp),
                                        llvm::cl::init(TargetOptions{}.chip)};
};
} // namespace

void hgc::registerHgcPipelines() {
  PassPipelineRegistration<LoweringPipelineOptions>(
      "hgc-lowering-pipeline",
      "Lower split-level hgc for a target: loops for the host, GPU kernels "
      "(PTX) and launches for nvptx, then the LLVM dialect",
      [](OpPassManager &pm, const LoweringPipelineOptions &options) {
        buildLoweringPipeline(
            pm, TargetOptions{getCanonicalTargetName(options.target),
                              options.chip});
      });
  PassPipelineRegistration<HybridPipelineOptions>(
      "hgc-hybrid-pipeline",
      "Bind, place and split decode attention into per-tier partials with "
      "explicit transfers",
      [](OpPassManager &pm, const HybridPipelineOptions &options) {
        buildHybridPipeline(pm, options.placement.get());
      });
  PassPipelineRegistration<>(
      "hgc-host-pipeline",
      "Lower split-level hgc to loops and the LLVM dialect for the host",
      buildHostLoweringPipeline);
}
