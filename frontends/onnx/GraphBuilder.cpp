//===- GraphBuilder.cpp - state of one ONNX graph import -----------------===//

#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include "llvm/ADT/APFloat.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

Type GraphBuilder::elementType(int32_t type) {
  switch (type) {
  case kFloat:
    return b.getF32Type();
  case kFloat16:
    return b.getF16Type();
  case kBFloat16:
    return b.getBF16Type();
  case kDouble:
    return b.getF64Type();
  case kBool:
    return b.getI1Type();
  case kUInt8:
  case kInt8:
    return b.getI8Type();
  case kInt16:
    return b.getI16Type();
  case kInt32:
  case kUInt32:
    return b.getI32Type();
  default:
    return b.getI64Type();
  }
}

RankedTensorType GraphBuilder::tensorType(llvm::ArrayRef<int64_t> shape,
                                          int32_t type) {
  return RankedTensorType::get(shape, elementType(type));
}

Value GraphBuilder::constantTensor(const HostTensor &tensor) {
  RankedTensorType type = tensorType(tensor.shape, tensor.type);
  Type element = type.getElementType();
  DenseElementsAttr attr;
  if (auto floatType = dyn_cast<FloatType>(element)) {
    SmallVector<APFloat> values;
    values.reserve(tensor.floats.size());
    for (double v : tensor.floats) {
      APFloat f(v);
      bool lost;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &lost);
      values.push_back(f);
    }
    attr = DenseElementsAttr::get(type, values);
  } else {
    unsigned width = element.getIntOrFloatBitWidth();
    SmallVector<APInt> values;
    values.reserve(tensor.ints.size());
    for (int64_t v : tensor.ints)
      values.push_back(APInt(width, uint64_t(v), /*isSigned=*/true,
                             /*implicitTrunc=*/true));
    attr = DenseElementsAttr::get(type, values);
  }
  return arith::ConstantOp::create(b, loc, attr);
}

Value GraphBuilder::materialize(llvm::StringRef name) {
  GraphValue &v = values[name];
  if (!v.value && v.constant)
    v.value = constantTensor(*v.constant);
  if (!v.value && v.symbolic) {
    Type element = elementType(v.type);
    SmallVector<Value> elements;
    for (OpFoldResult size : v.symbolic->elements)
      elements.push_back(
          arith::IndexCastOp::create(b, loc, element, indexValue(size)));
    v.value = tensor::FromElementsOp::create(
        b, loc, tensorType(v.shape, v.type), elements);
  }
  return v.value;
}

void GraphBuilder::defineSymbolic(llvm::StringRef name, SymbolicInts ints,
                                  int32_t type) {
  GraphValue v;
  v.type = type;
  if (!ints.scalar)
    v.shape.push_back(int64_t(ints.elements.size()));
  SmallVector<int64_t> known;
  for (OpFoldResult size : ints.elements)
    if (std::optional<int64_t> c = getConstantIntValue(size))
      known.push_back(*c);
  if (known.size() == ints.elements.size()) {
    HostTensor tensor = HostTensor::fromInts(known, type);
    tensor.shape = v.shape;
    v.constant = std::move(tensor);
  } else {
    v.symbolic = std::move(ints);
  }
  values[name] = std::move(v);
}

/// The size of dim `d` of `value` as the value that defined it where the IR
/// shows one: through destination-style ops to their init, tensor.empty's
/// and expand_shape's sizes, and casts; tensor.dim otherwise. Sizes read
/// so are the same SSA values wherever a dim flows, which is what lets
/// reshapes pair dynamic dims (isSameSize).
static OpFoldResult resolveDimSize(OpBuilder &b, Location loc, Value value,
                                   int64_t d) {
  while (true) {
    auto type = cast<RankedTensorType>(value.getType());
    if (!type.isDynamicDim(d))
      return b.getIndexAttr(type.getDimSize(d));
    Operation *op = value.getDefiningOp();
    if (auto empty = dyn_cast_or_null<tensor::EmptyOp>(op))
      return empty.getMixedSizes()[d];
    if (auto expand = dyn_cast_or_null<tensor::ExpandShapeOp>(op))
      return expand.getMixedOutputShape()[d];
    if (auto cast = dyn_cast_or_null<tensor::CastOp>(op)) {
      value = cast.getSource();
      continue;
    }
    if (auto dps = dyn_cast_or_null<DestinationStyleOpInterface>(op)) {
      if (dps.hasPureTensorSemantics()) {
        value = dps.getTiedOpOperand(cast<OpResult>(value))->get();
        continue;
      }
    }
    return tensor::DimOp::create(b, loc, value, d).getResult();
  }
}

