//===- LowerToLoops.cpp - split-level hgc ops to parallel loops -----------===//
//
// Lowers hgc.partial_attention, hgc.select, hgc.lse_merge, hgc.attention,
// KV views and MatMul-shaped contractions to scf loops over memrefs
// (scf.parallel over independent work, scf.for inside), and
// hgc.transfer/hgc.wait to their host-fallback meaning (the value itself).
// The per-op lowerings live beside this file (Lowerings.h), one rewrite
// pattern each (LowerToLoopsPatterns.cpp); this pass decides what runs on
// the device and applies them as one dialect conversion.
//
// The loop nests are the host form, the one OpenMP conversion consumes:
// partial attention runs over (batch, KV head, KV split) tasks, selection
// and the merge over (batch, head) rows. With target=nvptx the device
// tier's partials become GPU kernels here instead (GpuKernels.h).
// Accumulation is f32 whatever the KV type.
//
//===----------------------------------------------------------------------===//

#include "codegen/Lowerings.h"
#include "codegen/Passes.h"
#include "dialect/HgcOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_LOWERTOLOOPSPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::lowering;

namespace {

/// Numbers the device partials and device attentions of `root` in op order
/// (their `@hgc_device_partial_<id>`).
DenseMap<Operation *, int64_t> numberDeviceWork(Operation *root) {
  DenseMap<Operation *, int64_t> ids;
  root->walk([&](Operation *op) {
    auto partial = dyn_cast<PartialAttentionOp>(op);
    auto attention = dyn_cast<AttentionOp>(op);
    if ((partial && isDevicePartial(partial)) ||
        (attention && isDeviceAttention(attention)))
      ids.try_emplace(op, ids.size());
  });
  return ids;
}

/// One dialect conversion in which every op the patterns lower is illegal:
/// an op they cannot lower is reported.
LogicalResult lowerOpsToLoops(Operation *root,
                              const LowerToLoopsOptions &options) {
  MLIRContext *context = root->getContext();
  ConversionTarget target(*context);
  configureLowerToLoopsTarget(target, options);
  RewritePatternSet patterns(context);
  populateLowerToLoopsPatterns(patterns, options);
  ConversionConfig config;
  // Replacements take effect at once: a lowering reads the IR the ones
  // before it left (a reader of a paged view finds the view kept for it).
  config.allowPatternRollback = false;
  // Ops are created as the lowerings write them, unfolded.
  config.foldingMode = DialectConversionFoldingMode::Never;
  return applyPartialConversion(root, target, std::move(patterns), config);
}

/// The kernels' exps (f32 scalars and vectors) as inline polynomials
/// (within 2 ulp): a libm call per probability would cost more than the
/// FMAs around it. Tensor exps of imported models are left to libm.
LogicalResult approximateKernelExps(Operation *root) {
  SmallVector<Operation *> exps;
  root->walk([&](math::ExpOp op) {
    // Device kernels keep math.exp: the GPU lowering has its own.
    if (!isa<TensorType>(op.getType()) &&
        !op->getParentOfType<gpu::GPUModuleOp>() &&
        getElementTypeOrSelf(op.getType()).isF32())
      exps.push_back(op);
  });
  RewritePatternSet patterns(root->getContext());
  populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
    return name == math::ExpOp::getOperationName();
  });
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingOps);
  return applyOpPatternsGreedily(exps, std::move(patterns), config);
}

/// Bound caches are read only through the views lowered before; views of
/// paged caches kept for their readers are read no more.
void eraseUnreadCaches(Operation *root) {
  root->walk([](KVViewOp view) {
    if (view->use_empty())
      view->erase();
  });
  root->walk([](Operation *op) {
    if (isa<BindKVOp, RuntimeKVOp>(op) && op->use_empty())
      op->erase();
  });
}

struct LowerToLoopsPass : hgc::impl::LowerToLoopsPassBase<LowerToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    // 1. The device decisions: which partials and attentions become device
    //    calls, numbered in op order.
    // 2. The ops lowered by one pattern each, in one conversion.
    // 3. The kernels' exps as polynomials.
    // 4. Caches nothing reads any more.
    Operation *root = getOperation();
    if (target != "host" && target != "nvptx") {
      root->emitError("unknown target '")
          << target << "', expected host or nvptx";
      return signalPassFailure();
    }
    LowerToLoopsOptions options;
    options.kvSplit = kvSplit;
    options.countSelected = countSelected;
    if (target == "nvptx")
      options.deviceIds = numberDeviceWork(root);
    if (!options.deviceIds.empty() && !isa<ModuleOp>(root)) {
      root->emitError("target=nvptx runs on a builtin.module");
      return signalPassFailure();
    }

    if (failed(lowerOpsToLoops(root, options)) ||
        failed(approximateKernelExps(root)))
      return signalPassFailure();
    eraseUnreadCaches(root);
  }
};

} // namespace
