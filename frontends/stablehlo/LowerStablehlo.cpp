//===- LowerStablehlo.cpp - the StableHLO subset to upstream dialects ----===//
//
// Each op becomes upstream ops on tensors with the StableHLO specification's
// semantics, so an imported program runs through hgc's host pipeline and the
// attention in it can be raised like an ONNX model's. Ops are rewritten in
// program order; a reduce's body is translated to scalars with its op, a
// loop's or branch's region moves into its scf op and is lowered in turn.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"
#include "frontends/stablehlo/Passes.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/TypeSwitch.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_LOWERSTABLEHLOPASS
#include "frontends/stablehlo/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

namespace {

Type elementOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

/// Integers are signless in arith; StableHLO's unsigned types are not
/// imported (JAX's attention programs use signed and boolean integers).
LogicalResult checkElementType(Operation *op) {
  for (Type type :
       llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes())) {
    Type element = getElementTypeOrSelf(type);
    if (auto integer = dyn_cast<IntegerType>(element);
        integer && !integer.isSignless())
      return op->emitOpError("has element type ")
             << element
             << ", which hgc does not import (signless integers only)";
    if (isa<ComplexType>(element))
      return op->emitOpError(
          "has a complex element type, which hgc does not import");
  }
  return success();
}

/// The scalar `x` converted from `from` to `to` as stablehlo.convert does:
/// floats round to nearest, floats to integers truncate toward zero, i1 is
/// unsigned (true = 1), integers to i1 compare with zero.
Value convertScalar(OpBuilder &b, Location loc, Value x, Type to) {
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

/// sign(x): -1, 0 or 1 (floats keep the zero's sign and NaN).
Value emitSign(OpBuilder &b, Location loc, Value x) {
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

/// Shifts as the spec defines them for any amount: by the bit width or more
/// (as unsigned), left and logical shifts give 0 and the arithmetic one the
/// sign (arith's shifts are poison there).
Value emitShift(OpBuilder &b, Location loc, Operation *op, ValueRange args) {
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

/// `x` rounded to a float with `exponentBits` and `mantissaBits` and
/// widened back, on its bits as XLA does: round to nearest even in the
/// mantissa, then out-of-range exponents to signed infinity or zero (no
/// subnormals); NaN stays NaN.
Value emitReducePrecision(OpBuilder &b, Location loc, Value x, int exponentBits,
                          int mantissaBits) {
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

/// The scalar body of elementwise `op` on element values `args`, or null
/// when `op` is not elementwise.
Value emitScalar(OpBuilder &b, Operation *op, ValueRange args, Type result) {
  Location loc = op->getLoc();
  Type element = args.empty() ? result : args.back().getType();
  bool isFloat = isa<FloatType>(element);
  auto binary = [&](auto floatOp, auto intOp) -> Value {
    using F = decltype(floatOp);
    using I = decltype(intOp);
    if (isFloat)
      return F::create(b, loc, args[0], args[1]);
    return I::create(b, loc, args[0], args[1]);
  };
  return llvm::TypeSwitch<Operation *, Value>(op)
      .Case([&](AddOp) { return binary(arith::AddFOp(), arith::AddIOp()); })
      .Case(
          [&](SubtractOp) { return binary(arith::SubFOp(), arith::SubIOp()); })
      .Case(
          [&](MultiplyOp) { return binary(arith::MulFOp(), arith::MulIOp()); })
      .Case([&](DivideOp) { return binary(arith::DivFOp(), arith::DivSIOp()); })
      .Case([&](MaximumOp) {
        return binary(arith::MaximumFOp(), arith::MaxSIOp());
      })
      .Case([&](MinimumOp) {
        return binary(arith::MinimumFOp(), arith::MinSIOp());
      })
      .Case([&](PowerOp) -> Value {
        if (!isFloat)
          return nullptr;
        return math::PowFOp::create(b, loc, args[0], args[1]);
      })
      .Case([&](AndOp) -> Value {
        return arith::AndIOp::create(b, loc, args[0], args[1]);
      })
      .Case([&](OrOp) -> Value {
        return arith::OrIOp::create(b, loc, args[0], args[1]);
      })
      .Case(
          [&](ExpOp) -> Value { return math::ExpOp::create(b, loc, args[0]); })
      .Case(
          [&](LogOp) -> Value { return math::LogOp::create(b, loc, args[0]); })
      .Case([&](TanhOp) -> Value {
        return math::TanhOp::create(b, loc, args[0]);
      })
      .Case([&](LogisticOp) -> Value {
        // 1 / (1 + exp(-x))
        Value one =
            arith::ConstantOp::create(b, loc, b.getFloatAttr(element, 1));
        Value e =
            math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, args[0]));
        return arith::DivFOp::create(b, loc, one,
                                     arith::AddFOp::create(b, loc, one, e));
      })
      .Case([&](NegOp) -> Value {
        if (isFloat)
          return arith::NegFOp::create(b, loc, args[0]);
        Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
        return arith::SubIOp::create(b, loc, zero, args[0]);
      })
      .Case([&](SqrtOp) -> Value {
        return math::SqrtOp::create(b, loc, args[0]);
      })
      .Case([&](RsqrtOp) -> Value {
        return math::RsqrtOp::create(b, loc, args[0]);
      })
      .Case([&](AbsOp) -> Value {
        if (isFloat)
          return math::AbsFOp::create(b, loc, args[0]);
        return math::AbsIOp::create(b, loc, args[0]);
      })
      .Case([&](NotOp) -> Value {
        Value ones = arith::ConstantOp::create(
            b, loc,
            b.getIntegerAttr(
                element, APInt::getAllOnes(element.getIntOrFloatBitWidth())));
        return arith::XOrIOp::create(b, loc, args[0], ones);
      })
      .Case([&](ConvertOp) { return convertScalar(b, loc, args[0], result); })
      .Case([&](XorOp) -> Value {
        return arith::XOrIOp::create(b, loc, args[0], args[1]);
      })
      .Case([&](RemainderOp) {
        return binary(arith::RemFOp(), arith::RemSIOp());
      })
      .Case([&](Atan2Op) -> Value {
        return math::Atan2Op::create(b, loc, args[0], args[1]);
      })
      .Case([&](ShiftLeftOp) { return emitShift(b, loc, op, args); })
      .Case([&](ShiftRightArithmeticOp) { return emitShift(b, loc, op, args); })
      .Case([&](ShiftRightLogicalOp) { return emitShift(b, loc, op, args); })
      .Case([&](CosineOp) -> Value {
        return math::CosOp::create(b, loc, args[0]);
      })
      .Case(
          [&](SineOp) -> Value { return math::SinOp::create(b, loc, args[0]); })
      .Case(
          [&](TanOp) -> Value { return math::TanOp::create(b, loc, args[0]); })
      .Case([&](FloorOp) -> Value {
        return math::FloorOp::create(b, loc, args[0]);
      })
      .Case([&](CeilOp) -> Value {
        return math::CeilOp::create(b, loc, args[0]);
      })
      .Case([&](RoundNearestEvenOp) -> Value {
        return math::RoundEvenOp::create(b, loc, args[0]);
      })
      .Case([&](RoundNearestAfzOp) -> Value {
        return math::RoundOp::create(b, loc, args[0]);
      })
      .Case([&](SignOp) { return emitSign(b, loc, args[0]); })
      .Case([&](ReducePrecisionOp reduce) {
        return emitReducePrecision(b, loc, args[0], reduce.getExponentBits(),
                                   reduce.getMantissaBits());
      })
      .Case([&](Expm1Op) -> Value {
        return math::ExpM1Op::create(b, loc, args[0]);
      })
      .Case([&](Log1pOp) -> Value {
        return math::Log1pOp::create(b, loc, args[0]);
      })
      .Case([&](CbrtOp) -> Value {
        return math::CbrtOp::create(b, loc, args[0]);
      })
      .Case([&](IsFiniteOp) -> Value {
        return math::IsFiniteOp::create(b, loc, args[0]);
      })
      .Case([&](ClampOp) -> Value {
        if (isFloat)
          return arith::MinimumFOp::create(
              b, loc, arith::MaximumFOp::create(b, loc, args[1], args[0]),
              args[2]);
        return arith::MinSIOp::create(
            b, loc, arith::MaxSIOp::create(b, loc, args[1], args[0]), args[2]);
      })
      .Case([&](SelectOp) -> Value {
        return arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
      })
      .Case([&](CompareOp compare) -> Value {
        Type operand = args[0].getType();
        if (isa<FloatType>(operand))
          return arith::CmpFOp::create(
              b, loc, floatPredicate(compare.getComparisonDirection()), args[0],
              args[1]);
        bool isUnsigned = operand.isInteger(1) ||
                          compare.getCompareType() == ComparisonType::UNSIGNED;
        return arith::CmpIOp::create(
            b, loc,
            integerPredicate(compare.getComparisonDirection(), isUnsigned),
            args[0], args[1]);
      })
      .Default([](Operation *) { return Value(); });
}

Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type) {
  return tensor::EmptyOp::create(b, loc, type.getShape(),
                                 type.getElementType());
}

/// linalg.generic over `resultType`'s shape with identity maps (rank-0
/// operands broadcast), body `emitScalar`.
FailureOr<Value> lowerElementwise(OpBuilder &b, Operation *op) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  Location loc = op->getLoc();
  int64_t rank = resultType.getRank();
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value operand : op->getOperands()) {
    auto type = cast<RankedTensorType>(operand.getType());
    maps.push_back(type.getRank() == 0 && rank > 0
                       ? AffineMap::get(rank, 0, {}, context)
                       : AffineMap::getMultiDimIdentityMap(rank, context));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, context));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  bool failedBody = false;
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, op->getOperands(), emptyLike(b, loc, resultType),
      maps, iterators, [&](OpBuilder &nested, Location, ValueRange args) {
        Value v = emitScalar(nested, op, args.drop_back(),
                             resultType.getElementType());
        if (!v) {
          failedBody = true;
          v = args.back();
        }
        linalg::YieldOp::create(nested, loc, v);
      });
  if (failedBody) {
    generic->erase();
    return op->emitOpError("has no lowering for ") << resultType;
  }
  return generic.getResult(0);
}

