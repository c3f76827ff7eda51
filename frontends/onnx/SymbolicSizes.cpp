//===- SymbolicSizes.cpp - shape arithmetic over run-time dims ------------===//
//
// Exporters compute every Reshape/Expand target in the graph: Shape ->
// Gather -> Unsqueeze -> Concat, sizes added and multiplied, `Where(Equal(s,
// -1), 1, s)` around Expand. With a dynamic dim (the past length) those
// values are partly known: each element is an index attribute or an `index`
// value (tensor.dim, then arith on it). Evaluating them element by element
// at import time keeps every other dim of the result static, and the code
// reads only the run-time sizes it needs.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// True when run-time size `size` cannot be negative: a dim, or sums,
/// products, quotients, maxima and minima of such.
bool isNonNegative(OpFoldResult size) {
  if (std::optional<int64_t> c = getConstantIntValue(size))
    return *c >= 0;
  Operation *op = cast<Value>(size).getDefiningOp();
  if (!op)
    return false;
  if (isa<tensor::DimOp>(op))
    return true;
  if (isa<arith::AddIOp, arith::MulIOp, arith::DivSIOp, arith::MaxSIOp,
          arith::MinSIOp>(op))
    return isNonNegative(op->getOperand(0)) && isNonNegative(op->getOperand(1));
  return false;
}

/// A comparison known at import time: both known, or a size that cannot
/// be negative against a negative constant (`Equal(dim, -1)`).
std::optional<bool> compare(llvm::StringRef op, OpFoldResult x,
                            OpFoldResult y) {
  std::optional<int64_t> cx = getConstantIntValue(x),
                         cy = getConstantIntValue(y);
  if (cx && cy) {
    if (op == "Equal")
      return *cx == *cy;
    if (op == "Less")
      return *cx < *cy;
    if (op == "Greater")
      return *cx > *cy;
    if (op == "LessOrEqual")
      return *cx <= *cy;
    return *cx >= *cy; // GreaterOrEqual
  }
  // x >= 0 > y or y >= 0 > x.
  bool xAbove = cy && *cy < 0 && isNonNegative(x);
  bool yAbove = cx && *cx < 0 && isNonNegative(y);
  if (!xAbove && !yAbove)
    return std::nullopt;
  if (op == "Equal")
    return false;
  if (op == "Greater" || op == "GreaterOrEqual")
    return xAbove;
  return yAbove; // Less, LessOrEqual
}

/// The elements of input `i` (constant or symbolic integers of rank <= 1).
std::optional<SmallVector<OpFoldResult>> elementsOf(NodeEmitter &node,
                                                    size_t i) {
  if (!node.hasInput(i) || node.input(i).shape.size() > 1 ||
      isFloatType(node.input(i).type))
    return std::nullopt;
  return node.sizesInput(i);
}

/// Elementwise `op` over two inputs with numpy broadcasting of rank <= 1.
std::optional<LogicalResult> foldBinary(NodeEmitter &node, llvm::StringRef op,
                                        bool isCompare) {
  auto x = elementsOf(node, 0), y = elementsOf(node, 1);
  if (!x || !y || node.numInputs() != 2)
    return std::nullopt;
  size_t n = std::max(x->size(), y->size());
  if ((x->size() != n && x->size() != 1) || (y->size() != n && y->size() != 1))
    return node.fail("input shapes do not broadcast");
  bool scalar = node.input(0).shape.empty() && node.input(1).shape.empty();
  SymbolicInts result{scalar, {}};
  HostTensor flags(kBool, scalar ? SmallVector<int64_t>{}
                                 : SmallVector<int64_t>{int64_t(n)});
  for (size_t i = 0; i < n; ++i) {
    OpFoldResult a = (*x)[x->size() == 1 ? 0 : i],
                 b = (*y)[y->size() == 1 ? 0 : i];
    if (isCompare) {
      std::optional<bool> known = compare(op, a, b);
      if (!known)
        return std::nullopt;
      flags.ints[i] = *known;
      continue;
    }
    std::optional<OpFoldResult> value = combineSizes(node.g, op, a, b);
    if (!value)
      return std::nullopt;
    result.elements.push_back(*value);
  }
  if (!node.wantsOutput(0))
    return success();
  if (isCompare) {
    GraphValue value;
    value.type = kBool;
    value.shape = flags.shape;
    value.constant = std::move(flags);
    node.g.define(node.node.output(0), std::move(value));
  } else {
    node.g.defineSymbolic(node.node.output(0), std::move(result),
                          node.input(0).type);
  }
  return success();
}

