//===- StablehloOps.cpp - StableHLO's assembly for the subset ------------===//
//
// Parsers and printers of StableHLO's pretty form (the generic form comes
// from ODS), and the verifiers that keep later lowering total: every shape
// rule the lowering relies on is checked here, with a located error.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Transforms/InliningUtils.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

#include "frontends/stablehlo/StablehloDialect.cpp.inc"
#include "frontends/stablehlo/StablehloEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "frontends/stablehlo/StablehloAttrs.cpp.inc"

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

namespace {
/// `<key = value, ...>` where `parseValue(key)` reads each value.
ParseResult
parseFields(AsmParser &parser,
            function_ref<ParseResult(StringRef, SMLoc)> parseValue) {
  if (parser.parseLess())
    return failure();
  if (succeeded(parser.parseOptionalGreater()))
    return success();
  if (parser.parseCommaSeparatedList([&]() -> ParseResult {
        StringRef key;
        SMLoc loc = parser.getCurrentLocation();
        if (parser.parseKeyword(&key) || parser.parseEqual())
          return failure();
        return parseValue(key, loc);
      }))
    return failure();
  return parser.parseGreater();
}
} // namespace

ParseResult mlir::hgc::shlo::parseDimensionFields(
    AsmParser &parser, ArrayRef<StringRef> listNames, StringRef integerName,
    StringRef what, SmallVectorImpl<SmallVector<int64_t>> &lists,
    int64_t &integer) {
  lists.assign(listNames.size(), {});
  return parseFields(parser, [&](StringRef key, SMLoc loc) -> ParseResult {
    if (key == integerName)
      return parser.parseInteger(integer);
    for (auto [i, name] : llvm::enumerate(listNames))
      if (key == name)
        return parseIntegerList(parser, lists[i]);
    return parser.emitError(loc, "unknown ") << what << " field " << key;
  });
}

void mlir::hgc::shlo::printDimensionFields(AsmPrinter &printer,
                                           ArrayRef<StringRef> listNames,
                                           ArrayRef<ArrayRef<int64_t>> lists,
                                           StringRef integerName,
                                           int64_t integer) {
  printer << '<';
  for (auto [name, values] : llvm::zip(listNames, lists)) {
    if (values.empty())
      continue;
    printer << name << " = ";
    printIntegerList(printer, values);
    printer << ", ";
  }
  printer << integerName << " = " << integer << '>';
}

Attribute DotDimensionNumbersAttr::parse(AsmParser &parser, Type) {
  SmallVector<int64_t> lists[4];
  const char *names[] = {"lhs_batching_dimensions", "rhs_batching_dimensions",
                         "lhs_contracting_dimensions",
                         "rhs_contracting_dimensions"};
  if (parseFields(parser, [&](StringRef key, SMLoc loc) -> ParseResult {
        for (int i = 0; i < 4; ++i)
          if (key == names[i])
            return parseIntegerList(parser, lists[i]);
        return parser.emitError(loc, "unknown dot dimension field ") << key;
      }))
    return {};
  return get(parser.getContext(), lists[0], lists[1], lists[2], lists[3]);
}

void DotDimensionNumbersAttr::print(AsmPrinter &printer) const {
  std::pair<const char *, ArrayRef<int64_t>> fields[] = {
      {"lhs_batching_dimensions", getLhsBatchingDimensions()},
      {"rhs_batching_dimensions", getRhsBatchingDimensions()},
      {"lhs_contracting_dimensions", getLhsContractingDimensions()},
      {"rhs_contracting_dimensions", getRhsContractingDimensions()}};
  printer << '<';
  bool first = true;
  for (auto [name, values] : fields) {
    if (values.empty())
      continue;
    printer << (first ? "" : ", ") << name << " = ";
    printIntegerList(printer, values);
    first = false;
  }
  printer << '>';
}