/// The groups of an expand_shape from `from` to `to` when the broadcast
/// only inserts unit dimensions (`dims` in order, sizes kept): a view, where
/// a copy would rewrite a whole KV cache to add its layer axis.
std::optional<SmallVector<ReassociationIndices>>
unitInsertion(RankedTensorType from, RankedTensorType to,
              ArrayRef<int64_t> dims) {
  if (from.getRank() == 0 || !llvm::is_sorted(dims) ||
      llvm::adjacent_find(dims) != dims.end())
    return std::nullopt;
  SmallVector<ReassociationIndices> groups(from.getRank());
  size_t next = 0; // the operand dimension result dims join
  for (int64_t d = 0; d < to.getRank(); ++d) {
    if (next < dims.size() && dims[next] == d) {
      if (to.getDimSize(d) != from.getDimSize(next))
        return std::nullopt;
      groups[next++].push_back(d);
      continue;
    }
    if (to.getDimSize(d) != 1)
      return std::nullopt;
    // Leading and inner unit dims join the next mapped one, trailing ones
    // the last: every group stays contiguous.
    groups[std::min(next, dims.size() - 1)].push_back(d);
  }
  return groups;
}

FailureOr<Value> lowerBroadcast(OpBuilder &b, BroadcastInDimOp op) {
  auto from = cast<RankedTensorType>(op.getOperand().getType());
  auto to = cast<RankedTensorType>(op.getType());
  if (from == to && llvm::equal(op.getBroadcastDimensions(),
                                llvm::seq<int64_t>(0, to.getRank())))
    return op.getOperand();
  if (auto groups = unitInsertion(from, to, op.getBroadcastDimensions());
      groups && from.getRank() < to.getRank())
    return tensor::ExpandShapeOp::create(b, op.getLoc(), to, op.getOperand(),
                                         *groups)
        .getResult();
  MLIRContext *context = b.getContext();
  SmallVector<AffineExpr> exprs;
  for (auto [i, d] : llvm::enumerate(op.getBroadcastDimensions()))
    exprs.push_back(from.getDimSize(i) == 1 && to.getDimSize(d) != 1
                        ? getAffineConstantExpr(0, context)
                        : getAffineDimExpr(d, context));
  int64_t rank = to.getRank();
  SmallVector<AffineMap> maps = {
      AffineMap::get(rank, 0, exprs, context),
      AffineMap::getMultiDimIdentityMap(rank, context)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Location loc = op.getLoc();
  return linalg::GenericOp::create(
             b, loc, to, ValueRange{op.getOperand()}, emptyLike(b, loc, to),
             maps, iterators,
             [&](OpBuilder &nested, Location, ValueRange args) {
               linalg::YieldOp::create(nested, loc, args[0]);
             })
      .getResult(0);
}

FailureOr<Value> lowerIota(OpBuilder &b, IotaOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  int64_t rank = type.getRank();
  Location loc = op.getLoc();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(rank, b.getContext())};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{}, emptyLike(b, loc, type), maps,
             iterators,
             [&](OpBuilder &nested, Location, ValueRange) {
               Value i =
                   linalg::IndexOp::create(nested, loc, op.getIotaDimension());
               Type element = type.getElementType();
               Value v = arith::IndexCastOp::create(nested, loc,
                                                    nested.getI64Type(), i);
               v = convertScalar(nested, loc, v, element);
               linalg::YieldOp::create(nested, loc, v);
             })
      .getResult(0);
}