SmallVector<OpFoldResult> GraphBuilder::mixedSizes(Value value) {
  SmallVector<OpFoldResult> sizes;
  auto type = cast<RankedTensorType>(value.getType());
  for (int64_t d = 0; d < type.getRank(); ++d)
    sizes.push_back(resolveDimSize(b, loc, value, d));
  return sizes;
}

Value GraphBuilder::emptyTensor(ArrayRef<OpFoldResult> sizes, Type element) {
  return tensor::EmptyOp::create(b, loc, sizes, element);
}

Value GraphBuilder::indexValue(OpFoldResult size) {
  return getValueOrCreateConstantIndexOp(b, loc, size);
}

void GraphBuilder::checkSize(OpFoldResult actual, OpFoldResult expected,
                             const llvm::Twine &what) {
  if (isSameSize(actual, expected))
    return;
  auto module =
      b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  MLIRContext *context = b.getContext();
  auto pointer = LLVM::LLVMPointerType::get(context);
  Type i64 = b.getI64Type();
  constexpr llvm::StringLiteral checkName = "hgc_rt_compiled_check_size";
  OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
  if (!module.lookupSymbol(checkName)) {
    auto declaration = func::FuncOp::create(
        top, loc, checkName,
        FunctionType::get(context, {i64, i64, pointer}, {}));
    declaration.setPrivate();
  }
  // The message as a NUL-terminated global string.
  std::string text = (where + ": " + what).str();
  text.push_back('\0');
  std::string name = "hgc_size_check_" + std::to_string(sizeChecks++);
  auto arrayType = LLVM::LLVMArrayType::get(b.getI8Type(), text.size());
  LLVM::GlobalOp::create(top, loc, arrayType, /*isConstant=*/true,
                         LLVM::Linkage::Internal, name, b.getStringAttr(text));
  Value message = LLVM::AddressOfOp::create(b, loc, pointer, name);
  auto asI64 = [&](OpFoldResult size) -> Value {
    return arith::IndexCastOp::create(b, loc, i64, indexValue(size));
  };
  func::CallOp::create(b, loc, checkName, TypeRange{},
                       ValueRange{asI64(actual), asI64(expected), message});
}

Value GraphBuilder::appendInPlace(Value past, Value current, int64_t axis) {
  AppendBuffer *buffer = llvm::find_if(appendBuffers, [&](AppendBuffer &a) {
    return a.past == past && !a.present && a.axis == axis;
  });
  if (buffer == appendBuffers.end())
    return Value();
  auto type = cast<RankedTensorType>(current.getType());
  auto bufferType = cast<RankedTensorType>(buffer->buffer.getType());
  if (type.getRank() != bufferType.getRank() ||
      type.getElementType() != bufferType.getElementType())
    return Value();
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (d != axis && !type.isDynamicDim(d) && !bufferType.isDynamicDim(d) &&
        type.getDimSize(d) != bufferType.getDimSize(d))
      return Value();
  SmallVector<OpFoldResult> bufferSizes = mixedSizes(buffer->buffer),
                            sizes = mixedSizes(current);
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (d != axis)
      checkSize(sizes[d], bufferSizes[d],
                "new positions of '" + buffer->input + "' differ in dim " +
                    llvm::Twine(d) + " from its buffer");
  Value total = arith::AddIOp::create(b, loc, indexValue(buffer->length),
                                      indexValue(sizes[axis]));
  Value capacity = indexValue(bufferSizes[axis]);
  checkSize(arith::MinSIOp::create(b, loc, total, capacity).getResult(), total,
            "the buffer of '" + buffer->input +
                "' has no room for the new positions (capacity vs needed)");
  SmallVector<OpFoldResult> zeros(type.getRank(), b.getIndexAttr(0)),
      ones(type.getRank(), b.getIndexAttr(1)), offsets = zeros;
  offsets[axis] = buffer->length;
  Value written = tensor::InsertSliceOp::create(b, loc, current, buffer->buffer,
                                                offsets, sizes, ones);
  SmallVector<OpFoldResult> presentSizes = bufferSizes;
  presentSizes[axis] = total;
  buffer->present = tensor::ExtractSliceOp::create(b, loc, written, zeros,
                                                   presentSizes, ones);
  buffer->presentLength = total;
  return buffer->present;
}

