//===- EmitElementwise.cpp - ONNX elementwise ops as linalg.generic ------===//
//
// Unary and binary math, comparisons, logic, Where, Cast and Expand: one
// linalg.generic each, with numpy broadcasting in the indexing maps.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include "llvm/ADT/StringSwitch.h"

#include <limits>

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
bool isUnsigned(int32_t type) {
  return type == kUInt8 || type == kUInt32 || type == kUInt64;
}

/// The broadcast shape of the node's inputs, or failure (reported).
FailureOr<SmallVector<int64_t>> broadcastInputs(NodeEmitter &node,
                                                size_t count) {
  SmallVector<int64_t> shape;
  for (size_t i = 0; i < count; ++i) {
    if (!node.hasInput(i))
      return (void)node.fail("needs " + std::to_string(count) + " inputs"),
             failure();
    SmallVector<int64_t> next;
    if (!broadcastShapes(shape, node.input(i).shape, next))
      return (void)node.fail("input shapes do not broadcast"), failure();
    shape = next;
  }
  return shape;
}

/// The result sizes of Expand of input 0 to `target` (numpy broadcasting):
/// a target dim of 1 keeps the input's, an input dim of 1 takes the
/// target's, a dynamic input dim beside a run-time target is the input's.
FailureOr<SmallVector<OpFoldResult>>
getExpandSizes(NodeEmitter &node, ArrayRef<OpFoldResult> target) {
  GraphBuilder &g = node.g;
  SmallVector<OpFoldResult> source = g.mixedSizes(node.operand(0));
  size_t rank = std::max(source.size(), target.size());
  SmallVector<OpFoldResult> sizes;
  for (size_t d = 0; d < rank; ++d) {
    OpFoldResult in = d < rank - source.size()
                          ? OpFoldResult(g.b.getIndexAttr(1))
                          : source[d - (rank - source.size())];
    OpFoldResult to = d < rank - target.size()
                          ? OpFoldResult(g.b.getIndexAttr(1))
                          : target[d - (rank - target.size())];
    std::optional<int64_t> knownIn = getConstantIntValue(in),
                           knownTo = getConstantIntValue(to);
    if (knownTo && *knownTo < 0)
      return (void)node.fail("Expand to a negative dimension"), failure();
    if (knownTo == 1 || (!knownIn && !knownTo)) {
      sizes.push_back(in);
    } else if (knownIn == 1 || !knownIn) {
      sizes.push_back(to);
    } else if (knownTo && *knownTo != *knownIn) {
      return (void)node.fail("Expand shape does not broadcast with the input"),
             failure();
    } else {
      sizes.push_back(in);
    }
  }
  return sizes;
}

