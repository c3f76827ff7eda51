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
  PlaceKVPass() = default;
  explicit PlaceKVPass(const PlacementOptions &given) { options.set(given); }
  // A clone registers options of its own (the pass manager copies their
  // values over) and keeps the placement built from them.
  PlaceKVPass(const PlaceKVPass &other)
      : PlaceKVPassBase(other), placement(other.placement) {}

  // The options name one placement for the whole run: build (and validate)
  // it once, so a bad option fails before any IR is touched.
  LogicalResult initialize(MLIRContext *context) override {
    FailureOr<PlacementAttr> built =
        buildPlacement(context, options.get(), [&]() {
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

  template <typename T> using PassOption = Pass::Option<T>;
  PlacementOptionSet<PassOption> options{[this](StringRef name, StringRef help,
                                                const auto &value) {
    using T = std::decay_t<decltype(value)>;
    return std::make_unique<PassOption<T>>(*this, name, llvm::cl::desc(help),
                                           llvm::cl::init(value));
  }};
  PlacementAttr placement;
};
} // namespace

std::unique_ptr<Pass> hgc::createPlaceKVPass(const PlacementOptions &options) {
  return std::make_unique<PlaceKVPass>(options);
}