SmallVector<int64_t>
mlir::hgc::onnx::getStaticSizes(ArrayRef<OpFoldResult> sizes) {
  SmallVector<int64_t> shape;
  for (OpFoldResult size : sizes)
    shape.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
  return shape;
}

SmallVector<OpFoldResult>
mlir::hgc::onnx::broadcastSizes(GraphBuilder &g, ArrayRef<Value> inputs,
                                ArrayRef<int64_t> shape) {
  int64_t rank = int64_t(shape.size());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (!ShapedType::isDynamic(shape[d])) {
      sizes.push_back(g.b.getIndexAttr(shape[d]));
      continue;
    }
    OpFoldResult size;
    for (Value input : inputs) {
      auto type = cast<RankedTensorType>(input.getType());
      int64_t at = d - (rank - type.getRank());
      if (at >= 0 && type.isDynamicDim(at)) {
        size = g.mixedSizes(input)[at];
        break;
      }
    }
    assert(size && "a dynamic result dim comes from a dynamic input dim");
    sizes.push_back(size);
  }
  return sizes;
}

std::optional<SmallVector<OpFoldResult>> NodeEmitter::sizesInput(size_t i) {
  if (!hasInput(i))
    return std::nullopt;
  GraphValue &v = input(i);
  if (v.symbolic)
    return v.symbolic->elements;
  const HostTensor *constant = shapeDefiningInput(i);
  if (!constant || constant->isFloat())
    return std::nullopt;
  SmallVector<OpFoldResult> sizes;
  for (int64_t x : constant->ints)
    sizes.push_back(g.b.getIndexAttr(x));
  return sizes;
}

void GraphBuilder::defineValue(llvm::StringRef name, Value value,
                               int32_t type) {
  GraphValue v;
  v.value = value;
  v.type = type;
  auto shape = cast<RankedTensorType>(value.getType()).getShape();
  v.shape.assign(shape.begin(), shape.end());
  values[name] = std::move(v);
}

LogicalResult NodeEmitter::fail(const llvm::Twine &message) {
  return emitError(g.loc) << where << ": " << message;
}

Value mlir::hgc::onnx::buildBroadcastGeneric(
    GraphBuilder &g, llvm::ArrayRef<Value> inputs,
    llvm::ArrayRef<int64_t> shape, Type resultElement,
    std::function<Value(OpBuilder &, Location, ValueRange)> body,
    llvm::ArrayRef<OpFoldResult> resultSizes) {
  OpBuilder &b = g.b;
  int64_t rank = int64_t(shape.size());
  SmallVector<AffineMap> maps;
  for (Value input : inputs) {
    auto type = cast<RankedTensorType>(input.getType());
    int64_t lead = rank - type.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < type.getRank(); ++d)
      exprs.push_back(type.getDimSize(d) == 1 && shape[lead + d] != 1
                          ? b.getAffineConstantExpr(0)
                          : b.getAffineDimExpr(unsigned(lead + d)));
    maps.push_back(AffineMap::get(unsigned(rank), 0, exprs, b.getContext()));
  }
  maps.push_back(b.getMultiDimIdentityMap(unsigned(rank)));
  SmallVector<OpFoldResult> sizes =
      resultSizes.empty() ? broadcastSizes(g, inputs, shape)
                          : SmallVector<OpFoldResult>(resultSizes);
  // A dynamic input dim is read as the result's (not broadcast from 1).
  for (Value input : inputs) {
    auto type = cast<RankedTensorType>(input.getType());
    int64_t lead = rank - type.getRank();
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        g.checkSize(g.mixedSizes(input)[d], sizes[lead + d],
                    "input dim " + llvm::Twine(d) +
                        " differs from the broadcast result's");
  }
  Value init = g.emptyTensor(sizes, resultElement);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, g.loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        Value result = body(nested, loc, args.drop_back());
        linalg::YieldOp::create(nested, loc, result);
      });
  return generic.getResult(0);
}

