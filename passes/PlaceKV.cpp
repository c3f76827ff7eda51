//===- PlaceKV.cpp - attach #hgc.placement from a policy -----------------===//

#include "dialect/HgcOps.h"
#include "passes/Passes.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_PLACEKVPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
struct PlaceKVPass : hgc::impl::PlaceKVPassBase<PlaceKVPass> {
  using Base::Base;

  // The options name one placement for the whole run: build (and validate)
  // it once, so a bad option fails before any IR is touched.
  LogicalResult initialize(MLIRContext *context) override {
    PlacementOptions options{policy, sink, window, budget, block};
    FailureOr<PlacementAttr> built = buildPlacement(context, options, [&]() {
      return emitError(UnknownLoc::get(context), "hgc-place-kv: ");
    });
    if (failed(built))
      return failure();
    placement = *built;
    return success();
  }

  void runOnOperation() override {
    WalkResult result = getOperation()->walk([&](DecodeAttentionOp op) {
      if (op.getPlacementAttr())
        return WalkResult::advance();
      op.setPlacementAttr(placement);
      // The placement must also fit this op's cache (heads, max_tokens).
      return failed(op.verify()) ? WalkResult::interrupt()
                                 : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  PlacementAttr placement;
};
} // namespace