Attribute DotAlgorithmAttr::parse(AsmParser &parser, Type) {
  Type types[3];
  int64_t counts[3] = {1, 1, 1};
  bool imprecise = false;
  const char *typeNames[] = {"lhs_precision_type", "rhs_precision_type",
                             "accumulation_type"};
  const char *countNames[] = {"lhs_component_count", "rhs_component_count",
                              "num_primitive_operations"};
  if (parseFields(parser, [&](StringRef key, SMLoc loc) -> ParseResult {
        for (int i = 0; i < 3; ++i) {
          if (key == typeNames[i])
            return parser.parseType(types[i]);
          if (key == countNames[i])
            return parser.parseInteger(counts[i]);
        }
        if (key == "allow_imprecise_accumulation") {
          if (succeeded(parser.parseOptionalKeyword("true")))
            imprecise = true;
          else if (parser.parseKeyword("false"))
            return failure();
          return success();
        }
        return parser.emitError(loc, "unknown dot algorithm field ") << key;
      }))
    return {};
  for (Type &type : types)
    if (!type)
      type = FloatType(Float32Type::get(parser.getContext()));
  return get(parser.getContext(), types[0], types[1], types[2], counts[0],
             counts[1], counts[2], imprecise);
}

void DotAlgorithmAttr::print(AsmPrinter &printer) const {
  printer << "<lhs_precision_type = " << getLhsPrecisionType()
          << ", rhs_precision_type = " << getRhsPrecisionType()
          << ", accumulation_type = " << getAccumulationType()
          << ", lhs_component_count = " << getLhsComponentCount()
          << ", rhs_component_count = " << getRhsComponentCount()
          << ", num_primitive_operations = " << getNumPrimitiveOperations()
          << ", allow_imprecise_accumulation = "
          << (getAllowImpreciseAccumulation() ? "true" : "false") << '>';
}

namespace {
/// JAX outlines helpers (@_where, @tril) as private functions; inlining them
/// puts a mask next to the attention it belongs to. Every op of the subset
/// is pure or region-local, so any of them may be inlined.
struct ShloInliner : DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final {
    return true;
  }
  bool isLegalToInline(Region *, Region *, bool, IRMapping &) const final {
    return true;
  }
};
} // namespace

void ShloDialect::initialize() {
  addInterfaces<ShloInliner>();
  addOperations<
#define GET_OP_LIST
#include "frontends/stablehlo/StablehloOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "frontends/stablehlo/StablehloAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Shared pieces
//===----------------------------------------------------------------------===//

ParseResult
mlir::hgc::shlo::parseFunctionalType(OpAsmParser &parser, size_t operands,
                                     SmallVectorImpl<Type> &operandTypes,
                                     SmallVectorImpl<Type> &resultTypes) {
  SMLoc loc = parser.getCurrentLocation();
  FunctionType type;
  if (parser.parseType(type))
    return failure();
  if (type.getNumInputs() != operands)
    return parser.emitError(loc, "expected ")
           << operands << " operand types, got " << type.getNumInputs();
  llvm::append_range(operandTypes, type.getInputs());
  llvm::append_range(resultTypes, type.getResults());
  return success();
}

void mlir::hgc::shlo::printFunctionalType(OpAsmPrinter &printer,
                                          Operation *op) {
  printer.printFunctionalType(op->getOperandTypes(), op->getResultTypes());
}

ParseResult mlir::hgc::shlo::parseSignature(
    OpAsmParser &parser, OperationState &result,
    ArrayRef<OpAsmParser::UnresolvedOperand> operands, SMLoc loc) {
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, operands.size(), operandTypes, resultTypes) ||
      parser.resolveOperands(operands, operandTypes, loc, result.operands))
    return failure();
  result.addTypes(resultTypes);
  return success();
}

ParseResult mlir::hgc::shlo::parseIntegerList(AsmParser &parser,
                                              SmallVectorImpl<int64_t> &out) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
    int64_t value;
    if (parser.parseInteger(value))
      return failure();
    out.push_back(value);
    return success();
  });
}

