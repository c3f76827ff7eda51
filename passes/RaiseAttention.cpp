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
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_RAISEATTENTIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {

/// A batched contraction out = lhs x rhs over two batch dims, with its
/// operands in [batch0, batch1, rows, reduced] and [batch0, batch1, reduced,
/// cols] or transposed layouts.
struct Contraction {
  Value lhs, rhs;
  /// rhs is given as [b0, b1, cols, reduced] (e.g. K for Q K^T).
  bool rhsIsTransposed;
};

/// The splat float value of `v`, looking through linalg.fill.
std::optional<double> getSplat(Value v) {
  if (auto fill = v.getDefiningOp<linalg::FillOp>())
    v = fill.value();
  FloatAttr scalar;
  if (matchPattern(v, m_Constant(&scalar)))
    return scalar.getValueAsDouble();
  DenseElementsAttr dense;
  if (matchPattern(v, m_Constant(&dense)) && dense.isSplat() &&
      isa<FloatType>(dense.getElementType()))
    return dense.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

/// Matches `op` as a 4-D contraction with zero-initialized accumulator.
FailureOr<Contraction> matchContraction(Operation *op) {
  auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(op);
  if (!linalgOp || !linalg::isaContractionOpInterface(linalgOp) ||
      linalgOp.getNumDpsInputs() != 2 || linalgOp.getNumDpsInits() != 1)
    return failure();
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(linalgOp);
  if (failed(dims) || dims->batch.size() != 2 || dims->m.size() != 1 ||
      dims->n.size() != 1 || dims->k.size() != 1)
    return failure();
  std::optional<double> init = getSplat(linalgOp.getDpsInits()[0]);
  if (!init || *init != 0.0)
    return failure();
  MLIRContext *ctx = op->getContext();
  auto d = [&](unsigned pos) { return getAffineDimExpr(pos, ctx); };
  AffineExpr b0 = d(dims->batch[0]), b1 = d(dims->batch[1]), m = d(dims->m[0]),
             n = d(dims->n[0]), k = d(dims->k[0]);
  SmallVector<AffineMap> maps = linalgOp.getIndexingMapsArray();
  unsigned count = linalgOp.getNumLoops();
  auto is = [&](AffineMap map, ArrayRef<AffineExpr> exprs) {
    return map == AffineMap::get(count, 0, exprs, ctx);
  };
  if (!is(maps[2], {b0, b1, m, n}))
    return failure();
  for (int lhs = 0; lhs < 2; ++lhs) {
    AffineMap lhsMap = maps[lhs], rhsMap = maps[1 - lhs];
    if (!is(lhsMap, {b0, b1, m, k}))
      continue;
    Value lhsValue = linalgOp.getDpsInputs()[lhs];
    Value rhsValue = linalgOp.getDpsInputs()[1 - lhs];
    if (is(rhsMap, {b0, b1, k, n}))
      return Contraction{lhsValue, rhsValue, /*rhsIsTransposed=*/false};
    if (is(rhsMap, {b0, b1, n, k}))
      return Contraction{lhsValue, rhsValue, /*rhsIsTransposed=*/true};
  }
  return failure();
}

/// For 4-D `v` = expand_shape(transpose [0, 2, 1](collapse_shape(x))), the
/// leading axes of x flattened around a 3-D transpose of the last two (torch's
/// dynamo exporter writes K^T so): x with its leading axes regrouped as v's
/// and the last two not swapped; null when `v` is not that.
Value lookThroughFlattenedTranspose(PatternRewriter &rewriter, Location loc,
                                    Value v) {
  auto expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices> split = {{0, 1}, {2}, {3}};
  if (!expand || expand.getReassociationIndices() != split)
    return nullptr;
  auto transpose = expand.getSrc().getDefiningOp<linalg::TransposeOp>();
  if (!transpose || transpose.getPermutation() != ArrayRef<int64_t>{0, 2, 1})
    return nullptr;
  auto collapse = transpose.getInput().getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse)
    return nullptr;
  auto source = cast<RankedTensorType>(collapse.getSrcType());
  int64_t leading = source.getRank() - 2;
  SmallVector<ReassociationIndices> merged = collapse.getReassociationIndices();
  if (leading < 1 || merged.size() != 3 ||
      merged[0].size() != size_t(leading) || !source.hasStaticShape())
    return nullptr;
  auto type = cast<RankedTensorType>(v.getType());
  std::optional<SmallVector<ReassociationIndices>> groups =
      getReassociationIndicesForCollapse(source.getShape().take_front(leading),
                                         type.getShape().take_front(2));
  if (!groups)
    return nullptr;
  groups->push_back({leading});
  groups->push_back({leading + 1});
  return tensor::CollapseShapeOp::create(rewriter, loc, collapse.getSrc(),
                                         *groups);
}

/// Swaps the last two axes of a 4-D tensor.
Value transposeLastTwo(PatternRewriter &rewriter, Location loc, Value v) {
  if (auto transpose = v.getDefiningOp<linalg::TransposeOp>())
    if (transpose.getPermutation() == ArrayRef<int64_t>{0, 1, 3, 2})
      return transpose.getInput();
  if (Value unswapped = lookThroughFlattenedTranspose(rewriter, loc, v))
    return unswapped;
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, v);
  std::swap(sizes[2], sizes[3]);
  Value init =
      tensor::EmptyOp::create(rewriter, loc, sizes, type.getElementType());
  return linalg::TransposeOp::create(rewriter, loc, v, init,
                                     ArrayRef<int64_t>{0, 1, 3, 2})
      .getResult()[0];
}

