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

static ParseResult parseIntegerList(AsmParser &parser,
                                    SmallVectorImpl<int64_t> &out);
static void printIntegerList(AsmPrinter &printer, ArrayRef<int64_t> values);

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

namespace {

/// `(A, B) -> C` into operand and result types.
ParseResult parseFunctionalType(OpAsmParser &parser, size_t operands,
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

void printFunctionalType(OpAsmPrinter &printer, Operation *op) {
  printer.printFunctionalType(op->getOperandTypes(), op->getResultTypes());
}

} // namespace

/// `[1, 2, 3]` (possibly empty).
static ParseResult parseIntegerList(AsmParser &parser,
                                    SmallVectorImpl<int64_t> &out) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
    int64_t value;
    if (parser.parseInteger(value))
      return failure();
    out.push_back(value);
    return success();
  });
}

static void printIntegerList(AsmPrinter &printer, ArrayRef<int64_t> values) {
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
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, 2, operandTypes, resultTypes) ||
      parser.resolveOperands(operands, operandTypes, loc, result.operands))
    return failure();
  result.addTypes(resultTypes);
  return success();
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

//===----------------------------------------------------------------------===//
// dot_general
//===----------------------------------------------------------------------===//

ParseResult DotGeneralOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands(2);
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseOperand(operands[0]) || parser.parseComma() ||
      parser.parseOperand(operands[1]))
    return failure();
  SmallVector<int64_t> lhsBatch, rhsBatch, lhsContract, rhsContract;
  MLIRContext *context = parser.getContext();
  while (succeeded(parser.parseOptionalComma())) {
    StringRef key;
    SMLoc keyLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return failure();
    if (key == "batching_dims" || key == "contracting_dims") {
      auto &lhs = key == "batching_dims" ? lhsBatch : lhsContract;
      auto &rhs = key == "batching_dims" ? rhsBatch : rhsContract;
      if (parseIntegerList(parser, lhs) || parser.parseKeyword("x") ||
          parseIntegerList(parser, rhs))
        return failure();
    } else if (key == "precision") {
      SmallVector<Attribute> precisions;
      if (parser.parseCommaSeparatedList(
              AsmParser::Delimiter::Square, [&]() -> ParseResult {
                StringRef name;
                SMLoc nameLoc = parser.getCurrentLocation();
                if (parser.parseKeyword(&name))
                  return failure();
                auto precision = symbolizePrecision(name);
                if (!precision)
                  return parser.emitError(nameLoc, "unknown precision ")
                         << name;
                precisions.push_back(PrecisionAttr::get(context, *precision));
                return success();
              }))
        return failure();
      result.addAttribute("precision_config",
                          ArrayAttr::get(context, precisions));
    } else if (key == "algorithm") {
      Attribute algorithm = DotAlgorithmAttr::parse(parser, Type());
      if (!algorithm)
        return failure();
      result.addAttribute("algorithm", algorithm);
    } else {
      return parser.emitError(keyLoc, "unknown dot_general field '")
             << key << "'";
    }
  }
  result.addAttribute("dot_dimension_numbers",
                      DotDimensionNumbersAttr::get(context, lhsBatch, rhsBatch,
                                                   lhsContract, rhsContract));
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, 2, operandTypes, resultTypes) ||
      parser.resolveOperands(operands, operandTypes, loc, result.operands))
    return failure();
  result.addTypes(resultTypes);
  return success();
}

