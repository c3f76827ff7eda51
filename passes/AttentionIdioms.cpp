//===- AttentionIdioms.cpp - attention as exporters write it --------------===//

#include "passes/AttentionIdioms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::raise;

std::optional<double> raise::getSplat(Value v) {
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

FailureOr<Contraction> raise::matchContraction(Operation *op) {
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
static Value lookThroughFlattenedTranspose(PatternRewriter &rewriter,
                                           Location loc, Value v) {
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

Value raise::transposeLastTwo(PatternRewriter &rewriter, Location loc,
                              Value v) {
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

Value raise::lookThroughHeadRepeat(Value v) {
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

bool raise::isRightAlignedBroadcast(AffineMap map, RankedTensorType type) {
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

Value raise::peelScale(Value v, double &scale) {
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

Value raise::getFloatCastSource(Value v) {
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

Value raise::peelFloatCasts(Value v) {
  while (Value source = getFloatCastSource(v))
    v = source;
  return v;
}

Value raise::castElements(PatternRewriter &rewriter, Location loc, Value v,
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

Value raise::matchNanGuard(Value probabilities) {
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

Value raise::matchSoftcap(Operation *op, double &softcap) {
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

bool raise::isScoresSide(Value v) {
  Operation *def = peelFloatCasts(v).getDefiningOp();
  return def &&
         (succeeded(matchContraction(def)) ||
          isa<arith::MulFOp, linalg::MulOp, arith::DivFOp, linalg::DivOp>(
              def) ||
          matchElementwise<arith::MulFOp>(def) ||
          matchElementwise<arith::DivFOp>(def));
}