void mlir::hgc::shlo::printIntegerList(AsmPrinter &printer,
                                       ArrayRef<int64_t> values) {
  printer << '[';
  llvm::interleaveComma(values, printer);
  printer << ']';
}

namespace {

/// `%x, dims = [...] : (A) -> B` for transpose and broadcast_in_dim.
ParseResult parseDimsOp(OpAsmParser &parser, OperationState &result,
                        StringRef property) {
  OpAsmParser::UnresolvedOperand operand;
  SmallVector<int64_t> dims;
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseOperand(operand) || parser.parseComma() ||
      parser.parseKeyword("dims") || parser.parseEqual() ||
      parseIntegerList(parser, dims) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, 1, operandTypes, resultTypes) ||
      parser.resolveOperand(operand, operandTypes[0], result.operands))
    return failure();
  result.addAttribute(property, parser.getBuilder().getDenseI64ArrayAttr(dims));
  result.addTypes(resultTypes);
  return success();
}

void printDimsOp(OpAsmPrinter &printer, Operation *op, ArrayRef<int64_t> dims,
                 StringRef property) {
  printer << ' ' << op->getOperand(0) << ", dims = ";
  printIntegerList(printer, dims);
  printer.printOptionalAttrDict(op->getAttrs(), {property});
  printer << " : ";
  printFunctionalType(printer, op);
}

} // namespace

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

ParseResult mlir::hgc::shlo::parseElementwise(OpAsmParser &parser,
                                              OperationState &result,
                                              int arity) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SMLoc loc = parser.getCurrentLocation();
  Type type;
  if (parser.parseOperandList(operands, arity) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parser.parseType(type))
    return failure();
  SmallVector<Type> operandTypes;
  if (auto function = dyn_cast<FunctionType>(type)) {
    if (function.getNumInputs() != size_t(arity) ||
        function.getNumResults() != 1)
      return parser.emitError(loc, "expected a (")
             << arity << " operand types) -> (1 result type) function type";
    llvm::append_range(operandTypes, function.getInputs());
    result.addTypes(function.getResults());
  } else if (arity == 3 && succeeded(parser.parseOptionalComma())) {
    // select's `: pred_type, result_type`.
    Type resultType;
    if (parser.parseType(resultType))
      return failure();
    operandTypes = {type, resultType, resultType};
    result.addTypes(resultType);
  } else {
    operandTypes.assign(arity, type);
    result.addTypes(type);
  }
  return parser.resolveOperands(operands, operandTypes, loc, result.operands);
}

void mlir::hgc::shlo::printElementwise(OpAsmPrinter &printer, Operation *op) {
  printer << ' ';
  printer.printOperands(op->getOperands());
  printer.printOptionalAttrDict(op->getAttrs());
  printer << " : ";
  Type result = op->getResult(0).getType();
  bool same =
      llvm::all_of(op->getOperandTypes(), [&](Type t) { return t == result; });
  if (same) {
    printer << result;
    return;
  }
  if (op->getNumOperands() == 3 && op->getOperand(1).getType() == result &&
      op->getOperand(2).getType() == result) {
    printer << op->getOperand(0).getType() << ", " << result;
    return;
  }
  printFunctionalType(printer, op);
}

LogicalResult mlir::hgc::shlo::verifyElementwise(Operation *op) {
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
    auto type = cast<RankedTensorType>(operand.getType());
    // select may take a scalar predicate, clamp scalar bounds.
    if (isa<SelectOp>(op) && i == 0 && type.getRank() == 0)
      continue;
    if (isa<ClampOp>(op) && i != 1 && type.getRank() == 0)
      continue;
    if (type.getShape() != result.getShape())
      return op->emitOpError("operand #")
             << i << " of shape " << type << " does not match the result "
             << result;
  }
  if (isa<SelectOp>(op) && !cast<RankedTensorType>(op->getOperand(0).getType())
                                .getElementType()
                                .isInteger(1))
    return op->emitOpError("predicate must be a tensor of i1");
  return success();
}

