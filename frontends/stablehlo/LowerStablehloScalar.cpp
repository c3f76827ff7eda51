//===- LowerStablehloScalar.cpp - one element as the spec defines it ------===//
//
// The specification's semantics of one element where arith and math differ
// from it: conversions, comparisons, sign, shifts by the bit width or more,
// and rounding to a narrower float format.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

Value shlo::convertScalar(OpBuilder &b, Location loc, Value x, Type to) {
  Type from = x.getType();
  if (from == to)
    return x;
  auto fromFloat = dyn_cast<FloatType>(from), toFloat = dyn_cast<FloatType>(to);
  if (fromFloat && toFloat)
    return fromFloat.getWidth() < toFloat.getWidth()
               ? arith::ExtFOp::create(b, loc, to, x).getResult()
               : arith::TruncFOp::create(b, loc, to, x).getResult();
  if (to.isInteger(1)) {
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(from));
    return fromFloat ? arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE,
                                             x, zero)
                           .getResult()
                     : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                             x, zero)
                           .getResult();
  }
  if (fromFloat)
    return arith::FPToSIOp::create(b, loc, to, x);
  bool unsignedSource = from.isInteger(1);
  if (toFloat)
    return unsignedSource ? arith::UIToFPOp::create(b, loc, to, x).getResult()
                          : arith::SIToFPOp::create(b, loc, to, x).getResult();
  unsigned fromWidth = from.getIntOrFloatBitWidth(),
           toWidth = to.getIntOrFloatBitWidth();
  if (fromWidth < toWidth)
    return unsignedSource ? arith::ExtUIOp::create(b, loc, to, x).getResult()
                          : arith::ExtSIOp::create(b, loc, to, x).getResult();
  return arith::TruncIOp::create(b, loc, to, x);
}

namespace {
arith::CmpFPredicate floatPredicate(ComparisonDirection direction) {
  switch (direction) {
  case ComparisonDirection::EQ:
    return arith::CmpFPredicate::OEQ;
  case ComparisonDirection::NE:
    return arith::CmpFPredicate::UNE;
  case ComparisonDirection::GE:
    return arith::CmpFPredicate::OGE;
  case ComparisonDirection::GT:
    return arith::CmpFPredicate::OGT;
  case ComparisonDirection::LE:
    return arith::CmpFPredicate::OLE;
  case ComparisonDirection::LT:
    return arith::CmpFPredicate::OLT;
  }
  llvm_unreachable("comparison direction");
}

arith::CmpIPredicate integerPredicate(ComparisonDirection direction,
                                      bool isUnsigned) {
  using P = arith::CmpIPredicate;
  switch (direction) {
  case ComparisonDirection::EQ:
    return P::eq;
  case ComparisonDirection::NE:
    return P::ne;
  case ComparisonDirection::GE:
    return isUnsigned ? P::uge : P::sge;
  case ComparisonDirection::GT:
    return isUnsigned ? P::ugt : P::sgt;
  case ComparisonDirection::LE:
    return isUnsigned ? P::ule : P::sle;
  case ComparisonDirection::LT:
    return isUnsigned ? P::ult : P::slt;
  }
  llvm_unreachable("comparison direction");
}

} // namespace

Value shlo::emitCompare(OpBuilder &b, Location loc, CompareOp op, Value lhs,
                        Value rhs) {
  Type operand = lhs.getType();
  if (isa<FloatType>(operand))
    return arith::CmpFOp::create(
        b, loc, floatPredicate(op.getComparisonDirection()), lhs, rhs);
  bool isUnsigned =
      operand.isInteger(1) || op.getCompareType() == ComparisonType::UNSIGNED;
  return arith::CmpIOp::create(
      b, loc, integerPredicate(op.getComparisonDirection(), isUnsigned), lhs,
      rhs);
}

