//===- SelectAhead.cpp - a layer's selection from the layer before -------===//
//
// ScoutAttention selects layer l+1's host blocks while layer l runs, from a
// query predicted from layer l's residual input: layer l+1's own query
// computation (input norm, Wq, RoPE) applied to the residual stream before
// layer l instead of after it. This pass finds that structure between two
// decode steps of one block and rewrites it so: the query computation is
// cloned before layer l's attention with the residual input substituted,
// `hgc.preselect` runs layer l+1's selection there over its cache's past,
// and layer l+1's `hgc.decode_attention` takes the candidates as
// `preselected`. Where the structure is not found, the step keeps its own
// selection.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/SetOperations.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_SELECTAHEADPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// Values `op` reads that are defined outside it: its operands and those its
/// regions capture.
SmallVector<Value> getInputs(Operation *op) {
  auto definedInside = [&](Value value) {
    Operation *where = value.getDefiningOp();
    if (!where)
      where = cast<BlockArgument>(value).getOwner()->getParentOp();
    return where && op->isAncestor(where);
  };
  llvm::SetVector<Value> inputs;
  op->walk([&](Operation *inner) {
    for (Value value : inner->getOperands())
      if (!definedInside(value))
        inputs.insert(value);
  });
  return inputs.takeVector();
}

/// The ops of one block, with which of them read a given op's result,
/// directly or not.
class BlockDataflow {
public:
  explicit BlockDataflow(Block &block) {
    for (Operation &op : block)
      order[&op] = order.size();
  }

  /// The ops of the block that read `root`'s results, directly or not
  /// (`root` included).
  DenseSet<Operation *> getDependents(Operation *root) {
    DenseSet<Operation *> dependents = {root};
    for (Operation *op = root->getNextNode(); op; op = op->getNextNode())
      if (llvm::any_of(getInputs(op), [&](Value value) {
            Operation *owner = value.getDefiningOp();
            return owner && dependents.contains(owner);
          }))
        dependents.insert(op);
    return dependents;
  }

  /// The ops of the block `value` is computed from (its defining op
  /// included).
  DenseSet<Operation *> getAncestors(Value value) {
    DenseSet<Operation *> ancestors;
    SmallVector<Operation *> work;
    if (Operation *owner = value.getDefiningOp())
      work.push_back(owner);
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (!order.count(op) || !ancestors.insert(op).second)
        continue;
      for (Value input : getInputs(op))
        if (Operation *owner = input.getDefiningOp())
          work.push_back(owner);
    }
    return ancestors;
  }

  bool isBefore(Operation *a, Operation *b) const {
    return order.lookup(a) < order.lookup(b);
  }

private:
  DenseMap<Operation *, size_t> order;
};

/// `lhs + rhs` elementwise over equal shapes: the residual connection's
/// shape (a linalg.generic of two inputs, identity maps, adding them).
std::optional<std::pair<Value, Value>> matchAdd(Value value) {
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumDpsInits() != 1 ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return std::nullopt;
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || &body.front() != add.getOperation())
    return std::nullopt;
  Value a = body.getArgument(0), b = body.getArgument(1);
  if (!((add.getLhs() == a && add.getRhs() == b) ||
        (add.getLhs() == b && add.getRhs() == a)))
    return std::nullopt;
  return std::make_pair(generic.getDpsInputs()[0], generic.getDpsInputs()[1]);
}

/// The residual stream through a residual add: of `x + f(x)`, `x` (the
/// input the other one is computed from).
Value getResidualInput(Value value, BlockDataflow &flow) {
  std::optional<std::pair<Value, Value>> add = matchAdd(value);
  if (!add)
    return Value();
  auto [lhs, rhs] = *add;
  // Whether `of` is computed from `input` (an op's result or an argument).
  auto from = [&](Value input, Value of) {
    return llvm::any_of(flow.getAncestors(of), [&](Operation *op) {
      return llvm::is_contained(getInputs(op), input);
    });
  };
  if (from(lhs, rhs))
    return lhs;
  if (from(rhs, lhs))
    return rhs;
  return Value();
}