Value mlir::hgc::onnx::convertScalar(OpBuilder &b, Location loc, Value value,
                                     int32_t from, int32_t to, Type toType) {
  Type fromType = value.getType();
  if (fromType == toType)
    return value;
  bool fromFloat = isFloatType(from), toFloat = isFloatType(to);
  bool fromUnsigned =
      from == kUInt8 || from == kUInt32 || from == kUInt64 || from == kBool;
  if (fromFloat && toFloat) {
    if (fromType.getIntOrFloatBitWidth() < toType.getIntOrFloatBitWidth())
      return arith::ExtFOp::create(b, loc, toType, value);
    if (fromType.getIntOrFloatBitWidth() > toType.getIntOrFloatBitWidth())
      return arith::TruncFOp::create(b, loc, toType, value);
    // f16 <-> bf16: through f32.
    Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
    return arith::TruncFOp::create(b, loc, toType, wide);
  }
  if (to == kBool) {
    if (fromFloat) {
      Value zero =
          arith::ConstantOp::create(b, loc, b.getFloatAttr(fromType, 0));
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, value,
                                   zero);
    }
    Value zero =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(fromType, 0));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, value, zero);
  }
  if (fromFloat) {
    bool toUnsigned = to == kUInt8 || to == kUInt32 || to == kUInt64;
    if (toUnsigned)
      return arith::FPToUIOp::create(b, loc, toType, value);
    return arith::FPToSIOp::create(b, loc, toType, value);
  }
  if (toFloat) {
    if (fromUnsigned)
      return arith::UIToFPOp::create(b, loc, toType, value);
    return arith::SIToFPOp::create(b, loc, toType, value);
  }
  unsigned fromWidth = fromType.getIntOrFloatBitWidth(),
           toWidth = toType.getIntOrFloatBitWidth();
  if (fromWidth > toWidth)
    return arith::TruncIOp::create(b, loc, toType, value);
  if (fromUnsigned)
    return arith::ExtUIOp::create(b, loc, toType, value);
  return arith::ExtSIOp::create(b, loc, toType, value);
}

Value mlir::hgc::onnx::buildReshape(GraphBuilder &g, Value value,
                                    llvm::ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  auto target = RankedTensorType::get(shape, type.getElementType());
  // Collapse everything to 1-D, then expand to the target: valid for any
  // two static shapes with the same element count.
  Value flat = value;
  if (type.getRank() != 1) {
    SmallVector<ReassociationIndices> all;
    if (type.getRank() > 0) {
      all.emplace_back();
      for (int64_t d = 0; d < type.getRank(); ++d)
        all.back().push_back(d);
    }
    auto flatType = RankedTensorType::get(
        type.getRank() > 0 ? ArrayRef<int64_t>{type.getNumElements()}
                           : ArrayRef<int64_t>{},
        type.getElementType());
    if (type.getRank() == 0)
      flat = tensor::ExpandShapeOp::create(
          g.b, g.loc, RankedTensorType::get({1}, type.getElementType()), value,
          SmallVector<ReassociationIndices>{});
    else
      flat = tensor::CollapseShapeOp::create(g.b, g.loc, flatType, value, all);
  }
  if (target.getRank() == 1)
    return flat;
  SmallVector<ReassociationIndices> all;
  if (target.getRank() > 0) {
    all.emplace_back();
    for (int64_t d = 0; d < target.getRank(); ++d)
      all.back().push_back(d);
  }
  if (target.getRank() == 0)
    return tensor::CollapseShapeOp::create(g.b, g.loc, target, flat, all);
  return tensor::ExpandShapeOp::create(g.b, g.loc, target, flat, all);
}

bool mlir::hgc::onnx::isSameSize(OpFoldResult a, OpFoldResult b) {
  std::optional<int64_t> ca = getConstantIntValue(a),
                         cb = getConstantIntValue(b);
  if (ca || cb)
    return ca == cb;
  Value va = cast<Value>(a), vb = cast<Value>(b);
  if (va == vb)
    return true;
  auto da = va.getDefiningOp<tensor::DimOp>(),
       db = vb.getDefiningOp<tensor::DimOp>();
  return da && db && da.getSource() == db.getSource() &&
         da.getConstantIndex() &&
         da.getConstantIndex() == db.getConstantIndex();
}