void DotGeneralOp::print(OpAsmPrinter &printer) {
  DotDimensionNumbersAttr dims = getDotDimensionNumbers();
  printer << ' ' << getLhs() << ", " << getRhs();
  if (!dims.getLhsBatchingDimensions().empty() ||
      !dims.getRhsBatchingDimensions().empty()) {
    printer << ", batching_dims = ";
    printIntegerList(printer, dims.getLhsBatchingDimensions());
    printer << " x ";
    printIntegerList(printer, dims.getRhsBatchingDimensions());
  }
  printer << ", contracting_dims = ";
  printIntegerList(printer, dims.getLhsContractingDimensions());
  printer << " x ";
  printIntegerList(printer, dims.getRhsContractingDimensions());
  if (auto precisions = getPrecisionConfig()) {
    printer << ", precision = [";
    llvm::interleaveComma(*precisions, printer, [&](Attribute a) {
      printer << stringifyPrecision(cast<PrecisionAttr>(a).getValue());
    });
    printer << ']';
  }
  if (auto algorithm = getAlgorithm()) {
    printer << ", algorithm = ";
    algorithm->print(printer);
  }
  printer.printOptionalAttrDict(
      (*this)->getAttrs(),
      {"dot_dimension_numbers", "precision_config", "algorithm"});
  printer << " : ";
  printFunctionalType(printer, *this);
}

LogicalResult DotGeneralOp::verify() {
  auto lhs = cast<RankedTensorType>(getLhs().getType());
  auto rhs = cast<RankedTensorType>(getRhs().getType());
  auto result = cast<RankedTensorType>(getType());
  DotDimensionNumbersAttr dims = getDotDimensionNumbers();
  auto check = [&](ArrayRef<int64_t> list, RankedTensorType type,
                   StringRef what,
                   SmallVectorImpl<bool> &used) -> LogicalResult {
    for (int64_t d : list) {
      if (d < 0 || d >= type.getRank() || used[d])
        return emitOpError(what)
               << " dimension " << d << " is invalid for " << type;
      used[d] = true;
    }
    return success();
  };
  SmallVector<bool> lhsUsed(lhs.getRank(), false),
      rhsUsed(rhs.getRank(), false);
  if (failed(check(dims.getLhsBatchingDimensions(), lhs, "lhs batching",
                   lhsUsed)) ||
      failed(check(dims.getRhsBatchingDimensions(), rhs, "rhs batching",
                   rhsUsed)) ||
      failed(check(dims.getLhsContractingDimensions(), lhs, "lhs contracting",
                   lhsUsed)) ||
      failed(check(dims.getRhsContractingDimensions(), rhs, "rhs contracting",
                   rhsUsed)))
    return failure();
  if (dims.getLhsBatchingDimensions().size() !=
          dims.getRhsBatchingDimensions().size() ||
      dims.getLhsContractingDimensions().size() !=
          dims.getRhsContractingDimensions().size())
    return emitOpError("needs as many lhs as rhs batching and contracting "
                       "dimensions");
  SmallVector<int64_t> shape;
  for (auto [l, r] : llvm::zip(dims.getLhsBatchingDimensions(),
                               dims.getRhsBatchingDimensions())) {
    if (lhs.getDimSize(l) != rhs.getDimSize(r))
      return emitOpError("batching dimensions differ in size");
    shape.push_back(lhs.getDimSize(l));
  }
  for (auto [l, r] : llvm::zip(dims.getLhsContractingDimensions(),
                               dims.getRhsContractingDimensions()))
    if (lhs.getDimSize(l) != rhs.getDimSize(r))
      return emitOpError("contracting dimensions differ in size");
  for (int64_t d = 0; d < lhs.getRank(); ++d)
    if (!lhsUsed[d])
      shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < rhs.getRank(); ++d)
    if (!rhsUsed[d])
      shape.push_back(rhs.getDimSize(d));
  if (ArrayRef(shape) != result.getShape())
    return emitOpError("result ")
           << result << " is not batch x lhs free x rhs free dimensions";
  return success();
}

//===----------------------------------------------------------------------===//
// reduce and return
//===----------------------------------------------------------------------===//