/// One generic over loops (result dims..., contracting dims...).
FailureOr<Value> lowerDotGeneral(OpBuilder &b, DotGeneralOp op) {
  auto lhsType = cast<RankedTensorType>(op.getLhs().getType());
  auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  DotDimensionNumbersAttr dims = op.getDotDimensionNumbers();
  ArrayRef<int64_t> lhsBatch = dims.getLhsBatchingDimensions(),
                    rhsBatch = dims.getRhsBatchingDimensions(),
                    lhsContract = dims.getLhsContractingDimensions(),
                    rhsContract = dims.getRhsContractingDimensions();
  MLIRContext *context = b.getContext();
  int64_t results = resultType.getRank();
  int64_t loops = results + int64_t(lhsContract.size());
  int64_t batch = lhsBatch.size();
  int64_t lhsFree = lhsType.getRank() - batch - int64_t(lhsContract.size());
  auto operandMap = [&](RankedTensorType type, ArrayRef<int64_t> batching,
                        ArrayRef<int64_t> contracting, int64_t freeBase) {
    SmallVector<AffineExpr> exprs;
    int64_t free = 0;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (auto *it = llvm::find(batching, d); it != batching.end())
        exprs.push_back(getAffineDimExpr(it - batching.begin(), context));
      else if (auto *jt = llvm::find(contracting, d); jt != contracting.end())
        exprs.push_back(
            getAffineDimExpr(results + (jt - contracting.begin()), context));
      else
        exprs.push_back(getAffineDimExpr(freeBase + free++, context));
    }
    return AffineMap::get(loops, 0, exprs, context);
  };
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < results; ++d)
    outExprs.push_back(getAffineDimExpr(d, context));
  SmallVector<AffineMap> maps = {
      operandMap(lhsType, lhsBatch, lhsContract, batch),
      operandMap(rhsType, rhsBatch, rhsContract, batch + lhsFree),
      AffineMap::get(loops, 0, outExprs, context)};
  SmallVector<utils::IteratorType> iterators(results,
                                             utils::IteratorType::parallel);
  iterators.append(lhsContract.size(), utils::IteratorType::reduction);
  // Narrow float results accumulate in f32 and round once.
  Type element = resultType.getElementType();
  Type accumulator = element;
  if (auto floatType = dyn_cast<FloatType>(element);
      floatType && floatType.getWidth() < 32)
    accumulator = b.getF32Type();
  auto accType = RankedTensorType::get(resultType.getShape(), accumulator);
  Location loc = op.getLoc();
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accumulator));
  Value init = linalg::FillOp::create(b, loc, zero, emptyLike(b, loc, accType))
                   .getResult(0);
  bool isFloat = isa<FloatType>(accumulator);
  Value sum =
      linalg::GenericOp::create(
          b, loc, accType, ValueRange{op.getLhs(), op.getRhs()}, init, maps,
          iterators,
          [&](OpBuilder &nested, Location, ValueRange args) {
            Value x = convertScalar(nested, loc, args[0], accumulator);
            Value y = convertScalar(nested, loc, args[1], accumulator);
            Value product =
                isFloat ? arith::MulFOp::create(nested, loc, x, y).getResult()
                        : arith::MulIOp::create(nested, loc, x, y).getResult();
            Value next =
                isFloat ? arith::AddFOp::create(nested, loc, args[2], product)
                              .getResult()
                        : arith::AddIOp::create(nested, loc, args[2], product)
                              .getResult();
            linalg::YieldOp::create(nested, loc, next);
          })
          .getResult(0);
  if (accumulator == element)
    return sum;
  SmallVector<AffineMap> identity(
      2, AffineMap::getMultiDimIdentityMap(results, context));
  SmallVector<utils::IteratorType> parallel(results,
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, resultType, ValueRange{sum}, emptyLike(b, loc, resultType),
             identity, parallel,
             [&](OpBuilder &nested, Location, ValueRange args) {
               linalg::YieldOp::create(
                   nested, loc, convertScalar(nested, loc, args[0], element));
             })
      .getResult(0);
}