Value binaryScalar(OpBuilder &b, Location loc, llvm::StringRef op, int32_t type,
                   Value x, Value y, bool fmod) {
  if (isFloatType(type)) {
    if (op == "Add")
      return arith::AddFOp::create(b, loc, x, y);
    if (op == "Sub")
      return arith::SubFOp::create(b, loc, x, y);
    if (op == "Mul")
      return arith::MulFOp::create(b, loc, x, y);
    if (op == "Div")
      return arith::DivFOp::create(b, loc, x, y);
    if (op == "Pow")
      return math::PowFOp::create(b, loc, x, y);
    if (op == "Max")
      return arith::MaximumFOp::create(b, loc, x, y);
    if (op == "Min")
      return arith::MinimumFOp::create(b, loc, x, y);
    // Mod on floats requires fmod=1 (checked by the caller): C fmod.
    return arith::RemFOp::create(b, loc, x, y);
  }
  bool u = isUnsigned(type);
  if (op == "Add")
    return arith::AddIOp::create(b, loc, x, y);
  if (op == "Sub")
    return arith::SubIOp::create(b, loc, x, y);
  if (op == "Mul")
    return arith::MulIOp::create(b, loc, x, y);
  if (op == "Div")
    return u ? Value(arith::DivUIOp::create(b, loc, x, y))
             : Value(arith::DivSIOp::create(b, loc, x, y));
  if (op == "Max")
    return u ? Value(arith::MaxUIOp::create(b, loc, x, y))
             : Value(arith::MaxSIOp::create(b, loc, x, y));
  if (op == "Min")
    return u ? Value(arith::MinUIOp::create(b, loc, x, y))
             : Value(arith::MinSIOp::create(b, loc, x, y));
  if (op == "And")
    return arith::AndIOp::create(b, loc, x, y);
  if (op == "Or")
    return arith::OrIOp::create(b, loc, x, y);
  if (op == "Xor")
    return arith::XOrIOp::create(b, loc, x, y);
  // Mod: C remainder (fmod=1) or the divisor's sign (fmod=0).
  if (u)
    return arith::RemUIOp::create(b, loc, x, y);
  Value r = arith::RemSIOp::create(b, loc, x, y);
  if (fmod)
    return r;
  Value zero =
      arith::ConstantOp::create(b, loc, b.getIntegerAttr(x.getType(), 0));
  Value rNegative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r, zero);
  Value yNegative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, y, zero);
  Value nonzero =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, zero);
  Value differ = arith::XOrIOp::create(b, loc, rNegative, yNegative);
  Value fix = arith::AndIOp::create(b, loc, nonzero, differ);
  Value adjusted = arith::AddIOp::create(b, loc, r, y);
  return arith::SelectOp::create(b, loc, fix, adjusted, r);
}

Value compareScalar(OpBuilder &b, Location loc, llvm::StringRef op,
                    int32_t type, Value x, Value y) {
  if (isFloatType(type)) {
    auto predicate = llvm::StringSwitch<arith::CmpFPredicate>(op)
                         .Case("Equal", arith::CmpFPredicate::OEQ)
                         .Case("Less", arith::CmpFPredicate::OLT)
                         .Case("Greater", arith::CmpFPredicate::OGT)
                         .Case("LessOrEqual", arith::CmpFPredicate::OLE)
                         .Default(arith::CmpFPredicate::OGE);
    return arith::CmpFOp::create(b, loc, predicate, x, y);
  }
  bool u = isUnsigned(type) || type == kBool;
  auto predicate =
      llvm::StringSwitch<arith::CmpIPredicate>(op)
          .Case("Equal", arith::CmpIPredicate::eq)
          .Case("Less",
                u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt)
          .Case("Greater",
                u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt)
          .Case("LessOrEqual",
                u ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle)
          .Default(u ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge);
  return arith::CmpIOp::create(b, loc, predicate, x, y);
}

Value floatConstant(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

/// ONNX IsInf of float scalar `x`: +inf and/or -inf as the flags ask.
Value isInfinity(OpBuilder &b, Location loc, Value x, bool negative,
                 bool positive) {
  Type t = x.getType();
  double inf = std::numeric_limits<double>::infinity();
  auto equals = [&](double value) -> Value {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x,
                                 floatConstant(b, loc, t, value));
  };
  if (negative && positive)
    return arith::OrIOp::create(b, loc, equals(inf), equals(-inf));
  if (negative || positive)
    return equals(positive ? inf : -inf);
  return arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
}

