//===- RaiseAttentionMatch.cpp - attention found in StableHLO -------------===//
//
// Follows attention from its P x V dot_general back through the softmax and
// the scaling and masking of the logits to Q x K, labelling each axis of Q,
// K and V with its role in the two dot_generals.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/RaiseAttentionMatch.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

namespace {

/// The splat value of `v` (a constant, possibly broadcast).
std::optional<double> splatOf(Value v) {
  while (auto broadcast = v.getDefiningOp<BroadcastInDimOp>())
    v = broadcast.getOperand();
  auto constant = v.getDefiningOp<ConstantOp>();
  if (!constant)
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
  if (!dense || !dense.isSplat() || !isa<FloatType>(dense.getElementType()))
    return std::nullopt;
  return dense.getSplatValue<APFloat>().convertToDouble();
}

/// `v` before broadcasts that only add back the dims a reduce removed:
/// the broadcast source must be `reduced` (the reduce over `dim`).
bool isReduceBroadcastBack(Value v, ReduceOp reduce) {
  Value source = v;
  while (auto broadcast = source.getDefiningOp<BroadcastInDimOp>())
    source = broadcast.getOperand();
  if (source != reduce.getResult(0))
    return false;
  // Every broadcast on the way keeps the source's axes in order.
  for (Value at = v; at != source;) {
    auto broadcast = at.getDefiningOp<BroadcastInDimOp>();
    ArrayRef<int64_t> dims = broadcast.getBroadcastDimensions();
    if (!llvm::is_sorted(dims))
      return false;
    at = broadcast.getOperand();
  }
  return true;
}

/// The single-input reduce of `v`'s producer chain with a body of one `OpTy`.
template <typename OpTy> ReduceOp matchReduce(Value v) {
  Value source = v;
  while (auto broadcast = source.getDefiningOp<BroadcastInDimOp>())
    source = broadcast.getOperand();
  auto reduce = source.getDefiningOp<ReduceOp>();
  if (!reduce || reduce.getInputs().size() != 1 ||
      reduce.getDimensions().size() != 1)
    return nullptr;
  Block &body = reduce.getBody().front();
  if (body.getOperations().size() != 2 || !isa<OpTy>(body.front()))
    return nullptr;
  return reduce;
}

/// A softmax over one axis: P = exp(X - M) / sum(exp(X - M)), M broadcast
/// along the axis (max X, in any layout).
struct Softmax {
  Value logits;
  int64_t axis;
};
std::optional<Softmax> matchSoftmax(DivideOp divide) {
  auto exp = divide.getLhs().getDefiningOp<ExpOp>();
  if (!exp)
    return std::nullopt;
  ReduceOp sum = matchReduce<AddOp>(divide.getRhs());
  if (!sum || sum.getInputs()[0] != exp.getResult() ||
      !isReduceBroadcastBack(divide.getRhs(), sum) ||
      !splatOf(sum.getInitValues()[0]) || *splatOf(sum.getInitValues()[0]) != 0)
    return std::nullopt;
  auto shifted = exp.getOperand().getDefiningOp<SubtractOp>();
  if (!shifted)
    return std::nullopt;
  Value logits = shifted.getLhs();
  int64_t axis = sum.getDimensions()[0];
  // exp(X - M) / sum exp(X - M) is softmax(X) for any M constant along the
  // axis (the max keeps it finite; XLA computes it in another layout).
  auto broadcast = shifted.getRhs().getDefiningOp<BroadcastInDimOp>();
  if (!broadcast)
    return std::nullopt;
  auto source = cast<RankedTensorType>(broadcast.getOperand().getType());
  for (auto [i, d] : llvm::enumerate(broadcast.getBroadcastDimensions()))
    if (d == axis && source.getDimSize(i) != 1)
      return std::nullopt;
  return Softmax{logits, sum.getDimensions()[0]};
}

/// Axis labels of a dot_general's result: batch dims as labelled by the
/// lhs, then lhs free, then rhs free dims.
SmallVector<int> resultLabels(DotGeneralOp dot, ArrayRef<int> lhs,
                              ArrayRef<int> rhs) {
  DotDimensionNumbersAttr dims = dot.getDotDimensionNumbers();
  SmallVector<int> labels;
  for (int64_t d : dims.getLhsBatchingDimensions())
    labels.push_back(lhs[d]);
  auto free = [&](ArrayRef<int> operand, ArrayRef<int64_t> batching,
                  ArrayRef<int64_t> contracting) {
    for (int64_t d = 0; d < int64_t(operand.size()); ++d)
      if (!llvm::is_contained(batching, d) &&
          !llvm::is_contained(contracting, d))
        labels.push_back(operand[d]);
  };
  free(lhs, dims.getLhsBatchingDimensions(),
       dims.getLhsContractingDimensions());
  free(rhs, dims.getRhsBatchingDimensions(),
       dims.getRhsContractingDimensions());
  return labels;
}

/// Whether `v`'s chain of first operands leads back to a dot_general: the
/// scores side of an addition, the other is the bias.
bool leadsToDotGeneral(Value v) {
  for (Operation *op = v.getDefiningOp(); op;
       op = op->getNumOperands() ? op->getOperand(0).getDefiningOp() : nullptr)
    if (isa<DotGeneralOp>(op))
      return true;
  return false;
}

/// Every axis has its own role among those its operand may have.
bool arrangeable(ArrayRef<Role> roles, ArrayRef<Role> want) {
  for (Role r : roles)
    if (!llvm::is_contained(want, r) || llvm::count(roles, r) != 1)
      return false;
  return true;
}

/// Provisional labels of Q x K's operand axes: lhs axis i is i, rhs axis j
/// is 100 + j.
constexpr int kRhsLabelBase = 100;
/// Labels of P x V's result axes in role terms: 1000 + role.
constexpr int kRoleLabelBase = 1000;

/// The matching steps, each filling in `match` and the state later steps
/// read.
class AttentionMatcher {
public:
  AttentionMatcher(DotGeneralOp pv, PatternRewriter &rewriter)
      : rewriter(rewriter) {
    match.pv = pv;
  }