/// linalg.reduce of every input at once (argmax is a reduce of values and
/// indices), the reducer translated to scalars.
FailureOr<SmallVector<Value>> lowerReduce(OpBuilder &b, ReduceOp op) {
  Location loc = op.getLoc();
  size_t n = op.getInputs().size();
  SmallVector<Value> inits;
  for (auto [init, result] : llvm::zip(op.getInitValues(), op.getResults())) {
    Value scalar = tensor::ExtractOp::create(b, loc, init, ValueRange{});
    inits.push_back(
        linalg::FillOp::create(
            b, loc, scalar,
            emptyLike(b, loc, cast<RankedTensorType>(result.getType())))
            .getResult(0));
  }
  Block &body = op.getBody().front();
  LogicalResult bodyResult = success();
  auto reduce = linalg::ReduceOp::create(
      b, loc, op.getInputs(), inits, op.getDimensions(),
      [&](OpBuilder &nested, Location, ValueRange args) {
        // linalg's (elements..., accumulators...); the reducer's
        // (accumulators..., elements...), rank-0 tensors there, scalars here.
        IRMapping scalars;
        for (size_t i = 0; i < n; ++i) {
          scalars.map(body.getArgument(i), args[n + i]);
          scalars.map(body.getArgument(n + i), args[i]);
        }
        for (Operation &inner : body.without_terminator()) {
          SmallVector<Value> operands;
          for (Value v : inner.getOperands())
            operands.push_back(scalars.lookupOrNull(v));
          Value v;
          if (inner.getNumResults() == 1 &&
              llvm::all_of(operands, [](Value x) { return bool(x); }))
            v = emitScalar(nested, &inner, operands,
                           elementOf(inner.getResult(0)));
          if (!v) {
            if (succeeded(bodyResult))
              bodyResult = inner.emitOpError("is not supported in a reducer");
            v = args[n];
          }
          for (Value result : inner.getResults())
            scalars.map(result, v);
        }
        SmallVector<Value> yielded;
        for (auto [i, v] :
             llvm::enumerate(body.getTerminator()->getOperands())) {
          Value scalar = scalars.lookupOrNull(v);
          yielded.push_back(scalar && scalar.getType() == args[n + i].getType()
                                ? scalar
                                : args[n + i]);
        }
        linalg::YieldOp::create(nested, loc, yielded);
      });
  if (failed(bodyResult)) {
    reduce->erase();
    return failure();
  }
  return SmallVector<Value>(reduce->getResults());
}