namespace {

/// Groups the dims of `large` onto those of `small` (the longer and the
/// shorter shape of a reshape): static dims by their products (unit dims
/// join the next group, trailing ones the last), a dynamic dim alone,
/// matched to a dynamic dim of `small` that is provably the same size or,
/// when each shape has exactly one dynamic dim, equal by the element count.
std::optional<SmallVector<ReassociationIndices>>
groupDims(ArrayRef<OpFoldResult> large, ArrayRef<OpFoldResult> small) {
  auto countDynamic = [](ArrayRef<OpFoldResult> sizes) {
    return llvm::count_if(
        sizes, [](OpFoldResult s) { return !getConstantIntValue(s); });
  };
  bool countedEqual = countDynamic(large) == 1 && countDynamic(small) == 1;
  SmallVector<ReassociationIndices> groups;
  size_t i = 0;
  for (OpFoldResult target : small) {
    ReassociationIndices group;
    std::optional<int64_t> want = getConstantIntValue(target);
    if (!want) {
      while (i < large.size() && getConstantIntValue(large[i]) == 1)
        group.push_back(int64_t(i++));
      if (i == large.size() || getConstantIntValue(large[i]) ||
          !(countedEqual || isSameSize(large[i], target)))
        return std::nullopt;
      group.push_back(int64_t(i++));
    } else {
      int64_t product = 1;
      do {
        if (i == large.size())
          return std::nullopt;
        std::optional<int64_t> size = getConstantIntValue(large[i]);
        if (!size)
          return std::nullopt;
        product *= *size;
        group.push_back(int64_t(i++));
      } while (product < *want);
      if (product != *want)
        return std::nullopt;
    }
    groups.push_back(group);
  }
  for (; i < large.size(); ++i) {
    if (groups.empty() || getConstantIntValue(large[i]) != 1)
      return std::nullopt;
    groups.back().push_back(int64_t(i));
  }
  return groups;
}
} // namespace

/// `value` (of `source` sizes) copied into a tensor of `sizes` with the
/// same row-major element order.
static Value buildReshapeCopy(GraphBuilder &g, Value value,
                              ArrayRef<OpFoldResult> source,
                              ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> from, to;
  for (OpFoldResult size : source)
    from.push_back(g.indexValue(size));
  for (OpFoldResult size : sizes)
    to.push_back(g.indexValue(size));
  auto type = cast<RankedTensorType>(value.getType());
  Value init = g.emptyTensor(sizes, type.getElementType());
  unsigned rank = unsigned(sizes.size());
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{}, ValueRange{init},
      SmallVector<AffineMap>{g.b.getMultiDimIdentityMap(rank)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange) {
        Value linear = arith::ConstantIndexOp::create(b, loc, 0);
        for (unsigned d = 0; d < rank; ++d)
          linear = arith::AddIOp::create(
              b, loc, arith::MulIOp::create(b, loc, linear, to[d]),
              linalg::IndexOp::create(b, loc, d));
        SmallVector<Value> at(from.size());
        for (int64_t d = int64_t(from.size()) - 1; d >= 0; --d) {
          at[d] = arith::RemUIOp::create(b, loc, linear, from[d]);
          linear = arith::DivUIOp::create(b, loc, linear, from[d]);
        }
        linalg::YieldOp::create(
            b, loc, ValueRange{tensor::ExtractOp::create(b, loc, value, at)});
      });
  return generic.getResult(0);
}

Value mlir::hgc::onnx::buildReshape(GraphBuilder &g, Value value,
                                    ArrayRef<OpFoldResult> sizes) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape = getStaticSizes(sizes);
  if (type.hasStaticShape() && !llvm::is_contained(shape, ShapedType::kDynamic))
    return buildReshape(g, value, shape);
  auto target = RankedTensorType::get(shape, type.getElementType());
  SmallVector<OpFoldResult> source = g.mixedSizes(value);
  if (target == type && llvm::all_of(llvm::zip(source, sizes), [](auto pair) {
        return isSameSize(std::get<0>(pair), std::get<1>(pair));
      }))
    return value;
  bool collapse = source.size() >= sizes.size();
  if (!sizes.empty() && !source.empty())
    if (auto groups =
            collapse ? groupDims(source, sizes) : groupDims(sizes, source)) {
      if (collapse && source.size() == sizes.size())
        return tensor::CastOp::create(g.b, g.loc, target, value);
      if (collapse)
        return tensor::CollapseShapeOp::create(g.b, g.loc, target, value,
                                               *groups);
      return tensor::ExpandShapeOp::create(g.b, g.loc, target, value, *groups,
                                           sizes);
    }
  // A scalar on one side: every dim on the other is 1.
  if (sizes.empty())
    return buildReshape(g,
                        tensor::CastOp::create(
                            g.b, g.loc,
                            type.clone(SmallVector<int64_t>(source.size(), 1)),
                            value),
                        shape);
  if (source.empty())
    return tensor::CastOp::create(
        g.b, g.loc, target,
        buildReshape(g, value, SmallVector<int64_t>(sizes.size(), 1)));
  // No grouping keeps the dynamic dims whole: copy element by element in
  // row-major order (upstream's strided-metadata expansion cannot take an
  // expand_shape group of several dynamic sizes). Only small tensors (mask
  // arithmetic) take this path once the dims pair.
  return buildReshapeCopy(g, value, source, sizes);
}
