//===- StablehloGather.cpp - gather: attribute, verifier, lowering -------===//
//
// `stablehlo.gather` in the forms JAX emits (embedding lookups,
// take_along_axis), with the specification's full index mapping: batch
// dims of the result index the start indices, offset dims the slice;
// start indices are clamped so the slice stays inside the operand. The
// lowering is one linalg.generic over the result whose body extracts the
// operand element its index maps to.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

namespace {
const StringRef kLists[] = {"offset_dims", "collapsed_slice_dims",
                            "operand_batching_dims",
                            "start_indices_batching_dims", "start_index_map"};
constexpr StringLiteral kIndexVectorDim = "index_vector_dim";

bool isIn(ArrayRef<int64_t> list, int64_t value) {
  return llvm::is_contained(list, value);
}

/// The dims of start indices that index the batch (all but the index
/// vector dim), in order.
SmallVector<int64_t> batchDimsOf(int64_t rank, int64_t indexVectorDim) {
  SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (d != indexVectorDim)
      dims.push_back(d);
  return dims;
}

/// The operand dims a slice spans in the result (neither collapsed nor
/// batching), in order.
SmallVector<int64_t> sliceDimsOf(GatherDimensionNumbersAttr numbers,
                                 int64_t rank) {
  SmallVector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (!isIn(numbers.getCollapsedSliceDims(), d) &&
        !isIn(numbers.getOperandBatchingDims(), d))
      dims.push_back(d);
  return dims;
}
} // namespace

Attribute GatherDimensionNumbersAttr::parse(AsmParser &parser, Type) {
  SmallVector<SmallVector<int64_t>> lists;
  int64_t indexVectorDim = 0;
  if (parseDimensionFields(parser, kLists, kIndexVectorDim, "gather dimension",
                           lists, indexVectorDim))
    return {};
  return get(parser.getContext(), lists[0], lists[1], lists[2], lists[3],
             lists[4], indexVectorDim);
}

void GatherDimensionNumbersAttr::print(AsmPrinter &printer) const {
  ArrayRef<int64_t> lists[] = {
      getOffsetDims(), getCollapsedSliceDims(), getOperandBatchingDims(),
      getStartIndicesBatchingDims(), getStartIndexMap()};
  printDimensionFields(printer, kLists, lists, kIndexVectorDim,
                       getIndexVectorDim());
}

LogicalResult GatherOp::verify() {
  auto operand = cast<RankedTensorType>(getOperand().getType());
  auto indices = cast<RankedTensorType>(getStartIndices().getType());
  RankedTensorType result = getType();
  GatherDimensionNumbersAttr numbers = getDimensionNumbers();
  int64_t rank = operand.getRank(), ivd = numbers.getIndexVectorDim();
  if (!operand.hasStaticShape() || !indices.hasStaticShape() ||
      !isa<IntegerType>(indices.getElementType()))
    return emitOpError("needs static shapes and integer start indices");
  if (ivd < 0 || ivd > indices.getRank())
    return emitOpError("index_vector_dim ")
           << ivd << " is outside the start indices' rank";
  int64_t vector = ivd == indices.getRank() ? 1 : indices.getDimSize(ivd);
  ArrayRef<int64_t> sizes = getSliceSizes(), map = numbers.getStartIndexMap();
  if (int64_t(sizes.size()) != rank)
    return emitOpError("needs a slice size per operand dimension");
  if (int64_t(map.size()) != vector)
    return emitOpError("start_index_map has ")
           << map.size() << " dims for index vectors of " << vector;
  auto validDims = [&](ArrayRef<int64_t> dims,
                       StringRef what) -> LogicalResult {
    for (auto [i, d] : llvm::enumerate(dims))
      if (d < 0 || d >= rank || isIn(dims.take_front(i), d))
        return emitOpError(what) << " has an invalid or repeated dim " << d;
    return success();
  };
  if (failed(validDims(map, "start_index_map")) ||
      failed(
          validDims(numbers.getCollapsedSliceDims(), "collapsed_slice_dims")) ||
      failed(
          validDims(numbers.getOperandBatchingDims(), "operand_batching_dims")))
    return failure();
  for (int64_t d = 0; d < rank; ++d)
    if (sizes[d] < 0 || sizes[d] > operand.getDimSize(d) ||
        ((isIn(numbers.getCollapsedSliceDims(), d) ||
          isIn(numbers.getOperandBatchingDims(), d)) &&
         sizes[d] > 1))
      return emitOpError("slice size ")
             << sizes[d] << " of dimension " << d << " does not fit";
  SmallVector<int64_t> batch = batchDimsOf(indices.getRank(), ivd);
  ArrayRef<int64_t> operandBatching = numbers.getOperandBatchingDims(),
                    indexBatching = numbers.getStartIndicesBatchingDims();
  if (operandBatching.size() != indexBatching.size())
    return emitOpError("operand and start index batching dims differ in "
                       "number");
  for (auto [o, i] : llvm::zip(operandBatching, indexBatching))
    if (i < 0 || i >= indices.getRank() || i == ivd ||
        indices.getDimSize(i) != operand.getDimSize(o))
      return emitOpError("batching dims ")
             << o << " of the operand and " << i
             << " of the start indices do not match";
  // The result: batch dims from the start indices, offset dims from the
  // slice, interleaved as offset_dims says.
  SmallVector<int64_t> slice = sliceDimsOf(numbers, rank);
  ArrayRef<int64_t> offsets = numbers.getOffsetDims();
  if (offsets.size() != slice.size() ||
      result.getRank() != int64_t(batch.size() + slice.size()))
    return emitOpError("result ") << result << " has the wrong rank";
  // Each result dim is an offset dim or the next batch dim: offset dims out
  // of range or repeated would hand out more batch dims than there are.
  for (auto [i, d] : llvm::enumerate(offsets))
    if (d < 0 || d >= result.getRank() || (i > 0 && d <= offsets[i - 1]))
      return emitOpError("offset_dims must be sorted, unique and within the "
                         "result's rank (")
             << result.getRank() << ")";
  int64_t nextBatch = 0, nextOffset = 0;
  for (int64_t d = 0; d < result.getRank(); ++d) {
    int64_t want = isIn(offsets, d) ? sizes[slice[nextOffset++]]
                                    : indices.getDimSize(batch[nextBatch++]);
    if (result.getDimSize(d) != want)
      return emitOpError("result ")
             << result << " is not the gathered shape (dimension " << d << ": "
             << want << ")";
  }
  return success();
}