/// Unsqueeze/Squeeze/Reshape between a scalar and one element, or a 1-D
/// Reshape that keeps the count.
std::optional<LogicalResult> foldReshapeLike(NodeEmitter &node,
                                             llvm::StringRef op) {
  GraphValue &input = node.input(0);
  auto elements = elementsOf(node, 0);
  if (!elements)
    return std::nullopt;
  bool scalar;
  if (op == "Unsqueeze") {
    if (!input.shape.empty())
      return std::nullopt; // 1-D to 2-D is not a size list
    scalar = false;
  } else if (op == "Squeeze") {
    if (input.shape.size() != 1 || elements->size() != 1)
      return std::nullopt;
    scalar = true;
  } else { // Reshape
    const HostTensor *target = node.constantInput(1);
    if (!target || target->size() > 1)
      return std::nullopt;
    if (target->size() == 1 && target->ints[0] != -1 &&
        target->ints[0] != int64_t(elements->size()))
      return std::nullopt;
    scalar = target->size() == 0;
    if (scalar && elements->size() != 1)
      return node.fail("Reshape of " + std::to_string(elements->size()) +
                       " elements to a scalar");
  }
  node.g.defineSymbolic(node.node.output(0), SymbolicInts{scalar, *elements},
                        input.type);
  return success();
}
} // namespace

std::optional<OpFoldResult> mlir::hgc::onnx::combineSizes(GraphBuilder &g,
                                                          llvm::StringRef op,
                                                          OpFoldResult x,
                                                          OpFoldResult y) {
  std::optional<int64_t> cx = getConstantIntValue(x),
                         cy = getConstantIntValue(y);
  if (cx && cy) {
    int64_t a = *cx, b = *cy;
    if (op == "Add")
      return g.b.getIndexAttr(a + b);
    if (op == "Sub")
      return g.b.getIndexAttr(a - b);
    if (op == "Mul")
      return g.b.getIndexAttr(a * b);
    if (op == "Div")
      return b == 0 ? std::nullopt
                    : std::optional<OpFoldResult>(g.b.getIndexAttr(a / b));
    if (op == "Max")
      return g.b.getIndexAttr(std::max(a, b));
    if (op == "Min")
      return g.b.getIndexAttr(std::min(a, b));
    return std::nullopt;
  }
  if (op == "Mul" && (cx == 1 || cy == 1))
    return cx == 1 ? y : x;
  if ((op == "Add" || op == "Sub") && cy == 0)
    return x;
  if (op == "Div" && (!cy || *cy == 0))
    return std::nullopt; // a run-time divisor might be 0
  Value a = g.indexValue(x), b = g.indexValue(y);
  if (op == "Add")
    return arith::AddIOp::create(g.b, g.loc, a, b).getResult();
  if (op == "Sub")
    return arith::SubIOp::create(g.b, g.loc, a, b).getResult();
  if (op == "Mul")
    return arith::MulIOp::create(g.b, g.loc, a, b).getResult();
  if (op == "Div") // ONNX integer Div truncates, as divsi does
    return arith::DivSIOp::create(g.b, g.loc, a, b).getResult();
  if (op == "Max")
    return arith::MaxSIOp::create(g.b, g.loc, a, b).getResult();
  if (op == "Min")
    return arith::MinSIOp::create(g.b, g.loc, a, b).getResult();
  return std::nullopt;
}

