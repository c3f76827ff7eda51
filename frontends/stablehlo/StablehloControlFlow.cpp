//===- StablehloControlFlow.cpp - while, case, if and precision ops ------===//
//
// The loops and branches JAX writes for lax.scan, fori_loop, cond and
// switch, in the forms JAX prints (while pretty, case and if generic), and
// the two value-preserving ops decoders carry (optimization_barrier,
// reduce_precision). The verifiers check what the lowering to scf relies
// on: every region returns the types its op promises.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

ReturnOp mlir::hgc::shlo::returnOf(Region &region) {
  if (region.empty() || region.front().empty())
    return nullptr;
  return dyn_cast<ReturnOp>(region.front().back());
}

namespace {
/// That the single block of `region` takes no arguments and ends in a
/// stablehlo.return of `types`; `what` names the region in errors.
LogicalResult verifyReturns(Operation *op, Region &region, TypeRange types,
                            StringRef what) {
  ReturnOp ret = returnOf(region);
  if (!ret)
    return op->emitOpError() << what << " must end in stablehlo.return";
  if (ret->getOperandTypes() != types) {
    InFlightDiagnostic diag = op->emitOpError()
                              << what << " returns (" << ret->getOperandTypes()
                              << ") where (" << types << ") is expected";
    diag.attachNote(ret->getLoc()) << "returned here";
    return diag;
  }
  return success();
}

/// Each branch of a case or if: no arguments, returns the result types.
LogicalResult verifyBranches(Operation *op, MutableArrayRef<Region> branches) {
  if (branches.empty())
    return op->emitOpError("needs at least one branch");
  for (auto [i, branch] : llvm::enumerate(branches)) {
    std::string what = "branch #" + std::to_string(i);
    if (branch.front().getNumArguments())
      return op->emitOpError() << what << " must take no arguments";
    if (failed(verifyReturns(op, branch, op->getResultTypes(), what)))
      return failure();
  }
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// while
//===----------------------------------------------------------------------===//

ParseResult WhileOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::Argument> iterArgs;
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLParen())
    return failure();
  if (failed(parser.parseOptionalRParen())) {
    do {
      if (parser.parseArgument(iterArgs.emplace_back()) ||
          parser.parseEqual() || parser.parseOperand(operands.emplace_back()))
        return failure();
    } while (succeeded(parser.parseOptionalComma()));
    if (parser.parseRParen() || parser.parseColon() ||
        parser.parseTypeList(result.types))
      return failure();
  }
  if (result.types.size() != operands.size())
    return parser.emitError(loc, "expected ")
           << operands.size() << " types, got " << result.types.size();
  for (auto [arg, type] : llvm::zip(iterArgs, result.types))
    arg.type = type;
  if (parser.resolveOperands(operands, result.types, loc, result.operands) ||
      parser.parseOptionalAttrDictWithKeyword(result.attributes) ||
      parser.parseKeyword("cond") ||
      parser.parseRegion(*result.addRegion(), iterArgs) ||
      parser.parseKeyword("do") ||
      parser.parseRegion(*result.addRegion(), iterArgs))
    return failure();
  return success();
}

void WhileOp::print(OpAsmPrinter &printer) {
  // The iteration values are named once, here; both regions number their
  // arguments alike (getAsmBlockArgumentNames), so the names match.
  printer << '(';
  llvm::interleaveComma(llvm::zip(getBody().getArguments(), getOperand()),
                        printer, [&](auto pair) {
                          printer.printOperand(std::get<0>(pair));
                          printer << " = ";
                          printer.printOperand(std::get<1>(pair));
                        });
  printer << ')';
  if (!getOperand().empty())
    printer << " : " << getOperand().getTypes();
  printer.printOptionalAttrDictWithKeyword((*this)->getAttrs());
  printer.printNewline();
  printer << " cond ";
  printer.printRegion(getCond(), /*printEntryBlockArgs=*/false);
  printer << " do ";
  printer.printRegion(getBody(), /*printEntryBlockArgs=*/false);
}

void WhileOp::getAsmBlockArgumentNames(Region &region,
                                       OpAsmSetValueNameFn setNameFn) {
  for (BlockArgument arg : region.getArguments())
    setNameFn(arg, "iterArg");
}