Value shlo::emitSign(OpBuilder &b, Location loc, Value x) {
  Type type = x.getType();
  if (isa<FloatType>(type)) {
    Value one = arith::ConstantOp::create(b, loc, b.getFloatAttr(type, 1));
    Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(type, 0));
    // x == 0 or NaN (unordered): x itself.
    Value keep =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UEQ, x, zero);
    return arith::SelectOp::create(b, loc, keep, x,
                                   math::CopySignOp::create(b, loc, one, x));
  }
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  Value one = arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, 1));
  Value minusOne =
      arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, -1));
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, zero);
  Value positive =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, x, zero);
  return arith::SelectOp::create(
      b, loc, negative, minusOne,
      arith::SelectOp::create(b, loc, positive, one, zero));
}

Value shlo::emitShift(OpBuilder &b, Location loc, Operation *op,
                      ValueRange args) {
  Type type = args[0].getType();
  unsigned width = type.getIntOrFloatBitWidth();
  Value bits = arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, width));
  Value tooFar =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, args[1], bits);
  if (isa<ShiftRightArithmeticOp>(op)) {
    Value last =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, width - 1));
    Value amount = arith::SelectOp::create(b, loc, tooFar, last, args[1]);
    return arith::ShRSIOp::create(b, loc, args[0], amount);
  }
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  Value safe = arith::SelectOp::create(b, loc, tooFar, zero, args[1]);
  Value shifted =
      isa<ShiftLeftOp>(op)
          ? arith::ShLIOp::create(b, loc, args[0], safe).getResult()
          : arith::ShRUIOp::create(b, loc, args[0], safe).getResult();
  return arith::SelectOp::create(b, loc, tooFar, zero, shifted);
}

Value shlo::emitReducePrecision(OpBuilder &b, Location loc, Value x,
                                int exponentBits, int mantissaBits) {
  auto floatType = cast<FloatType>(x.getType());
  unsigned width = floatType.getWidth();
  int sourceMantissa = floatType.getFPMantissaWidth() - 1;
  int sourceExponent = width - 1 - sourceMantissa;
  Type intType = b.getIntegerType(width);
  auto constant = [&](uint64_t value) -> Value {
    return arith::ConstantOp::create(
        b, loc, b.getIntegerAttr(intType, APInt(width, value)));
  };
  Value bits = arith::BitcastOp::create(b, loc, intType, x);
  if (mantissaBits < sourceMantissa) {
    int dropped = sourceMantissa - mantissaBits;
    uint64_t lastKept = uint64_t(1) << dropped;
    // Adding half an ulp less one, plus the last kept bit, rounds ties to
    // even; a carry into the exponent is the correct rounding up.
    Value lastBit = arith::ShRUIOp::create(
        b, loc, arith::AndIOp::create(b, loc, bits, constant(lastKept)),
        constant(dropped));
    Value bias =
        arith::AddIOp::create(b, loc, lastBit, constant((lastKept >> 1) - 1));
    bits =
        arith::AndIOp::create(b, loc, arith::AddIOp::create(b, loc, bits, bias),
                              constant(~(lastKept - 1)));
  }
  if (exponentBits < sourceExponent) {
    uint64_t signMask = uint64_t(1) << (width - 1);
    uint64_t exponentMask = ((uint64_t(1) << sourceExponent) - 1)
                            << sourceMantissa;
    uint64_t sourceBias = (uint64_t(1) << (sourceExponent - 1)) - 1;
    uint64_t reducedBias = (uint64_t(1) << (exponentBits - 1)) - 1;
    Value exponent =
        arith::AndIOp::create(b, loc, bits, constant(exponentMask));
    Value overflows = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ugt, exponent,
        constant((sourceBias + reducedBias) << sourceMantissa));
    Value underflows = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ule, exponent,
        constant((sourceBias - reducedBias) << sourceMantissa));
    Value signedZero = arith::AndIOp::create(b, loc, bits, constant(signMask));
    Value signedInfinity =
        arith::OrIOp::create(b, loc, signedZero, constant(exponentMask));
    bits = arith::SelectOp::create(
        b, loc, overflows, signedInfinity,
        arith::SelectOp::create(b, loc, underflows, signedZero, bits));
  }
  Value result = arith::BitcastOp::create(b, loc, floatType, bits);
  Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  return arith::SelectOp::create(b, loc, isNaN, x, result);
}
