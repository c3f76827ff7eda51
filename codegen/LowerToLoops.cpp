//===- LowerToLoops.cpp - split-level hgc ops to parallel loops ----------===//
//
// Lowers hgc.partial_attention, hgc.select, hgc.lse_merge, hgc.attention,
// KV views and MatMul-shaped contractions to scf loops over memrefs
// (scf.parallel over independent work, scf.for inside), and
// hgc.transfer/hgc.wait to their host-fallback meaning (the value itself).
// The per-op lowerings live beside this file (Lowerings.h); this pass only
// dispatches to them.
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
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_LOWERTOLOOPSPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::lowering;

namespace {

//===----------------------------------------------------------------------===//
// Host fallback of the asynchronous ops
//===----------------------------------------------------------------------===//

LogicalResult lowerAsync(Operation *root) {
  root->walk([](WaitOp op) {
    op.replaceAllUsesWith(op.getValues());
    op.erase();
  });
  SmallVector<TransferOp> transfers;
  root->walk([&](TransferOp op) { transfers.push_back(op); });
  for (TransferOp op : llvm::reverse(transfers)) {
    op.getResult().replaceAllUsesWith(op.getSource());
    for (Operation *user : op.getToken().getUsers())
      if (!isa<TransferOp>(user))
        return user->emitOpError("uses an hgc.token the host fallback "
                                 "cannot provide");
  }
  for (TransferOp op : llvm::reverse(transfers))
    op.erase();
  return success();
}

struct LowerToLoopsPass : hgc::impl::LowerToLoopsPassBase<LowerToLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    Operation *root = getOperation();
    if (failed(lowerAsync(root)))
      return signalPassFailure();
    // Aggregated linalg ops (linalg.softmax of attention that was not
    // raised) become the generics the rest of the host pipeline lowers.
    SmallVector<linalg::AggregatedOpInterface> aggregated;
    root->walk(
        [&](linalg::AggregatedOpInterface op) { aggregated.push_back(op); });
    for (linalg::AggregatedOpInterface op : aggregated) {
      OpBuilder builder(op);
      FailureOr<SmallVector<Value>> replacements =
          op.decomposeOperation(builder);
      if (failed(replacements)) {
        op->emitOpError("cannot be decomposed for the host");
        return signalPassFailure();
      }
      op->replaceAllUsesWith(*replacements);
      op->erase();
    }
    // MatMul-shaped contractions of imported models: weights streamed in
    // order by parallel vector loops instead of linalg's column walks.
    SmallVector<linalg::GenericOp> contractions;
    root->walk([&](linalg::GenericOp op) {
      if (isLowerableContraction(op))
        contractions.push_back(op);
    });
    for (linalg::GenericOp op : contractions)
      lowerContraction(op);
    if (target != "host" && target != "nvptx") {
      root->emitError("unknown target '")
          << target << "', expected host or nvptx";
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    llvm::SmallPtrSet<Operation *, 4> devicePartials;
    WalkResult unsupported = root->walk([&](Operation *op) {
      if (isa<DecodeAttentionOp>(op)) {
        op->emitOpError("is not lowered to loops directly; run the "
                        "hgc-hybrid-pipeline (bind, place, split) first");
        return WalkResult::interrupt();
      }
      if (isa<PartialAttentionOp, LseMergeOp, SelectOp, KVViewOp, KVSummariesOp,
              AttentionOp>(op))
        ops.push_back(op);
      if (auto partial = dyn_cast<PartialAttentionOp>(op))
        if (target == "nvptx" && isDevicePartial(partial))
          devicePartials.insert(op);
      if (auto attention = dyn_cast<AttentionOp>(op))
        if (target == "nvptx" && isDeviceAttention(attention))
          devicePartials.insert(op);
      return WalkResult::advance();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();
    if (!devicePartials.empty() && !isa<ModuleOp>(root)) {
      root->emitError("target=nvptx runs on a builtin.module");
      return signalPassFailure();
    }
    // Readers that address a paged cache's blocks in place (PagedKV.h):
    // host partials over a view with lengths, and exact selection.
    auto readsPaged = [&](Operation *user) {
      if (auto partial = dyn_cast<PartialAttentionOp>(user))
        return !devicePartials.contains(user) &&
               static_cast<bool>(partial.getLengths());
      if (auto select = dyn_cast<SelectOp>(user))
        return select.getPolicy() == Selection::ExactTopK &&
               static_cast<bool>(select.getLengths());
      return false;
    };
    int64_t deviceId = 0;
    for (Operation *op : ops) {
      LogicalResult lowered = success();
      if (devicePartials.contains(op) && isa<AttentionOp>(op))
        lowerAttentionToDeviceCall(cast<AttentionOp>(op), deviceId++);
      else if (devicePartials.contains(op))
        lowerPartialAttentionToCall(cast<PartialAttentionOp>(op), deviceId++);
      else if (auto partial = dyn_cast<PartialAttentionOp>(op))
        lowerPartialAttention(partial, kvSplit);
      else if (auto merge = dyn_cast<LseMergeOp>(op))
        lowerLseMerge(merge);
      else if (auto select = dyn_cast<SelectOp>(op))
        lowered = lowerSelect(select, countSelected);
      else if (auto attention = dyn_cast<AttentionOp>(op))
        lowered = lowerAttention(attention);
      else if (auto summaries = dyn_cast<KVSummariesOp>(op))
        lowered = summaries.getCache().getDefiningOp<RuntimeKVOp>()
                      ? lowerRuntimeKVSummaries(summaries)
                      : lowerKVSummaries(summaries);
      else if (auto view = cast<KVViewOp>(op);
               view.getCache().getDefiningOp<RuntimeKVOp>())
        lowered = lowerRuntimeKVView(view);
      else
        lowered = lowerKVView(view, readsPaged);
      if (failed(lowered))
        return signalPassFailure();
    }
    // The kernels' exps (f32 scalars and vectors) as inline polynomials
    // (within 2 ulp): a libm call per probability would cost more than the
    // FMAs around it. Tensor exps of imported models are left to libm.
    SmallVector<Operation *> exps;
    root->walk([&](math::ExpOp op) {
      // Device kernels keep math.exp: the GPU lowering has its own.
      if (!isa<TensorType>(op.getType()) &&
          !op->getParentOfType<gpu::GPUModuleOp>() &&
          getElementTypeOrSelf(op.getType()).isF32())
        exps.push_back(op);
    });
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == math::ExpOp::getOperationName();
    });
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    if (failed(applyOpPatternsGreedily(exps, std::move(patterns), config)))
      return signalPassFailure();
    // Bound caches are read only through the views lowered above; views of
    // paged caches kept for their readers are read no more.
    root->walk([](KVViewOp view) {
      if (view->use_empty())
        view->erase();
    });
    root->walk([](Operation *op) {
      if (isa<BindKVOp, RuntimeKVOp>(op) && op->use_empty())
        op->erase();
    });
  }
};

} // namespace
