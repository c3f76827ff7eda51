//===- ContractionLowering.cpp - MatMul-shaped generics to vector loops ---===//
//
// Imported MatMul/Gemm are linalg.generic contractions
//   C[b..., m, n] = sum_k A[b..., m, k] * B[k, n]
// over a zero-filled f32 init (16-bit operands widened in the body). Linalg's
// own loops put k innermost and read B down a column: a weight matrix
// streams at a small fraction of memory speed, on one thread. Here the rows
// R = b... * m are a 2-D [R, K] operand and B's rows are streamed in order:
// every k adds A[r, k] * B[k, :] to an f32 row of sums with 8-lane FMAs.
//
// - Decode (at most kRowBlock rows; chosen at run time when R is dynamic,
//   a batch of any size compiled once): K is cut into up to kMaxChunks
//   chunks run in parallel, each streaming a contiguous slab of B into its
//   own partial rows; a second parallel loop adds the partials. Every weight
//   byte is read once, by one thread, in address order.
// - Otherwise: parallel over blocks of kRowBlock rows, each streaming all of
//   B (B is read R / kRowBlock times: prefill is vectorized and parallel but
//   not yet cache-tiled).
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::lowering;

namespace {
constexpr int64_t kRowBlock = 8;
constexpr int64_t kMaxChunks = 16;
/// Fewest rows of B a decode chunk streams.
constexpr int64_t kMinChunkRows = 128;

bool isZeroFill(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  auto constant = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
  auto value = constant ? dyn_cast<FloatAttr>(constant.getValue()) : nullptr;
  return value && value.getValue().isZero();
}

/// The body is acc + ext?(a) * ext?(b), in this order of operands.
bool isMultiplyAccumulate(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add || add.getLhs() != body.getArgument(2))
    return false;
  auto mul = add.getRhs().getDefiningOp<arith::MulFOp>();
  if (!mul)
    return false;
  auto source = [](Value v) {
    if (auto ext = v.getDefiningOp<arith::ExtFOp>())
      return ext.getIn();
    return v;
  };
  return source(mul.getLhs()) == body.getArgument(0) &&
         source(mul.getRhs()) == body.getArgument(1) &&
         body.getOperations().size() ==
             (mul.getLhs() == body.getArgument(0) ? 3u : 5u);
}

/// The collapse of dims [0, rank - 1) into one: [b..., m, x] -> [R, x].
SmallVector<ReassociationIndices> rowsReassociation(int64_t rank) {
  SmallVector<ReassociationIndices> rows(2);
  for (int64_t d = 0; d < rank - 1; ++d)
    rows[0].push_back(d);
  rows[1].push_back(rank - 1);
  return rows;
}

/// One contraction as loops: its [R, K] x [K, N] operands, its [R, N]
/// result and the loops over them.
class ContractionLowering {
public:
  ContractionLowering(linalg::GenericOp op, ImplicitLocOpBuilder &b)
      : op(op), b(b), e{b}, f32(b.getF32Type()),
        vectorType(VectorType::get({kLanes}, f32)) {}

  /// The loops; returns the result tensor.
  Value lower();

private:
  void readOperands();
  void allocateResult();
  void emitRowChoice();
  void emitChunked();
  void emitBlocked();
  void accumulate(Value sums, ValueRange prefix, Value r0, Value count,
                  Value k0, Value k1);
  void overColumns(function_ref<void(Value, bool)> body);
  Value loadWidened(Value memref, ValueRange at, bool vector);
  Value loadSum(Value memref, ValueRange at, bool vector);
  void storeSum(Value v, Value memref, ValueRange at, bool vector);

  linalg::GenericOp op;
  ImplicitLocOpBuilder &b;
  Emitter e;
  Type f32;
  VectorType vectorType;
  int64_t rank = 0;
  Value aBuffer, bBuffer, rows, depth, columns;
  int64_t staticRows = 0, staticDepth = 0;
  // The result at full rank (above rank 2) and the [R, n] buffer written.
  RankedTensorType fullType, outType;
  Value full, out;
  // The end of whole vectors of n; the scalar tail follows.
  Value vectorEnd;
};

Value ContractionLowering::lower() {
  // 1. A as [R, k] and B as buffers, with their sizes.
  readOperands();
  // 2. The result, written through its [R, n] view.
  allocateResult();
  // 3. Decode-sized rows take the chunked GEMV, more the row blocks.
  emitRowChoice();
  // 4. The result as a tensor.
  return rank > 2 ? e.tensor(full, fullType) : e.tensor(out, outType);
}

