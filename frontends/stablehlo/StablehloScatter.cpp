//===- StablehloScatter.cpp - scatter: attribute, verifier, lowering -----===//
//
// `stablehlo.scatter` with one operand, in the forms JAX emits for cache
// writes (`vmap` of dynamic_update_slice: each sequence's new token at its
// own position) and scatter-adds: the specification's index mapping (update
// scatter dims index the scatter indices, update window dims the window,
// batching dims pair up), updates whose window falls outside the operand
// skipped (as XLA does), and a combiner that replaces or is one
// elementwise op. Lowered to a loop nest over the updates on the result
// tensor, in order, so repeated indices combine deterministically.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

namespace {
const StringRef kLists[] = {
    "update_window_dims", "inserted_window_dims", "input_batching_dims",
    "scatter_indices_batching_dims", "scatter_dims_to_operand_dims"};
constexpr StringLiteral kIndexVectorDim = "index_vector_dim";

bool isIn(ArrayRef<int64_t> list, int64_t value) {
  return llvm::is_contained(list, value);
}

/// Operand dims the update window spans (not inserted, not batching).
SmallVector<int64_t> windowDimsOf(ScatterDimensionNumbersAttr numbers,
                                  int64_t rank) {
  SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (!isIn(numbers.getInsertedWindowDims(), d) &&
        !isIn(numbers.getInputBatchingDims(), d))
      dims.push_back(d);
  return dims;
}

/// The combiner's op: null for a body returning the update (replace), the
/// one elementwise op of both arguments otherwise; failure for any other.
FailureOr<Operation *> combinerOf(ScatterOp op) {
  Block &body = op.getUpdateComputation().front();
  if (body.getNumArguments() != 2)
    return failure();
  Operation *terminator = returnOf(op.getUpdateComputation());
  if (!terminator || terminator->getNumOperands() != 1)
    return failure();
  Value returned = terminator->getOperand(0);
  if (returned == body.getArgument(1))
    return static_cast<Operation *>(nullptr);
  Operation *combine = returned.getDefiningOp();
  if (!combine || &body.front() != combine ||
      combine->getNextNode() != terminator || combine->getNumOperands() != 2 ||
      !llvm::all_of(combine->getOperands(),
                    [&](Value v) { return isa<BlockArgument>(v); }) ||
      !isa<AddOp, MultiplyOp, MaximumOp, MinimumOp>(combine))
    return failure();
  return combine;
}
} // namespace

Attribute ScatterDimensionNumbersAttr::parse(AsmParser &parser, Type) {
  SmallVector<SmallVector<int64_t>> lists;
  int64_t indexVectorDim = 0;
  if (parseDimensionFields(parser, kLists, kIndexVectorDim, "scatter dimension",
                           lists, indexVectorDim))
    return {};
  return get(parser.getContext(), lists[0], lists[1], lists[2], lists[3],
             lists[4], indexVectorDim);
}

void ScatterDimensionNumbersAttr::print(AsmPrinter &printer) const {
  ArrayRef<int64_t> lists[] = {
      getUpdateWindowDims(), getInsertedWindowDims(), getInputBatchingDims(),
      getScatterIndicesBatchingDims(), getScatterDimsToOperandDims()};
  printDimensionFields(printer, kLists, lists, kIndexVectorDim,
                       getIndexVectorDim());
}

LogicalResult ScatterOp::verify() {
  auto operand = cast<RankedTensorType>(getOperand().getType());
  auto indices = cast<RankedTensorType>(getScatterIndices().getType());
  auto updates = cast<RankedTensorType>(getUpdates().getType());
  ScatterDimensionNumbersAttr numbers = getScatterDimensionNumbers();
  int64_t rank = operand.getRank(), ivd = numbers.getIndexVectorDim();
  if (!operand.hasStaticShape() || !indices.hasStaticShape() ||
      !updates.hasStaticShape() || !isa<IntegerType>(indices.getElementType()))
    return emitOpError("needs static shapes and integer scatter indices");
  if (getType() != operand)
    return emitOpError("result ") << getType() << " is not the operand's type";
  if (updates.getElementType() != operand.getElementType())
    return emitOpError("updates ") << updates << " do not match " << operand;
  if (ivd < 0 || ivd > indices.getRank())
    return emitOpError("index_vector_dim ")
           << ivd << " is outside the scatter indices' rank";
  int64_t vector = ivd == indices.getRank() ? 1 : indices.getDimSize(ivd);
  ArrayRef<int64_t> map = numbers.getScatterDimsToOperandDims(),
                    window = numbers.getUpdateWindowDims();
  if (int64_t(map.size()) != vector)
    return emitOpError("scatter_dims_to_operand_dims has ")
           << map.size() << " dims for index vectors of " << vector;
  for (ArrayRef<int64_t> dims :
       {map, numbers.getInsertedWindowDims(), numbers.getInputBatchingDims()})
    for (auto [i, d] : llvm::enumerate(dims))
      if (d < 0 || d >= rank || isIn(dims.take_front(i), d))
        return emitOpError("invalid or repeated operand dim ") << d;
  SmallVector<int64_t> windowDims = windowDimsOf(numbers, rank);
  if (window.size() != windowDims.size() ||
      llvm::adjacent_find(window, std::greater_equal<int64_t>()) !=
          window.end())
    return emitOpError("update_window_dims must be sorted, unique, one per "
                       "window dim of the operand (")
           << windowDims.size() << ")";
  // Update scatter dims are the scatter indices' dims but the index vector.
  int64_t scatterDims = indices.getRank() - (ivd < indices.getRank() ? 1 : 0);
  if (updates.getRank() != int64_t(window.size()) + scatterDims)
    return emitOpError("updates ") << updates << " have the wrong rank";
  for (auto [i, d] : llvm::enumerate(window))
    if (d < 0 || d >= updates.getRank() ||
        updates.getDimSize(d) > operand.getDimSize(windowDims[i]))
      return emitOpError("update window dim ") << d << " does not fit";
  for (int64_t d = 0, next = 0; d < updates.getRank(); ++d) {
    if (isIn(window, d))
      continue;
    if (next == ivd)
      ++next;
    if (updates.getDimSize(d) != indices.getDimSize(next++))
      return emitOpError("update scatter dim ")
             << d << " differs from the scatter indices";
  }
  ArrayRef<int64_t> inputBatching = numbers.getInputBatchingDims(),
                    indexBatching = numbers.getScatterIndicesBatchingDims();
  if (inputBatching.size() != indexBatching.size())
    return emitOpError("input and scatter index batching dims differ in "
                       "number");
  for (auto [o, i] : llvm::zip(inputBatching, indexBatching))
    if (i < 0 || i >= indices.getRank() || i == ivd ||
        indices.getDimSize(i) != operand.getDimSize(o))
      return emitOpError("batching dims ")
             << o << " of the operand and " << i
             << " of the scatter indices do not match";
  if (failed(combinerOf(*this)))
    return emitOpError("combiner must return the update or apply one of add, "
                       "multiply, maximum, minimum to both arguments");
  return success();
}

