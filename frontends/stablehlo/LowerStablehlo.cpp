//===- LowerStablehlo.cpp - the StableHLO subset to upstream dialects -----===//
//
// Each op becomes upstream ops on tensors with the StableHLO specification's
// semantics, so an imported program runs through hgc's host pipeline and the
// attention in it can be raised like an ONNX model's. The ops are rewritten
// by patterns in program order (a partial dialect conversion); a reduce's
// body is translated to scalars with its op, a loop's or branch's region
// moves into its scf op and is lowered in turn.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"
#include "frontends/stablehlo/Passes.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Rewrite/FrozenRewritePatternSet.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_LOWERSTABLEHLOPASS
#include "frontends/stablehlo/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

namespace {

/// Integers are signless in arith; StableHLO's unsigned types are not
/// imported (JAX's attention programs use signed and boolean integers).
LogicalResult checkElementType(Operation *op) {
  for (Type type :
       llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes())) {
    Type element = getElementTypeOrSelf(type);
    if (auto integer = dyn_cast<IntegerType>(element);
        integer && !integer.isSignless())
      return op->emitOpError("has element type ")
             << element
             << ", which hgc does not import (signless integers only)";
    if (isa<ComplexType>(element))
      return op->emitOpError(
          "has a complex element type, which hgc does not import");
  }
  return success();
}

/// Returns go with the op owning their region, and the ops in a reduce's or
/// scatter's body are translated to scalars with it: no pattern of their own.
bool isLoweredWithParent(Operation *op) {
  return isa<ReturnOp>(op) ||
         isa_and_nonnull<ReduceOp, ScatterOp>(op->getParentOp());
}

/// The stablehlo ops the patterns rewrite one by one, in program order.
SmallVector<Operation *> opsToLower(Operation *root) {
  SmallVector<Operation *> ops;
  root->walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (isa<ShloDialect>(op->getDialect()) && !isLoweredWithParent(op))
      ops.push_back(op);
  });
  return ops;
}

/// Reports an op no pattern rewrites: a custom_call's target or an op out
/// of place.
void reportUnsupported(Operation *op) {
  if (auto custom = dyn_cast<CustomCallOp>(op))
    op->emitOpError("target '")
        << custom.getCallTargetName() << "' is not supported";
  else
    op->emitOpError("is not expected here");
}

struct LowerStablehloPass
    : hgc::impl::LowerStablehloPassBase<LowerStablehloPass> {
  // 1. Call each composite's decomposition.
  // 2. Reject element types arith cannot hold before a pattern builds on them.
  // 3. Rewrite the ops with the patterns; an op whose pattern fails stays,
  //    reported by that pattern.
  // 4. Report the ops left that no pattern rewrites.
  void runOnOperation() override {
    Operation *module = getOperation();
    callDecompositions(module);
    bool unsupportedTypes = false;
    for (Operation *op : opsToLower(module))
      unsupportedTypes |= failed(checkElementType(op));
    if (unsupportedTypes)
      return signalPassFailure();
    FrozenRewritePatternSet patterns = loweringPatterns();
    ConversionTarget target(getContext());
    addLegality(target);
    if (failed(applyPartialConversion(module, target, patterns)))
      return signalPassFailure();
    SmallVector<Operation *> leftOver = opsToLower(module);
    for (Operation *op : leftOver)
      if (!patterns.getOpSpecificNativePatterns().contains(op->getName()))
        reportUnsupported(op);
    if (!leftOver.empty())
      signalPassFailure();
  }

  FrozenRewritePatternSet loweringPatterns() {
    RewritePatternSet patterns(&getContext());
    populateStablehloElementwisePatterns(patterns);
    populateStablehloStructuralPatterns(patterns);
    populateStablehloSlicePatterns(patterns);
    populateStablehloGatherPatterns(patterns);
    populateStablehloScatterPatterns(patterns);
    populateStablehloControlFlowPatterns(patterns);
    return FrozenRewritePatternSet(std::move(patterns));
  }

  /// The stablehlo ops are not marked illegal: the driver would add its own
  /// error to each one a pattern has already reported, and stop at the
  /// first. The ops lowered with their parent are legal, so no pattern
  /// touches a reducer's body before the reduce takes it.
  static void addLegality(ConversionTarget &target) {
    target.addLegalDialect<arith::ArithDialect, func::FuncDialect,
                           linalg::LinalgDialect, math::MathDialect,
                           scf::SCFDialect, tensor::TensorDialect>();
    target.addDynamicallyLegalDialect<ShloDialect>(
        [](Operation *op) -> std::optional<bool> {
          if (isLoweredWithParent(op))
            return true;
          return std::nullopt;
        });
  }
};

} // namespace

void shlo::callDecompositions(Operation *root) {
  SmallVector<CompositeOp> composites;
  root->walk([&](CompositeOp op) { composites.push_back(op); });
  IRRewriter rewriter(root->getContext());
  for (CompositeOp composite : composites) {
    rewriter.setInsertionPoint(composite);
    auto call = func::CallOp::create(
        rewriter, composite.getLoc(), composite.getDecompositionAttr(),
        composite->getResultTypes(), composite.getInputs());
    rewriter.replaceOp(composite, call.getResults());
  }
}
