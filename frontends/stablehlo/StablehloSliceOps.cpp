//===- StablehloSliceOps.cpp - slices, concatenation and padding ---------===//
//
// The pretty forms JAX prints for the data movement of decoders (RoPE
// halves, KV caches written at a position, padding) and their verifiers:
// every shape rule the lowering relies on is checked here.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

namespace {
/// `: (A, B...) -> C`, resolving `operands` against the inputs.
ParseResult parseTypes(OpAsmParser &parser, OperationState &result,
                       ArrayRef<OpAsmParser::UnresolvedOperand> operands) {
  SMLoc loc = parser.getCurrentLocation();
  FunctionType type;
  if (parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parser.parseType(type))
    return failure();
  if (type.getNumInputs() != operands.size() || type.getNumResults() != 1)
    return parser.emitError(loc, "expected (")
           << operands.size() << " operand types) -> (1 result type), got "
           << type;
  result.addTypes(type.getResults());
  return parser.resolveOperands(operands, type.getInputs(), loc,
                                result.operands);
}

void printTypes(OpAsmPrinter &printer, Operation *op,
                ArrayRef<StringRef> elided) {
  printer.printOptionalAttrDict(op->getAttrs(), elided);
  printer << " : ";
  printer.printFunctionalType(op->getOperandTypes(), op->getResultTypes());
}

/// `name = [1, 2]` into attribute `attribute`.
ParseResult parseNamedList(OpAsmParser &parser, OperationState &result,
                           StringRef keyword, StringRef attribute) {
  SmallVector<int64_t> values;
  if (parser.parseKeyword(keyword) || parser.parseEqual() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        return parser.parseInteger(values.emplace_back());
      }))
    return failure();
  result.addAttribute(attribute,
                      parser.getBuilder().getDenseI64ArrayAttr(values));
  return success();
}

void printNamedList(OpAsmPrinter &printer, StringRef keyword,
                    ArrayRef<int64_t> values) {
  printer << keyword << " = [";
  llvm::interleaveComma(values, printer);
  printer << ']';
}

/// `%a, %b, ..., keyword`: operands, each followed by a comma, up to and
/// including `keyword`.
ParseResult
parseOperandsUntil(OpAsmParser &parser, StringRef keyword,
                   SmallVectorImpl<OpAsmParser::UnresolvedOperand> &operands) {
  while (failed(parser.parseOptionalKeyword(keyword)))
    if (parser.parseOperand(operands.emplace_back()) || parser.parseComma())
      return failure();
  return success();
}

RankedTensorType typeOf(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// Start indices: one rank-0 integer tensor per operand dimension.
LogicalResult verifyStartIndices(Operation *op, ValueRange indices,
                                 int64_t rank) {
  if (int64_t(indices.size()) != rank)
    return op->emitOpError("needs one start index per dimension (")
           << rank << "), got " << indices.size();
  for (Value index : indices)
    if (typeOf(index).getRank() != 0 ||
        !isa<IntegerType>(typeOf(index).getElementType()))
      return op->emitOpError("start indices must be rank-0 integer tensors, "
                             "got ")
             << index.getType();
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// concatenate
//===----------------------------------------------------------------------===//

ParseResult ConcatenateOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  int64_t dimension = 0;
  if (parseOperandsUntil(parser, "dim", operands) || parser.parseEqual() ||
      parser.parseInteger(dimension))
    return failure();
  result.addAttribute("dimension",
                      parser.getBuilder().getI64IntegerAttr(dimension));
  return parseTypes(parser, result, operands);
}

void ConcatenateOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printOperands(getInputs());
  printer << ", dim = " << getDimension();
  printTypes(printer, *this, {"dimension"});
}

LogicalResult ConcatenateOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  RankedTensorType result = getType();
  int64_t dimension = getDimension(), rank = result.getRank();
  if (dimension < 0 || dimension >= rank)
    return emitOpError("dimension ")
           << dimension << " is outside rank " << rank;
  int64_t total = 0;
  for (Value input : getInputs()) {
    RankedTensorType type = typeOf(input);
    if (type.getRank() != rank ||
        type.getElementType() != result.getElementType())
      return emitOpError("input ") << type << " does not match " << result;
    for (int64_t d = 0; d < rank; ++d)
      if (d != dimension && type.getDimSize(d) != result.getDimSize(d))
        return emitOpError("input ")
               << type << " differs from the result " << result
               << " outside dimension " << dimension;
    total += type.getDimSize(dimension);
  }
  if (total != result.getDimSize(dimension))
    return emitOpError("inputs hold ")
           << total << " along dimension " << dimension << ", the result "
           << result.getDimSize(dimension);
  return success();
}