FailureOr<Value> mlir::hgc::shlo::lowerGather(OpBuilder &b, GatherOp op) {
  Location loc = op.getLoc();
  auto operand = cast<RankedTensorType>(op.getOperand().getType());
  auto indices = cast<RankedTensorType>(op.getStartIndices().getType());
  RankedTensorType result = op.getType();
  GatherDimensionNumbersAttr numbers = op.getDimensionNumbers();
  int64_t rank = operand.getRank(), ivd = numbers.getIndexVectorDim();
  SmallVector<int64_t> batch = batchDimsOf(indices.getRank(), ivd),
                       slice = sliceDimsOf(numbers, rank);
  ArrayRef<int64_t> offsets = numbers.getOffsetDims();
  Value init = tensor::EmptyOp::create(b, loc, result.getShape(),
                                       result.getElementType());
  AffineMap identity =
      AffineMap::getMultiDimIdentityMap(result.getRank(), b.getContext());
  SmallVector<utils::IteratorType> iterators(result.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, result, ValueRange{}, ValueRange{init}, identity, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange) {
        auto index = [&](int64_t v) {
          return arith::ConstantIndexOp::create(nb, nloc, v).getResult();
        };
        SmallVector<Value> out, batchIndex, offsetIndex;
        for (int64_t d = 0; d < result.getRank(); ++d) {
          out.push_back(linalg::IndexOp::create(nb, nloc, d));
          (isIn(offsets, d) ? offsetIndex : batchIndex).push_back(out.back());
        }
        // The start index of operand dim start_index_map[k], clamped.
        SmallVector<Value> start(rank, index(0));
        for (auto [k, d] : llvm::enumerate(numbers.getStartIndexMap())) {
          SmallVector<Value> at;
          for (int64_t i = 0, next = 0; i < indices.getRank(); ++i)
            at.push_back(i == ivd ? index(k) : batchIndex[next++]);
          Value raw =
              tensor::ExtractOp::create(nb, nloc, op.getStartIndices(), at);
          Value asIndex =
              arith::IndexCastOp::create(nb, nloc, nb.getIndexType(), raw);
          Value high = index(operand.getDimSize(d) - op.getSliceSizes()[d]);
          start[d] = arith::MaxSIOp::create(
              nb, nloc, index(0),
              arith::MinSIOp::create(nb, nloc, asIndex, high));
        }
        SmallVector<Value> at(rank);
        for (auto [o, i] : llvm::zip(numbers.getOperandBatchingDims(),
                                     numbers.getStartIndicesBatchingDims()))
          at[o] = batchIndex[llvm::find(batch, i) - batch.begin()];
        for (int64_t d = 0; d < rank; ++d)
          if (!at[d])
            at[d] = start[d];
        for (auto [j, d] : llvm::enumerate(slice))
          at[d] = arith::AddIOp::create(nb, nloc, start[d], offsetIndex[j]);
        Value element =
            tensor::ExtractOp::create(nb, nloc, op.getOperand(), at);
        linalg::YieldOp::create(nb, nloc, element);
      });
  return generic.getResult(0);
}

void mlir::hgc::shlo::populateStablehloGatherPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ReplaceWithLowered<GatherOp, lowerGather>>(
      patterns.getContext());
}