/// Float unary ops; null for an op that is not one.
Value unaryFloat(OpBuilder &b, Location loc, llvm::StringRef op, Value x) {
  Type t = x.getType();
  if (op == "Sqrt")
    return math::SqrtOp::create(b, loc, x);
  if (op == "Exp")
    return math::ExpOp::create(b, loc, x);
  if (op == "Log")
    return math::LogOp::create(b, loc, x);
  if (op == "Tanh")
    return math::TanhOp::create(b, loc, x);
  if (op == "Erf")
    return math::ErfOp::create(b, loc, x);
  if (op == "Abs")
    return math::AbsFOp::create(b, loc, x);
  if (op == "Neg")
    return arith::NegFOp::create(b, loc, x);
  if (op == "Floor")
    return math::FloorOp::create(b, loc, x);
  if (op == "Ceil")
    return math::CeilOp::create(b, loc, x);
  if (op == "Sin")
    return math::SinOp::create(b, loc, x);
  if (op == "Cos")
    return math::CosOp::create(b, loc, x);
  if (op == "Reciprocal")
    return arith::DivFOp::create(b, loc, floatConstant(b, loc, t, 1.0), x);
  if (op == "Relu")
    return arith::MaximumFOp::create(b, loc, x, floatConstant(b, loc, t, 0.0));
  if (op == "Sigmoid") {
    Value negated = arith::NegFOp::create(b, loc, x);
    Value e = math::ExpOp::create(b, loc, negated);
    Value one = floatConstant(b, loc, t, 1.0);
    return arith::DivFOp::create(b, loc, one,
                                 arith::AddFOp::create(b, loc, one, e));
  }
  return nullptr;
}

bool isBinaryOp(llvm::StringRef op) {
  return llvm::is_contained({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
                             "Mod", "And", "Or", "Xor"},
                            op);
}

bool isComparison(llvm::StringRef op) {
  return llvm::is_contained(
      {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}, op);
}

bool isUnaryFloatOp(llvm::StringRef op) {
  return llvm::is_contained({"Sqrt", "Exp", "Log", "Tanh", "Erf", "Abs", "Neg",
                             "Floor", "Ceil", "Sin", "Cos", "Reciprocal",
                             "Relu", "Sigmoid"},
                            op);
}

/// Ops of one input that emitUnary builds: unary math, IsNaN/IsInf, Not,
/// casts and Expand.
bool isUnaryLike(llvm::StringRef op) {
  return isUnaryFloatOp(op) ||
         llvm::is_contained(
             {"IsNaN", "IsInf", "Not", "Cast", "CastLike", "Expand"}, op);
}

/// Binary arithmetic and comparisons of two broadcast inputs of one type.
LogicalResult emitBinary(NodeEmitter &node, bool compare) {
  llvm::StringRef op = node.node.op_type();
  if (node.numInputs() != 2)
    return node.fail("expects 2 inputs (variadic forms are not supported)");
  auto shape = broadcastInputs(node, 2);
  if (failed(shape))
    return failure();
  int32_t type = node.input(0).type;
  if (node.input(1).type != type)
    return node.fail("inputs have different element types (" +
                     dataTypeName(type) + ", " +
                     dataTypeName(node.input(1).type) + ")");
  bool fmod = getIntAttr(node.node, "fmod", 0) != 0;
  if (op == "Mod" && isFloatType(type) && !fmod)
    return node.fail("Mod of floating-point inputs requires fmod=1");
  int32_t resultType = compare ? int32_t(kBool) : type;
  GraphBuilder &g = node.g;
  Value result = buildBroadcastGeneric(
      g, {node.operand(0), node.operand(1)}, *shape, g.elementType(resultType),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        return compare ? compareScalar(b, loc, op, type, args[0], args[1])
                       : binaryScalar(b, loc, op, type, args[0], args[1], fmod);
      });
  node.setResult(0, result, resultType);
  return success();
}

LogicalResult emitWhere(NodeEmitter &node) {
  auto shape = broadcastInputs(node, 3);
  if (failed(shape))
    return failure();
  if (node.input(0).type != kBool)
    return node.fail("condition must be bool");
  int32_t type = node.input(1).type;
  if (node.input(2).type != type)
    return node.fail("branches have different element types");
  GraphBuilder &g = node.g;
  Value result = buildBroadcastGeneric(
      g, {node.operand(0), node.operand(1), node.operand(2)}, *shape,
      g.elementType(type), [&](OpBuilder &b, Location loc, ValueRange args) {
        return arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
      });
  node.setResult(0, result, type);
  return success();
}