ParseResult ReduceOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> inputs, inits;
  SMLoc loc = parser.getCurrentLocation();
  auto parsePair = [&]() -> ParseResult {
    OpAsmParser::UnresolvedOperand input, init;
    if (parser.parseLParen() || parser.parseOperand(input) ||
        parser.parseKeyword("init") || parser.parseColon() ||
        parser.parseOperand(init) || parser.parseRParen())
      return failure();
    inputs.push_back(input);
    inits.push_back(init);
    return success();
  };
  if (parsePair())
    return failure();
  while (succeeded(parser.parseOptionalComma()))
    if (parsePair())
      return failure();
  // `applies stablehlo.maximum`: a body of that one op.
  std::optional<OperationName> applied;
  SMLoc appliedLoc = parser.getCurrentLocation();
  if (succeeded(parser.parseOptionalKeyword("applies"))) {
    FailureOr<OperationName> name = parser.parseCustomOperationName();
    if (failed(name))
      return failure();
    applied = *name;
    if (!applied->isRegistered())
      return parser.emitError(appliedLoc, "unknown reducer op ")
             << applied->getStringRef();
  }
  SmallVector<int64_t> dimensions;
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseKeyword("across") || parser.parseKeyword("dimensions") ||
      parser.parseEqual() || parseIntegerList(parser, dimensions) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, 2 * inputs.size(), operandTypes, resultTypes))
    return failure();
  SmallVector<OpAsmParser::UnresolvedOperand> all(inputs);
  all.append(inits);
  if (parser.resolveOperands(all, operandTypes, loc, result.operands))
    return failure();
  result.addAttribute("dimensions",
                      parser.getBuilder().getDenseI64ArrayAttr(dimensions));
  result.addTypes(resultTypes);
  Region *body = result.addRegion();
  size_t n = inputs.size();
  if (applied) {
    if (n != 1)
      return parser.emitError(appliedLoc, "`applies` needs a single input");
    Type scalar = operandTypes[1];
    OpBuilder builder(parser.getContext());
    Location at = result.location;
    Block *block = builder.createBlock(body, {}, {scalar, scalar}, {at, at});
    OperationState state(at, *applied);
    state.addOperands(block->getArguments());
    state.addTypes(scalar);
    Operation *op = builder.create(state);
    ReturnOp::create(builder, at, op->getResults());
    return success();
  }
  // reducer(%acc0: T, %x0: T) (%acc1: U, %x1: U) ... { body }: the block
  // takes every accumulator, then every input element.
  if (parser.parseKeyword("reducer"))
    return failure();
  SmallVector<OpAsmParser::Argument> accumulators, elements;
  for (size_t i = 0; i < n; ++i) {
    OpAsmParser::Argument acc, x;
    if (parser.parseLParen() || parser.parseArgument(acc, /*allowType=*/true) ||
        parser.parseComma() || parser.parseArgument(x, /*allowType=*/true) ||
        parser.parseRParen())
      return failure();
    accumulators.push_back(acc);
    elements.push_back(x);
  }
  SmallVector<OpAsmParser::Argument> arguments(accumulators);
  arguments.append(elements);
  return parser.parseRegion(*body, arguments);
}

void ReduceOp::print(OpAsmPrinter &printer) {
  size_t n = getInputs().size();
  printer << '(';
  for (size_t i = 0; i < n; ++i) {
    if (i)
      printer << "), (";
    printer << getInputs()[i] << " init: " << getInitValues()[i];
  }
  printer << ')';
  Block &block = getBody().front();
  Operation *single = nullptr;
  if (n == 1 && block.getOperations().size() == 2) {
    Operation &first = block.front();
    auto ret = dyn_cast<ReturnOp>(block.back());
    if (first.getNumOperands() == 2 &&
        first.getOperand(0) == block.getArgument(0) &&
        first.getOperand(1) == block.getArgument(1) && ret &&
        ret->getNumOperands() == 1 && ret->getOperand(0) == first.getResult(0))
      single = &first;
  }
  if (single)
    printer << " applies " << single->getName();
  printer << " across dimensions = ";
  printIntegerList(printer, getDimensions());
  printer.printOptionalAttrDict((*this)->getAttrs(), {"dimensions"});
  printer << " : ";
  printFunctionalType(printer, *this);
  if (single)
    return;
  printer.printNewline();
  printer << " reducer";
  for (size_t i = 0; i < n; ++i) {
    printer << '(';
    printer.printRegionArgument(block.getArgument(i));
    printer << ", ";
    printer.printRegionArgument(block.getArgument(n + i));
    printer << ')';
  }
  printer << ' ';
  printer.printRegion(getBody(), /*printEntryBlockArgs=*/false);
}

