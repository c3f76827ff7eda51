//===- StablehloDialect.h - the StableHLO subset hgc imports ----*- C++ -*-===//

#ifndef HGC_FRONTENDS_STABLEHLO_STABLEHLODIALECT_H
#define HGC_FRONTENDS_STABLEHLO_STABLEHLODIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "frontends/stablehlo/StablehloDialect.h.inc"
#include "frontends/stablehlo/StablehloEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "frontends/stablehlo/StablehloAttrs.h.inc"

namespace mlir::hgc::shlo {
// Shared by the elementwise ops' parsers, printers and verifiers.
ParseResult parseElementwise(OpAsmParser &parser, OperationState &result,
                             int arity);
void printElementwise(OpAsmPrinter &printer, Operation *op);
LogicalResult verifyElementwise(Operation *op);

/// `(A, B) -> C` into operand and result types, `operands` inputs expected.
ParseResult parseFunctionalType(OpAsmParser &parser, size_t operands,
                                SmallVectorImpl<Type> &operandTypes,
                                SmallVectorImpl<Type> &resultTypes);
void printFunctionalType(OpAsmPrinter &printer, Operation *op);
/// `{attrs} : (A, B) -> C` after an op's operands: the types resolve
/// `operands` (parsed at `loc`) and become the results.
ParseResult parseSignature(OpAsmParser &parser, OperationState &result,
                           ArrayRef<OpAsmParser::UnresolvedOperand> operands,
                           SMLoc loc);
/// `[1, 2, 3]` (possibly empty).
ParseResult parseIntegerList(AsmParser &parser, SmallVectorImpl<int64_t> &out);
void printIntegerList(AsmPrinter &printer, ArrayRef<int64_t> values);

/// `<a = [..], b = [..], ..., last = N>`: the dimension numbers of gather and
/// scatter, integer lists named `listNames` (empty ones may be left out)
/// then the integer `integerName`; `what` names the attribute in errors.
ParseResult parseDimensionFields(AsmParser &parser,
                                 ArrayRef<StringRef> listNames,
                                 StringRef integerName, StringRef what,
                                 SmallVectorImpl<SmallVector<int64_t>> &lists,
                                 int64_t &integer);
void printDimensionFields(AsmPrinter &printer, ArrayRef<StringRef> listNames,
                          ArrayRef<ArrayRef<int64_t>> lists,
                          StringRef integerName, int64_t integer);
} // namespace mlir::hgc::shlo

#define GET_OP_CLASSES
#include "frontends/stablehlo/StablehloOps.h.inc"

namespace mlir::hgc::shlo {
/// The stablehlo.return ending the single block of `region`, or null when
/// the block is empty or ends otherwise. Verifiers run before MLIR checks a
/// block's terminator, so they must not assume one (Block::getTerminator
/// of an empty block reads out of bounds).
ReturnOp returnOf(Region &region);

/// Replaces every stablehlo.composite under `root` by a call of its
/// decomposition (its meaning), so inlining exposes what it computes.
void callDecompositions(Operation *root);
} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_STABLEHLODIALECT_H
