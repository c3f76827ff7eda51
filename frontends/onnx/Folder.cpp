//===- Folder.cpp - evaluating ONNX nodes at import time -----------------===//

#include "frontends/onnx/Folder.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <functional>
#include <limits>

using namespace mlir::hgc::onnx;
using llvm::ArrayRef;
using llvm::SmallVector;

namespace {
/// Element count, saturated so that oversized results are never folded.
int64_t product(ArrayRef<int64_t> shape) {
  int64_t n = countElements(shape);
  return n < 0 ? std::numeric_limits<int64_t>::max() : n;
}

using Binary = std::function<double(double, double)>;
using IntBinary = std::function<int64_t(int64_t, int64_t)>;

/// Broadcast elementwise op. `resultType` 0 = the first input's type.
bool elementwise(
    ArrayRef<const HostTensor *> in, int32_t resultType,
    const std::function<void(HostTensor &, int64_t, ArrayRef<int64_t>)> &body,
    HostTensor &out, std::string &error) {
  SmallVector<int64_t> shape(in[0]->shape.begin(), in[0]->shape.end());
  for (const HostTensor *t : in.drop_front()) {
    SmallVector<int64_t> next;
    if (!broadcastShapes(shape, t->shape, next)) {
      error = "operand shapes do not broadcast";
      return false;
    }
    shape = next;
  }
  if (product(shape) > kMaxFoldedElements) {
    error.clear(); // too large to fold, not invalid
    return false;
  }
  out = HostTensor(resultType ? resultType : in[0]->type, shape);
  SmallVector<int64_t> at(in.size());
  for (int64_t i = 0, e = out.size(); i < e; ++i) {
    for (size_t k = 0; k < in.size(); ++k)
      at[k] = broadcastIndex(i, shape, in[k]->shape);
    body(out, i, at);
  }
  return true;
}

} // namespace

namespace {
/// Evaluates one node whose inputs are known: one method per family of ops,
/// chosen by op type from a table (fold()). A method returns NotFoldable
/// for inputs it does not evaluate here (the node is then emitted as IR),
/// Failed with `error` for inputs the op rejects.
class NodeFolder {
public:
  NodeFolder(const ::onnx::NodeProto &node, int64_t opset,
             ArrayRef<const HostTensor *> in,
             llvm::SmallVectorImpl<HostTensor> &outputs, std::string &error)
      : node(node), opset(opset), in(in), outputs(outputs), error(error),
        op(node.op_type()) {}

  FoldResult fold();

private:
  FoldResult binary();
  FoldResult unary();
  FoldResult where();
  FoldResult concat();
  FoldResult gather();
  FoldResult gatherND();
  FoldResult reshapeLike();
  FoldResult slice();
  FoldResult split();
  FoldResult range();
  FoldResult fill();

  FoldResult fail(const std::string &message) {
    error = message;
    return FoldResult::Failed;
  }
  /// Whether the first `count` inputs are known.
  bool need(size_t count) const {
    return in.size() >= count &&
           llvm::all_of(in.take_front(count),
                        [](const HostTensor *t) { return t != nullptr; });
  }