/// The KV heads behind an ONNX-style head repeat ([h0, h0, h1, h1, ...]):
/// collapse_shape [[0], [1, 2], [3], [4]] of a broadcast adding axis 2.
Value lookThroughHeadRepeat(Value v) {
  auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse)
    return v;
  SmallVector<ReassociationIndices> groups = collapse.getReassociationIndices();
  SmallVector<ReassociationIndices> expected = {{0}, {1, 2}, {3}, {4}};
  if (groups != expected)
    return v;
  if (auto broadcast = collapse.getSrc().getDefiningOp<linalg::BroadcastOp>())
    return broadcast.getDimensions() == ArrayRef<int64_t>{2}
               ? broadcast.getInput()
               : v;
  // As imported from ONNX: Unsqueeze (expand_shape adding a unit axis 2),
  // Expand (a generic reading that axis at 0), Reshape.
  auto generic = collapse.getSrc().getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops())
    return v;
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  MLIRContext *ctx = v.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  AffineMap expectedMap = AffineMap::get(
      5, 0, {d(0), d(1), getAffineConstantExpr(0, ctx), d(3), d(4)}, ctx);
  if (&body.front() != yield.getOperation() ||
      yield.getValues()[0] != body.getArgument(0) ||
      generic.getIndexingMapsArray()[0] != expectedMap ||
      !generic.getIndexingMapsArray()[1].isIdentity())
    return v;
  auto expand =
      generic.getDpsInputs()[0].getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices> unsqueeze = {{0}, {1}, {2, 3}, {4}};
  if (!expand || expand.getReassociationIndices() != unsqueeze ||
      cast<RankedTensorType>(expand.getResultType()).getDimSize(2) != 1)
    return v;
  return expand.getSrc();
}

/// The single-block body of an all-parallel `generic` with identity output
/// map when it is one op of type `OpTy` yielded; null otherwise.
template <typename OpTy> OpTy getSoleBodyOp(linalg::GenericOp generic) {
  if (generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return nullptr;
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto inner = yield.getValues()[0].getDefiningOp<OpTy>();
  return inner && &body.front() == inner.getOperation() ? inner : nullptr;
}

/// A binary elementwise linalg.generic `out = x OP y` (all loops parallel,
/// identity output map, body one `OpTy` of the two inputs), as an exporter's
/// Mul/Add/Div imports: its operands and their indexing maps.
struct Elementwise {
  Value x, y;
  AffineMap xMap, yMap;
};
template <typename OpTy>
std::optional<Elementwise> matchElementwise(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 2)
    return std::nullopt;
  Block &body = generic.getRegion().front();
  OpTy inner = getSoleBodyOp<OpTy>(generic);
  if (!inner || inner->getOperand(0) != body.getArgument(0) ||
      inner->getOperand(1) != body.getArgument(1))
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  return Elementwise{generic.getDpsInputs()[0], generic.getDpsInputs()[1],
                     maps[0], maps[1]};
}

/// True when `map` reads a tensor of `type` broadcast numpy-style (aligned
/// to the right) over the loops: what hgc.attention's mask accepts.
bool isRightAlignedBroadcast(AffineMap map, RankedTensorType type) {
  int64_t loops = map.getNumDims(), rank = type.getRank();
  if (map.getNumResults() != rank || rank > loops)
    return false;
  for (int64_t i = 0; i < rank; ++i) {
    AffineExpr expr = map.getResult(i);
    if (expr == getAffineDimExpr(unsigned(loops - rank + i), map.getContext()))
      continue;
    auto constant = dyn_cast<AffineConstantExpr>(expr);
    if (!constant || constant.getValue() != 0 || type.getDimSize(i) != 1)
      return false;
  }
  return true;
}

