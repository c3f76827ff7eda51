//===- StablehloComputeOps.cpp - contractions, reductions and calls -------===//
//
// The pretty forms and verifiers of dot_general, reduce (with its return),
// custom_call and composite: the ops whose operands combine through
// dimension numbers or a body, checked so the lowering can assume them.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

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
  return parseSignature(parser, result, operands, loc);
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
    ReturnOp ret = returnOf(getBody());
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
  ReturnOp ret = returnOf(getBody());
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
  if (parser.parseSymbolName(target) ||
      parser.parseOperandList(operands, AsmParser::Delimiter::Paren) ||
      parseSignature(parser, result, operands, loc))
    return failure();
  result.addAttribute("call_target_name", target);
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
  if (parser.parseString(&name) || parser.parseOperandList(operands) ||
      parseSignature(parser, result, operands, loc))
    return failure();
  result.addAttribute("name", parser.getBuilder().getStringAttr(name));
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
