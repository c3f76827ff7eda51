//===- Importer.cpp - ONNX models to MLIR --------------------------------===//

#include "frontends/onnx/Importer.h"
#include "frontends/onnx/Folder.h"
#include "frontends/onnx/GraphBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string text;
  for (auto [i, d] : llvm::enumerate(shape))
    text += (i ? "x" : "") + (d < 0 ? std::string("?") : std::to_string(d));
  return text;
}

/// The default-domain opset the model imports.
int64_t defaultOpset(const ::onnx::ModelProto &model) {
  for (const auto &entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      return entry.version();
  return 1;
}

class Importer {
public:
  Importer(MLIRContext *context, const std::string &path,
           const ::onnx::ModelProto &model, const ImportOptions &options,
           llvm::StringMap<TensorBytes> rawData)
      : context(context), path(path), model(model), options(options),
        rawData(std::move(rawData)), builder(context),
        graph(builder, defaultOpset(model)),
        fileLoc(FileLineColLoc::get(context, path, 0, 0)) {
    baseDir = llvm::sys::path::parent_path(path).str();
  }

  FailureOr<ImportedModel> run();

private:
  LogicalResult fail(const llvm::Twine &message) {
    return emitError(fileLoc) << message;
  }
  void completeInputShapes();
  /// Checks `input` against its shape given in the options and takes the
  /// given sizes.
  LogicalResult applyGivenShape(GraphInput &input);
  /// Appends `input`'s argument type (an append buffer's has a dynamic
  /// capacity along its axis).
  LogicalResult declareInput(GraphInput &input);
  LogicalResult createFunction();
  LogicalResult importInitializers();
  void sliceAppendBuffers();
  LogicalResult returnOutputs();
  LogicalResult importNode(const ::onnx::NodeProto &node, int index);
  LogicalResult importConstant(NodeEmitter &emitter);
  /// Where a parameter's bytes are, if `proto` becomes one.
  std::optional<TensorBytes> parameterBytes(const ::onnx::TensorProto &proto,
                                            std::string &error);

  MLIRContext *context;
  std::string path, baseDir;
  const ::onnx::ModelProto &model;
  const ImportOptions &options;
  llvm::StringMap<TensorBytes> rawData;
  OpBuilder builder;
  GraphBuilder graph;
  Location fileLoc;
  // What run() builds, step by step.
  ImportedModel result;
  std::vector<GraphInput> inputs;
  SmallVector<Type> argumentTypes;
  func::FuncOp function;
  Block *body = nullptr;
};
} // namespace

FailureOr<ImportedModel> Importer::run() {
  // 1. Complete the declared inputs' shapes: a named dimension sized
  //    anywhere has that size everywhere.
  // 2. Give each input its argument type (append buffers, dynamic, static).
  // 3. Create the entry function and bind the inputs (and given values).
  // 4. Initializers: large ones become parameter arguments, the rest
  //    constants.
  // 5. Each append buffer's input is the buffer's first `length` positions.
  // 6. Import the nodes in order.
  // 7. Return the outputs (an append buffer's as its new length).
  // Run-time size checks name their node with an LLVM global string.
  context->getOrLoadDialect<LLVM::LLVMDialect>();
  result.module = ModuleOp::create(fileLoc);
  builder.setInsertionPointToEnd(result.module->getBody());
  inputs = declaredInputs(model.graph());
  completeInputShapes();
  for (GraphInput &input : inputs)
    if (failed(declareInput(input)))
      return failure();
  if (failed(createFunction()) || failed(importInitializers()))
    return failure();
  sliceAppendBuffers();
  for (auto [index, node] : llvm::enumerate(model.graph().node()))
    if (failed(importNode(node, int(index))))
      return failure();
  if (failed(returnOutputs()))
    return failure();
  return std::move(result);
}

void Importer::completeInputShapes() {
  std::map<std::string, int64_t> named(options.dimSizes.begin(),
                                       options.dimSizes.end());
  for (const GraphInput &input : inputs) {
    auto given = options.inputShapes.find(input.name);
    if (given == options.inputShapes.end() ||
        given->second.size() != input.dimNames.size())
      continue;
    for (auto [d, name] : llvm::enumerate(input.dimNames))
      if (!name.empty() && !ShapedType::isDynamic(given->second[d]))
        named.try_emplace(name, given->second[d]);
  }
  for (GraphInput &input : inputs)
    for (auto [d, name] : llvm::enumerate(input.dimNames)) {
      if (options.inputShapes.count(input.name))
        break; // checked against its given shape in declareInput
      auto size = named.find(name);
      if (!name.empty() && size != named.end() && input.shape[d] < 0 &&
          !options.dynamicDims.count(name))
        input.shape[d] = size->second;
    }
}