void ContractionLowering::readOperands() {
  Value a = op.getDpsInputs()[0], weights = op.getDpsInputs()[1];
  rank = cast<RankedTensorType>(a.getType()).getRank();
  // [b..., m, k] -> [R, k].
  if (rank > 2)
    a = tensor::CollapseShapeOp::create(b, a, rowsReassociation(rank));
  auto a2Type = cast<RankedTensorType>(a.getType());
  aBuffer = e.buffer(a);
  bBuffer = e.buffer(weights);
  rows = e.dim(aBuffer, 0);
  depth = e.dim(aBuffer, 1);
  columns = e.dim(bBuffer, 1);
  staticRows = a2Type.getDimSize(0);
  staticDepth = a2Type.getDimSize(1);
}

/// Above rank 2 the result is allocated at full rank and written through
/// its [R, n] collapse: expanding [R, n] back would take an expand_shape
/// group of several dynamic sizes, which upstream's strided-metadata
/// expansion cannot lower.
void ContractionLowering::allocateResult() {
  auto resultType = cast<RankedTensorType>(op.getResult(0).getType());
  outType =
      RankedTensorType::get({staticRows, resultType.getShape().back()}, f32);
  fullType = resultType.clone(f32);
  if (rank > 2) {
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < rank - 1; ++d)
      sizes.push_back(tensor::DimOp::create(b, op.getDpsInputs()[0], d));
    sizes.push_back(columns);
    full = e.alloc(fullType, sizes);
    out = memref::CollapseShapeOp::create(b, full, rowsReassociation(rank));
  } else {
    out = e.alloc(outType, {rows, columns});
  }
  vectorEnd = arith::MulIOp::create(
      b, arith::DivUIOp::create(b, columns, e.index(kLanes)), e.index(kLanes));
}

void ContractionLowering::emitRowChoice() {
  if (!ShapedType::isDynamic(staticRows)) {
    if (staticRows <= kRowBlock)
      emitChunked();
    else
      emitBlocked();
    return;
  }
  // Rows known at run time (a dynamic batch): decode steps still take the
  // chunked GEMV.
  Value few = arith::CmpIOp::create(b, arith::CmpIPredicate::ule, rows,
                                    e.index(kRowBlock));
  auto choice = scf::IfOp::create(b, few, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&choice.getThenRegion().front());
  emitChunked();
  b.setInsertionPointToStart(&choice.getElseRegion().front());
  emitBlocked();
}

/// Few rows: K chunks in parallel into partial rows, then their sum.
void ContractionLowering::emitChunked() {
  int64_t chunks = 1;
  if (!ShapedType::isDynamic(staticDepth))
    chunks = std::clamp<int64_t>(staticDepth / kMinChunkRows, 1, kMaxChunks);
  Value chunkRows = arith::CeilDivUIOp::create(b, depth, e.index(chunks));
  int64_t partialRows =
      ShapedType::isDynamic(staticRows) ? ShapedType::kDynamic : staticRows;
  SmallVector<Value> partialSizes;
  if (ShapedType::isDynamic(partialRows))
    partialSizes.push_back(rows);
  partialSizes.push_back(columns);
  Value partials = memref::AllocOp::create(
      b, MemRefType::get({chunks, partialRows, ShapedType::kDynamic}, f32),
      partialSizes);
  e.parallel({e.index(chunks)}, [&](ValueRange ivs) {
    Value k0 = arith::MinUIOp::create(
        b, arith::MulIOp::create(b, ivs[0], chunkRows), depth);
    Value k1 = arith::MinUIOp::create(
        b, arith::AddIOp::create(b, k0, chunkRows), depth);
    accumulate(partials, {ivs[0]}, e.index(0), rows, k0, k1);
  });
  e.parallel({rows}, [&](ValueRange ivs) {
    overColumns([&](Value n, bool vector) {
      Value sum = loadSum(partials, {e.index(0), ivs[0], n}, vector);
      for (int64_t c = 1; c < chunks; ++c)
        sum = e.add(sum, loadSum(partials, {e.index(c), ivs[0], n}, vector));
      storeSum(sum, out, {ivs[0], n}, vector);
    });
  });
}