LogicalResult mlir::hgc::onnx::defineRuntimeShape(NodeEmitter &node) {
  GraphBuilder &g = node.g;
  SmallVector<OpFoldResult> sizes = g.mixedSizes(node.operand(0));
  int64_t rank = int64_t(sizes.size());
  if (node.node.op_type() == "Size") {
    OpFoldResult count = g.b.getIndexAttr(1);
    for (OpFoldResult size : sizes)
      count = *combineSizes(g, "Mul", count, size);
    g.defineSymbolic(node.node.output(0), SymbolicInts{true, {count}}, kInt64);
    return success();
  }
  int64_t start = getIntAttr(node.node, "start", 0),
          end = getIntAttr(node.node, "end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  SymbolicInts shape;
  for (int64_t d = start; d < end; ++d)
    shape.elements.push_back(sizes[d]);
  g.defineSymbolic(node.node.output(0), std::move(shape), kInt64);
  return success();
}

std::optional<LogicalResult>
mlir::hgc::onnx::foldSymbolicNode(NodeEmitter &node) {
  const ::onnx::NodeProto &proto = node.node;
  if (!proto.domain().empty() && proto.domain() != "ai.onnx")
    return std::nullopt;
  llvm::StringRef op = proto.op_type();
  GraphBuilder &g = node.g;
  if (op == "Identity") {
    g.define(proto.output(0), node.input(0));
    return success();
  }
  if (op == "Cast") {
    int32_t to = int32_t(getIntAttr(proto, "to", 0));
    if (isFloatType(to) || to == kBool || !isSupportedType(to) ||
        !node.input(0).symbolic)
      return std::nullopt;
    GraphValue value = node.input(0);
    value.type = to;
    value.value = nullptr;
    g.define(proto.output(0), std::move(value));
    return success();
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Max" ||
      op == "Min")
    return foldBinary(node, op, /*isCompare=*/false);
  if (op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
      op == "GreaterOrEqual")
    return foldBinary(node, op, /*isCompare=*/true);
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape")
    return foldReshapeLike(node, op);
  if (op == "Gather") {
    auto data = elementsOf(node, 0);
    const HostTensor *indices = node.constantInput(1);
    if (!data || node.input(0).shape.size() != 1 || !indices ||
        indices->shape.size() > 1 || indices->isFloat())
      return std::nullopt;
    int64_t n = int64_t(data->size());
    SymbolicInts result{indices->shape.empty(), {}};
    for (int64_t index : indices->ints) {
      if (index < -n || index >= n)
        return node.fail("index " + std::to_string(index) +
                         " is out of range for " + std::to_string(n) +
                         " elements");
      result.elements.push_back((*data)[index < 0 ? index + n : index]);
    }
    g.defineSymbolic(proto.output(0), std::move(result), node.input(0).type);
    return success();
  }
  if (op == "Concat") {
    SymbolicInts result;
    for (size_t i = 0; i < node.numInputs(); ++i) {
      auto part = elementsOf(node, i);
      if (!part || node.input(i).shape.size() != 1)
        return std::nullopt;
      result.elements.append(*part);
    }
    g.defineSymbolic(proto.output(0), std::move(result), node.input(0).type);
    return success();
  }
  if (op == "Slice") {
    auto data = elementsOf(node, 0);
    const HostTensor *starts = node.constantInput(1),
                     *ends = node.constantInput(2);
    const HostTensor *axes = node.constantInput(3),
                     *steps = node.constantInput(4);
    if (!data || node.input(0).shape.size() != 1 || !starts || !ends ||
        (node.hasInput(3) && !axes) || (node.hasInput(4) && !steps))
      return std::nullopt;
    SliceBounds bounds;
    std::string error;
    if (!resolveSlice({int64_t(data->size())}, *starts, *ends, axes, steps,
                      bounds, error))
      return node.fail(error);
    SymbolicInts result;
    for (int64_t i = 0; i < bounds.sizes[0]; ++i)
      result.elements.push_back(
          (*data)[bounds.starts[0] + i * bounds.steps[0]]);
    g.defineSymbolic(proto.output(0), std::move(result), node.input(0).type);
    return success();
  }
  if (op == "Where") {
    const HostTensor *condition = node.constantInput(0);
    auto x = elementsOf(node, 1), y = elementsOf(node, 2);
    if (!condition || !x || !y || condition->shape.size() > 1)
      return std::nullopt;
    size_t n = std::max({size_t(condition->size()), x->size(), y->size()});
    auto at = [&](size_t size, size_t i) { return size == 1 ? 0 : i; };
    if ((condition->size() != int64_t(n) && condition->size() != 1) ||
        (x->size() != n && x->size() != 1) ||
        (y->size() != n && y->size() != 1))
      return node.fail("input shapes do not broadcast");
    SymbolicInts result{condition->shape.empty() &&
                            node.input(1).shape.empty() &&
                            node.input(2).shape.empty(),
                        {}};
    for (size_t i = 0; i < n; ++i)
      result.elements.push_back(condition->ints[at(condition->size(), i)]
                                    ? (*x)[at(x->size(), i)]
                                    : (*y)[at(y->size(), i)]);
    g.defineSymbolic(proto.output(0), std::move(result), node.input(1).type);
    return success();
  }
  return std::nullopt;
}