/// The past of KV made as `past ++ current` along the token axis (2), with
/// the current step's tokens last: a `tensor.concat`, or the insert_slice
/// pair canonicalization makes of one (past at 0 into an empty tensor, the
/// current tokens after it).
Value getPast(Value kv) {
  if (auto concat = kv.getDefiningOp<tensor::ConcatOp>())
    return concat.getDim() == 2 && concat.getInputs().size() == 2
               ? concat.getInputs()[0]
               : Value();
  auto current = kv.getDefiningOp<tensor::InsertSliceOp>();
  if (!current)
    return Value();
  auto past = current.getDest().getDefiningOp<tensor::InsertSliceOp>();
  if (!past || !past.getDest().getDefiningOp<tensor::EmptyOp>())
    return Value();
  auto zero = [](OpFoldResult value) { return isConstantIntValue(value, 0); };
  SmallVector<OpFoldResult> pastOffsets = past.getMixedOffsets(),
                            currentOffsets = current.getMixedOffsets();
  SmallVector<OpFoldResult> pastSizes = past.getMixedSizes();
  if (pastOffsets.size() != 4 || currentOffsets.size() != 4 ||
      !llvm::all_of(pastOffsets, zero) || !zero(currentOffsets[0]) ||
      !zero(currentOffsets[1]) || !zero(currentOffsets[3]) ||
      !past.hasUnitStride() || !current.hasUnitStride())
    return Value();
  // The current tokens start where the past ends.
  if (currentOffsets[2] != pastSizes[2] &&
      getConstantIntValue(currentOffsets[2]) !=
          getConstantIntValue(pastSizes[2]))
    return Value();
  if (getConstantIntValue(currentOffsets[2]) == std::nullopt &&
      currentOffsets[2] != pastSizes[2])
    return Value();
  return past.getSource();
}

/// Layer l+1's decode step as seen from the block that also holds layer l's
/// (or the op there holding it): the step itself, or the `scf.if` whose
/// then-block runs it (a run-time check: a query of run-time length, a mask
/// read per run).
struct StepInBlock {
  Operation *anchor = nullptr;
  scf::IfOp guard;
};

/// `previous` and `next` lifted to ops of one block (`next`'s at most one
/// `scf.if` up), or nothing.
std::optional<std::pair<Operation *, StepInBlock>>
liftToOneBlock(DecodeAttentionOp previous, DecodeAttentionOp next) {
  auto depth = [](Operation *op) {
    int n = 0;
    for (Operation *p = op->getParentOp(); p; p = p->getParentOp())
      ++n;
    return n;
  };
  Operation *p = previous, *n = next;
  while (p && n && p->getBlock() != n->getBlock()) {
    if (depth(p) >= depth(n))
      p = p->getParentOp();
    else
      n = n->getParentOp();
  }
  if (!p || !n || p->getBlock() != n->getBlock())
    return std::nullopt;
  StepInBlock step{n, nullptr};
  if (n != next.getOperation()) {
    auto guard = dyn_cast<scf::IfOp>(n);
    if (!guard || next->getBlock() != &guard.getThenRegion().front())
      return std::nullopt;
    step.guard = guard;
  }
  return std::make_pair(p, step);
}

