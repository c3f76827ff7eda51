//===- LowerStablehloControlFlow.cpp - while, case and if to scf ----------===//
//
// Loops and branches keep their regions: each region moves into the scf op
// as it is, only its stablehlo.return becomes scf's terminator. The ops
// inside stay stablehlo and are lowered afterwards by the same pass, so
// attention in a scanned layer is raised and placed like any other (one
// placement for the scan body, which every layer runs).
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

namespace {
/// The element of rank-0 tensor `v`.
Value scalarOf(OpBuilder &b, Location loc, Value v) {
  return tensor::ExtractOp::create(b, loc, v, ValueRange{});
}

/// Moves `from` into the empty `to` and ends it in scf.yield of what its
/// stablehlo.return returned.
void moveBranch(RewriterBase &rewriter, Region &from, Region &to) {
  rewriter.inlineRegionBefore(from, to, to.end());
  Operation *ret = to.front().getTerminator();
  rewriter.setInsertionPoint(ret);
  rewriter.replaceOpWithNewOp<scf::YieldOp>(ret, ret->getOperands());
}

void lowerWhile(RewriterBase &rewriter, WhileOp op) {
  Location loc = op.getLoc();
  auto loop =
      scf::WhileOp::create(rewriter, loc, op.getResultTypes(), op.getOperand());
  rewriter.inlineRegionBefore(op.getCond(), loop.getBefore(),
                              loop.getBefore().end());
  // cond returns the predicate only; scf.condition also forwards the
  // iteration values to the body.
  Block &before = loop.getBefore().front();
  Operation *ret = before.getTerminator();
  rewriter.setInsertionPoint(ret);
  Value predicate = scalarOf(rewriter, loc, ret->getOperand(0));
  rewriter.replaceOpWithNewOp<scf::ConditionOp>(ret, predicate,
                                                before.getArguments());
  moveBranch(rewriter, op.getBody(), loop.getAfter());
  rewriter.replaceOp(op, loop.getResults());
}

/// Branch `index`, the last for any index outside [0, branches): the
/// last branch is scf.index_switch's default.
void lowerCase(RewriterBase &rewriter, CaseOp op) {
  Location loc = op.getLoc();
  Value index =
      arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                 scalarOf(rewriter, loc, op.getIndex()));
  MutableArrayRef<Region> branches = op.getBranches();
  unsigned cases = branches.size() - 1;
  auto caseValues = llvm::to_vector(llvm::seq<int64_t>(0, cases));
  auto switchOp = scf::IndexSwitchOp::create(rewriter, loc, op.getResultTypes(),
                                             index, caseValues, cases);
  for (unsigned i = 0; i < cases; ++i)
    moveBranch(rewriter, branches[i], switchOp.getCaseRegions()[i]);
  moveBranch(rewriter, branches.back(), switchOp.getDefaultRegion());
  rewriter.replaceOp(op, switchOp.getResults());
}

void lowerIf(RewriterBase &rewriter, IfOp op) {
  Location loc = op.getLoc();
  auto ifOp = scf::IfOp::create(rewriter, loc, op.getResultTypes(),
                                scalarOf(rewriter, loc, op.getPred()),
                                /*addThenBlock=*/false,
                                /*addElseBlock=*/false);
  moveBranch(rewriter, op.getTrueBranch(), ifOp.getThenRegion());
  moveBranch(rewriter, op.getFalseBranch(), ifOp.getElseRegion());
  rewriter.replaceOp(op, ifOp.getResults());
}

/// The barrier only orders XLA's scheduling: its operands flow through.
void dropOptimizationBarrier(RewriterBase &rewriter, OptimizationBarrierOp op) {
  rewriter.replaceOp(op, op.getOperand());
}

/// Rewrites an op with `Lower`, which always succeeds.
template <typename OpTy, void (*Lower)(RewriterBase &, OpTy)>
struct RewriteWith : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Lower(rewriter, op);
    return success();
  }
};
} // namespace

void shlo::populateStablehloControlFlowPatterns(RewritePatternSet &patterns) {
  patterns.add<RewriteWith<WhileOp, lowerWhile>, RewriteWith<CaseOp, lowerCase>,
               RewriteWith<IfOp, lowerIf>,
               RewriteWith<OptimizationBarrierOp, dropOptimizationBarrier>>(
      patterns.getContext());
}