/// `v` without a scaling by a splat constant (`v * c`, `c * v`), folding c
/// into `scale`; only when the scaling has no other use.
Value peelScale(Value v, double &scale) {
  Operation *def = v.getDefiningOp();
  if (!def || !def->hasOneUse())
    return v;
  std::optional<Elementwise> mul = matchElementwise<arith::MulFOp>(def);
  if (!mul)
    return v;
  if (std::optional<double> c = getSplat(mul->y); c && mul->xMap.isIdentity()) {
    scale *= *c;
    return mul->x;
  }
  if (std::optional<double> c = getSplat(mul->x); c && mul->yMap.isIdentity()) {
    scale *= *c;
    return mul->y;
  }
  return v;
}

/// The source of a float precision cast (`arith.extf`/`arith.truncf` in an
/// elementwise generic, as ONNX Cast and f16 MatMul's rounding import), or
/// null. Attention in f16 keeps its scores in f32 where the graph rounds
/// them to f16 in between: raising drops such round trips.
Value getFloatCastSource(Value v) {
  auto generic = v.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 1 ||
      !generic.getIndexingMapsArray()[0].isIdentity())
    return nullptr;
  Block &body = generic.getRegion().front();
  Operation *cast = getSoleBodyOp<arith::ExtFOp>(generic);
  if (!cast)
    cast = getSoleBodyOp<arith::TruncFOp>(generic);
  if (!cast || cast->getOperand(0) != body.getArgument(0))
    return nullptr;
  return generic.getDpsInputs()[0];
}

/// `v` with float precision casts peeled off.
Value peelFloatCasts(Value v) {
  while (Value source = getFloatCastSource(v))
    v = source;
  return v;
}

/// `v` with its float elements converted to `element` (extf or truncf).
Value castElements(PatternRewriter &rewriter, Location loc, Value v,
                   Type element) {
  auto type = cast<RankedTensorType>(v.getType());
  Type from = type.getElementType();
  if (from == element)
    return v;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, v);
  Value init = tensor::EmptyOp::create(rewriter, loc, sizes, element);
  unsigned rank = unsigned(type.getRank());
  SmallVector<AffineMap> maps(2, rewriter.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  bool wider = element.getIntOrFloatBitWidth() > from.getIntOrFloatBitWidth();
  return linalg::GenericOp::create(
             rewriter, loc, type.clone(element), ValueRange{v},
             ValueRange{init}, maps, iterators,
             [&](OpBuilder &b, Location loc, ValueRange args) {
               Value converted =
                   wider
                       ? Value(arith::ExtFOp::create(b, loc, element, args[0]))
                       : Value(
                             arith::TruncFOp::create(b, loc, element, args[0]));
               linalg::YieldOp::create(b, loc, converted);
             })
      .getResult(0);
}

/// The guard torch's exporters put after the softmax of scaled dot-product
/// attention, `where(isnan(p), 0, p)` (a fully masked row gives 0 instead
/// of NaN): its result when `probabilities` feeds exactly that. hgc.attention
/// already gives fully masked rows 0, so the guard folds into the raise.
Value matchNanGuard(Value probabilities) {
  if (!probabilities.hasNUses(2))
    return nullptr;
  linalg::GenericOp isNan, select;
  for (Operation *user : probabilities.getUsers()) {
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (!generic)
      return nullptr;
    (generic.getNumDpsInputs() == 1 ? isNan : select) = generic;
  }
  if (!isNan || !select || select.getNumDpsInputs() != 3 ||
      !isNan->hasOneUse() || *isNan->getUsers().begin() != select)
    return nullptr;
  auto compare = getSoleBodyOp<arith::CmpFOp>(isNan);
  Block &isNanBody = isNan.getRegion().front();
  if (!compare || compare.getPredicate() != arith::CmpFPredicate::UNO ||
      compare.getLhs() != isNanBody.getArgument(0) ||
      compare.getRhs() != isNanBody.getArgument(0) ||
      !isNan.getIndexingMapsArray()[0].isIdentity())
    return nullptr;
  auto choose = getSoleBodyOp<arith::SelectOp>(select);
  Block &selectBody = select.getRegion().front();
  SmallVector<AffineMap> maps = select.getIndexingMapsArray();
  SmallVector<Value> inputs = select.getDpsInputs();
  std::optional<double> zero = getSplat(inputs[1]);
  if (!choose || inputs[0] != isNan.getResult(0) ||
      inputs[2] != probabilities || !maps[0].isIdentity() ||
      !maps[2].isIdentity() || !zero || *zero != 0.0 ||
      choose.getCondition() != selectBody.getArgument(0) ||
      choose.getTrueValue() != selectBody.getArgument(1) ||
      choose.getFalseValue() != selectBody.getArgument(2))
    return nullptr;
  return select.getResult(0);
}

