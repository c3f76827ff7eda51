//===- RaiseAttention.cpp - StableHLO attention to hgc.attention ---------===//
//
// Recognizes attention in what JAX emits, whatever the layout:
//
//   S = dot_general(Q, K)          contracting the head dim, batching over
//                                  (batch, KV head) or a subset of them
//   S = S * c | S / c              splat constants, any number
//   S = select(mask, S, -big)      or S + bias: at most one mask
//   S = transpose(S) | convert(S)  anywhere on the way
//   P = exp(S - max(S)) / sum(exp(S - max(S)))   over the key axis
//   P = convert(P)                 optional
//   Y = dot_general(P, V)          contracting the keys
//
// The axes are followed by label: each axis of Q, K and V is named by its role
// in the two dot_generals (batch, KV head, group, query position, key
// position, head dim), so BTNH, BNTH, GQA's extra group axis and the
// transposes XLA inserts all match. The match becomes Q, K, V (and the mask)
// transposed into hgc.attention's [B, H, T, D] layout, one hgc.attention,
// and its output transposed back into Y's layout. A softmax that is not part
// of such a pattern is left alone (it lowers exactly).
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "frontends/stablehlo/Invariance.h"
#include "frontends/stablehlo/Passes.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_RAISESTABLEHLOATTENTIONPASS
#include "frontends/stablehlo/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;
using hgc::AttentionOp;

