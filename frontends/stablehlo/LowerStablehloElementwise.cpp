//===- LowerStablehloElementwise.cpp - elementwise ops to linalg.generic --===//
//
// Each elementwise op becomes a linalg.generic over its result whose body is
// the op on one element. `ScalarBody<Op>` maps an op class to that body, and
// one templated pattern per op class builds the generic around it; reduce's
// and scatter's combiners reuse the bodies through `emitElementwiseScalar`.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::shlo;

namespace {

/// One element's operands and result type, what a scalar body builds on.
struct ScalarArgs {
  OpBuilder &b;
  Location loc;
  ValueRange args;
  Type result;

  /// The type the op computes in: its last operand's (compare's operands,
  /// select's and clamp's values), the result's for nullary ops.
  Type element() const { return args.empty() ? result : args.back().getType(); }
  bool isFloat() const { return isa<FloatType>(element()); }
};

/// `FloatOp` on float elements, `IntOp` on integers.
template <typename FloatOp, typename IntOp = FloatOp> struct Binary {
  static Value build(const ScalarArgs &s, Operation *) {
    if (s.isFloat())
      return FloatOp::create(s.b, s.loc, s.args[0], s.args[1]);
    return IntOp::create(s.b, s.loc, s.args[0], s.args[1]);
  }
};

template <typename FloatOp, typename IntOp = FloatOp> struct Unary {
  static Value build(const ScalarArgs &s, Operation *) {
    if (s.isFloat())
      return FloatOp::create(s.b, s.loc, s.args[0]);
    return IntOp::create(s.b, s.loc, s.args[0]);
  }
};

struct Shift {
  static Value build(const ScalarArgs &s, Operation *op) {
    return emitShift(s.b, s.loc, op, s.args);
  }
};

/// The scalar body of each elementwise op class.
template <typename OpTy> struct ScalarBody;

template <> struct ScalarBody<AddOp> : Binary<arith::AddFOp, arith::AddIOp> {};
template <>
struct ScalarBody<SubtractOp> : Binary<arith::SubFOp, arith::SubIOp> {};
template <>
struct ScalarBody<MultiplyOp> : Binary<arith::MulFOp, arith::MulIOp> {};
template <>
struct ScalarBody<DivideOp> : Binary<arith::DivFOp, arith::DivSIOp> {};
template <>
struct ScalarBody<MaximumOp> : Binary<arith::MaximumFOp, arith::MaxSIOp> {};
template <>
struct ScalarBody<MinimumOp> : Binary<arith::MinimumFOp, arith::MinSIOp> {};
template <>
struct ScalarBody<RemainderOp> : Binary<arith::RemFOp, arith::RemSIOp> {};
template <> struct ScalarBody<AndOp> : Binary<arith::AndIOp> {};
template <> struct ScalarBody<OrOp> : Binary<arith::OrIOp> {};
template <> struct ScalarBody<XorOp> : Binary<arith::XOrIOp> {};
template <> struct ScalarBody<Atan2Op> : Binary<math::Atan2Op> {};
template <> struct ScalarBody<ShiftLeftOp> : Shift {};
template <> struct ScalarBody<ShiftRightArithmeticOp> : Shift {};
template <> struct ScalarBody<ShiftRightLogicalOp> : Shift {};
template <> struct ScalarBody<ExpOp> : Unary<math::ExpOp> {};
template <> struct ScalarBody<LogOp> : Unary<math::LogOp> {};
template <> struct ScalarBody<TanhOp> : Unary<math::TanhOp> {};
template <> struct ScalarBody<SqrtOp> : Unary<math::SqrtOp> {};
template <> struct ScalarBody<RsqrtOp> : Unary<math::RsqrtOp> {};
template <> struct ScalarBody<AbsOp> : Unary<math::AbsFOp, math::AbsIOp> {};
template <> struct ScalarBody<CosineOp> : Unary<math::CosOp> {};
template <> struct ScalarBody<SineOp> : Unary<math::SinOp> {};
template <> struct ScalarBody<TanOp> : Unary<math::TanOp> {};
template <> struct ScalarBody<FloorOp> : Unary<math::FloorOp> {};
template <> struct ScalarBody<CeilOp> : Unary<math::CeilOp> {};
template <> struct ScalarBody<RoundNearestEvenOp> : Unary<math::RoundEvenOp> {};
template <> struct ScalarBody<RoundNearestAfzOp> : Unary<math::RoundOp> {};
template <> struct ScalarBody<Expm1Op> : Unary<math::ExpM1Op> {};
template <> struct ScalarBody<Log1pOp> : Unary<math::Log1pOp> {};
template <> struct ScalarBody<CbrtOp> : Unary<math::CbrtOp> {};
template <> struct ScalarBody<IsFiniteOp> : Unary<math::IsFiniteOp> {};

/// Float only: null (no lowering) for integers.
template <> struct ScalarBody<PowerOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    if (!s.isFloat())
      return nullptr;
    return math::PowFOp::create(s.b, s.loc, s.args[0], s.args[1]);
  }
};

template <> struct ScalarBody<NegOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    if (s.isFloat())
      return arith::NegFOp::create(s.b, s.loc, s.args[0]);
    Value zero =
        arith::ConstantOp::create(s.b, s.loc, s.b.getZeroAttr(s.element()));
    return arith::SubIOp::create(s.b, s.loc, zero, s.args[0]);
  }
};