/// A collapse or expand where dims merge or split in order (a view of the
/// operand's buffer: a layer's weights sliced from a scanned stack stay in
/// place), else a tensor.reshape.
FailureOr<Value> lowerReshape(OpBuilder &b, ReshapeOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  auto source = cast<RankedTensorType>(op.getOperand().getType());
  Location loc = op.getLoc();
  if (type == source)
    return op.getOperand();
  if (source.getRank() > 0 && type.getRank() > 0 &&
      source.getRank() != type.getRank())
    if (std::optional<SmallVector<ReassociationIndices>> groups =
            getReassociationIndicesForReshape(source, type)) {
      if (source.getRank() > type.getRank())
        return tensor::CollapseShapeOp::create(b, loc, type, op.getOperand(),
                                               *groups)
            .getResult();
      return tensor::ExpandShapeOp::create(b, loc, type, op.getOperand(),
                                           *groups)
          .getResult();
    }
  auto shapeType = RankedTensorType::get({type.getRank()}, b.getI64Type());
  Value shape = arith::ConstantOp::create(
      b, loc, DenseIntElementsAttr::get(shapeType, type.getShape()));
  return tensor::ReshapeOp::create(b, loc, type, op.getOperand(), shape)
      .getResult();
}

FailureOr<Value> lowerTranspose(OpBuilder &b, TransposeOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  Location loc = op.getLoc();
  return linalg::TransposeOp::create(b, loc, op.getOperand(),
                                     emptyLike(b, loc, type),
                                     op.getPermutation())
      ->getResult(0);
}

