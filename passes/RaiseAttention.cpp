//===- RaiseAttention.cpp - decomposed attention to hgc.attention --------===//
//
// Matches the graph an exporter writes for attention once it is in linalg:
//
//   S = contract(Q, K^T)            Q [B,H,Sq,D], K [B,H,T,D] (or K^T given)
//   S = S * c | S / c               splat constant, optional, repeatable
//   S = S + M                       mask of S's shape, optional
//   P = linalg.softmax(S, dim 3)
//   Y = contract(P, V)              V [B,H,T,Dv] (or V^T given)
//
// with K and V optionally expanded from fewer KV heads the way ONNX repeats
// them (linalg.broadcast of a group axis after the head axis, collapsed into
// the head axis). Contractions are recognized by their indexing maps, so named
// ops and linalg.generic both match. The result is one hgc.attention.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "passes/AttentionIdioms.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_RAISEATTENTIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::raise;

namespace {

/// What lies between Q K^T and the softmax, peeled off the scores: float
/// casts, splat scalings (folded into `scale`), a soft cap and an additive
/// mask.
struct ScoreTerms {
  /// The scores with every term peeled off: Q K^T when the graph is
  /// attention.
  Value scores;
  Value mask;
  double scale = 1.0, softcap = 0.0;

  explicit ScoreTerms(Value softmaxInput) : scores(softmaxInput) {}

  /// Peels terms off `scores` while each has no other use.
  void peelAll() {
    while (Operation *def = scores.getDefiningOp())
      if (!def->hasOneUse() || !peel(def))
        break;
  }

private:
  /// Peels `def`, the op defining `scores`; false when it is none of the
  /// terms, or one that cannot be peeled here.
  bool peel(Operation *def) {
    if (Value source = getFloatCastSource(scores)) {
      scores = source;
      return true;
    }
    if (std::optional<Elementwise> add = matchElementwise<arith::AddFOp>(def);
        add && !mask)
      return peelMaskAdd(*add);
    if (Value capped = matchSoftcap(def, softcap)) {
      // Scaling applied after the cap cannot become `scale`.
      if (scale != 1.0)
        return false;
      scores = capped;
      return true;
    }
    if (std::optional<Elementwise> mul = matchElementwise<arith::MulFOp>(def))
      return peelScaling(*mul);
    if (std::optional<Elementwise> div = matchElementwise<arith::DivFOp>(def))
      return peelDivision(div->x, div->y, div->xMap.isIdentity());
    if (isa<arith::AddFOp, linalg::AddOp>(def) && !mask)
      return peelNamedMaskAdd(def->getOperand(0), def->getOperand(1));
    if (isa<arith::MulFOp, linalg::MulOp>(def))
      return peelNamedScaling(def->getOperand(0), def->getOperand(1));
    if (isa<arith::DivFOp, linalg::DivOp>(def))
      return peelDivision(def->getOperand(0), def->getOperand(1),
                          /*xIsIdentity=*/true);
    return false;
  }

  /// scores + bias: the bias broadcasts into the scores' shape.
  bool peelMaskAdd(Elementwise add) {
    bool xScores = isScoresSide(add.x), yScores = isScoresSide(add.y);
    if (xScores == yScores)
      return false;
    if (yScores) {
      std::swap(add.x, add.y);
      std::swap(add.xMap, add.yMap);
    }
    auto biasType = dyn_cast<RankedTensorType>(add.y.getType());
    if (!add.xMap.isIdentity() || !biasType ||
        !isRightAlignedBroadcast(add.yMap, biasType))
      return false;
    std::optional<double> zero = getSplat(add.y);
    if (!zero || *zero != 0.0)
      mask = add.y; // an all-zero bias is no mask
    scores = add.x;
    return true;
  }

  /// scores * c or c * scores.
  bool peelScaling(const Elementwise &mul) {
    std::optional<double> c;
    if (mul.xMap.isIdentity() && (c = getSplat(mul.y))) {
      scale *= *c;
      scores = mul.x;
      return true;
    }
    if (mul.yMap.isIdentity() && (c = getSplat(mul.x))) {
      scale *= *c;
      scores = mul.y;
      return true;
    }
    return false;
  }