//===----------------------------------------------------------------------===//
// constant, iota, reshape, transpose, broadcast_in_dim
//===----------------------------------------------------------------------===//

ParseResult ConstantOp::parse(OpAsmParser &parser, OperationState &result) {
  Attribute value;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseOptionalAttrDict(result.attributes) ||
      parser.parseAttribute(value))
    return failure();
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements)
    return parser.emitError(loc, "expected a dense elements attribute");
  result.addAttribute("value", elements);
  result.addTypes(elements.getType());
  return success();
}

void ConstantOp::print(OpAsmPrinter &printer) {
  printer.printOptionalAttrDict((*this)->getAttrs(), {"value"});
  printer << ' ';
  printer.printAttribute(getValue());
}

ParseResult IotaOp::parse(OpAsmParser &parser, OperationState &result) {
  int64_t dimension;
  Type type;
  if (parser.parseKeyword("dim") || parser.parseEqual() ||
      parser.parseInteger(dimension) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parser.parseType(type))
    return failure();
  result.addAttribute("iota_dimension",
                      parser.getBuilder().getI64IntegerAttr(dimension));
  result.addTypes(type);
  return success();
}

void IotaOp::print(OpAsmPrinter &printer) {
  printer << " dim = " << getIotaDimension();
  printer.printOptionalAttrDict((*this)->getAttrs(), {"iota_dimension"});
  printer << " : " << getType();
}

LogicalResult IotaOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (int64_t(getIotaDimension()) >= type.getRank())
    return emitOpError("iota dimension ")
           << getIotaDimension() << " is outside rank " << type.getRank();
  if (!type.getElementType().isIntOrFloat())
    return emitOpError("needs an integer or float element type");
  return success();
}

ParseResult ReshapeOp::parse(OpAsmParser &parser, OperationState &result) {
  OpAsmParser::UnresolvedOperand operand;
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseOperand(operand) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, 1, operandTypes, resultTypes) ||
      parser.resolveOperand(operand, operandTypes[0], result.operands))
    return failure();
  result.addTypes(resultTypes);
  return success();
}

void ReshapeOp::print(OpAsmPrinter &printer) {
  printer << ' ' << getOperand();
  printer.printOptionalAttrDict((*this)->getAttrs());
  printer << " : ";
  printFunctionalType(printer, *this);
}

LogicalResult ReshapeOp::verify() {
  auto from = cast<RankedTensorType>(getOperand().getType());
  auto to = cast<RankedTensorType>(getType());
  if (!from.hasStaticShape() || !to.hasStaticShape())
    return emitOpError("needs static shapes");
  if (from.getNumElements() != to.getNumElements() ||
      from.getElementType() != to.getElementType())
    return emitOpError("cannot reshape ") << from << " into " << to;
  return success();
}

ParseResult TransposeOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseDimsOp(parser, result, "permutation");
}

void TransposeOp::print(OpAsmPrinter &printer) {
  printDimsOp(printer, *this, getPermutation(), "permutation");
}

LogicalResult TransposeOp::verify() {
  auto from = cast<RankedTensorType>(getOperand().getType());
  auto to = cast<RankedTensorType>(getType());
  ArrayRef<int64_t> permutation = getPermutation();
  if (int64_t(permutation.size()) != from.getRank())
    return emitOpError("permutation of ")
           << permutation.size() << " dims for rank " << from.getRank();
  SmallVector<bool> seen(from.getRank(), false);
  for (auto [i, p] : llvm::enumerate(permutation)) {
    if (p < 0 || p >= from.getRank() || seen[p])
      return emitOpError("dims are not a permutation of 0..")
             << from.getRank() - 1;
    seen[p] = true;
    if (to.getRank() != from.getRank() ||
        to.getDimSize(i) != from.getDimSize(p))
      return emitOpError("result ") << to << " is not " << from << " permuted";
  }
  return success();
}

