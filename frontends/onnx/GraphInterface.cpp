//===- GraphInterface.cpp - an ONNX graph's inputs and outputs ------------===//
//
// What a caller sees of a model before it is compiled: the declared inputs
// (with the pasts the graph appends to), the outputs and the external data
// files.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/Importer.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Declared graph inputs, minus initializers.
std::vector<GraphInput> readDeclaredInputs(const ::onnx::GraphProto &graph) {
  llvm::StringSet<> initializers;
  for (const auto &tensor : graph.initializer())
    initializers.insert(tensor.name());
  std::vector<GraphInput> inputs;
  for (const auto &info : graph.input()) {
    if (initializers.contains(info.name()))
      continue;
    GraphInput input{info.name(), {}, 0, {}};
    if (info.type().has_tensor_type()) {
      const auto &tensor = info.type().tensor_type();
      input.type = tensor.elem_type();
      for (const auto &dim : tensor.shape().dim()) {
        input.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
        input.dimNames.push_back(dim.has_dim_value() ? "" : dim.dim_param());
      }
    }
    inputs.push_back(std::move(input));
  }
  return inputs;
}

/// Marks the pasts the graph appends to and returns: Concat(past, new) as
/// an output, or an attention's past_key/past_value with its present as
/// outputs.
void markAppendedPasts(const ::onnx::GraphProto &graph,
                       std::vector<GraphInput> &inputs) {
  llvm::StringMap<int64_t> outputIndex;
  for (const auto &[i, info] : llvm::enumerate(graph.output()))
    outputIndex[info.name()] = int64_t(i);
  llvm::StringMap<int> appendsOf; // an input appended twice is neither
  // Exporters pass a past through copies (TorchScript: a Concat of one
  // input); the importer makes those the same value.
  llvm::StringMap<std::string> copyOf;
  for (const auto &node : graph.node())
    if ((node.op_type() == "Identity" || node.op_type() == "Concat") &&
        node.input_size() == 1 && node.output_size() == 1 &&
        (node.domain().empty() || node.domain() == "ai.onnx"))
      copyOf[node.output(0)] = node.input(0);
  auto original = [&](std::string name) {
    for (auto copy = copyOf.find(name); copy != copyOf.end();
         copy = copyOf.find(name))
      name = copy->second;
    return name;
  };
  auto noteAppend = [&](const ::onnx::NodeProto &node, int in, int out,
                        int64_t axis) {
    if (node.input_size() <= in || node.output_size() <= out)
      return;
    std::string past = original(node.input(in));
    auto input = llvm::find_if(
        inputs, [&](const GraphInput &i) { return i.name == past; });
    auto output = outputIndex.find(node.output(out));
    if (input == inputs.end() || output == outputIndex.end())
      return;
    int64_t rank = int64_t(input->shape.size());
    if (axis < 0)
      axis += rank;
    if (++appendsOf[input->name] > 1 || axis < 1 || axis >= rank) {
      input->appendAxis = input->appendOutput = -1;
      return;
    }
    input->appendAxis = axis;
    input->appendOutput = output->second;
  };
  for (const auto &node : graph.node()) {
    StringRef domain = node.domain();
    bool onnxDomain = domain.empty() || domain == "ai.onnx";
    if (onnxDomain && node.op_type() == "Concat" && node.input_size() == 2) {
      int64_t axis = 0;
      for (const auto &attribute : node.attribute())
        if (attribute.name() == "axis")
          axis = attribute.i();
      noteAppend(node, 0, 0, axis);
    } else if (onnxDomain && node.op_type() == "Attention") {
      noteAppend(node, 4, 1, 2);
      noteAppend(node, 5, 2, 2);
    } else if (domain == "com.microsoft" &&
               node.op_type() == "MultiHeadAttention") {
      noteAppend(node, 6, 1, 2);
      noteAppend(node, 7, 2, 2);
    }
  }
}
} // namespace

std::vector<GraphInput>
mlir::hgc::onnx::declaredInputs(const ::onnx::GraphProto &graph) {
  std::vector<GraphInput> inputs = readDeclaredInputs(graph);
  markAppendedPasts(graph, inputs);
  return inputs;
}

FailureOr<std::vector<GraphInput>>
mlir::hgc::onnx::readGraphInputs(MLIRContext *context,
                                 const std::string &path) {
  FailureOr<GraphInterface> interface = readGraphInterface(context, path);
  if (failed(interface))
    return failure();
  return std::move(interface->inputs);
}

FailureOr<GraphInterface>
mlir::hgc::onnx::readGraphInterface(MLIRContext *context,
                                    const std::string &path) {
  ::onnx::ModelProto model;
  std::string error;
  if (!loadModel(path, model, error)) {
    // Named in the message, not a location: engines that print only the
    // message (libhgc's sessions) still see which file.
    emitError(UnknownLoc::get(context)) << path << ": " << error;
    return failure();
  }
  GraphInterface interface;
  interface.inputs = declaredInputs(model.graph());
  for (const auto &info : model.graph().output())
    interface.outputNames.push_back(info.name());
  auto noteExternal = [&](const ::onnx::TensorProto &tensor) {
    for (const auto &entry : tensor.external_data())
      if (entry.key() == "location")
        interface.externalDataFiles.insert(entry.value());
  };
  for (const auto &tensor : model.graph().initializer())
    noteExternal(tensor);
  for (const auto &node : model.graph().node())
    for (const auto &attribute : node.attribute())
      if (attribute.has_t())
        noteExternal(attribute.t());
  return interface;
}
