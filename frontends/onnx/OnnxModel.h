//===- OnnxModel.h - reading ONNX protobufs ---------------------*- C++ -*-===//
//
// Parses .onnx files with protobuf's generated classes (onnx.proto vendored
// from the ONNX project) and turns TensorProtos (inline, raw or external
// data) into HostTensors. Attribute accessors keep node handling short.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_ONNXMODEL_H
#define HGC_FRONTENDS_ONNX_ONNXMODEL_H

#include "frontends/onnx/HostTensor.h"
#include "frontends/onnx/proto/onnx.pb.h"

#include <optional>
#include <string>

namespace mlir::hgc::onnx {

/// Parses the serialized model `bytes` (`name` for messages).
bool parseModel(llvm::StringRef bytes, const std::string &name,
                ::onnx::ModelProto &model, std::string &error);

/// Reads `path` into `model`; false with a one-line reason in `error`
/// (missing file, truncated or malformed protobuf, no graph).
bool loadModel(const std::string &path, ::onnx::ModelProto &model,
               std::string &error);

/// Converts `proto` to a HostTensor, reading external data relative to
/// `baseDir`; false with `error` for unsupported types, sizes that do not
/// match the dims, or unreadable external files.
bool readTensor(const ::onnx::TensorProto &proto, const std::string &baseDir,
                HostTensor &tensor, std::string &error);

/// Node attributes by name.
const ::onnx::AttributeProto *findAttribute(const ::onnx::NodeProto &node,
                                            llvm::StringRef name);
int64_t getIntAttr(const ::onnx::NodeProto &node, llvm::StringRef name,
                   int64_t defaultValue);
std::optional<int64_t> getOptionalIntAttr(const ::onnx::NodeProto &node,
                                          llvm::StringRef name);
float getFloatAttr(const ::onnx::NodeProto &node, llvm::StringRef name,
                   float defaultValue);
std::optional<float> getOptionalFloatAttr(const ::onnx::NodeProto &node,
                                          llvm::StringRef name);
std::optional<llvm::SmallVector<int64_t>>
getIntsAttr(const ::onnx::NodeProto &node, llvm::StringRef name);
std::string getStringAttr(const ::onnx::NodeProto &node, llvm::StringRef name,
                          llvm::StringRef defaultValue);

/// "node 'name' (Op)" or "node #i (Op)" for messages.
std::string describeNode(const ::onnx::NodeProto &node, int index);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_ONNXMODEL_H
