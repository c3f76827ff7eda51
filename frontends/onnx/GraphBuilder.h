//===- GraphBuilder.h - state of one ONNX graph import ----------*- C++ -*-===//
//
// Maps ONNX value names to MLIR values or import-time constants and gives the
// op emitters (Emit*.cpp) typed access to a node's operands and results.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_GRAPHBUILDER_H
#define HGC_FRONTENDS_ONNX_GRAPHBUILDER_H

#include "frontends/onnx/OnnxModel.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/StringMap.h"

#include <functional>
#include <optional>
#include <set>

namespace mlir::hgc::onnx {

/// A small integer tensor (rank 0 or 1) of sizes computed from run-time
/// dimensions: each element an index attribute (known at import time) or an
/// `index` value (tensor.dim and arithmetic on it). Shape arithmetic over a
/// dynamic dim stays symbolic, so a Reshape target that is known except for
/// the past length fixes every other dim.
struct SymbolicInts {
  bool scalar = false;
  llvm::SmallVector<OpFoldResult> elements;
};

/// One ONNX value: a run-time MLIR value, an import-time constant, or both
/// (a constant materialized on first use), or symbolic sizes (materialized
/// as a tensor where an op reads them as data).
struct GraphValue {
  Value value;
  std::optional<HostTensor> constant;
  std::optional<SymbolicInts> symbolic;
  /// For a graph input: its value for this compilation when the caller gave
  /// it (ImportOptions::knownInputValues). Only ops whose result shape
  /// depends on it read it; the value stays a run-time argument.
  std::optional<HostTensor> known;
  int32_t type = kFloat;
  llvm::SmallVector<int64_t> shape;
};

class GraphBuilder {
public:
  GraphBuilder(OpBuilder &builder, int64_t opset) : b(builder), opset(opset) {}

  OpBuilder &b;
  int64_t opset;
  /// Graph inputs whose given values (GraphValue::known) shaped the code.
  std::set<std::string> usedKnownInputs;
  Location loc = b.getUnknownLoc(); // the current node's location
  std::string where;                // the current node, for messages

  /// The MLIR element type of an ONNX element type.
  Type elementType(int32_t type);
  RankedTensorType tensorType(llvm::ArrayRef<int64_t> shape, int32_t type);

  bool has(llvm::StringRef name) const {
    return !name.empty() && values.count(name);
  }
  GraphValue &lookup(llvm::StringRef name) { return values[name]; }
  void define(llvm::StringRef name, GraphValue value) {
    values[name] = std::move(value);
  }
  /// The MLIR value of `name`, materializing a constant or symbolic sizes
  /// on first use.
  Value materialize(llvm::StringRef name);
  Value constantTensor(const HostTensor &tensor);
  void defineValue(llvm::StringRef name, Value value, int32_t type);
  /// Defines `name` as symbolic sizes of ONNX integer type `type` (as a
  /// constant when every element is known).
  void defineSymbolic(llvm::StringRef name, SymbolicInts ints, int32_t type);

  /// The sizes of `value`'s dims: attributes where static, tensor.dim where
  /// dynamic.
  llvm::SmallVector<OpFoldResult> mixedSizes(Value value);
  /// A tensor.empty of `sizes`.
  Value emptyTensor(llvm::ArrayRef<OpFoldResult> sizes, Type element);
  /// `size` as an `index` value.
  Value indexValue(OpFoldResult size);
  /// Checks at run time that `actual` equals `expected` where the code
  /// assumes it (two dynamic dims of one symbol, a reshape's element
  /// count): otherwise the run ends with "node: `what` (a vs b at run
  /// time)" instead of reading out of bounds. Nothing when provably equal.
  void checkSize(OpFoldResult actual, OpFoldResult expected,
                 const llvm::Twine &what);

  /// A past input given as a buffer with room along `axis`
  /// (ImportOptions::appendBuffers): `buffer` is the argument (the axis is
  /// its capacity), `length` the positions in use, `past` their slice (the
  /// input's value). After an append, `present` is the slice of the past
  /// and the new positions, written into the buffer.
  struct AppendBuffer {
    std::string input;
    Value buffer, past, present;
    OpFoldResult length, presentLength;
    int64_t axis;
  };
  llvm::SmallVector<AppendBuffer> appendBuffers;
  /// `past` ++ `current` along `axis` written in place when `past` is an
  /// append buffer's past (its first append) and `current` fits it off the
  /// axis: the new positions go into the buffer after the past, with a
  /// run-time check that they fit, and the whole present, a slice of the
  /// buffer, is returned. Null otherwise (the caller concatenates).
  Value appendInPlace(Value past, Value current, int64_t axis);

private:
  llvm::StringMap<GraphValue> values;
  int64_t sizeChecks = 0; // names the messages of checkSize
};

/// A node being emitted: operands by position, results to define.
struct NodeEmitter {
  GraphBuilder &g;
  const ::onnx::NodeProto &node;
  std::string where; // describeNode() for messages