namespace {

/// Roles of attention's axes.
enum Role : int { Batch, KvHead, Group, Query, Key, HeadDim, ValueDim };

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

/// Operand labels for `dot`: `lhs`/`rhs` are filled from a role per axis.
struct Mask {
  Value value; // on the logits' shape at its op
  SmallVector<int> labels;
  bool isSelect; // select(pred, S, fill) vs S + bias
  double fill;
};

struct RaiseAttention : OpRewritePattern<DotGeneralOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DotGeneralOp pv,
                                PatternRewriter &rewriter) const override {
    // P x V: one operand comes from a softmax (through a convert).
    int pSide = -1;
    std::optional<Softmax> softmax;
    for (int side = 0; side < 2 && !softmax; ++side) {
      Value p = pv->getOperand(side);
      if (auto convert = p.getDefiningOp<ConvertOp>())
        p = convert.getOperand();
      if (auto divide = p.getDefiningOp<DivideOp>())
        if ((softmax = matchSoftmax(divide)))
          pSide = side;
    }
    if (!softmax)
      return rewriter.notifyMatchFailure(pv, "no softmax operand");

    // Walk back from the logits to Q x K, collecting scale, mask, permutes.
    double scale = 1.0;
    std::optional<Mask> mask;
    SmallVector<Operation *> chain;
    Value at = softmax->logits;
    DotGeneralOp qk;
    while (!(qk = at.getDefiningOp<DotGeneralOp>())) {
      Operation *def = at.getDefiningOp();
      if (!def)
        return rewriter.notifyMatchFailure(pv, "logits not from a dot_general");
      chain.push_back(def);
      if (auto mul = dyn_cast<MultiplyOp>(def)) {
        std::optional<double> c = splatOf(mul.getRhs());
        at = mul.getLhs();
        if (!c) {
          c = splatOf(mul.getLhs());
          at = mul.getRhs();
        }
        if (!c)
          return rewriter.notifyMatchFailure(pv, "a non-constant scaling");
        scale *= *c;
      } else if (auto div = dyn_cast<DivideOp>(def)) {
        std::optional<double> c = splatOf(div.getRhs());
        if (!c || *c == 0)
          return rewriter.notifyMatchFailure(pv, "a non-constant division");
        scale /= *c;
        at = div.getLhs();
      } else if (auto select = dyn_cast<shlo::SelectOp>(def)) {
        std::optional<double> fill = splatOf(select.getOnFalse());
        if (mask || !fill || *fill > -1e30)
          return rewriter.notifyMatchFailure(pv, "not a masking select");
        mask = Mask{select.getPred(), {}, true, *fill};
        at = select.getOnTrue();
      } else if (auto add = dyn_cast<AddOp>(def)) {
        if (mask)
          return rewriter.notifyMatchFailure(pv, "two masks");
        // The bias is the side that does not lead back to a dot_general.
        auto leads = [](Value v) {
          for (Operation *op = v.getDefiningOp(); op;
               op = op->getNumOperands() ? op->getOperand(0).getDefiningOp()
                                         : nullptr)
            if (isa<DotGeneralOp>(op))
              return true;
          return false;
        };
        bool lhsScores = leads(add.getLhs());
        mask = Mask{lhsScores ? add.getRhs() : add.getLhs(), {}, false, 0};
        at = lhsScores ? add.getLhs() : add.getRhs();
      } else if (isa<TransposeOp, ConvertOp>(def)) {
        at = def->getOperand(0);
      } else {
        return rewriter.notifyMatchFailure(def, "unexpected on the logits");
      }
    }

    // Which dot_general operand is K: the one whose free axis the softmax
    // runs over.
    DotDimensionNumbersAttr qkDims = qk.getDotDimensionNumbers();
    if (qkDims.getLhsContractingDimensions().size() != 1)
      return rewriter.notifyMatchFailure(qk, "not one contracted head dim");
    auto placeholder = [](Value v) {
      return SmallVector<int>(cast<RankedTensorType>(v.getType()).getRank(),
                              -1);
    };
    // Provisional labels: a unique id per axis (lhs i -> i, rhs j -> 100+j).
    SmallVector<int> lhsIds = placeholder(qk.getLhs()),
                     rhsIds = placeholder(qk.getRhs());
    for (size_t i = 0; i < lhsIds.size(); ++i)
      lhsIds[i] = i;
    for (size_t j = 0; j < rhsIds.size(); ++j)
      rhsIds[j] = 100 + j;
    SmallVector<int> labels = resultLabels(qk, lhsIds, rhsIds);
    // Forward through the chain (collected backwards).
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
    int keyId = labels[softmax->axis];
    bool keyOnRhs = keyId >= 100;
    Value q = keyOnRhs ? qk.getLhs() : qk.getRhs();
    Value k = keyOnRhs ? qk.getRhs() : qk.getLhs();
    ArrayRef<int64_t> qBatch = keyOnRhs ? qkDims.getLhsBatchingDimensions()
                                        : qkDims.getRhsBatchingDimensions();
    ArrayRef<int64_t> kBatch = keyOnRhs ? qkDims.getRhsBatchingDimensions()
                                        : qkDims.getLhsBatchingDimensions();
    int64_t qHead = keyOnRhs ? qkDims.getLhsContractingDimensions()[0]
                             : qkDims.getRhsContractingDimensions()[0];
    int64_t kHead = keyOnRhs ? qkDims.getRhsContractingDimensions()[0]
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

    // Roles by provisional id.
    llvm::DenseMap<int, Role> role;
    auto idOf = [&](bool lhs, int64_t d) {
      return lhs ? int(d) : 100 + int(d);
    };
    bool qIsLhs = keyOnRhs;
    // Two batch axes: (batch, KV head); one: batch only. Both operands'
    // ids of a batch pair get the role (the result is labelled by the lhs).
    for (auto [i, qd, kd] : llvm::enumerate(qBatch, kBatch)) {
      Role r = i == 1 ? KvHead : Batch;
      role[idOf(qIsLhs, qd)] = r;
      role[idOf(!qIsLhs, kd)] = r;
    }
    // Rows: the query positions (a size-1 axis when there is one: decode)
    // and the GQA group.
    int64_t queryAxis = qFree.front(), groupAxis = -1;
    if (qFree.size() == 2) {
      bool secondIsQuery =
          qType.getDimSize(qFree[1]) == 1 && qType.getDimSize(qFree[0]) != 1;
      queryAxis = secondIsQuery ? qFree[1] : qFree[0];
      groupAxis = secondIsQuery ? qFree[0] : qFree[1];
      role[idOf(qIsLhs, groupAxis)] = Group;
    }
    role[idOf(qIsLhs, queryAxis)] = Query;
    role[keyId] = Key;

    // P x V: P's contracted axis is the key axis, V's batch axes pair with
    // P's batch axes, V has one free axis (the value dim).
    DotDimensionNumbersAttr pvDims = pv.getDotDimensionNumbers();
    ArrayRef<int64_t> pContract = pSide == 0
                                      ? pvDims.getLhsContractingDimensions()
                                      : pvDims.getRhsContractingDimensions();
    ArrayRef<int64_t> vContract = pSide == 0
                                      ? pvDims.getRhsContractingDimensions()
                                      : pvDims.getLhsContractingDimensions();
    ArrayRef<int64_t> pBatch = pSide == 0 ? pvDims.getLhsBatchingDimensions()
                                          : pvDims.getRhsBatchingDimensions();
    ArrayRef<int64_t> vBatch = pSide == 0 ? pvDims.getRhsBatchingDimensions()
                                          : pvDims.getLhsBatchingDimensions();
    Value v = pv->getOperand(1 - pSide);
    auto vType = cast<RankedTensorType>(v.getType());
    if (pContract.size() != 1 || labels[pContract[0]] != keyId ||
        pBatch.size() != qBatch.size() ||
        vType.getRank() != int64_t(vBatch.size()) + 2)
      return rewriter.notifyMatchFailure(pv, "not P x V over the keys");
    // Batch axes of P must be the Q/K batch axes.
    SmallVector<Role> vRoles(vType.getRank(), ValueDim);
    vRoles[vContract[0]] = Key;
    for (auto [p, vd] : llvm::zip(pBatch, vBatch)) {
      auto it = role.find(labels[p]);
      if (it == role.end() || (it->second != Batch && it->second != KvHead))
        return rewriter.notifyMatchFailure(pv, "P x V batches other axes");
      vRoles[vd] = it->second;
    }
    // K's roles: batch axes pair with Q's.
    SmallVector<Role> kRoles(kType.getRank(), Key);
    kRoles[kHead] = HeadDim;
    for (auto [qd, kd] : llvm::zip(qBatch, kBatch))
      kRoles[kd] = role[idOf(qIsLhs, qd)];
    SmallVector<Role> qRoles(qType.getRank(), HeadDim);
    for (int64_t d = 0; d < qType.getRank(); ++d)
      if (d != qHead)
        qRoles[d] = role[idOf(qIsLhs, d)];
    auto roleOfLabel = [&](int label) { return role.lookup(label); };

    Type element = qType.getElementType();
    auto resultType = cast<RankedTensorType>(pv.getType());
    if (kType.getElementType() != element ||
        vType.getElementType() != element ||
        resultType.getElementType() != element)
      return rewriter.notifyMatchFailure(pv, "mixed element types");

    // Sizes per role.
    llvm::DenseMap<int, int64_t> size;
    for (int64_t d = 0; d < qType.getRank(); ++d)
      size[qRoles[d]] = qType.getDimSize(d);
    for (int64_t d = 0; d < kType.getRank(); ++d)
      size[kRoles[d]] = kType.getDimSize(d);
    for (int64_t d = 0; d < vType.getRank(); ++d)
      size[vRoles[d]] = vType.getDimSize(d);
    auto sizeOf = [&](Role r) { return size.count(r) ? size[r] : 1; };

    // Every axis must have its own role among those its operand may have.
    auto arrangeable = [](ArrayRef<Role> roles, ArrayRef<Role> want) {
      for (auto [i, r] : llvm::enumerate(roles))
        if (!llvm::is_contained(want, r) || llvm::count(roles, r) != 1)
          return false;
      return true;
    };
    SmallVector<Role> maskRoles;
    if (mask)
      for (int label : mask->labels)
        maskRoles.push_back(roleOfLabel(label));
    if (!arrangeable(qRoles, {Batch, KvHead, Group, Query, HeadDim}) ||
        !arrangeable(kRoles, {Batch, KvHead, Key, HeadDim}) ||
        !arrangeable(vRoles, {Batch, KvHead, Key, ValueDim}) ||
        (mask && (mask->labels.empty() ||
                  !arrangeable(maskRoles, {Batch, KvHead, Group, Query, Key}))))
      return rewriter.notifyMatchFailure(pv, "axes without a unique role");

    // Back into P x V's layout: [B, KV heads, group, query, value dim] then
    // the result's axis order.
    SmallVector<int> pvLabels;
    {
      SmallVector<int> pLabels(labels);
      // Express both operands in role terms for resultLabels.
      SmallVector<int> pRoleLabels, vRoleLabels;
      for (int label : pLabels)
        pRoleLabels.push_back(1000 + int(roleOfLabel(label)));
      for (Role r : vRoles)
        vRoleLabels.push_back(1000 + int(r));
      pvLabels = pSide == 0 ? resultLabels(pv, pRoleLabels, vRoleLabels)
                            : resultLabels(pv, vRoleLabels, pRoleLabels);
    }
    SmallVector<Role> present = {Batch, KvHead, Group, Query, ValueDim};
    SmallVector<int64_t> split;
    for (Role r : present)
      split.push_back(sizeOf(r));
    SmallVector<Role> have = present;
    SmallVector<Role> want;
    for (int label : pvLabels)
      want.push_back(Role(label - 1000));
    // Roles the result lacks are unit axes of `grouped`: drop them.
    if (!arrangeable(want, have))
      return rewriter.notifyMatchFailure(pv, "P x V keeps other axes");
    SmallVector<int64_t> permutation;
    for (Role r : want)
      permutation.push_back(llvm::find(have, r) - have.begin());
    SmallVector<int64_t> rest;
    for (int64_t i = 0; i < int64_t(have.size()); ++i)
      if (!llvm::is_contained(permutation, i)) {
        if (split[i] != 1)
          return rewriter.notifyMatchFailure(pv, "an axis lost on the way");
        rest.push_back(i);
      }
    permutation.append(rest);
    SmallVector<int64_t> permuted;
    for (int64_t p : permutation)
      permuted.push_back(split[p]);
    Location loc = pv.getLoc();
    // `x` with roles `roles` in the order `want` (missing roles are unit
    // axes), reshaped to `shape`.
    auto arrange = [&](Value x, ArrayRef<Role> roles, ArrayRef<Role> want,
                       ArrayRef<int64_t> shape) -> Value {
      SmallVector<int64_t> permutation;
      for (Role r : want)
        for (auto [d, have] : llvm::enumerate(roles))
          if (have == r)
            permutation.push_back(d);
      auto type = cast<RankedTensorType>(x.getType());
      SmallVector<int64_t> permuted;
      for (int64_t p : permutation)
        permuted.push_back(type.getDimSize(p));
      auto permutedType =
          RankedTensorType::get(permuted, type.getElementType());
      Value t = x;
      if (!llvm::equal(permutation, llvm::seq<int64_t>(0, permutation.size())))
        t = TransposeOp::create(rewriter, loc, permutedType, x,
                                rewriter.getDenseI64ArrayAttr(permutation));
      auto shaped = RankedTensorType::get(shape, type.getElementType());
      if (shaped == t.getType())
        return t;
      return ReshapeOp::create(rewriter, loc, shaped, t);
    };
    int64_t b = sizeOf(Batch), hkv = sizeOf(KvHead), g = sizeOf(Group),
            t = sizeOf(Query), s = sizeOf(Key), d = sizeOf(HeadDim),
            dv = sizeOf(ValueDim);
    rewriter.setInsertionPoint(pv);
    Value query = arrange(q, qRoles, {Batch, KvHead, Group, Query, HeadDim},
                          {b, hkv * g, t, d});
    Value key =
        arrange(k, kRoles, {Batch, KvHead, Key, HeadDim}, {b, hkv, s, d});
    Value value =
        arrange(v, vRoles, {Batch, KvHead, Key, ValueDim}, {b, hkv, s, dv});
    Value bias;
    if (mask) {
      Value m = mask->value;
      auto maskType = cast<RankedTensorType>(m.getType());
      if (mask->isSelect) {
        // select(pred, S, fill) is S + select(pred, 0, fill): the additive
        // form keeps fully masked rows what JAX makes of them.
        auto biasType = RankedTensorType::get(maskType.getShape(), element);
        auto scalar = RankedTensorType::get({}, element);
        auto splat = [&](double x) -> Value {
          Value c = ConstantOp::create(
              rewriter, loc, scalar,
              DenseElementsAttr::get(scalar,
                                     rewriter.getFloatAttr(element, x)));
          return BroadcastInDimOp::create(rewriter, loc, biasType, c,
                                          rewriter.getDenseI64ArrayAttr({}));
        };
        double fill = std::max(mask->fill, -3.0e38);
        if (!element.isF32() && !element.isBF16())
          fill = std::max(fill, -6.0e4); // f16's range
        m = shlo::SelectOp::create(rewriter, loc, biasType, m, splat(0.0),
                                   splat(fill));
      } else if (maskType.getElementType() != element) {
        m = ConvertOp::create(
            rewriter, loc, RankedTensorType::get(maskType.getShape(), element),
            m);
      }
      bias = arrange(m, maskRoles, {Batch, KvHead, Group, Query, Key},
                     {b, hkv * g, t, s});
      // A mask the same for every head (JAX broadcasts a key-padding mask
      // over them) stays per key, [b, 1, t, s]: a decode step then binds
      // it as the cache's lengths instead of running dense.
      SmallVector<bool> same = getInvariantDims(mask->value);
      bool perKey = hkv * g > 1;
      for (auto [d, role] : llvm::enumerate(maskRoles))
        perKey &= (role != KvHead && role != Group) || same[d];
      if (perKey)
        bias = SliceOp::create(
            rewriter, loc, RankedTensorType::get({b, 1, t, s}, element), bias,
            rewriter.getDenseI64ArrayAttr({0, 0, 0, 0}),
            rewriter.getDenseI64ArrayAttr({b, 1, t, s}),
            rewriter.getDenseI64ArrayAttr({1, 1, 1, 1}));
    }
    auto outType = RankedTensorType::get({b, hkv * g, t, dv}, element);
    auto attention = AttentionOp::create(
        rewriter, loc, outType, Type(), Type(), Type(), query, key, value, bias,
        Value(), Value(), Value(), IntegerAttr(), IntegerAttr(),
        rewriter.getF32FloatAttr(scale), rewriter.getBoolAttr(false),
        rewriter.getF32FloatAttr(0.0f), rewriter.getI64IntegerAttr(0),
        IntegerAttr());
    Value grouped =
        ReshapeOp::create(rewriter, loc, RankedTensorType::get(split, element),
                          attention.getOutput());
    Value result = grouped;
    if (!llvm::equal(permutation, llvm::seq<int64_t>(0, permutation.size())))
      result = TransposeOp::create(
          rewriter, loc, RankedTensorType::get(permuted, element), grouped,
          rewriter.getDenseI64ArrayAttr(permutation));
    if (result.getType() != resultType)
      result = ReshapeOp::create(rewriter, loc, resultType, result);
    rewriter.replaceOp(pv, result);
    return success();
  }
};

struct RaiseStablehloAttentionPass
    : hgc::impl::RaiseStablehloAttentionPassBase<RaiseStablehloAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseAttention>(&getContext());
    // One rewrite per P x V; the dead softmax goes with canonicalization.
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    SmallVector<Operation *> dots;
    getOperation()->walk([&](DotGeneralOp op) { dots.push_back(op); });
    if (failed(applyOpPatternsGreedily(dots, std::move(patterns), config)))
      signalPassFailure();
  }
};

} // namespace