  /// x / c, with x read as is (`xIsIdentity`).
  bool peelDivision(Value x, Value y, bool xIsIdentity) {
    std::optional<double> c = getSplat(y);
    if (!xIsIdentity || !c || *c == 0.0)
      return false;
    scale /= *c;
    scores = x;
    return true;
  }

  /// A named add: the scores side comes from the contraction or its
  /// scaling, the other is the mask.
  bool peelNamedMaskAdd(Value x, Value y) {
    if (!isScoresSide(y) == !isScoresSide(x))
      return false;
    if (isScoresSide(y))
      std::swap(x, y);
    mask = y;
    scores = x;
    return true;
  }

  /// A named multiplication by a splat on either side.
  bool peelNamedScaling(Value x, Value y) {
    std::optional<double> c = getSplat(y);
    if (!c) {
      std::swap(x, y);
      c = getSplat(y);
    }
    if (!c)
      return false;
    scale *= *c;
    scores = x;
    return true;
  }
};

/// The P x V contraction a softmax's probabilities feed.
struct ProbabilitiesUser {
  Operation *op;
  Contraction contraction;
};

/// Q, K [B,Hkv,T,D] and V [B,Hkv,T,Dv] as hgc.attention reads them.
struct AttentionOperands {
  Value query, key, value;
};

struct RaiseSoftmaxAttention : OpRewritePattern<linalg::SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::SoftmaxOp softmax,
                                PatternRewriter &rewriter) const override {
    // 1. Match a 4-D softmax over keys whose probabilities (through a NaN
    //    guard) feed P x V.
    // 2. Peel casts, scalings, a soft cap and a mask off its input.
    // 3. Match Q x K^T under them, folding scalings of Q and K^T into the
    //    scale.
    // 4. Take Q, K and V in attention's layout and element type.
    // 5. Replace P x V with hgc.attention.
    FailureOr<ProbabilitiesUser> pv = matchProbabilitiesUser(softmax, rewriter);
    if (failed(pv))
      return failure();

    ScoreTerms terms(softmax.getInput());
    terms.peelAll();

    FailureOr<Contraction> qk = matchContraction(terms.scores.getDefiningOp());
    if (failed(qk))
      return rewriter.notifyMatchFailure(softmax, "no Q x K^T contraction");
    // Exporters may scale Q and K^T each by sqrt(scale) instead.
    qk->lhs = peelScale(qk->lhs, terms.scale);
    qk->rhs = peelScale(qk->rhs, terms.scale);
    auto maskType =
        terms.mask ? dyn_cast<RankedTensorType>(terms.mask.getType()) : nullptr;
    if (terms.mask && (!maskType || maskType.getRank() == 0 ||
                       !isa<FloatType>(maskType.getElementType())))
      return rewriter.notifyMatchFailure(softmax, "mask that is not float");

    // Checked before anything is built: a pattern that fails leaves the IR
    // as it found it. Transposes and head repeats keep the element type.
    Type elementType = getElementTypeOrSelf(peelFloatCasts(qk->lhs).getType());
    if (getElementTypeOrSelf(peelFloatCasts(qk->rhs).getType()) !=
            elementType ||
        getElementTypeOrSelf(peelFloatCasts(pv->contraction.rhs).getType()) !=
            elementType ||
        !isa<FloatType>(elementType))
      return rewriter.notifyMatchFailure(softmax, "mixed element types");

    Location loc = pv->op->getLoc();
    rewriter.setInsertionPoint(pv->op);
    AttentionOperands operands =
        getOperands(rewriter, loc, *qk, pv->contraction);
    replaceWithAttention(rewriter, pv->op, operands, terms);
    return success();
  }

