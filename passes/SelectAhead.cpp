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

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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
  llvm::SetVector<Value> inputs;
  op->walk([&](Operation *inner) {
    for (Value value : inner->getOperands()) {
      Operation *owner = value.getDefiningOp();
      Region *region = owner ? owner->getParentRegion()
                             : cast<BlockArgument>(value).getParentRegion();
      if (!op->isAncestor(region->getParentOp()) || region->getParentOp() == op)
        if (!owner || !op->isAncestor(owner))
          inputs.insert(value);
    }
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

/// Why layer `next`'s selection cannot move ahead of layer `previous`'s
/// attention, or null after moving it.
const char *selectAhead(DecodeAttentionOp previous, DecodeAttentionOp next,
                        BlockDataflow &flow) {
  PlacementAttr placement = next.getPlacementAttr();
  if (next.getPreselected() || !placement || placement.getTiers().size() != 2 ||
      placement.getTiers()[1].isDense() || !placement.getHeads().empty() ||
      placement.getTiers()[1].getSelection() == Selection::ChannelTopK)
    return "its placement selects nothing a step can take ahead";
  // The past the selection runs over: the cache's keys and values before
  // the step's own token was appended.
  auto bind = next.getCache().getDefiningOp<BindKVOp>();
  if (!bind || bind->getNumOperands() != 2)
    return "its cache is not past ++ current KV";
  auto keys = bind.getKey().getDefiningOp<tensor::ConcatOp>();
  auto values = bind.getValue().getDefiningOp<tensor::ConcatOp>();
  if (!keys || !values || keys.getDim() != 2 || values.getDim() != 2 ||
      keys.getInputs().size() != 2 || values.getInputs().size() != 2)
    return "its cache is not past ++ current KV";
  Value pastKeys = keys.getInputs()[0], pastValues = values.getInputs()[0];

  // 1. The residual stream layer `next`'s query is computed from: walking
  //    back from the query through what depends on the previous attention,
  //    the first residual add.
  DenseSet<Operation *> dependents = flow.getDependents(previous);
  auto dependent = [&](Value value) {
    Operation *owner = value.getDefiningOp();
    return owner && dependents.contains(owner);
  };
  Value stream = next.getQuery();
  while (!getResidualInput(stream, flow)) {
    Operation *op = stream.getDefiningOp();
    if (!op || !dependents.contains(op) || op == previous)
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
  Value before = stream;
  while (before && dependent(before))
    before = getResidualInput(before, flow);
  if (!before || before.getType() != stream.getType() ||
      (before.getDefiningOp() &&
       !flow.isBefore(before.getDefiningOp(), previous)))
    return "the residual stream before the previous layer is not found";

  // 3. The ops from the stream to the query, and the pure ops after the
  //    previous attention they also read, cloned before it with the earlier
  //    stream in place of the later one.
  DenseSet<Operation *> fromStream = flow.getDependents(stream.getDefiningOp());
  DenseSet<Operation *> toQuery = flow.getAncestors(next.getQuery());
  DenseSet<Operation *> toStream = flow.getAncestors(stream);
  SmallVector<Operation *> cloned;
  for (Operation *op = previous->getNextNode(); op; op = op->getNextNode()) {
    // What makes the later stream is replaced by the earlier one.
    if (!toQuery.contains(op) ||
        (toStream.contains(op) && dependents.contains(op)))
      continue;
    bool onPath = fromStream.contains(op) && op != stream.getDefiningOp();
    if (!onPath && (dependents.contains(op) || !isPure(op)))
      return "its query reads the previous layer other than through the "
             "residual stream";
    cloned.push_back(op);
  }
  for (Value input : {pastKeys, pastValues})
    if (Operation *owner = input.getDefiningOp();
        owner && !flow.isBefore(owner, previous))
      return "its cache's past is made after the previous layer";

  OpBuilder builder(previous);
  IRMapping mapping;
  mapping.map(stream, before);
  for (Operation *op : cloned)
    builder.clone(*op, mapping);
  Location loc = next.getLoc();
  Value pastCache = BindKVOp::create(
      builder, loc, next.getCache().getType(), pastKeys, pastValues,
      /*lengths=*/Value(), /*keyMin=*/Value(), /*keyMax=*/Value(),
      /*keyCodes=*/Value(), /*keyScales=*/Value(), /*pqCodes=*/Value(),
      /*pqCodebooks=*/Value(), /*channelKeys=*/Value(),
      /*valueSums=*/Value(), /*block_table=*/Value(),
      /*summary_block=*/IntegerAttr(), /*value_block=*/IntegerAttr(),
      /*kv_layout=*/StringAttr());
  RankedTensorType query = next.getQuery().getType();
  int64_t budget = placement.getTiers()[1].getBudgetTokens();
  auto candidatesType = RankedTensorType::get(
      {query.getDimSize(0), next.getCache().getType().getKvHeads(),
       budget > 0 ? budget : ShapedType::kDynamic},
      builder.getI32Type());
  Value candidates = PreselectOp::create(
      builder, loc, candidatesType, mapping.lookup(next.getQuery()), pastCache,
      next.getScaleAttr(), placement);
  next.getPreselectedMutable().assign(candidates);
  return nullptr;
}

struct SelectAheadPass : hgc::impl::SelectAheadPassBase<SelectAheadPass> {
  void runOnOperation() override {
    // Consecutive decode steps of one block: layer l, then layer l+1.
    DenseMap<Block *, SmallVector<DecodeAttentionOp>> steps;
    getOperation()->walk(
        [&](DecodeAttentionOp op) { steps[op->getBlock()].push_back(op); });
    for (auto &[block, ops] : steps) {
      for (size_t i = 1; i < ops.size(); ++i) {
        BlockDataflow flow(*block);
        if (const char *why = selectAhead(ops[i - 1], ops[i], flow)) {
          ops[i]->emitRemark("hgc-select-ahead: the step selects for itself: ")
              << why;
          continue;
        }
        ++movedSelections;
      }
    }
  }
};
} // namespace