/// 1 / (1 + exp(-x)).
template <> struct ScalarBody<LogisticOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    OpBuilder &b = s.b;
    Value one =
        arith::ConstantOp::create(b, s.loc, b.getFloatAttr(s.element(), 1));
    Value e = math::ExpOp::create(b, s.loc,
                                  arith::NegFOp::create(b, s.loc, s.args[0]));
    return arith::DivFOp::create(b, s.loc, one,
                                 arith::AddFOp::create(b, s.loc, one, e));
  }
};

/// Bitwise not: xor with all ones.
template <> struct ScalarBody<NotOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    Type element = s.element();
    Value ones = arith::ConstantOp::create(
        s.b, s.loc,
        s.b.getIntegerAttr(element,
                           APInt::getAllOnes(element.getIntOrFloatBitWidth())));
    return arith::XOrIOp::create(s.b, s.loc, s.args[0], ones);
  }
};

template <> struct ScalarBody<ConvertOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    return convertScalar(s.b, s.loc, s.args[0], s.result);
  }
};

template <> struct ScalarBody<SignOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    return emitSign(s.b, s.loc, s.args[0]);
  }
};

template <> struct ScalarBody<ReducePrecisionOp> {
  static Value build(const ScalarArgs &s, ReducePrecisionOp op) {
    return emitReducePrecision(s.b, s.loc, s.args[0], op.getExponentBits(),
                               op.getMantissaBits());
  }
};

/// min(max(operand, low), high) with the arguments (low, operand, high).
template <> struct ScalarBody<ClampOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    OpBuilder &b = s.b;
    ValueRange args = s.args;
    if (s.isFloat())
      return arith::MinimumFOp::create(
          b, s.loc, arith::MaximumFOp::create(b, s.loc, args[1], args[0]),
          args[2]);
    return arith::MinSIOp::create(
        b, s.loc, arith::MaxSIOp::create(b, s.loc, args[1], args[0]), args[2]);
  }
};

template <> struct ScalarBody<SelectOp> {
  static Value build(const ScalarArgs &s, Operation *) {
    return arith::SelectOp::create(s.b, s.loc, s.args[0], s.args[1], s.args[2]);
  }
};

template <> struct ScalarBody<CompareOp> {
  static Value build(const ScalarArgs &s, CompareOp op) {
    return emitCompare(s.b, s.loc, op, s.args[0], s.args[1]);
  }
};

/// linalg.generic over the result's shape with identity maps (rank-0
/// operands broadcast) and `OpTy`'s scalar body.
template <typename OpTy> struct ElementwiseToGeneric : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!resultType)
      return op->emitOpError("is not expected here");
    Location loc = op->getLoc();
    int64_t rank = resultType.getRank();
    SmallVector<AffineMap> maps;
    for (Value operand : op->getOperands())
      maps.push_back(cast<RankedTensorType>(operand.getType()).getRank() == 0 &&
                             rank > 0
                         ? AffineMap::get(rank, 0, {}, rewriter.getContext())
                         : rewriter.getMultiDimIdentityMap(rank));
    maps.push_back(rewriter.getMultiDimIdentityMap(rank));
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    Value init = tensor::EmptyOp::create(rewriter, loc, resultType.getShape(),
                                         resultType.getElementType());
    bool hasBody = true;
    auto generic = linalg::GenericOp::create(
        rewriter, loc, resultType, op->getOperands(), init, maps, iterators,
        [&](OpBuilder &nested, Location, ValueRange args) {
          ScalarArgs scalar{nested, loc, args.drop_back(),
                            resultType.getElementType()};
          Value v = ScalarBody<OpTy>::build(scalar, op);
          hasBody = bool(v);
          linalg::YieldOp::create(nested, loc, v ? v : args.back());
        });
    if (!hasBody)
      return op->emitOpError("has no lowering for ") << resultType;
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

/// Every op class with a scalar body, for the patterns and for combiners.
template <typename... OpTys> struct ElementwiseOpList {
  static void addPatterns(RewritePatternSet &patterns) {
    patterns.add<ElementwiseToGeneric<OpTys>...>(patterns.getContext());
  }

  static Value emit(OpBuilder &b, Operation *op, ValueRange args, Type result) {
    ScalarArgs scalar{b, op->getLoc(), args, result};
    return llvm::TypeSwitch<Operation *, Value>(op)
        .template Case<OpTys...>([&](auto typed) {
          return ScalarBody<decltype(typed)>::build(scalar, typed);
        })
        .Default([](Operation *) { return Value(); });
  }
};

using ElementwiseOps = ElementwiseOpList<
    AddOp, SubtractOp, MultiplyOp, DivideOp, MaximumOp, MinimumOp, PowerOp,
    AndOp, OrOp, XorOp, RemainderOp, Atan2Op, ShiftLeftOp,
    ShiftRightArithmeticOp, ShiftRightLogicalOp, ExpOp, LogOp, TanhOp,
    LogisticOp, NegOp, SqrtOp, RsqrtOp, AbsOp, NotOp, ConvertOp, CosineOp,
    SineOp, TanOp, FloorOp, CeilOp, RoundNearestEvenOp, RoundNearestAfzOp,
    SignOp, ReducePrecisionOp, Expm1Op, Log1pOp, CbrtOp, IsFiniteOp, ClampOp,
    SelectOp, CompareOp>;

} // namespace

Value shlo::emitElementwiseScalar(OpBuilder &b, Operation *op, ValueRange args,
                                  Type result) {
  return ElementwiseOps::emit(b, op, args, result);
}

void shlo::populateStablehloElementwisePatterns(RewritePatternSet &patterns) {
  ElementwiseOps::addPatterns(patterns);
}