FailureOr<Value> mlir::hgc::shlo::lowerScatter(OpBuilder &b, ScatterOp op) {
  Location loc = op.getLoc();
  auto operand = cast<RankedTensorType>(op.getOperand().getType());
  auto indices = cast<RankedTensorType>(op.getScatterIndices().getType());
  auto updates = cast<RankedTensorType>(op.getUpdates().getType());
  ScatterDimensionNumbersAttr numbers = op.getScatterDimensionNumbers();
  int64_t rank = operand.getRank(), ivd = numbers.getIndexVectorDim();
  ArrayRef<int64_t> window = numbers.getUpdateWindowDims();
  SmallVector<int64_t> windowDims = windowDimsOf(numbers, rank);
  Operation *combine = *combinerOf(op);
  if (updates.getRank() == 0)
    return op.emitOpError("with rank-0 updates is not supported");
  auto index = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v).getResult();
  };
  // The loop nest over every update element, threading the result.
  SmallVector<Value> at;
  Value result = op.getOperand();
  SmallVector<scf::ForOp> loops;
  for (int64_t d = 0; d < updates.getRank(); ++d) {
    auto loop =
        scf::ForOp::create(b, loc, index(0), index(updates.getDimSize(d)),
                           index(1), ValueRange{result});
    if (!loops.empty())
      scf::YieldOp::create(b, loc, loop.getResults());
    b.setInsertionPointToStart(loop.getBody());
    at.push_back(loop.getInductionVar());
    result = loop.getRegionIterArgs()[0];
    loops.push_back(loop);
  }
  // The update's scatter dims name the scatter indices' row.
  SmallVector<Value> scatterIndex;
  for (int64_t d = 0; d < updates.getRank(); ++d)
    if (!isIn(window, d))
      scatterIndex.push_back(at[d]);
  auto indexAt = [&](SmallVector<Value> row, int64_t k) {
    if (ivd < indices.getRank())
      row.insert(row.begin() + ivd, index(k));
    Value raw = tensor::ExtractOp::create(b, loc, op.getScatterIndices(), row);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw)
        .getResult();
  };
  SmallVector<Value> target(rank, index(0));
  for (auto [k, d] : llvm::enumerate(numbers.getScatterDimsToOperandDims()))
    target[d] = indexAt(scatterIndex, k);
  for (auto [o, i] : llvm::zip(numbers.getInputBatchingDims(),
                               numbers.getScatterIndicesBatchingDims()))
    target[o] = scatterIndex[i < ivd || ivd == indices.getRank() ? i : i - 1];
  // The window's start is the full start index; skip windows that do not
  // fit (XLA's behaviour, which the spec leaves to implementations).
  Value fits = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (auto [j, d] : llvm::enumerate(windowDims)) {
    int64_t extent = updates.getDimSize(window[j]);
    Value start = target[d];
    fits = arith::AndIOp::create(
        b, loc, fits,
        arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, start,
                                  index(0)),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, start,
                                  index(operand.getDimSize(d) - extent))));
    target[d] = arith::AddIOp::create(b, loc, start, at[window[j]]);
  }
  for (int64_t d = 0; d < rank; ++d)
    if (!isIn(windowDims, d))
      fits = arith::AndIOp::create(
          b, loc, fits,
          arith::AndIOp::create(
              b, loc,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                    target[d], index(0)),
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                    target[d], index(operand.getDimSize(d)))));
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{result.getType()}, fits,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    Value update = tensor::ExtractOp::create(b, loc, op.getUpdates(), at);
    Value combined = update;
    if (combine) {
      Value old = tensor::ExtractOp::create(b, loc, result, target);
      Block &body = op.getUpdateComputation().front();
      SmallVector<Value> args;
      for (Value operandOfCombine : combine->getOperands())
        args.push_back(operandOfCombine == body.getArgument(0) ? old : update);
      combined = emitElementwiseScalar(b, combine, args, update.getType());
    }
    Value written = tensor::InsertOp::create(b, loc, combined, result, target);
    scf::YieldOp::create(b, loc, written);
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, loc, result);
  }
  b.setInsertionPointAfter(ifOp);
  scf::YieldOp::create(b, loc, ifOp.getResults());
  b.setInsertionPointAfter(loops.front());
  return loops.front().getResult(0);
}

void mlir::hgc::shlo::populateStablehloScatterPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ReplaceWithLowered<ScatterOp, lowerScatter>>(
      patterns.getContext());
}