LogicalResult lowerOp(IRRewriter &rewriter, Operation *op) {
  if (failed(checkElementType(op)))
    return failure();
  rewriter.setInsertionPoint(op);
  if (auto custom = dyn_cast<CustomCallOp>(op))
    return op->emitOpError("target '")
           << custom.getCallTargetName() << "' is not supported";
  if (lowerControlFlow(rewriter, op))
    return success();
  if (auto reduce = dyn_cast<ReduceOp>(op)) {
    FailureOr<SmallVector<Value>> results = lowerReduce(rewriter, reduce);
    if (failed(results))
      return failure();
    rewriter.replaceOp(op, *results);
    return success();
  }
  FailureOr<Value> lowered =
      llvm::TypeSwitch<Operation *, FailureOr<Value>>(op)
          .Case([&](ConstantOp c) -> FailureOr<Value> {
            return arith::ConstantOp::create(rewriter, op->getLoc(),
                                             cast<TypedAttr>(c.getValue()))
                .getResult();
          })
          .Case([&](BroadcastInDimOp o) { return lowerBroadcast(rewriter, o); })
          .Case([&](IotaOp o) { return lowerIota(rewriter, o); })
          .Case([&](DotGeneralOp o) { return lowerDotGeneral(rewriter, o); })
          .Case([&](ReshapeOp o) { return lowerReshape(rewriter, o); })
          .Case([&](TransposeOp o) { return lowerTranspose(rewriter, o); })
          .Case([&](ConcatenateOp o) { return lowerConcatenate(rewriter, o); })
          .Case([&](SliceOp o) { return lowerSlice(rewriter, o); })
          .Case(
              [&](DynamicSliceOp o) { return lowerDynamicSlice(rewriter, o); })
          .Case([&](DynamicUpdateSliceOp o) {
            return lowerDynamicUpdateSlice(rewriter, o);
          })
          .Case([&](PadOp o) { return lowerPad(rewriter, o); })
          .Case([&](GatherOp o) { return lowerGather(rewriter, o); })
          .Case([&](ScatterOp o) { return lowerScatter(rewriter, o); })
          .Default([&](Operation *o) -> FailureOr<Value> {
            if (o->getNumResults() != 1 ||
                !isa<RankedTensorType>(o->getResult(0).getType()))
              return o->emitOpError("is not expected here");
            return lowerElementwise(rewriter, o);
          });
  if (failed(lowered))
    return failure();
  rewriter.replaceOp(op, *lowered);
  return success();
}

struct LowerStablehloPass
    : hgc::impl::LowerStablehloPassBase<LowerStablehloPass> {
  void runOnOperation() override {
    callDecompositions(getOperation());
    SmallVector<Operation *> ops;
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (!isa<ShloDialect>(op->getDialect()))
        return WalkResult::advance();
      // A region's return goes with the op that owns the region.
      if (isa<ReturnOp>(op))
        return WalkResult::advance();
      ops.push_back(op);
      // A reduce's or scatter's body goes with it.
      return isa<ReduceOp, ScatterOp>(op) ? WalkResult::skip()
                                          : WalkResult::advance();
    });
    IRRewriter rewriter(&getContext());
    bool failed = false;
    for (Operation *op : ops)
      if (mlir::failed(lowerOp(rewriter, op)))
        failed = true;
    if (failed)
      signalPassFailure();
  }
};

} // namespace

Value shlo::emitElementwiseScalar(OpBuilder &b, Operation *op, ValueRange args,
                                  Type result) {
  return emitScalar(b, op, args, result);
}

void shlo::callDecompositions(Operation *root) {
  SmallVector<CompositeOp> composites;
  root->walk([&](CompositeOp op) { composites.push_back(op); });
  IRRewriter rewriter(root->getContext());
  for (CompositeOp composite : composites) {
    rewriter.setInsertionPoint(composite);
    auto call = func::CallOp::create(
        rewriter, composite.getLoc(), composite.getDecompositionAttr(),
        composite->getResultTypes(), composite.getInputs());
    rewriter.replaceOp(composite, call.getResults());
  }
}