  // 1. Find the softmax operand of P x V.
  // 2. Walk back from the logits to Q x K, collecting scale, mask, permutes.
  // 3. Label the logits' axes by Q x K's operand axes; the softmax's axis
  //    names K.
  // 4. Give Q's and K's axes their roles.
  // 5. Check P x V contracts the keys and give V's axes their roles.
  // 6. Check every axis has a role of its own and record sizes by role.
  // 7. Find where the output's axes go in P x V's result.
  FailureOr<AttentionMatch> run() {
    if (failed(findSoftmax()) || failed(walkLogits()) ||
        failed(labelLogits()) || failed(assignQueryKeyRoles()) ||
        failed(assignValueRoles()) || failed(checkRoles()) ||
        failed(findOutputLayout()))
      return failure();
    return std::move(match);
  }

private:
  LogicalResult findSoftmax();
  LogicalResult walkLogits();
  FailureOr<Value> stepBack(Operation *def);
  LogicalResult labelLogits();
  LogicalResult assignQueryKeyRoles();
  LogicalResult assignValueRoles();
  LogicalResult checkRoles();
  LogicalResult findOutputLayout();

  int labelOf(bool lhs, int64_t d) const {
    return lhs ? int(d) : kRhsLabelBase + int(d);
  }

  PatternRewriter &rewriter;
  AttentionMatch match;
  int pSide = -1;
  std::optional<Softmax> softmax;
  SmallVector<Operation *> chain; // from the logits back to Q x K
  DotGeneralOp qk;
  SmallVector<int> labels; // of the logits' axes
  int keyLabel = -1;
  bool qIsLhs = false;
  ArrayRef<int64_t> qBatch, kBatch;
  int64_t qHead = -1, kHead = -1;
  llvm::DenseMap<int, Role> role; // by label
};

LogicalResult AttentionMatcher::findSoftmax() {
  // One operand comes from a softmax (through a convert).
  for (int side = 0; side < 2 && !softmax; ++side) {
    Value p = match.pv->getOperand(side);
    if (auto convert = p.getDefiningOp<ConvertOp>())
      p = convert.getOperand();
    if (auto divide = p.getDefiningOp<DivideOp>())
      if ((softmax = matchSoftmax(divide)))
        pSide = side;
  }
  if (!softmax)
    return rewriter.notifyMatchFailure(match.pv, "no softmax operand");
  return success();
}

LogicalResult AttentionMatcher::walkLogits() {
  Value at = softmax->logits;
  while (!(qk = at.getDefiningOp<DotGeneralOp>())) {
    Operation *def = at.getDefiningOp();
    if (!def)
      return rewriter.notifyMatchFailure(match.pv,
                                         "logits not from a dot_general");
    chain.push_back(def);
    FailureOr<Value> before = stepBack(def);
    if (failed(before))
      return failure();
    at = *before;
  }
  return success();
}

/// The logits before `def`, folding a scaling into the scale and a masking
/// into the mask.
FailureOr<Value> AttentionMatcher::stepBack(Operation *def) {
  DotGeneralOp pv = match.pv;
  if (auto mul = dyn_cast<MultiplyOp>(def)) {
    std::optional<double> c = splatOf(mul.getRhs());
    Value at = mul.getLhs();
    if (!c) {
      c = splatOf(mul.getLhs());
      at = mul.getRhs();
    }
    if (!c)
      return rewriter.notifyMatchFailure(pv, "a non-constant scaling");
    match.scale *= *c;
    return at;
  }
  if (auto div = dyn_cast<DivideOp>(def)) {
    std::optional<double> c = splatOf(div.getRhs());
    if (!c || *c == 0)
      return rewriter.notifyMatchFailure(pv, "a non-constant division");
    match.scale /= *c;
    return div.getLhs();
  }
  if (auto select = dyn_cast<shlo::SelectOp>(def)) {
    std::optional<double> fill = splatOf(select.getOnFalse());
    if (match.mask || !fill || *fill > -1e30)
      return rewriter.notifyMatchFailure(pv, "not a masking select");
    match.mask = Mask{select.getPred(), {}, true, *fill};
    return select.getOnTrue();
  }
  if (auto add = dyn_cast<AddOp>(def)) {
    if (match.mask)
      return rewriter.notifyMatchFailure(pv, "two masks");
    bool lhsScores = leadsToDotGeneral(add.getLhs());
    match.mask = Mask{lhsScores ? add.getRhs() : add.getLhs(), {}, false, 0};
    return lhsScores ? add.getLhs() : add.getRhs();
  }
  if (isa<TransposeOp, ConvertOp>(def))
    return def->getOperand(0);
  return rewriter.notifyMatchFailure(def, "unexpected on the logits");
}

LogicalResult AttentionMatcher::labelLogits() {
  DotDimensionNumbersAttr qkDims = qk.getDotDimensionNumbers();
  if (qkDims.getLhsContractingDimensions().size() != 1)
    return rewriter.notifyMatchFailure(qk, "not one contracted head dim");
  auto operandLabels = [&](Value operand, bool lhs) {
    int64_t rank = cast<RankedTensorType>(operand.getType()).getRank();
    return llvm::map_to_vector(llvm::seq<int64_t>(0, rank),
                               [&](int64_t d) { return labelOf(lhs, d); });
  };
  labels = resultLabels(qk, operandLabels(qk.getLhs(), true),
                        operandLabels(qk.getRhs(), false));
  // Forward through the chain (collected backwards).
  std::optional<Mask> &mask = match.mask;
  for (Operation *op : llvm::reverse(chain)) {
    if (auto transpose = dyn_cast<TransposeOp>(op)) {
      SmallVector<int> permuted;
      for (int64_t p : transpose.getPermutation())
        permuted.push_back(labels[p]);
      labels = permuted;
    }
    if (mask &&
        (op->getOperand(0) == mask->value ||
         (op->getNumOperands() > 1 && op->getOperand(1) == mask->value) ||
         (isa<shlo::SelectOp>(op) &&
          cast<shlo::SelectOp>(op).getPred() == mask->value)))
      mask->labels = labels;
  }
  // K is the operand whose free axis the softmax runs over.
  keyLabel = labels[softmax->axis];
  qIsLhs = keyLabel >= kRhsLabelBase;
  return success();
}

LogicalResult AttentionMatcher::assignQueryKeyRoles() {
  DotDimensionNumbersAttr qkDims = qk.getDotDimensionNumbers();
  Value q = qIsLhs ? qk.getLhs() : qk.getRhs();
  Value k = qIsLhs ? qk.getRhs() : qk.getLhs();
  qBatch = qIsLhs ? qkDims.getLhsBatchingDimensions()
                  : qkDims.getRhsBatchingDimensions();
  kBatch = qIsLhs ? qkDims.getRhsBatchingDimensions()
                  : qkDims.getLhsBatchingDimensions();
  qHead = qIsLhs ? qkDims.getLhsContractingDimensions()[0]
                 : qkDims.getRhsContractingDimensions()[0];
  kHead = qIsLhs ? qkDims.getRhsContractingDimensions()[0]
                 : qkDims.getLhsContractingDimensions()[0];
  auto qType = cast<RankedTensorType>(q.getType());
  auto kType = cast<RankedTensorType>(k.getType());
  if (qBatch.size() > 2)
    return rewriter.notifyMatchFailure(qk, "more than two batch axes");
  // K: batch axes, one key axis, the head dim.
  if (kType.getRank() != int64_t(kBatch.size()) + 2)
    return rewriter.notifyMatchFailure(qk, "K has extra axes");
  SmallVector<int64_t> qFree;
  for (int64_t d = 0; d < qType.getRank(); ++d)
    if (!llvm::is_contained(qBatch, d) && d != qHead)
      qFree.push_back(d);
  if (qFree.empty() || qFree.size() > 2)
    return rewriter.notifyMatchFailure(qk, "Q needs 1 or 2 row axes");
  // Two batch axes: (batch, KV head); one: batch only. Both operands'
  // labels of a batch pair get the role (the result is labelled by the lhs).
  for (auto [i, qd, kd] : llvm::enumerate(qBatch, kBatch)) {
    Role r = i == 1 ? KvHead : Batch;
    role[labelOf(qIsLhs, qd)] = r;
    role[labelOf(!qIsLhs, kd)] = r;
  }
  // Rows: the query positions (a size-1 axis when there is one: decode)
  // and the GQA group.
  int64_t queryAxis = qFree.front();
  if (qFree.size() == 2) {
    bool secondIsQuery =
        qType.getDimSize(qFree[1]) == 1 && qType.getDimSize(qFree[0]) != 1;
    queryAxis = secondIsQuery ? qFree[1] : qFree[0];
    role[labelOf(qIsLhs, secondIsQuery ? qFree[0] : qFree[1])] = Group;
  }
  role[labelOf(qIsLhs, queryAxis)] = Query;
  role[keyLabel] = Key;
  // K's batch axes pair with Q's.
  match.query = q;
  match.key = k;
  match.keyRoles.assign(kType.getRank(), Key);
  match.keyRoles[kHead] = HeadDim;
  for (auto [qd, kd] : llvm::zip(qBatch, kBatch))
    match.keyRoles[kd] = role[labelOf(qIsLhs, qd)];
  match.queryRoles.assign(qType.getRank(), HeadDim);
  for (int64_t d = 0; d < qType.getRank(); ++d)
    if (d != qHead)
      match.queryRoles[d] = role[labelOf(qIsLhs, d)];
  return success();
}

LogicalResult AttentionMatcher::assignValueRoles() {
  // P's contracted axis is the key axis, V's batch axes pair with P's batch
  // axes, V has one free axis (the value dim).
  DotGeneralOp pv = match.pv;
  DotDimensionNumbersAttr pvDims = pv.getDotDimensionNumbers();
  bool pIsLhs = pSide == 0;
  ArrayRef<int64_t> pContract = pIsLhs ? pvDims.getLhsContractingDimensions()
                                       : pvDims.getRhsContractingDimensions();
  ArrayRef<int64_t> vContract = pIsLhs ? pvDims.getRhsContractingDimensions()
                                       : pvDims.getLhsContractingDimensions();
  ArrayRef<int64_t> pBatch = pIsLhs ? pvDims.getLhsBatchingDimensions()
                                    : pvDims.getRhsBatchingDimensions();
  ArrayRef<int64_t> vBatch = pIsLhs ? pvDims.getRhsBatchingDimensions()
                                    : pvDims.getLhsBatchingDimensions();
  match.value = pv->getOperand(1 - pSide);
  auto vType = cast<RankedTensorType>(match.value.getType());
  if (pContract.size() != 1 || labels[pContract[0]] != keyLabel ||
      pBatch.size() != qBatch.size() ||
      vType.getRank() != int64_t(vBatch.size()) + 2)
    return rewriter.notifyMatchFailure(pv, "not P x V over the keys");
  // Batch axes of P must be the Q/K batch axes.
  SmallVector<Role> &vRoles = match.valueRoles;
  vRoles.assign(vType.getRank(), ValueDim);
  vRoles[vContract[0]] = Key;
  for (auto [p, vd] : llvm::zip(pBatch, vBatch)) {
    auto it = role.find(labels[p]);
    if (it == role.end() || (it->second != Batch && it->second != KvHead))
      return rewriter.notifyMatchFailure(pv, "P x V batches other axes");
    vRoles[vd] = it->second;
  }
  return success();
}

LogicalResult AttentionMatcher::checkRoles() {
  auto qType = cast<RankedTensorType>(match.query.getType());
  auto kType = cast<RankedTensorType>(match.key.getType());
  auto vType = cast<RankedTensorType>(match.value.getType());
  match.element = qType.getElementType();
  Type element = match.element;
  if (kType.getElementType() != element || vType.getElementType() != element ||
      cast<RankedTensorType>(match.pv.getType()).getElementType() != element)
    return rewriter.notifyMatchFailure(match.pv, "mixed element types");
  auto recordSizes = [&](RankedTensorType type, ArrayRef<Role> roles) {
    for (int64_t d = 0; d < type.getRank(); ++d)
      match.sizes[roles[d]] = type.getDimSize(d);
  };
  recordSizes(qType, match.queryRoles);
  recordSizes(kType, match.keyRoles);
  recordSizes(vType, match.valueRoles);
  std::optional<Mask> &mask = match.mask;
  if (mask)
    for (int label : mask->labels)
      match.maskRoles.push_back(role.lookup(label));
  if (!arrangeable(match.queryRoles, {Batch, KvHead, Group, Query, HeadDim}) ||
      !arrangeable(match.keyRoles, {Batch, KvHead, Key, HeadDim}) ||
      !arrangeable(match.valueRoles, {Batch, KvHead, Key, ValueDim}) ||
      (mask &&
       (mask->labels.empty() ||
        !arrangeable(match.maskRoles, {Batch, KvHead, Group, Query, Key}))))
    return rewriter.notifyMatchFailure(match.pv, "axes without a unique role");
  return success();
}

LogicalResult AttentionMatcher::findOutputLayout() {
  DotGeneralOp pv = match.pv;
  // P x V's result axes in role terms.
  SmallVector<int> pRoleLabels, vRoleLabels;
  for (int label : labels)
    pRoleLabels.push_back(kRoleLabelBase + int(role.lookup(label)));
  for (Role r : match.valueRoles)
    vRoleLabels.push_back(kRoleLabelBase + int(r));
  SmallVector<int> pvLabels = pSide == 0
                                  ? resultLabels(pv, pRoleLabels, vRoleLabels)
                                  : resultLabels(pv, vRoleLabels, pRoleLabels);
  // The output as [B, KV heads, group, query, value dim], then the result's
  // axis order.
  SmallVector<Role> have = {Batch, KvHead, Group, Query, ValueDim};
  for (Role r : have)
    match.grouped.push_back(match.sizeOf(r));
  SmallVector<Role> want;
  for (int label : pvLabels)
    want.push_back(Role(label - kRoleLabelBase));
  if (!arrangeable(want, have))
    return rewriter.notifyMatchFailure(pv, "P x V keeps other axes");
  SmallVector<int64_t> &permutation = match.permutation;
  for (Role r : want)
    permutation.push_back(llvm::find(have, r) - have.begin());
  // Roles the result lacks are unit axes of the output: they go last.
  SmallVector<int64_t> rest;
  for (int64_t i = 0; i < int64_t(have.size()); ++i)
    if (!llvm::is_contained(permutation, i)) {
      if (match.grouped[i] != 1)
        return rewriter.notifyMatchFailure(pv, "an axis lost on the way");
      rest.push_back(i);
    }
  permutation.append(rest);
  for (int64_t p : permutation)
    match.permuted.push_back(match.grouped[p]);
  return success();
}

} // namespace

FailureOr<AttentionMatch> shlo::matchAttention(DotGeneralOp pv,
                                               PatternRewriter &rewriter) {
  return AttentionMatcher(pv, rewriter).run();
}