/// Many rows: blocks of rows in parallel, each streaming all of B.
void ContractionLowering::emitBlocked() {
  Value blocks = arith::CeilDivUIOp::create(b, rows, e.index(kRowBlock));
  e.parallel({blocks}, [&](ValueRange ivs) {
    Value r0 = arith::MulIOp::create(b, ivs[0], e.index(kRowBlock));
    Value count = arith::MinUIOp::create(b, e.index(kRowBlock),
                                         arith::SubIOp::create(b, rows, r0));
    Value block = memref::SubViewOp::create(
        b, out, ArrayRef<OpFoldResult>{r0, b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{count, columns},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    accumulate(block, {}, r0, count, e.index(0), depth);
  });
}

/// sums[prefix..., r, :] = sum over k in [k0, k1) of A[r0 + r, k] * B[k, :]
/// for r < count.
void ContractionLowering::accumulate(Value sums, ValueRange prefix, Value r0,
                                     Value count, Value k0, Value k1) {
  auto at = [&](Value r, Value n) {
    SmallVector<Value> indices(prefix.begin(), prefix.end());
    indices.append({r, n});
    return indices;
  };
  e.forLoop(e.index(0), count, {}, [&](Value r, ValueRange) {
    overColumns([&](Value n, bool vector) {
      storeSum(vector
                   ? Value(vector::BroadcastOp::create(b, vectorType, e.f32(0)))
                   : e.f32(0),
               sums, at(r, n), vector);
    });
    return SmallVector<Value>{};
  });
  e.forLoop(k0, k1, {}, [&](Value k, ValueRange) {
    e.forLoop(e.index(0), count, {}, [&](Value r, ValueRange) {
      Value row = arith::AddIOp::create(b, r0, r);
      Value scalar = e.loadF32(aBuffer, {row, k});
      Value splat = vector::BroadcastOp::create(b, vectorType, scalar);
      overColumns([&](Value n, bool vector) {
        Value w = loadWidened(bBuffer, {k, n}, vector);
        Value sum = loadSum(sums, at(r, n), vector);
        sum = vector ? Value(vector::FMAOp::create(b, splat, w, sum))
                     : e.add(e.mul(scalar, w), sum);
        storeSum(sum, sums, at(r, n), vector);
      });
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
}

/// Whole vectors of n, then the scalar tail.
void ContractionLowering::overColumns(function_ref<void(Value, bool)> body) {
  e.forLoop(e.index(0), vectorEnd, {}, e.index(kLanes),
            [&](Value n, ValueRange) -> SmallVector<Value> {
              body(n, true);
              return {};
            });
  e.forLoop(vectorEnd, columns, {},
            [&](Value n, ValueRange) -> SmallVector<Value> {
              body(n, false);
              return {};
            });
}

Value ContractionLowering::loadWidened(Value memref, ValueRange at,
                                       bool vector) {
  if (!vector)
    return e.loadF32(memref, at);
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  Value v =
      vector::LoadOp::create(b, VectorType::get({kLanes}, elt), memref, at);
  return elt.isF32() ? v : arith::ExtFOp::create(b, vectorType, v);
}

Value ContractionLowering::loadSum(Value memref, ValueRange at, bool vector) {
  return vector ? vector::LoadOp::create(b, vectorType, memref, at)
                : e.load(memref, at);
}

void ContractionLowering::storeSum(Value v, Value memref, ValueRange at,
                                   bool vector) {
  if (vector)
    vector::StoreOp::create(b, v, memref, at);
  else
    memref::StoreOp::create(b, v, memref, at);
}

} // namespace

bool lowering::isLowerableContraction(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics() || op.getNumResults() != 1)
    return false;
  unsigned dims = op.getNumLoops();
  if (dims < 3)
    return false;
  unsigned batch = dims - 3, dm = batch, dn = batch + 1, dk = batch + 2;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned d = 0; d < dims; ++d)
    if (iterators[d] != (d == dk ? utils::IteratorType::reduction
                                 : utils::IteratorType::parallel))
      return false;
  MLIRContext *context = op.getContext();
  auto dimsOf = [&](ArrayRef<unsigned> list) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : list)
      exprs.push_back(getAffineDimExpr(d, context));
    return AffineMap::get(dims, 0, exprs, context);
  };
  SmallVector<unsigned> aDims, outDims;
  for (unsigned d = 0; d < batch; ++d) {
    aDims.push_back(d);
    outDims.push_back(d);
  }
  aDims.append({dm, dk});
  outDims.append({dm, dn});
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0] != dimsOf(aDims) || maps[1] != dimsOf({dk, dn}) ||
      maps[2] != dimsOf(outDims))
    return false;
  auto a = cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  auto b = cast<RankedTensorType>(op.getDpsInputs()[1].getType());
  auto out = cast<RankedTensorType>(op.getResult(0).getType());
  Type element = a.getElementType();
  return element == b.getElementType() && out.getElementType().isF32() &&
         (element.isF32() || element.isF16() || element.isBF16()) &&
         isZeroFill(op.getDpsInits()[0]) && isMultiplyAccumulate(op);
}

void lowering::lowerContraction(RewriterBase &rewriter, linalg::GenericOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  rewriter.replaceOp(op, ContractionLowering(op, b).lower());
}