  const ::onnx::NodeProto &node;
  int64_t opset;
  ArrayRef<const HostTensor *> in;
  llvm::SmallVectorImpl<HostTensor> &outputs;
  std::string &error;
  const std::string &op;
  HostTensor out;
};

FoldResult NodeFolder::fold() {
  using Method = FoldResult (NodeFolder::*)();
  static const llvm::StringMap<Method> methods = {
      {"Add", &NodeFolder::binary},
      {"Sub", &NodeFolder::binary},
      {"Mul", &NodeFolder::binary},
      {"Div", &NodeFolder::binary},
      {"Pow", &NodeFolder::binary},
      {"Max", &NodeFolder::binary},
      {"Min", &NodeFolder::binary},
      {"Mod", &NodeFolder::binary},
      {"And", &NodeFolder::binary},
      {"Or", &NodeFolder::binary},
      {"Xor", &NodeFolder::binary},
      {"Equal", &NodeFolder::binary},
      {"Less", &NodeFolder::binary},
      {"Greater", &NodeFolder::binary},
      {"LessOrEqual", &NodeFolder::binary},
      {"GreaterOrEqual", &NodeFolder::binary},
      {"Identity", &NodeFolder::unary},
      {"Cast", &NodeFolder::unary},
      {"CastLike", &NodeFolder::unary},
      {"Sqrt", &NodeFolder::unary},
      {"Neg", &NodeFolder::unary},
      {"Abs", &NodeFolder::unary},
      {"Reciprocal", &NodeFolder::unary},
      {"Exp", &NodeFolder::unary},
      {"Log", &NodeFolder::unary},
      {"Tanh", &NodeFolder::unary},
      {"Floor", &NodeFolder::unary},
      {"Ceil", &NodeFolder::unary},
      {"Not", &NodeFolder::unary},
      {"Sign", &NodeFolder::unary},
      {"IsNaN", &NodeFolder::unary},
      {"IsInf", &NodeFolder::unary},
      {"Where", &NodeFolder::where},
      {"Concat", &NodeFolder::concat},
      {"Gather", &NodeFolder::gather},
      {"GatherND", &NodeFolder::gatherND},
      {"Reshape", &NodeFolder::reshapeLike},
      {"Flatten", &NodeFolder::reshapeLike},
      {"Squeeze", &NodeFolder::reshapeLike},
      {"Unsqueeze", &NodeFolder::reshapeLike},
      {"Slice", &NodeFolder::slice},
      {"Split", &NodeFolder::split},
      {"Range", &NodeFolder::range},
      {"ConstantOfShape", &NodeFolder::fill},
      {"Expand", &NodeFolder::fill},
  };
  auto method = methods.find(op);
  if (method == methods.end())
    return FoldResult::NotFoldable;
  return (this->*method->second)();
}

/// Arithmetic and comparisons with numpy broadcasting; Mod, And, Or, Xor.
FoldResult NodeFolder::binary() {
  std::optional<Binary> floatOp =
      llvm::StringSwitch<std::optional<Binary>>(op)
          .Case("Add", Binary(std::plus<double>()))
          .Case("Sub", Binary(std::minus<double>()))
          .Case("Mul", Binary(std::multiplies<double>()))
          .Case("Div", Binary(std::divides<double>()))
          .Case("Pow",
                Binary([](double a, double b) { return std::pow(a, b); }))
          .Case("Max",
                Binary([](double a, double b) { return std::max(a, b); }))
          .Case("Min",
                Binary([](double a, double b) { return std::min(a, b); }))
          .Default(std::nullopt);
  std::optional<IntBinary> compare =
      llvm::StringSwitch<std::optional<IntBinary>>(op)
          .Case("Equal", IntBinary([](int64_t c, int64_t) { return c == 0; }))
          .Case("Less", IntBinary([](int64_t c, int64_t) { return c < 0; }))
          .Case("Greater", IntBinary([](int64_t c, int64_t) { return c > 0; }))
          .Case("LessOrEqual",
                IntBinary([](int64_t c, int64_t) { return c <= 0; }))
          .Case("GreaterOrEqual",
                IntBinary([](int64_t c, int64_t) { return c >= 0; }))
          .Default(std::nullopt);
  if (!need(2) || in.size() != 2)
    return FoldResult::NotFoldable;
  if (in[0]->type != in[1]->type)
    return fail("operands have different element types (" +
                dataTypeName(in[0]->type) + ", " + dataTypeName(in[1]->type) +
                ")");
  bool isFloat = in[0]->isFloat();
  if ((op == "And" || op == "Or" || op == "Xor") && in[0]->type != kBool)
    return fail(op + " needs bool inputs");
  bool fmod = getIntAttr(node, "fmod", 0) != 0;
  bool divideByZero = false;
  bool ok = elementwise(
      in, compare ? int32_t(kBool) : 0,
      [&](HostTensor &o, int64_t i, ArrayRef<int64_t> at) {
        if (compare) {
          double a = in[0]->asDouble(at[0]), b = in[1]->asDouble(at[1]);
          int64_t c = isFloat ? (a < b   ? -1
                                 : a > b ? 1
                                         : 0)
                              : (in[0]->ints[at[0]] < in[1]->ints[at[1]]   ? -1
                                 : in[0]->ints[at[0]] > in[1]->ints[at[1]] ? 1
                                                                           : 0);
          o.ints[i] = (isFloat && (std::isnan(a) || std::isnan(b)))
                          ? 0
                          : (*compare)(c, 0);
          return;
        }
        if (isFloat) {
          double a = in[0]->floats[at[0]], b = in[1]->floats[at[1]];
          if (op == "Mod")
            o.set(i, fmod ? std::fmod(a, b) : a - b * std::floor(a / b));
          else
            o.set(i, (*floatOp)(a, b));
          return;
        }
        int64_t a = in[0]->ints[at[0]], b = in[1]->ints[at[1]];
        if (op == "And" || op == "Or" || op == "Xor") {
          o.ints[i] = op == "And"  ? (a && b)
                      : op == "Or" ? (a || b)
                                   : (!a != !b);
          return;
        }
        if ((op == "Div" || op == "Mod") && b == 0) {
          divideByZero = true;
          return;
        }
        int64_t r = op == "Add"   ? a + b
                    : op == "Sub" ? a - b
                    : op == "Mul" ? a * b
                    : op == "Div" ? a / b
                    : op == "Max" ? std::max(a, b)
                    : op == "Min" ? std::min(a, b)
                    : op == "Pow"
                        ? saturateToInt64(std::pow(double(a), double(b)))
                        : 0;
        if (op == "Mod") {
          r = a % b;
          if (!fmod && r != 0 && ((r < 0) != (b < 0)))
            r += b;
        }
        o.setInt(i, r);
      },
      out, error);
  if (!ok)
    return error.empty() ? FoldResult::NotFoldable : FoldResult::Failed;
  if (divideByZero)
    return fail("integer division by zero");
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Identity, casts and elementwise math of one input.
FoldResult NodeFolder::unary() {
  if (!need(1))
    return FoldResult::NotFoldable;
  const HostTensor &x = *in[0];
  int32_t type = x.type;
  if (op == "IsNaN" || op == "IsInf") {
    if (!x.isFloat())
      return fail(op + " needs a floating-point input");
    type = kBool;
  }
  bool detectNegative = getIntAttr(node, "detect_negative", 1) != 0;
  bool detectPositive = getIntAttr(node, "detect_positive", 1) != 0;
  if (op == "Cast")
    type = int32_t(getIntAttr(node, "to", 0));
  if (op == "CastLike") {
    if (!need(2))
      return FoldResult::NotFoldable;
    type = in[1]->type;
  }
  if (!isSupportedType(type))
    return fail("Cast to unsupported type " + dataTypeName(type));
  out = HostTensor(type, x.shape);
  for (int64_t i = 0, e = x.size(); i < e; ++i) {
    double v = x.asDouble(i);
    if (op == "Sqrt")
      v = std::sqrt(v);
    else if (op == "Neg")
      v = -v;
    else if (op == "Abs")
      v = std::fabs(v);
    else if (op == "Reciprocal")
      v = 1.0 / v;
    else if (op == "Exp")
      v = std::exp(v);
    else if (op == "Log")
      v = std::log(v);
    else if (op == "Tanh")
      v = std::tanh(v);
    else if (op == "Floor")
      v = std::floor(v);
    else if (op == "Ceil")
      v = std::ceil(v);
    else if (op == "Sign")
      v = v > 0 ? 1 : v < 0 ? -1 : 0;
    else if (op == "Not")
      v = v == 0.0;
    else if (op == "IsNaN")
      v = std::isnan(v);
    else if (op == "IsInf")
      v = std::isinf(v) && (v > 0 ? detectPositive : detectNegative);
    if (!x.isFloat() && !out.isFloat())
      out.setInt(i, op == "Neg"    ? -x.ints[i]
                    : op == "Abs"  ? std::abs(x.ints[i])
                    : op == "Not"  ? !x.ints[i]
                    : op == "Sign" ? (x.ints[i] > 0) - (x.ints[i] < 0)
                                   : x.ints[i]);
    else
      out.set(i, v);
  }
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Where, broadcast.
FoldResult NodeFolder::where() {
  if (!need(3))
    return FoldResult::NotFoldable;
  if (in[1]->type != in[2]->type)
    return fail("Where branches have different element types");
  if (in[0]->type != kBool)
    return fail("Where condition must be bool");
  if (!elementwise(
          in, in[1]->type,
          [&](HostTensor &o, int64_t i, ArrayRef<int64_t> at) {
            const HostTensor *from = in[0]->ints[at[0]] ? in[1] : in[2];
            size_t k = in[0]->ints[at[0]] ? 1 : 2;
            o.copyElement(i, *from, at[k]);
          },
          out, error))
    return error.empty() ? FoldResult::NotFoldable : FoldResult::Failed;
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Concat along an axis.
FoldResult NodeFolder::concat() {
  for (const HostTensor *t : in)
    if (!t)
      return FoldResult::NotFoldable;
  if (in.empty())
    return fail("Concat needs inputs");
  int64_t rank = int64_t(in[0]->shape.size());
  int64_t axis = getIntAttr(node, "axis", 0);
  if (!normalizeAxis(axis, rank) || rank == 0)
    return fail("Concat axis " + std::to_string(axis) + " is out of range");
  SmallVector<int64_t> shape(in[0]->shape.begin(), in[0]->shape.end());
  shape[axis] = 0;
  for (const HostTensor *t : in) {
    if (int64_t(t->shape.size()) != rank || t->type != in[0]->type)
      return fail("Concat inputs differ in rank or element type");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t->shape[d] != in[0]->shape[d])
        return fail("Concat inputs differ outside the axis");
    shape[axis] += t->shape[axis];
  }
  out = HostTensor(in[0]->type, shape);
  int64_t outer = product(ArrayRef<int64_t>(shape).take_front(axis));
  int64_t inner = product(ArrayRef<int64_t>(shape).drop_front(axis + 1));
  int64_t written = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (const HostTensor *t : in)
      for (int64_t j = 0, e = t->shape[axis] * inner; j < e; ++j, ++written)
        out.copyElement(written, *t, o * e + j);
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Gather along an axis.
FoldResult NodeFolder::gather() {
  if (!need(2))
    return FoldResult::NotFoldable;
  const HostTensor &data = *in[0], &indices = *in[1];
  int64_t rank = int64_t(data.shape.size());
  int64_t axis = getIntAttr(node, "axis", 0);
  if (rank == 0 || !normalizeAxis(axis, rank))
    return fail("Gather axis is out of range");
  SmallVector<int64_t> shape(data.shape.begin(), data.shape.begin() + axis);
  shape.append(indices.shape.begin(), indices.shape.end());
  shape.append(data.shape.begin() + axis + 1, data.shape.end());
  if (product(shape) > kMaxFoldedElements)
    return FoldResult::NotFoldable;
  out = HostTensor(data.type, shape);
  int64_t outer = product(ArrayRef<int64_t>(data.shape).take_front(axis));
  int64_t inner = product(ArrayRef<int64_t>(data.shape).drop_front(axis + 1));
  int64_t dim = data.shape[axis], written = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < indices.size(); ++k) {
      int64_t index = indices.asInt(k);
      if (index < -dim || index >= dim)
        return fail("Gather index " + std::to_string(index) +
                    " is out of range for dimension " + std::to_string(dim));
      if (index < 0)
        index += dim;
      for (int64_t j = 0; j < inner; ++j, ++written) {
        int64_t from = (o * dim + index) * inner + j;
        out.copyElement(written, data, from);
      }
    }
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// GatherND with batch dims.
FoldResult NodeFolder::gatherND() {
  if (!need(2))
    return FoldResult::NotFoldable;
  const HostTensor &data = *in[0], &indices = *in[1];
  if (indices.isFloat())
    return fail("GatherND indices must be integers");
  int64_t batchDims, depth;
  SmallVector<int64_t> shape;
  if (!resolveGatherND(node, data.shape, indices.shape, batchDims, depth, shape,
                       error))
    return FoldResult::Failed;
  if (product(shape) > kMaxFoldedElements)
    return FoldResult::NotFoldable;
  out = HostTensor(data.type, shape);
  ArrayRef<int64_t> dataShape(data.shape);
  int64_t batches = product(dataShape.take_front(batchDims));
  int64_t slice = product(dataShape.drop_front(batchDims + depth));
  int64_t perBatch = product(dataShape.drop_front(batchDims));
  int64_t lookups = product(ArrayRef<int64_t>(indices.shape)
                                .drop_front(batchDims)
                                .drop_back()),
          written = 0;
  SmallVector<int64_t> strides = getStrides(dataShape);
  for (int64_t batch = 0; batch < batches; ++batch)
    for (int64_t l = 0; l < lookups; ++l) {
      int64_t from = batch * perBatch;
      for (int64_t k = 0; k < depth; ++k) {
        int64_t dim = data.shape[batchDims + k];
        int64_t index = indices.asInt((batch * lookups + l) * depth + k);
        if (index < -dim || index >= dim)
          return fail("GatherND index " + std::to_string(index) +
                      " is out of range for dimension " + std::to_string(dim));
        from += (index < 0 ? index + dim : index) * strides[batchDims + k];
      }
      for (int64_t j = 0; j < slice; ++j, ++written) {
        out.copyElement(written, data, from + j);
      }
    }
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Reshape, Flatten, Squeeze and Unsqueeze: the same data, another shape.
FoldResult NodeFolder::reshapeLike() {
  if (!need(1) || (op == "Reshape" && !need(2)))
    return FoldResult::NotFoldable;
  std::optional<SmallVector<int64_t>> axes;
  if (op == "Squeeze" || op == "Unsqueeze") {
    if (opset < 13)
      axes = getIntsAttr(node, "axes");
    else if (in.size() > 1 && in[1])
      axes = SmallVector<int64_t>(in[1]->ints.begin(), in[1]->ints.end());
    else if (in.size() > 1)
      return FoldResult::NotFoldable;
  }
  SmallVector<int64_t> shape;
  if (!inferReshapeLike(node, in[0]->shape, op == "Reshape" ? in[1] : nullptr,
                        axes, shape, error))
    return FoldResult::Failed;
  out = *in[0];
  out.shape = shape;
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Slice with starts, ends, axes and steps.
FoldResult NodeFolder::slice() {
  if (!need(3) || (in.size() > 3 && !in[3] && node.input(3) != "") ||
      (in.size() > 4 && !in[4] && node.input(4) != ""))
    return FoldResult::NotFoldable;
  SliceBounds b;
  if (!resolveSlice(in[0]->shape, *in[1], *in[2],
                    in.size() > 3 ? in[3] : nullptr,
                    in.size() > 4 ? in[4] : nullptr, b, error))
    return FoldResult::Failed;
  const HostTensor &x = *in[0];
  out = HostTensor(x.type, b.sizes);
  SmallVector<int64_t> strides = getStrides(x.shape);
  for (int64_t i = 0, e = out.size(); i < e; ++i) {
    int64_t rest = i, from = 0;
    for (int64_t d = int64_t(b.sizes.size()) - 1; d >= 0; --d) {
      int64_t coordinate = rest % b.sizes[d];
      rest /= b.sizes[d];
      from += (b.starts[d] + coordinate * b.steps[d]) * strides[d];
    }
    out.copyElement(i, x, from);
  }
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// Split into the node's outputs.
FoldResult NodeFolder::split() {
  bool splitGiven = node.input_size() > 1 && !node.input(1).empty();
  if (!need(1) || (splitGiven && !need(2)))
    return FoldResult::NotFoldable;
  const HostTensor &x = *in[0];
  int64_t axis;
  SmallVector<int64_t> sizes;
  if (!resolveSplit(node, x.shape, splitGiven ? in[1] : nullptr,
                    size_t(node.output_size()), axis, sizes, error))
    return FoldResult::Failed;
  ArrayRef<int64_t> shape(x.shape);
  int64_t outer = product(shape.take_front(axis));
  int64_t inner = product(shape.drop_front(axis + 1));
  int64_t first = 0;
  for (int64_t size : sizes) {
    SmallVector<int64_t> partShape = x.shape;
    partShape[axis] = size;
    HostTensor part(x.type, partShape);
    int64_t written = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < size * inner; ++k, ++written) {
        int64_t from = (o * shape[axis] + first) * inner + k;
        part.copyElement(written, x, from);
      }
    first += size;
    outputs.push_back(std::move(part));
  }
  return FoldResult::Folded;
}

/// Range of scalars.
FoldResult NodeFolder::range() {
  if (!need(3))
    return FoldResult::NotFoldable;
  if (in[0]->size() != 1 || in[1]->size() != 1 || in[2]->size() != 1)
    return fail("Range start, limit and delta must be scalars");
  double start = in[0]->asDouble(0), limit = in[1]->asDouble(0),
         delta = in[2]->asDouble(0);
  if (delta == 0)
    return fail("Range delta is 0");
  double steps = std::ceil((limit - start) / delta);
  if (!std::isfinite(steps))
    return fail("Range bounds are not finite");
  if (steps > double(kMaxFoldedElements))
    return FoldResult::NotFoldable;
  int64_t n = std::max<int64_t>(0, int64_t(steps));
  out = HostTensor(in[0]->type, {n});
  for (int64_t i = 0; i < n; ++i)
    out.set(i, start + double(i) * delta);
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

/// ConstantOfShape and Expand: a value broadcast to a shape.
FoldResult NodeFolder::fill() {
  if (!need(op == "Expand" ? 2 : 1))
    return FoldResult::NotFoldable;
  const HostTensor &shapeTensor = *in[op == "Expand" ? 1 : 0];
  SmallVector<int64_t> shape(shapeTensor.ints.begin(), shapeTensor.ints.end());
  for (int64_t d : shape)
    if (d < 0)
      return fail(op + " to a negative dimension");
  HostTensor value(kFloat, {});
  if (op == "Expand") {
    value = *in[0];
    SmallVector<int64_t> result;
    if (!broadcastShapes(value.shape, shape, result))
      return fail("Expand shape does not broadcast with the input");
    shape = result;
  } else if (const auto *attribute = findAttribute(node, "value")) {
    if (!readTensor(attribute->t(), "", value, error))
      return FoldResult::Failed;
    if (value.size() != 1)
      return fail("ConstantOfShape value must have one element");
    value.shape.clear();
  }
  if (product(shape) > kMaxFoldedElements)
    return FoldResult::NotFoldable;
  out = HostTensor(value.type, shape);
  for (int64_t i = 0, e = out.size(); i < e; ++i) {
    int64_t from = broadcastIndex(i, shape, value.shape);
    out.copyElement(i, value, from);
  }
  outputs.push_back(std::move(out));
  return FoldResult::Folded;
}

} // namespace

FoldResult mlir::hgc::onnx::foldNode(const ::onnx::NodeProto &node,
                                     int64_t opset,
                                     ArrayRef<const HostTensor *> in,
                                     llvm::SmallVectorImpl<HostTensor> &outputs,
                                     std::string &error) {
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    return FoldResult::NotFoldable;
  for (const HostTensor *t : in)
    if (t && t->size() > kMaxFoldedElements)
      return FoldResult::NotFoldable;
  return NodeFolder(node, opset, in, outputs, error).fold();
}