/// A soft cap `c * tanh(x / c)` (or `tanh(x * (1/c)) * c`), as Gemma-style
/// models write it between the two contractions: x, with `softcap` set to
/// c; null when `op` is not one or a cap was already found.
Value matchSoftcap(Operation *op, double &softcap) {
  std::optional<Elementwise> outer = matchElementwise<arith::MulFOp>(op);
  if (!outer || softcap != 0.0)
    return nullptr;
  Value capped = outer->x;
  std::optional<double> cap = getSplat(outer->y);
  if (!cap || !outer->xMap.isIdentity()) {
    capped = outer->y;
    cap = getSplat(outer->x);
    if (!cap || !outer->yMap.isIdentity())
      return nullptr;
  }
  auto tanh = capped.getDefiningOp<linalg::GenericOp>();
  if (!cap || *cap <= 0.0 || !tanh || !tanh->hasOneUse() ||
      tanh.getNumDpsInputs() != 1 ||
      !tanh.getIndexingMapsArray()[0].isIdentity() ||
      !getSoleBodyOp<math::TanhOp>(tanh))
    return nullptr;
  Operation *inner = tanh.getDpsInputs()[0].getDefiningOp();
  if (!inner || !inner->hasOneUse())
    return nullptr;
  // x / c or x * (1 / c), to f32 precision (the cap is stored as f32).
  auto sameCap = [&](double c) { return std::abs(c - *cap) <= 1e-6 * *cap; };
  if (std::optional<Elementwise> div = matchElementwise<arith::DivFOp>(inner))
    if (std::optional<double> c = getSplat(div->y);
        c && div->xMap.isIdentity() && sameCap(*c)) {
      softcap = *cap;
      return div->x;
    }
  if (std::optional<Elementwise> mul = matchElementwise<arith::MulFOp>(inner))
    if (std::optional<double> c = getSplat(mul->y);
        c && *c != 0.0 && mul->xMap.isIdentity() && sameCap(1.0 / *c)) {
      softcap = *cap;
      return mul->x;
    }
  return nullptr;
}

/// True for values on the Q K^T side of a mask add: the contraction itself
/// or a scaling of it.
bool isScoresSide(Value v) {
  Operation *def = peelFloatCasts(v).getDefiningOp();
  return def &&
         (succeeded(matchContraction(def)) ||
          isa<arith::MulFOp, linalg::MulOp, arith::DivFOp, linalg::DivOp>(
              def) ||
          matchElementwise<arith::MulFOp>(def) ||
          matchElementwise<arith::DivFOp>(def));
}