LogicalResult Importer::applyGivenShape(GraphInput &input) {
  auto given = options.inputShapes.find(input.name);
  if (given == options.inputShapes.end())
    return success();
  bool agrees = given->second.size() == input.shape.size();
  for (size_t d = 0; agrees && d < input.shape.size(); ++d)
    agrees = input.shape[d] < 0 || ShapedType::isDynamic(given->second[d]) ||
             input.shape[d] == given->second[d];
  if (!agrees)
    return fail("graph input '" + input.name + "' is declared " +
                shapeText(input.shape) + ", given " + shapeText(given->second));
  // A dynamic size given keeps the declared dimension (dynamic when named
  // in dynamicDims).
  for (size_t d = 0; d < input.shape.size(); ++d)
    if (!ShapedType::isDynamic(given->second[d]))
      input.shape[d] = given->second[d];
  return success();
}

LogicalResult Importer::declareInput(GraphInput &input) {
  if (!isSupportedType(input.type))
    return fail("graph input '" + input.name + "' has unsupported type " +
                dataTypeName(input.type));
  if (failed(applyGivenShape(input)))
    return failure();
  bool dynamic = false;
  for (auto [d, name] : llvm::enumerate(input.dimNames))
    if (!name.empty() && options.dynamicDims.count(name)) {
      input.shape[d] = ShapedType::kDynamic;
      dynamic = true;
    }
  auto unsized = [&] {
    return fail("graph input '" + input.name + "' has shape " +
                shapeText(input.shape) +
                ": give its symbolic dimensions a size (an input file or "
                "--shape)");
  };
  SmallVector<int64_t> argumentShape = input.shape;
  auto append = options.appendBuffers.find(input.name);
  if (append != options.appendBuffers.end()) {
    if (append->second != input.appendAxis)
      return fail("graph input '" + input.name +
                  "' is not a past the graph appends to along axis " +
                  std::to_string(append->second));
    argumentShape[append->second] = ShapedType::kDynamic; // its capacity
    if (!dynamic && llvm::is_contained(input.shape, -1))
      return unsized();
    result.appendBufferInputs.push_back(input.name);
  } else if (!dynamic) {
    if (!llvm::is_contained(input.shape, -1) && countElements(input.shape) < 0)
      return fail("graph input '" + input.name + "' has shape " +
                  shapeText(input.shape) + ": too many elements");
    if (llvm::is_contained(input.shape, -1))
      return unsized();
  }
  argumentTypes.push_back(graph.tensorType(argumentShape, input.type));
  result.inputNames.push_back(input.name);
  return success();
}

LogicalResult Importer::createFunction() {
  function = func::FuncOp::create(builder, fileLoc, options.entry,
                                  builder.getFunctionType(argumentTypes, {}));
  body = function.addEntryBlock();
  builder.setInsertionPointToStart(body);
  for (auto [i, input] : llvm::enumerate(inputs)) {
    graph.defineValue(input.name, body->getArgument(unsigned(i)), input.type);
    if (options.appendBuffers.count(input.name))
      continue; // defined once its length argument is there
    auto known = options.knownInputValues.find(input.name);
    // A value fixes the shape; a dynamic input has none to give.
    if (known == options.knownInputValues.end() ||
        llvm::any_of(input.shape, ShapedType::isDynamic))
      continue;
    HostTensor tensor(input.type, input.shape);
    if (tensor.isFloat() || int64_t(known->second.size()) != tensor.size())
      return fail("the value given for graph input '" + input.name +
                  "' does not fit its type");
    tensor.ints.assign(known->second.begin(), known->second.end());
    graph.lookup(input.name).known = std::move(tensor);
  }
  return success();
}

LogicalResult Importer::importInitializers() {
  for (const auto &proto : model.graph().initializer()) {
    std::string error;
    std::optional<TensorBytes> bytes = parameterBytes(proto, error);
    if (!error.empty())
      return fail("initializer " + error);
    if (bytes) {
      ModelParameter parameter{
          proto.name(), proto.data_type(),
          SmallVector<int64_t>(proto.dims().begin(), proto.dims().end()),
          *bytes};
      RankedTensorType type = graph.tensorType(parameter.shape, parameter.type);
      argumentTypes.push_back(type);
      graph.defineValue(proto.name(), body->addArgument(type, fileLoc),
                        parameter.type);
      result.parameters.push_back(std::move(parameter));
      continue;
    }
    HostTensor tensor;
    if (!readTensor(proto, baseDir, tensor, error))
      return fail("initializer " + error);
    GraphValue value;
    value.type = tensor.type;
    value.shape = tensor.shape;
    value.constant = std::move(tensor);
    graph.define(proto.name(), std::move(value));
  }
  return success();
}