/// Why layer `next`'s selection cannot move ahead of layer `previous`'s
/// attention, or null after moving it.
const char *selectAhead(DecodeAttentionOp previous, DecodeAttentionOp next) {
  PlacementAttr placement = next.getPlacementAttr();
  if (next.getPreselected() || !placement || placement.getTiers().size() != 2 ||
      placement.getTiers()[1].isDense() || !placement.getHeads().empty() ||
      placement.getTiers()[1].getSelection() == Selection::ChannelTopK)
    return "its placement selects nothing a step can take ahead";
  // The step's own token is in its window: the past without it, under a
  // window one token shorter, has exactly the step's host tokens.
  if (placement.getWindow() == 0)
    return "its placement has no window: the step's own token would be a "
           "host token the past does not hold";
  PlacementAttr pastPlacement = PlacementAttr::get(
      placement.getContext(), placement.getSink(), placement.getWindow() - 1,
      placement.getTiers(), placement.getHeads());
  auto lifted = liftToOneBlock(previous, next);
  if (!lifted)
    return "it and the step before are in different regions";
  auto [before, step] = *lifted;
  Block *block = before->getBlock();
  Block *guarded = step.guard ? &step.guard.getThenRegion().front() : nullptr;
  BlockDataflow flow(*block);

  // The past the selection runs over: the cache's keys and values before
  // the step's own token was appended (and a sequence's valid tokens less
  // that token, with lengths).
  auto bind = next.getCache().getDefiningOp<BindKVOp>();
  if (!bind || bind.getKeyMin() || bind.getKeyCodes() || bind.getPqCodes() ||
      bind.getChannelKeys() || bind.getValueSums() || bind.getBlockTable())
    return "its cache is not past ++ current KV";
  Value pastKeys = getPast(bind.getKey()),
        pastValues = getPast(bind.getValue());
  if (!pastKeys || !pastValues)
    return "its cache is not past ++ current KV";
  Value lengths = bind.getLengths();

  // Whether a value of the block, or of the step's guarded block, is
  // computed from the previous layer's attention.
  DenseSet<Operation *> dependents = flow.getDependents(before);
  std::function<bool(Value)> dependent = [&](Value value) {
    Operation *owner = value.getDefiningOp();
    if (!owner)
      return false;
    if (owner->getBlock() == guarded)
      return llvm::any_of(getInputs(owner), dependent);
    return dependents.contains(owner);
  };

  // 1. The residual stream layer `next`'s query is computed from: walking
  //    back from the query (through the guarded block to the value of the
  //    block it reads) through what depends on the previous attention, the
  //    first residual add.
  Value stream = next.getQuery();
  while (guarded && stream.getDefiningOp() &&
         stream.getDefiningOp()->getBlock() == guarded) {
    SmallVector<Value> inputs =
        llvm::filter_to_vector(getInputs(stream.getDefiningOp()), dependent);
    if (inputs.size() != 1)
      return "its query does not come from a residual stream";
    stream = inputs.front();
  }
  while (!getResidualInput(stream, flow)) {
    Operation *op = stream.getDefiningOp();
    if (!op || !dependents.contains(op) || op == before)
      return "its query does not come from a residual stream";
    SmallVector<Value> inputs =
        llvm::filter_to_vector(getInputs(op), dependent);
    // Several inputs (a norm reads x and sum(x^2)): the latest op all of
    // them are computed from.
    DenseSet<Operation *> common = flow.getAncestors(inputs.front());
    for (Value input : ArrayRef(inputs).drop_front()) {
      DenseSet<Operation *> ancestors = flow.getAncestors(input);
      llvm::set_intersect(common, ancestors);
    }
    Operation *latest = nullptr;
    for (Operation *candidate : common)
      if (dependents.contains(candidate) &&
          (!latest || flow.isBefore(latest, candidate)))
        latest = candidate;
    if (!latest || latest->getNumResults() != 1)
      return "its query does not come from a residual stream";
    stream = latest->getResult(0);
  }
  // 2. That stream before the previous layer: residual inputs back to one
  //    that does not depend on the previous attention.
  Value earlier = stream;
  while (earlier && dependent(earlier))
    earlier = getResidualInput(earlier, flow);
  if (!earlier || earlier.getType() != stream.getType() ||
      (earlier.getDefiningOp() &&
       (earlier.getDefiningOp()->getBlock() != block ||
        !flow.isBefore(earlier.getDefiningOp(), before))))
    return "the residual stream before the previous layer is not found";

  // 3. What the selection needs that is computed after the previous
  //    attention: in the guarded block, the query's last steps (a cast to one
  //    token, its rows); in the block, the path from the stream to the query
  //    and the pure ops it also reads (the run-time check and lengths
  //    included), cloned before the previous attention with the earlier
  //    stream in place of the later one.
  SmallVector<Value> needs = {next.getQuery(), pastKeys, pastValues};
  if (lengths)
    needs.push_back(lengths);
  if (step.guard)
    needs.push_back(step.guard.getCondition());
  DenseSet<Operation *> inner;
  SmallVector<Value> outerNeeds;
  for (size_t i = 0; i < needs.size(); ++i) {
    Operation *owner = needs[i].getDefiningOp();
    if (owner && owner->getBlock() == guarded) {
      if (!isMemoryEffectFree(owner))
        return "its query is made with side effects";
      if (inner.insert(owner).second)
        llvm::append_range(needs, getInputs(owner));
    } else {
      // Of the block, or of a block around it.
      outerNeeds.push_back(needs[i]);
    }
  }
  DenseSet<Operation *> fromStream = flow.getDependents(stream.getDefiningOp());
  DenseSet<Operation *> toStream = flow.getAncestors(stream);
  DenseSet<Operation *> wanted;
  for (Value value : outerNeeds) {
    DenseSet<Operation *> ancestors = flow.getAncestors(value);
    wanted.insert(ancestors.begin(), ancestors.end());
  }
  SmallVector<Operation *> outer;
  for (Operation *op = before->getNextNode(); op; op = op->getNextNode()) {
    // What makes the later stream is replaced by the earlier one.
    if (!wanted.contains(op) ||
        (toStream.contains(op) && dependents.contains(op)))
      continue;
    bool onPath = fromStream.contains(op) && op != stream.getDefiningOp();
    if (!onPath && (dependents.contains(op) || !isMemoryEffectFree(op)))
      return "its query reads the previous layer other than through the "
             "residual stream";
    outer.push_back(op);
  }

  OpBuilder builder(before);
  Location loc = next.getLoc();
  IRMapping mapping;
  mapping.map(stream, earlier);
  for (Operation *op : outer)
    builder.clone(*op, mapping);
  RankedTensorType query = next.getQuery().getType();
  int64_t budget = placement.getTiers()[1].getBudgetTokens();
  int64_t kvHeads = next.getCache().getType().getKvHeads();
  auto selectedType = RankedTensorType::get(
      {query.getDimSize(0), kvHeads,
       budget > 0 && !step.guard ? budget : ShapedType::kDynamic},
      builder.getI32Type());
  // The selection over the past, where `builder` is.
  auto emitSelection = [&]() -> Value {
    if (guarded)
      for (Operation &op : *guarded)
        if (inner.contains(&op))
          builder.clone(op, mapping);
    Value pastLengths;
    if (lengths) {
      // The step's token is each sequence's last valid one.
      Value all = mapping.lookupOrDefault(lengths);
      auto type = cast<RankedTensorType>(all.getType());
      Value one = arith::ConstantIntOp::create(builder, loc, 1, 32);
      SmallVector<Value> sizes;
      if (type.isDynamicDim(0))
        sizes.push_back(tensor::DimOp::create(builder, loc, all, 0));
      Value init = tensor::EmptyOp::create(builder, loc, type.getShape(),
                                           type.getElementType(), sizes);
      AffineMap identity = builder.getMultiDimIdentityMap(1);
      pastLengths =
          linalg::GenericOp::create(
              builder, loc, type, all, init,
              ArrayRef<AffineMap>{identity, identity},
              ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
              [&](OpBuilder &b, Location l, ValueRange args) {
                linalg::YieldOp::create(
                    b, l,
                    arith::SubIOp::create(b, l, args[0], one).getResult());
              })
              .getResult(0);
    }
    Value pastCache = BindKVOp::create(
        builder, loc, next.getCache().getType(),
        mapping.lookupOrDefault(pastKeys), mapping.lookupOrDefault(pastValues),
        pastLengths, /*keyMin=*/Value(), /*keyMax=*/Value(),
        /*keyCodes=*/Value(), /*keyScales=*/Value(), /*pqCodes=*/Value(),
        /*pqCodebooks=*/Value(), /*channelKeys=*/Value(),
        /*valueSums=*/Value(), /*block_table=*/Value(),
        /*summary_block=*/IntegerAttr(), /*value_block=*/IntegerAttr(),
        /*kv_layout=*/StringAttr());
    auto preselectType =
        RankedTensorType::get({query.getDimSize(0), kvHeads,
                               budget > 0 ? budget : ShapedType::kDynamic},
                              builder.getI32Type());
    Value candidates = PreselectOp::create(
        builder, loc, preselectType, mapping.lookup(next.getQuery()), pastCache,
        next.getScaleAttr(), pastPlacement);
    if (candidates.getType() != selectedType)
      candidates =
          tensor::CastOp::create(builder, loc, selectedType, candidates);
    return candidates;
  };
  Value candidates;
  if (!step.guard) {
    candidates = emitSelection();
  } else {
    // Only when the step runs (its own run-time check); no candidates
    // otherwise.
    auto ahead =
        scf::IfOp::create(builder, loc, TypeRange{selectedType},
                          mapping.lookupOrDefault(step.guard.getCondition()),
                          /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard insertion(builder);
      builder.setInsertionPointToStart(&ahead.getThenRegion().front());
      scf::YieldOp::create(builder, loc, emitSelection());
      builder.setInsertionPointToStart(&ahead.getElseRegion().front());
      SmallVector<Value> sizes;
      // The batch: the residual stream's first dimension.
      if (selectedType.isDynamicDim(0))
        sizes.push_back(tensor::DimOp::create(builder, loc, earlier, 0));
      SmallVector<int64_t> shape(selectedType.getShape());
      shape[2] = 0;
      Value none = tensor::EmptyOp::create(builder, loc, shape,
                                           builder.getI32Type(), sizes);
      scf::YieldOp::create(
          builder, loc,
          tensor::CastOp::create(builder, loc, selectedType, none).getResult());
    }
    candidates = ahead.getResult(0);
  }
  next.getPreselectedMutable().assign(candidates);
  return nullptr;
}

struct SelectAheadPass : hgc::impl::SelectAheadPassBase<SelectAheadPass> {
  void runOnOperation() override {
    // Consecutive decode steps: layer l, then layer l+1.
    SmallVector<DecodeAttentionOp> steps;
    getOperation()->walk([&](DecodeAttentionOp op) { steps.push_back(op); });
    for (size_t i = 1; i < steps.size(); ++i) {
      DecodeAttentionOp previous = steps[i - 1], next = steps[i];
      if (const char *why = selectAhead(previous, next))
        next->emitRemark("hgc-select-ahead: the step selects for itself: ")
            << why;
      else
        ++movedSelections;
    }
  }
};
} // namespace
