//===- FuseElementwise.cpp - elementwise chains into one loop -------------===//
//
// Upstream linalg elementwise fusion under a control that keeps everything
// but elementwise-into-elementwise, single use: a producer used twice would
// be recomputed per use, and a contraction with a fused prologue would no
// longer be the shape the host lowering streams (ContractionLowering.cpp).
//
//===----------------------------------------------------------------------===//

#include "codegen/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;

namespace {
bool isElementwise(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  return generic && generic.getNumLoops() == generic.getNumParallelLoops() &&
         generic.hasPureTensorSemantics();
}

struct FuseElementwisePass
    : hgc::impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(
        patterns, [](OpOperand *operand) {
          Value fused = operand->get();
          return fused.hasOneUse() && isElementwise(fused.getDefiningOp()) &&
                 isElementwise(operand->getOwner());
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