void Importer::sliceAppendBuffers() {
  // `length` is an argument after the parameters (a constant where the
  // input's size along the axis is static in this compilation).
  for (const std::string &name : result.appendBufferInputs) {
    const GraphInput &input = *llvm::find_if(
        inputs, [&](const GraphInput &i) { return i.name == name; });
    auto lengthType = RankedTensorType::get({}, builder.getI64Type());
    argumentTypes.push_back(lengthType);
    Value lengthArgument = body->addArgument(lengthType, fileLoc);
    Value buffer = graph.lookup(name).value;
    int64_t axis = options.appendBuffers.at(name);
    graph.loc = fileLoc;
    OpFoldResult length = builder.getIndexAttr(input.shape[axis]);
    if (input.shape[axis] < 0) // -1 or dynamic
      length = arith::IndexCastOp::create(
                   builder, fileLoc, builder.getIndexType(),
                   tensor::ExtractOp::create(builder, fileLoc, lengthArgument,
                                             ValueRange{}))
                   .getResult();
    int64_t rank = int64_t(input.shape.size());
    SmallVector<OpFoldResult> sizes = graph.mixedSizes(buffer),
                              zeros(rank, builder.getIndexAttr(0)),
                              ones(rank, builder.getIndexAttr(1));
    sizes[axis] = length;
    Value past = tensor::ExtractSliceOp::create(builder, fileLoc, buffer, zeros,
                                                sizes, ones);
    graph.defineValue(name, past, input.type);
    graph.appendBuffers.push_back(
        {name, buffer, past, Value(), length, OpFoldResult(), axis});
  }
}

LogicalResult Importer::returnOutputs() {
  SmallVector<Value> outputs;
  graph.loc = fileLoc;
  for (const auto &info : model.graph().output()) {
    if (!graph.has(info.name()))
      return fail("graph output '" + info.name() + "' is never computed");
    Value output = graph.materialize(info.name());
    // Written into an append buffer: the code returns its new length.
    auto appended = llvm::find_if(graph.appendBuffers, [&](const auto &buffer) {
      return buffer.present && buffer.present == output;
    });
    if (appended != graph.appendBuffers.end()) {
      result.appendedOutputs[outputs.size()] =
          llvm::find(result.inputNames, appended->input) -
          result.inputNames.begin();
      Value length =
          arith::IndexCastOp::create(builder, fileLoc, builder.getI64Type(),
                                     graph.indexValue(appended->presentLength));
      output = tensor::FromElementsOp::create(
          builder, fileLoc, RankedTensorType::get({}, builder.getI64Type()),
          ValueRange{length});
    }
    outputs.push_back(output);
    result.outputNames.push_back(info.name());
  }
  func::ReturnOp::create(builder, fileLoc, outputs);
  result.usedKnownInputs = graph.usedKnownInputs;
  function.setType(
      builder.getFunctionType(argumentTypes, ValueRange(outputs).getTypes()));
  return success();
}

std::optional<TensorBytes>
Importer::parameterBytes(const ::onnx::TensorProto &proto, std::string &error) {
  int64_t size = getTensorByteSize(proto);
  if (options.parameterMinBytes < 0 || size < options.parameterMinBytes ||
      !isSupportedType(proto.data_type()))
    return std::nullopt;
  TensorBytes bytes;
  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL) {
    if (!locateExternalData(proto, baseDir, bytes, error))
      return std::nullopt;
    llvm::SmallString<256> absolute(bytes.file);
    llvm::sys::fs::make_absolute(absolute);
    bytes.file = std::string(absolute);
    return bytes;
  }
  // Typed fields (float_data, ...) are not the bytes the code reads.
  auto raw = rawData.find(proto.name());
  if (!proto.has_raw_data() || raw == rawData.end() ||
      raw->second.length != uint64_t(size))
    return std::nullopt;
  bytes = raw->second;
  llvm::SmallString<256> absolute(path);
  llvm::sys::fs::make_absolute(absolute);
  bytes.file = std::string(absolute);
  return bytes;
}