LogicalResult WhileOp::verify() {
  TypeRange types = getOperand().getTypes();
  if (getResultTypes() != types)
    return emitOpError("results (")
           << getResultTypes() << ") differ from the operands (" << types
           << ")";
  for (auto [region, what] :
       {std::pair<Region *, StringRef>{&getCond(), "cond"},
        std::pair<Region *, StringRef>{&getBody(), "body"}})
    if (region->getArgumentTypes() != types)
      return emitOpError() << what << " takes (" << region->getArgumentTypes()
                           << ") where (" << types << ") is expected";
  auto predicate = RankedTensorType::get({}, IntegerType::get(getContext(), 1));
  if (failed(verifyReturns(*this, getCond(), predicate, "cond")))
    return failure();
  return verifyReturns(*this, getBody(), types, "body");
}

//===----------------------------------------------------------------------===//
// case and if
//===----------------------------------------------------------------------===//

LogicalResult CaseOp::verify() { return verifyBranches(*this, getBranches()); }

LogicalResult IfOp::verify() {
  return verifyBranches(*this, (*this)->getRegions());
}

//===----------------------------------------------------------------------===//
// optimization_barrier and reduce_precision
//===----------------------------------------------------------------------===//

ParseResult OptimizationBarrierOp::parse(OpAsmParser &parser,
                                         OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseOptionalAttrDict(result.attributes))
    return failure();
  if (succeeded(parser.parseOptionalLParen()))
    return parser.parseRParen();
  if (parser.parseOperandList(operands) || parser.parseColon() ||
      parser.parseTypeList(result.types))
    return failure();
  return parser.resolveOperands(operands, result.types, loc, result.operands);
}

void OptimizationBarrierOp::print(OpAsmPrinter &printer) {
  printer.printOptionalAttrDict((*this)->getAttrs());
  if (getOperand().empty()) {
    printer << " ()";
    return;
  }
  printer << ' ' << getOperand() << " : " << getOperand().getTypes();
}

LogicalResult OptimizationBarrierOp::verify() {
  if (getResultTypes() != getOperand().getTypes())
    return emitOpError("results must have the operands' types");
  return success();
}

ParseResult ReducePrecisionOp::parse(OpAsmParser &parser,
                                     OperationState &result) {
  OpAsmParser::UnresolvedOperand operand;
  SMLoc formatLoc;
  StringRef format;
  Type type;
  if (parser.parseOperand(operand) || parser.parseComma() ||
      parser.parseKeyword("format") || parser.parseEqual() ||
      (formatLoc = parser.getCurrentLocation(), false) ||
      parser.parseKeyword(&format))
    return failure();
  // eXmY: X exponent bits, Y mantissa bits.
  int exponent = 0, mantissa = 0;
  auto [exponentText, mantissaText] = format.drop_front().split('m');
  if (!format.starts_with("e") || exponentText.getAsInteger(10, exponent) ||
      mantissaText.getAsInteger(10, mantissa))
    return parser.emitError(formatLoc, "expected a format like e5m10");
  Builder &b = parser.getBuilder();
  result.addAttribute("exponent_bits", b.getI32IntegerAttr(exponent));
  result.addAttribute("mantissa_bits", b.getI32IntegerAttr(mantissa));
  if (parser.parseOptionalAttrDict(result.attributes) || parser.parseColon() ||
      parser.parseType(type))
    return failure();
  // `: T` or `: (T) -> T`.
  Type operandType = type, resultType = type;
  if (auto function = dyn_cast<FunctionType>(type)) {
    if (function.getNumInputs() != 1 || function.getNumResults() != 1)
      return parser.emitError(formatLoc, "expected (T) -> T, got ") << type;
    operandType = function.getInput(0);
    resultType = function.getResult(0);
  }
  result.addTypes(resultType);
  return parser.resolveOperand(operand, operandType, result.operands);
}

void ReducePrecisionOp::print(OpAsmPrinter &printer) {
  printer << ' ' << getOperand() << ", format = e" << getExponentBits() << 'm'
          << getMantissaBits();
  printer.printOptionalAttrDict((*this)->getAttrs(),
                                {"exponent_bits", "mantissa_bits"});
  printer << " : " << getOperand().getType();
}

LogicalResult ReducePrecisionOp::verify() {
  if (getOperand().getType() != getOutput().getType())
    return emitOpError("result type ")
           << getOutput().getType() << " differs from the operand's "
           << getOperand().getType();
  return success();
}