//===----------------------------------------------------------------------===//
// slice: `%x [start:limit(:stride), ...]`
//===----------------------------------------------------------------------===//

ParseResult SliceOp::parse(OpAsmParser &parser, OperationState &result) {
  OpAsmParser::UnresolvedOperand operand;
  SmallVector<int64_t> starts, limits, strides;
  if (parser.parseOperand(operand) ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        int64_t start, limit, stride = 1;
        if (parser.parseInteger(start) || parser.parseColon() ||
            parser.parseInteger(limit))
          return failure();
        if (succeeded(parser.parseOptionalColon()) &&
            parser.parseInteger(stride))
          return failure();
        starts.push_back(start);
        limits.push_back(limit);
        strides.push_back(stride);
        return success();
      }))
    return failure();
  Builder &b = parser.getBuilder();
  result.addAttribute("start_indices", b.getDenseI64ArrayAttr(starts));
  result.addAttribute("limit_indices", b.getDenseI64ArrayAttr(limits));
  result.addAttribute("strides", b.getDenseI64ArrayAttr(strides));
  return parseTypes(parser, result, {operand});
}

void SliceOp::print(OpAsmPrinter &printer) {
  printer << ' ' << getOperand() << " [";
  llvm::interleaveComma(
      llvm::zip(getStartIndices(), getLimitIndices(), getStrides()), printer,
      [&](auto triple) {
        auto [start, limit, stride] = triple;
        printer << start << ':' << limit;
        if (stride != 1)
          printer << ':' << stride;
      });
  printer << ']';
  printTypes(printer, *this, {"start_indices", "limit_indices", "strides"});
}

LogicalResult SliceOp::verify() {
  RankedTensorType from = typeOf(getOperand()), to = getType();
  int64_t rank = from.getRank();
  if (int64_t(getStartIndices().size()) != rank ||
      int64_t(getLimitIndices().size()) != rank ||
      int64_t(getStrides().size()) != rank || to.getRank() != rank)
    return emitOpError("needs a start, limit and stride per dimension of ")
           << from;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t start = getStartIndices()[d], limit = getLimitIndices()[d],
            stride = getStrides()[d], size = from.getDimSize(d);
    if (ShapedType::isDynamic(size) || start < 0 || limit < start ||
        limit > size || stride < 1)
      return emitOpError("dimension ")
             << d << ": [" << start << ":" << limit << ":" << stride
             << "] is not a slice of " << size;
    if (to.getDimSize(d) != (limit - start + stride - 1) / stride)
      return emitOpError("result ") << to << " is not the slice's shape";
  }
  if (from.getElementType() != to.getElementType())
    return emitOpError("cannot change the element type");
  return success();
}

//===----------------------------------------------------------------------===//
// dynamic_slice: `%x, %i, %j, sizes = [..]`
//===----------------------------------------------------------------------===//

ParseResult DynamicSliceOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SmallVector<int64_t> sizes;
  if (parseOperandsUntil(parser, "sizes", operands) || parser.parseEqual() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        return parser.parseInteger(sizes.emplace_back());
      }))
    return failure();
  result.addAttribute("slice_sizes",
                      parser.getBuilder().getDenseI64ArrayAttr(sizes));
  return parseTypes(parser, result, operands);
}

void DynamicSliceOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printOperands(getOperation()->getOperands());
  printer << ", ";
  printNamedList(printer, "sizes", getSliceSizes());
  printTypes(printer, *this, {"slice_sizes"});
}