private:
  /// The P x V contraction the probabilities of `softmax` feed.
  static FailureOr<ProbabilitiesUser>
  matchProbabilitiesUser(linalg::SoftmaxOp softmax, PatternRewriter &rewriter) {
    auto type = dyn_cast<RankedTensorType>(softmax.getInput().getType());
    if (!type || type.getRank() != 4 || softmax.getDimension() != 3)
      return rewriter.notifyMatchFailure(softmax,
                                         "not a 4-D softmax over keys");
    Value probabilities = softmax.getResult()[0];
    if (Value guarded = matchNanGuard(probabilities))
      probabilities = guarded;
    if (!probabilities.hasOneUse())
      return rewriter.notifyMatchFailure(softmax, "probabilities escape");
    Operation *pvOp = *probabilities.getUsers().begin();
    FailureOr<Contraction> pv = matchContraction(pvOp);
    if (failed(pv) || pv->lhs != probabilities)
      return rewriter.notifyMatchFailure(softmax,
                                         "softmax does not feed P x V");
    return ProbabilitiesUser{pvOp, *pv};
  }

  /// Q, K and V of the contractions `qk` and `pv`: f16/bf16 attention is
  /// computed with f32 accumulation, so the element type is Q's and K and V
  /// are read without the graph's widening casts; K and V are untransposed
  /// and, when both repeat heads the ONNX way, taken before the repeat.
  static AttentionOperands getOperands(PatternRewriter &rewriter, Location loc,
                                       const Contraction &qk,
                                       const Contraction &pv) {
    Value query = peelFloatCasts(qk.lhs);
    Value keySide = peelFloatCasts(qk.rhs);
    Value valueSide = peelFloatCasts(pv.rhs);
    Value key =
        qk.rhsIsTransposed ? keySide : transposeLastTwo(rewriter, loc, keySide);
    Value value = pv.rhsIsTransposed
                      ? transposeLastTwo(rewriter, loc, valueSide)
                      : valueSide;
    Value groupedKey = lookThroughHeadRepeat(key);
    Value groupedValue = lookThroughHeadRepeat(value);
    if ((groupedKey == key) == (groupedValue == value)) {
      key = groupedKey;
      value = groupedValue;
    }
    return {query, key, value};
  }

  /// Replaces `pvOp` with hgc.attention in Q's element type, cast back to
  /// P x V's.
  static void replaceWithAttention(PatternRewriter &rewriter, Operation *pvOp,
                                   const AttentionOperands &operands,
                                   const ScoreTerms &terms) {
    Location loc = pvOp->getLoc();
    auto pvType = cast<RankedTensorType>(pvOp->getResult(0).getType());
    Type elementType = getElementTypeOrSelf(operands.query.getType());
    Type resultType = pvType.clone(elementType);
    // An additive mask of another float type (an f32 mask beside f16
    // attention) in Q's type: 0 and -inf (or f32's lowest) stay exact.
    Value mask = terms.mask;
    if (mask && getElementTypeOrSelf(mask.getType()) != elementType)
      mask = castElements(rewriter, loc, mask, elementType);

    auto attention = AttentionOp::create(
        rewriter, loc, resultType, /*present_key=*/Type(),
        /*present_value=*/Type(), /*qk_matmul_output=*/Type(), operands.query,
        operands.key, operands.value, mask, /*past_key=*/Value(),
        /*past_value=*/Value(), /*nonpad_kv_seqlen=*/Value(),
        /*q_num_heads=*/IntegerAttr(), /*kv_num_heads=*/IntegerAttr(),
        rewriter.getF32FloatAttr(terms.scale), rewriter.getBoolAttr(false),
        rewriter.getF32FloatAttr(float(terms.softcap)),
        rewriter.getI64IntegerAttr(0), /*softmax_precision=*/IntegerAttr());
    rewriter.replaceOp(pvOp, castElements(rewriter, loc, attention.getOutput(),
                                          pvType.getElementType()));
  }
};

struct RaiseAttentionPass
    : hgc::impl::RaiseAttentionPassBase<RaiseAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseSoftmaxAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