  size_t numInputs() const { return size_t(node.input_size()); }
  bool hasInput(size_t i) const {
    return i < numInputs() && !node.input(int(i)).empty();
  }
  GraphValue &input(size_t i) { return g.lookup(node.input(int(i))); }
  Value operand(size_t i) { return g.materialize(node.input(int(i))); }
  /// The constant value of input `i`, or null when it is absent or only
  /// known at run time.
  const HostTensor *constantInput(size_t i) {
    if (!hasInput(i))
      return nullptr;
    GraphValue &v = input(i);
    return v.constant ? &*v.constant : nullptr;
  }
  /// The value of input `i` known at compile time: a constant, or a graph
  /// input's value given for this compilation; null otherwise.
  /// The elements of integer input `i` known at import time or symbolic
  /// (a shape operand: Reshape, Expand, ConstantOfShape, Range, Slice);
  /// nullopt when it is computed at run time.
  std::optional<llvm::SmallVector<OpFoldResult>> sizesInput(size_t i);
  const HostTensor *shapeDefiningInput(size_t i) {
    if (const HostTensor *constant = constantInput(i))
      return constant;
    if (!hasInput(i) || !input(i).known)
      return nullptr;
    g.usedKnownInputs.insert(node.input(int(i)));
    return &*input(i).known;
  }
  bool wantsOutput(size_t i) const {
    return i < size_t(node.output_size()) && !node.output(int(i)).empty();
  }
  void setResult(size_t i, Value value, int32_t type) {
    if (wantsOutput(i))
      g.defineValue(node.output(int(i)), value, type);
  }
  /// Reports `message` at the node and returns failure.
  LogicalResult fail(const llvm::Twine &message);
};

/// Emits the IR of one node whose inputs are not all constant.
LogicalResult emitNode(NodeEmitter &node);

// Per-family emitters; each returns std::nullopt when the op is not theirs.
std::optional<LogicalResult> emitElementwiseNode(NodeEmitter &node);
std::optional<LogicalResult> emitStructuralNode(NodeEmitter &node);
std::optional<LogicalResult> emitIndexingNode(NodeEmitter &node);
std::optional<LogicalResult> emitComputeNode(NodeEmitter &node);
std::optional<LogicalResult> emitAttentionNode(NodeEmitter &node);
std::optional<LogicalResult> emitTransformerNode(NodeEmitter &node);

/// A linalg.generic over `shape` reading `inputs` with numpy broadcasting;
/// `body` maps the scalar operands to the result scalar. Dynamic dims of
/// `shape` are sized by `resultSizes` when given, else by the inputs.
Value buildBroadcastGeneric(
    GraphBuilder &g, llvm::ArrayRef<Value> inputs,
    llvm::ArrayRef<int64_t> shape, Type resultElement,
    std::function<Value(OpBuilder &, Location, ValueRange)> body,
    llvm::ArrayRef<OpFoldResult> resultSizes = {});

/// Shape or Size of an input with dynamic dims: symbolic sizes (static dims
/// known, tensor.dim for the others).
LogicalResult defineRuntimeShape(NodeEmitter &node);

/// Evaluates a node whose inputs are constants or symbolic sizes, at least
/// one symbolic, when the op is shape arithmetic (Gather, Concat, Cast,
/// Add, ...); nullopt when it is not (the op is then emitted).
std::optional<LogicalResult> foldSymbolicNode(NodeEmitter &node);

/// Integer Add, Sub, Mul, Div (truncating), Max or Min of two sizes, folded
/// when both are known; nullopt for another op or a division by zero or by
/// a run-time value.
std::optional<OpFoldResult> combineSizes(GraphBuilder &g, llvm::StringRef op,
                                         OpFoldResult x, OpFoldResult y);

/// True when sizes `a` and `b` are provably equal: equal constants, the
/// same value, or tensor.dim of one tensor's same dim.
bool isSameSize(OpFoldResult a, OpFoldResult b);

/// `shape` with static dims where `sizes` are known, dynamic elsewhere.
llvm::SmallVector<int64_t> getStaticSizes(llvm::ArrayRef<OpFoldResult> sizes);

/// The result sizes of a broadcast of `inputs` to `shape` (numpy rules):
/// static dims as given, a dynamic dim read from an input dynamic there.
llvm::SmallVector<OpFoldResult> broadcastSizes(GraphBuilder &g,
                                               llvm::ArrayRef<Value> inputs,
                                               llvm::ArrayRef<int64_t> shape);

/// Converts scalar `value` of ONNX type `from` to ONNX type `to`.
Value convertScalar(OpBuilder &b, Location loc, Value value, int32_t from,
                    int32_t to, Type toType);

/// `value` reshaped (same element count) to `shape`.
Value buildReshape(GraphBuilder &g, Value value, llvm::ArrayRef<int64_t> shape);
/// `value` reshaped to `sizes` (some dynamic): collapse_shape/expand_shape
/// when the dims group (a dynamic dim kept whole), tensor.reshape otherwise.
Value buildReshape(GraphBuilder &g, Value value,
                   llvm::ArrayRef<OpFoldResult> sizes);

/// RMS normalization of `x` (static dims axis.., the leading ones may be
/// dynamic) over dims axis.. (axis >= 0), in
/// f32, times `scale` (broadcast), rounded to x's type.
Value buildRmsNorm(GraphBuilder &g, Value x, Value scale, int64_t axis,
                   double epsilon);

/// Rotary embedding of `x` ([batch, heads, seq, head] or [batch, seq,
/// heads * head] with `heads`) over its first `rotaryDim` dims, half-split or
/// `interleaved` pairs; `cos`/`sin` are [positions, rotaryDim/2] read at
/// `positions` [batch, seq] (integers, clamped into the cache), or
/// [batch, seq, rotaryDim/2] when `positions` is null.
Value buildRotary(GraphBuilder &g, Value x, int64_t heads, int64_t rotaryDim,
                  bool interleaved, Value cos, Value sin, Value positions);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_GRAPHBUILDER_H