LogicalResult DynamicSliceOp::verify() {
  RankedTensorType from = typeOf(getOperand()), to = getType();
  int64_t rank = from.getRank();
  if (failed(verifyStartIndices(*this, getStartIndices(), rank)))
    return failure();
  if (int64_t(getSliceSizes().size()) != rank || to.getRank() != rank)
    return emitOpError("needs a slice size per dimension of ") << from;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = getSliceSizes()[d];
    if (ShapedType::isDynamic(from.getDimSize(d)) || size < 0 ||
        size > from.getDimSize(d) || to.getDimSize(d) != size)
      return emitOpError("slice size ")
             << size << " of dimension " << d << " does not fit " << from
             << " and " << to;
  }
  if (from.getElementType() != to.getElementType())
    return emitOpError("cannot change the element type");
  return success();
}

//===----------------------------------------------------------------------===//
// dynamic_update_slice: `%x, %update, %i, %j`
//===----------------------------------------------------------------------===//

ParseResult DynamicUpdateSliceOp::parse(OpAsmParser &parser,
                                        OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  if (parser.parseOperandList(operands))
    return failure();
  return parseTypes(parser, result, operands);
}

void DynamicUpdateSliceOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printOperands(getOperation()->getOperands());
  printTypes(printer, *this, {});
}

LogicalResult DynamicUpdateSliceOp::verify() {
  RankedTensorType from = typeOf(getOperand()), update = typeOf(getUpdate());
  int64_t rank = from.getRank();
  if (failed(verifyStartIndices(*this, getStartIndices(), rank)))
    return failure();
  if (getType() != from)
    return emitOpError("result ") << getType() << " is not the operand's type";
  if (update.getRank() != rank ||
      update.getElementType() != from.getElementType())
    return emitOpError("update ") << update << " does not match " << from;
  for (int64_t d = 0; d < rank; ++d)
    if (ShapedType::isDynamic(from.getDimSize(d)) ||
        ShapedType::isDynamic(update.getDimSize(d)) ||
        update.getDimSize(d) > from.getDimSize(d))
      return emitOpError("update ") << update << " does not fit in " << from;
  return success();
}

//===----------------------------------------------------------------------===//
// pad: `%x, %value, low = [..], high = [..], interior = [..]`
//===----------------------------------------------------------------------===//

ParseResult PadOp::parse(OpAsmParser &parser, OperationState &result) {
  OpAsmParser::UnresolvedOperand operand, value;
  if (parser.parseOperand(operand) || parser.parseComma() ||
      parser.parseOperand(value) || parser.parseComma() ||
      parseNamedList(parser, result, "low", "edge_padding_low") ||
      parser.parseComma() ||
      parseNamedList(parser, result, "high", "edge_padding_high") ||
      parser.parseComma() ||
      parseNamedList(parser, result, "interior", "interior_padding"))
    return failure();
  return parseTypes(parser, result, {operand, value});
}

void PadOp::print(OpAsmPrinter &printer) {
  printer << ' ' << getOperand() << ", " << getPaddingValue() << ", ";
  printNamedList(printer, "low", getEdgePaddingLow());
  printer << ", ";
  printNamedList(printer, "high", getEdgePaddingHigh());
  printer << ", ";
  printNamedList(printer, "interior", getInteriorPadding());
  printTypes(printer, *this,
             {"edge_padding_low", "edge_padding_high", "interior_padding"});
}

LogicalResult PadOp::verify() {
  RankedTensorType from = typeOf(getOperand()), to = getType();
  int64_t rank = from.getRank();
  if (typeOf(getPaddingValue()) !=
      RankedTensorType::get({}, from.getElementType()))
    return emitOpError("padding value must be a rank-0 tensor of ")
           << from.getElementType();
  if (int64_t(getEdgePaddingLow().size()) != rank ||
      int64_t(getEdgePaddingHigh().size()) != rank ||
      int64_t(getInteriorPadding().size()) != rank || to.getRank() != rank)
    return emitOpError("needs low, high and interior padding per dimension "
                       "of ")
           << from;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = from.getDimSize(d), interior = getInteriorPadding()[d];
    if (ShapedType::isDynamic(size) || interior < 0)
      return emitOpError("dimension ") << d << " cannot be padded";
    int64_t padded = getEdgePaddingLow()[d] + getEdgePaddingHigh()[d] + size +
                     (size > 0 ? (size - 1) * interior : 0);
    if (to.getDimSize(d) != padded)
      return emitOpError("result ")
             << to << " is not the padded shape (dimension " << d << ": "
             << padded << ")";
  }
  return success();
}