/// The scalar of a unary-like `node` on element `x` of type `from`, giving
/// `to` (`toType`).
Value unaryScalar(OpBuilder &b, Location loc, const ::onnx::NodeProto &node,
                  Value x, int32_t from, int32_t to, Type toType) {
  llvm::StringRef op = node.op_type();
  if (op == "Not") {
    Value one = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
    return arith::XOrIOp::create(b, loc, x, one);
  }
  if (op == "Cast" || op == "CastLike")
    return convertScalar(b, loc, x, from, to, toType);
  if (op == "Expand")
    return x;
  if (op == "IsNaN")
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  if (op == "IsInf")
    return isInfinity(b, loc, x, getIntAttr(node, "detect_negative", 1),
                      getIntAttr(node, "detect_positive", 1));
  if (!isFloatType(from)) {
    Value zero =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(x.getType(), 0));
    Value negated = arith::SubIOp::create(b, loc, zero, x);
    return op == "Neg" ? negated
                       : Value(arith::MaxSIOp::create(b, loc, x, negated));
  }
  return unaryFloat(b, loc, op, x);
}

/// The element type a unary-like node gives, after checking it may.
FailureOr<int32_t> unaryResultType(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  int32_t from = node.input(0).type, to = from;
  if (op == "Cast")
    to = int32_t(getIntAttr(node.node, "to", 0));
  if (op == "CastLike") {
    if (!node.hasInput(1))
      return node.fail("needs a target-type input");
    to = node.input(1).type;
  }
  if (!isSupportedType(to))
    return node.fail("cast to unsupported type " + dataTypeName(to));
  if (op == "IsNaN" || op == "IsInf") {
    if (!isFloatType(from))
      return node.fail(op.str() + " needs a floating-point input");
    to = kBool;
  }
  if (isUnaryFloatOp(op) && !isFloatType(from) && op != "Abs" && op != "Neg")
    return node.fail(op.str() + " of " + dataTypeName(from) +
                     " is not supported");
  if (op == "Not" && from != kBool)
    return node.fail("Not needs a bool input");
  return to;
}

/// One input mapped elementwise (Expand: broadcast to its shape input).
LogicalResult emitUnary(NodeEmitter &node) {
  if (!node.hasInput(0))
    return node.fail("needs an input");
  FailureOr<int32_t> to = unaryResultType(node);
  if (failed(to))
    return failure();
  int32_t from = node.input(0).type;
  SmallVector<int64_t> shape = node.input(0).shape;
  SmallVector<OpFoldResult> sizes;
  if (node.node.op_type() == "Expand") {
    std::optional<SmallVector<OpFoldResult>> target = node.sizesInput(1);
    if (!target)
      return node.fail("Expand needs a shape known at compile time or "
                       "computed from dims");
    FailureOr<SmallVector<OpFoldResult>> expanded =
        getExpandSizes(node, *target);
    if (failed(expanded))
      return failure();
    sizes = *expanded;
    shape = getStaticSizes(sizes);
  }
  GraphBuilder &g = node.g;
  Type toType = g.elementType(*to);
  Value result = buildBroadcastGeneric(
      g, {node.operand(0)}, shape, toType,
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        return unaryScalar(b, loc, node.node, args[0], from, *to, toType);
      },
      sizes);
  node.setResult(0, result, *to);
  return success();
}
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitElementwiseNode(NodeEmitter &node) {
  llvm::StringRef op = node.node.op_type();
  if (isBinaryOp(op) || isComparison(op))
    return emitBinary(node, isComparison(op));
  if (op == "Where")
    return emitWhere(node);
  if (op == "Identity") {
    if (!node.hasInput(0))
      return node.fail("needs an input");
    node.g.define(node.node.output(0), node.input(0));
    return success();
  }
  if (isUnaryLike(op))
    return emitUnary(node);
  return std::nullopt;
}