ParseResult BroadcastInDimOp::parse(OpAsmParser &parser,
                                    OperationState &result) {
  return parseDimsOp(parser, result, "broadcast_dimensions");
}

void BroadcastInDimOp::print(OpAsmPrinter &printer) {
  printDimsOp(printer, *this, getBroadcastDimensions(), "broadcast_dimensions");
}

LogicalResult BroadcastInDimOp::verify() {
  auto from = cast<RankedTensorType>(getOperand().getType());
  auto to = cast<RankedTensorType>(getType());
  ArrayRef<int64_t> dims = getBroadcastDimensions();
  if (int64_t(dims.size()) != from.getRank())
    return emitOpError("needs one dim per operand dimension (")
           << from.getRank() << "), got " << dims.size();
  for (auto [i, d] : llvm::enumerate(dims)) {
    if (d < 0 || d >= to.getRank())
      return emitOpError("dim ") << d << " is outside the result rank";
    if (from.getDimSize(i) != 1 && from.getDimSize(i) != to.getDimSize(d))
      return emitOpError("operand dimension ")
             << i << " (" << from.getDimSize(i) << ") cannot broadcast to "
             << to.getDimSize(d);
  }
  if (from.getElementType() != to.getElementType())
    return emitOpError("cannot change the element type");
  return success();
}

//===----------------------------------------------------------------------===//
// compare
//===----------------------------------------------------------------------===//

ParseResult CompareOp::parse(OpAsmParser &parser, OperationState &result) {
  StringRef direction;
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<OpAsmParser::UnresolvedOperand> operands(2);
  if (parser.parseKeyword(&direction) || parser.parseComma() ||
      parser.parseOperand(operands[0]) || parser.parseComma() ||
      parser.parseOperand(operands[1]))
    return failure();
  auto parsed = symbolizeComparisonDirection(direction);
  if (!parsed)
    return parser.emitError(loc, "unknown comparison direction ") << direction;
  MLIRContext *context = parser.getContext();
  result.addAttribute("comparison_direction",
                      ComparisonDirectionAttr::get(context, *parsed));
  if (succeeded(parser.parseOptionalComma())) {
    StringRef kind;
    SMLoc kindLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&kind))
      return failure();
    auto parsedKind = symbolizeComparisonType(kind);
    if (!parsedKind)
      return parser.emitError(kindLoc, "unknown comparison type ") << kind;
    result.addAttribute("compare_type",
                        ComparisonTypeAttr::get(context, *parsedKind));
  }
  return parseSignature(parser, result, operands, loc);
}

void CompareOp::print(OpAsmPrinter &printer) {
  printer << ' ' << stringifyComparisonDirection(getComparisonDirection())
          << ", " << getLhs() << ", " << getRhs();
  if (auto kind = getCompareType())
    printer << ", " << stringifyComparisonType(*kind);
  printer.printOptionalAttrDict((*this)->getAttrs(),
                                {"comparison_direction", "compare_type"});
  printer << " : ";
  printFunctionalType(printer, *this);
}

LogicalResult CompareOp::verify() {
  auto lhs = cast<RankedTensorType>(getLhs().getType());
  auto rhs = cast<RankedTensorType>(getRhs().getType());
  auto result = cast<RankedTensorType>(getType());
  if (lhs != rhs)
    return emitOpError("compares ") << lhs << " with " << rhs;
  if (result.getShape() != lhs.getShape() ||
      !result.getElementType().isInteger(1))
    return emitOpError("result must be i1 of the operands' shape");
  return success();
}

#define GET_OP_CLASSES
#include "frontends/stablehlo/StablehloOps.cpp.inc"