struct RaiseSoftmaxAttention : OpRewritePattern<linalg::SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::SoftmaxOp softmax,
                                PatternRewriter &rewriter) const override {
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

    // Walk back from the softmax input: mask add, scale muls/divs, QK.
    Value scores = softmax.getInput();
    Value mask;
    double scale = 1.0, softcap = 0.0;
    while (Operation *def = scores.getDefiningOp()) {
      if (!def->hasOneUse())
        break;
      auto binary = [&](Value &x, Value &y) {
        x = def->getOperand(0);
        y = def->getOperand(1);
      };
      Value x, y;
      if (Value source = getFloatCastSource(scores)) {
        scores = source;
        continue;
      }
      if (std::optional<Elementwise> add = matchElementwise<arith::AddFOp>(def);
          add && !mask) {
        // scores + bias: the bias broadcasts into the scores' shape.
        bool xScores = isScoresSide(add->x), yScores = isScoresSide(add->y);
        if (xScores == yScores)
          break;
        if (yScores) {
          std::swap(add->x, add->y);
          std::swap(add->xMap, add->yMap);
        }
        auto biasType = dyn_cast<RankedTensorType>(add->y.getType());
        if (!add->xMap.isIdentity() || !biasType ||
            !isRightAlignedBroadcast(add->yMap, biasType))
          break;
        std::optional<double> zero = getSplat(add->y);
        if (!zero || *zero != 0.0)
          mask = add->y; // an all-zero bias is no mask
        scores = add->x;
        continue;
      }
      if (Value capped = matchSoftcap(def, softcap)) {
        // Scaling applied after the cap cannot become `scale`.
        if (scale != 1.0)
          break;
        scores = capped;
        continue;
      }
      if (std::optional<Elementwise> mul =
              matchElementwise<arith::MulFOp>(def)) {
        std::optional<double> c;
        if (mul->xMap.isIdentity() && (c = getSplat(mul->y))) {
          scale *= *c;
          scores = mul->x;
          continue;
        }
        if (mul->yMap.isIdentity() && (c = getSplat(mul->x))) {
          scale *= *c;
          scores = mul->y;
          continue;
        }
        break;
      }
      if (std::optional<Elementwise> div =
              matchElementwise<arith::DivFOp>(def)) {
        std::optional<double> c = getSplat(div->y);
        if (!div->xMap.isIdentity() || !c || *c == 0.0)
          break;
        scale /= *c;
        scores = div->x;
        continue;
      }
      if (isa<arith::AddFOp, linalg::AddOp>(def) && !mask) {
        binary(x, y);
        // The scores side comes from the contraction or its scaling.
        if (!isScoresSide(y) == !isScoresSide(x))
          break;
        if (isScoresSide(y))
          std::swap(x, y);
        mask = y;
        scores = x;
        continue;
      }
      if (isa<arith::MulFOp, linalg::MulOp>(def)) {
        binary(x, y);
        std::optional<double> c = getSplat(y);
        if (!c) {
          std::swap(x, y);
          c = getSplat(y);
        }
        if (!c)
          break;
        scale *= *c;
        scores = x;
        continue;
      }
      if (isa<arith::DivFOp, linalg::DivOp>(def)) {
        binary(x, y);
        std::optional<double> c = getSplat(y);
        if (!c || *c == 0.0)
          break;
        scale /= *c;
        scores = x;
        continue;
      }
      break;
    }
    FailureOr<Contraction> qk = matchContraction(scores.getDefiningOp());
    if (failed(qk))
      return rewriter.notifyMatchFailure(softmax, "no Q x K^T contraction");
    // Exporters may scale Q and K^T each by sqrt(scale) instead.
    qk->lhs = peelScale(qk->lhs, scale);
    qk->rhs = peelScale(qk->rhs, scale);
    auto maskType = mask ? dyn_cast<RankedTensorType>(mask.getType()) : nullptr;
    if (mask && (!maskType || maskType.getRank() == 0 ||
                 !isa<FloatType>(maskType.getElementType())))
      return rewriter.notifyMatchFailure(softmax, "mask that is not float");

    Location loc = pvOp->getLoc();
    rewriter.setInsertionPoint(pvOp);
    // f16/bf16 attention computed with f32 accumulation: the element type
    // is Q's; K and V are read without the graph's widening casts.
    Value query = peelFloatCasts(qk->lhs);
    Value keySide = peelFloatCasts(qk->rhs);
    Value valueSide = peelFloatCasts(pv->rhs);
    Value key = qk->rhsIsTransposed ? keySide
                                    : transposeLastTwo(rewriter, loc, keySide);
    Value value = pv->rhsIsTransposed
                      ? transposeLastTwo(rewriter, loc, valueSide)
                      : valueSide;
    Value groupedKey = lookThroughHeadRepeat(key);
    Value groupedValue = lookThroughHeadRepeat(value);
    if ((groupedKey == key) == (groupedValue == value)) {
      key = groupedKey;
      value = groupedValue;
    }
    auto pvType = cast<RankedTensorType>(pvOp->getResult(0).getType());
    Type elementType = getElementTypeOrSelf(query.getType());
    if (getElementTypeOrSelf(key.getType()) != elementType ||
        getElementTypeOrSelf(value.getType()) != elementType ||
        !isa<FloatType>(elementType))
      return rewriter.notifyMatchFailure(softmax, "mixed element types");
    Type resultType = pvType.clone(elementType);
    // An additive mask of another float type (an f32 mask beside f16
    // attention) in Q's type: 0 and -inf (or f32's lowest) stay exact.
    if (mask && maskType.getElementType() != elementType)
      mask = castElements(rewriter, loc, mask, elementType);

    auto attention = AttentionOp::create(
        rewriter, loc, resultType, /*present_key=*/Type(),
        /*present_value=*/Type(), /*qk_matmul_output=*/Type(), query, key,
        value, mask, /*past_key=*/Value(), /*past_value=*/Value(),
        /*nonpad_kv_seqlen=*/Value(), /*q_num_heads=*/IntegerAttr(),
        /*kv_num_heads=*/IntegerAttr(), rewriter.getF32FloatAttr(scale),
        rewriter.getBoolAttr(false), rewriter.getF32FloatAttr(float(softcap)),
        rewriter.getI64IntegerAttr(0), /*softmax_precision=*/IntegerAttr());
    rewriter.replaceOp(pvOp, castElements(rewriter, loc, attention.getOutput(),
                                          pvType.getElementType()));
    return success();
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