LogicalResult ReduceOp::verify() {
  size_t n = getInputs().size();
  if (n == 0 || getResults().size() != n)
    return emitOpError("needs as many inputs, init values and results");
  Block &block = getBody().front();
  if (block.getNumArguments() != 2 * n)
    return emitOpError("reducer takes ") << 2 * n << " arguments";
  auto first = cast<RankedTensorType>(getInputs()[0].getType());
  for (int64_t d : getDimensions())
    if (d < 0 || d >= first.getRank())
      return emitOpError("dimension ")
             << d << " is outside rank " << first.getRank();
  for (size_t i = 0; i < n; ++i) {
    auto input = cast<RankedTensorType>(getInputs()[i].getType());
    auto init = cast<RankedTensorType>(getInitValues()[i].getType());
    auto result = cast<RankedTensorType>(getResults()[i].getType());
    if (init.getRank() != 0 || init.getElementType() != input.getElementType())
      return emitOpError("init value #")
             << i << " must be a scalar tensor of " << input.getElementType();
    SmallVector<int64_t> kept;
    for (int64_t d = 0; d < input.getRank(); ++d)
      if (!llvm::is_contained(getDimensions(), d))
        kept.push_back(input.getDimSize(d));
    if (result.getShape() != ArrayRef(kept) ||
        result.getElementType() != input.getElementType())
      return emitOpError("result #") << i << " " << result
                                     << " is not the input without the "
                                        "reduced dimensions";
  }
  auto ret = dyn_cast<ReturnOp>(block.getTerminator());
  if (!ret || ret->getNumOperands() != n)
    return emitOpError("reducer must return ") << n << " values";
  return success();
}

ParseResult ReturnOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SmallVector<Type> types;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseOperandList(operands) ||
      parser.parseOptionalAttrDict(result.attributes))
    return failure();
  if (!operands.empty() && (parser.parseColon() || parser.parseTypeList(types)))
    return failure();
  return parser.resolveOperands(operands, types, loc, result.operands);
}

void ReturnOp::print(OpAsmPrinter &printer) {
  if (getNumOperands()) {
    printer << ' ';
    printer.printOperands(getOperands());
  }
  printer.printOptionalAttrDict((*this)->getAttrs());
  if (getNumOperands())
    printer << " : " << getOperandTypes();
}

//===----------------------------------------------------------------------===//
// custom_call and composite
//===----------------------------------------------------------------------===//

ParseResult CustomCallOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr target;
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseSymbolName(target) ||
      parser.parseOperandList(operands, AsmParser::Delimiter::Paren) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, operands.size(), operandTypes, resultTypes) ||
      parser.resolveOperands(operands, operandTypes, loc, result.operands))
    return failure();
  result.addAttribute("call_target_name", target);
  result.addTypes(resultTypes);
  return success();
}

void CustomCallOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printSymbolName(getCallTargetName());
  printer << '(';
  printer.printOperands(getInputs());
  printer << ')';
  printer.printOptionalAttrDict((*this)->getAttrs(), {"call_target_name"});
  printer << " : ";
  printFunctionalType(printer, *this);
}

ParseResult CompositeOp::parse(OpAsmParser &parser, OperationState &result) {
  std::string name;
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<Type> operandTypes, resultTypes;
  if (parser.parseString(&name) || parser.parseOperandList(operands) ||
      parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parseFunctionalType(parser, operands.size(), operandTypes, resultTypes) ||
      parser.resolveOperands(operands, operandTypes, loc, result.operands))
    return failure();
  result.addAttribute("name", parser.getBuilder().getStringAttr(name));
  result.addTypes(resultTypes);
  return success();
}

void CompositeOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printString(getName());
  printer << ' ';
  printer.printOperands(getInputs());
  printer.printOptionalAttrDict((*this)->getAttrs(), {"name"});
  printer << " : ";
  printFunctionalType(printer, *this);
}

#define GET_OP_CLASSES
#include "frontends/stablehlo/StablehloOps.cpp.inc"