LogicalResult Importer::importConstant(NodeEmitter &emitter) {
  const ::onnx::NodeProto &node = emitter.node;
  HostTensor tensor;
  std::string error;
  if (const auto *attribute = findAttribute(node, "value")) {
    if (!readTensor(attribute->t(), baseDir, tensor, error))
      return emitter.fail(error);
  } else if (const auto *attribute = findAttribute(node, "value_float")) {
    tensor = HostTensor(kFloat, {});
    tensor.set(0, attribute->f());
  } else if (const auto *attribute = findAttribute(node, "value_int")) {
    tensor = HostTensor::fromInts({attribute->i()});
    tensor.shape.clear();
  } else if (const auto *attribute = findAttribute(node, "value_floats")) {
    tensor = HostTensor(kFloat, {int64_t(attribute->floats_size())});
    for (int i = 0; i < attribute->floats_size(); ++i)
      tensor.set(i, attribute->floats(i));
  } else if (const auto *attribute = findAttribute(node, "value_ints")) {
    tensor = HostTensor::fromInts(llvm::SmallVector<int64_t>(
        attribute->ints().begin(), attribute->ints().end()));
  } else {
    return emitter.fail("Constant without a supported value attribute");
  }
  GraphValue value;
  value.type = tensor.type;
  value.shape = tensor.shape;
  value.constant = std::move(tensor);
  graph.define(node.output(0), std::move(value));
  return success();
}

/// Ops whose emitters size their results from run-time dims; the others
/// need static shapes. Shape arithmetic reads dynamic dims as symbolic sizes
/// (SymbolicSizes.cpp), the tensor ops below read tensor.dim.
static bool takesDynamicDims(NodeEmitter &emitter) {
  const ::onnx::NodeProto &node = emitter.node;
  const std::string &op = node.op_type();
  if (node.domain() == "com.microsoft")
    return op == "GroupQueryAttention" ||
           op == "SkipSimplifiedLayerNormalization";
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    return false;
  return llvm::is_contained({"Attention",
                             "Shape",
                             "Size",
                             "Identity",
                             "Add",
                             "Sub",
                             "Mul",
                             "Div",
                             "Pow",
                             "Max",
                             "Min",
                             "Mod",
                             "And",
                             "Or",
                             "Xor",
                             "Equal",
                             "Less",
                             "Greater",
                             "LessOrEqual",
                             "GreaterOrEqual",
                             "Where",
                             "Sqrt",
                             "Exp",
                             "Log",
                             "Tanh",
                             "Erf",
                             "Abs",
                             "Neg",
                             "Floor",
                             "Ceil",
                             "Sin",
                             "Cos",
                             "Reciprocal",
                             "Relu",
                             "Sigmoid",
                             "IsNaN",
                             "IsInf",
                             "Not",
                             "Cast",
                             "CastLike",
                             "Expand",
                             "MatMul",
                             "Softmax",
                             "Transpose",
                             "Concat",
                             "Slice",
                             "Reshape",
                             "Flatten",
                             "Squeeze",
                             "Unsqueeze",
                             "Gather",
                             "GatherND",
                             "ConstantOfShape",
                             "Range",
                             "ReduceSum",
                             "ReduceMean",
                             "ReduceMax",
                             "ReduceMin",
                             "ReduceSumSquare",
                             "LayerNormalization",
                             "RMSNormalization",
                             "SimplifiedLayerNormalization",
                             "Gemm",
                             "Split",
                             "RotaryEmbedding",
                             "Trilu"},
                            op);
}

static LogicalResult checkDynamicInputs(NodeEmitter &emitter) {
  const ::onnx::NodeProto &node = emitter.node;
  if (takesDynamicDims(emitter))
    return success();
  for (size_t i = 0; i < emitter.numInputs(); ++i)
    if (emitter.hasInput(i) &&
        llvm::any_of(emitter.input(i).shape, ShapedType::isDynamic))
      return emitter.fail("input '" + node.input(int(i)) +
                          "' has a dynamic dimension this op cannot take yet "
                          "(give the dimension a size)");
  return success();
}

LogicalResult Importer::importNode(const ::onnx::NodeProto &node, int index) {
  NodeEmitter emitter{graph, node, describeNode(node, index)};
  std::string locName = node.name().empty()
                            ? node.op_type() + "#" + std::to_string(index)
                            : node.name();
  graph.loc = NameLoc::get(StringAttr::get(context, locName), fileLoc);
  graph.where = emitter.where;
  for (int i = 0; i < node.input_size(); ++i)
    if (!node.input(i).empty() && !graph.has(node.input(i)))
      return emitter.fail("input '" + node.input(i) + "' is not defined");
  if (node.output_size() == 0)
    return emitter.fail("node has no outputs");
  bool standard = node.domain().empty() || node.domain() == "ai.onnx";
  const std::string &op = node.op_type();
  if (failed(checkDynamicInputs(emitter)))
    return failure();

  if (standard && op == "Constant")
    return importConstant(emitter);
  if (standard && (op == "Shape" || op == "Size")) {
    if (!emitter.hasInput(0))
      return emitter.fail("needs an input");
    llvm::ArrayRef<int64_t> shape = emitter.input(0).shape;
    if (llvm::any_of(shape, ShapedType::isDynamic))
      return defineRuntimeShape(emitter);
    HostTensor tensor;
    if (op == "Size") {
      int64_t count = 1;
      for (int64_t d : shape)
        count *= d;
      tensor = HostTensor::fromInts({count});
      tensor.shape.clear();
    } else {
      int64_t rank = int64_t(shape.size());
      int64_t start = getIntAttr(node, "start", 0),
              end = getIntAttr(node, "end", rank);
      start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
      end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
      tensor = HostTensor::fromInts(
          shape.slice(start, std::max<int64_t>(end - start, 0)));
    }
    GraphValue value;
    value.type = kInt64;
    value.shape = tensor.shape;
    value.constant = std::move(tensor);
    graph.define(node.output(0), std::move(value));
    return success();
  }

  // Everything known: evaluate now.
  SmallVector<const HostTensor *> constants;
  HostTensor typeOnly;
  bool allConstant = true, allSizes = true, anySymbolic = false;
  for (int i = 0; i < node.input_size(); ++i) {
    if (node.input(i).empty()) {
      constants.push_back(nullptr);
      continue;
    }
    const HostTensor *constant = emitter.constantInput(size_t(i));
    // CastLike reads only the element type of its second input.
    if (!constant && standard && op == "CastLike" && i == 1) {
      typeOnly = HostTensor(emitter.input(1).type, {0});
      constant = &typeOnly;
    }
    allConstant &= constant != nullptr;
    bool symbolic = emitter.input(size_t(i)).symbolic.has_value();
    anySymbolic |= symbolic;
    allSizes &= constant || symbolic;
    constants.push_back(constant);
  }
  if (allSizes && anySymbolic)
    if (std::optional<LogicalResult> folded = foldSymbolicNode(emitter))
      return *folded;
  if (allConstant) {
    SmallVector<HostTensor> results;
    std::string error;
    switch (foldNode(node, graph.opset, constants, results, error)) {
    case FoldResult::Failed:
      return emitter.fail(error);
    case FoldResult::Folded:
      for (auto [i, tensor] : llvm::enumerate(results)) {
        if (!emitter.wantsOutput(i))
          continue;
        GraphValue value;
        value.type = tensor.type;
        value.shape = tensor.shape;
        value.constant = std::move(tensor);
        graph.define(node.output(int(i)), std::move(value));
      }
      return success();
    case FoldResult::NotFoldable:
      break;
    }
  }
  return emitNode(emitter);
}

FailureOr<ImportedModel>
mlir::hgc::onnx::importOnnxFile(MLIRContext *context, const std::string &path,
                                const ImportOptions &options) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << path << ": " << buffer.getError().message();
    return failure();
  }
  ::onnx::ModelProto model;
  std::string error;
  if (!parseModel((*buffer)->getBuffer(), model, error)) {
    // Named in the message, not a location: engines that print only the
    // message (libhgc's sessions) still see which file.
    emitError(UnknownLoc::get(context)) << path << ": " << error;
    return failure();
  }
  // Parameters read the file's own bytes (offsets from the serialized form).
  Importer importer(context, path, model, options,
                    findInitializerRawData((*buffer)->getBuffer()));
  return importer.run();
}

FailureOr<ImportedModel>
mlir::hgc::onnx::importOnnxBuffer(MLIRContext *context, llvm::StringRef bytes,
                                  const std::string &name,
                                  const ImportOptions &options) {
  ::onnx::ModelProto model;
  std::string error;
  if (!parseModel(bytes, model, error)) {
    // Named in the message, not a location: engines that print only the
    // message (libhgc's sessions) still see which file.
    emitError(UnknownLoc::get(context)) << name << ": " << error;
    return failure();
  }
  // Bytes held in memory have no file to read parameters from: only
  // external data can become parameters.
  Importer importer(context, name, model, options, {});
  return importer.run();
}
