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

#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace mlir::hgc::onnx {

/// Parses the serialized model `bytes`; false with a one-line reason in
/// `error` that names no file (callers prefix it).
bool parseModel(llvm::StringRef bytes, ::onnx::ModelProto &model,
                std::string &error);

/// Reads `path` into `model`; false with a one-line reason in `error`
/// (missing file, truncated or malformed protobuf, no graph), naming no
/// file, as parseModel.
bool loadModel(const std::string &path, ::onnx::ModelProto &model,
               std::string &error);

/// Converts `proto` to a HostTensor, reading external data relative to
/// `baseDir`; false with `error` for unsupported types, sizes that do not
/// match the dims, or unreadable external files.
bool readTensor(const ::onnx::TensorProto &proto, const std::string &baseDir,
                HostTensor &tensor, std::string &error);

/// Bytes per element of raw data of ONNX type `type`, 0 when unsupported.
size_t getElementByteSize(int32_t type);

/// Where a tensor's little-endian bytes lie in a file.
struct TensorBytes {
  std::string file; // empty: the model file itself
  uint64_t offset = 0, length = 0;
};

/// Bytes of `proto`'s data by its dims and type, or -1 when they overflow
/// or the type has no fixed width.
int64_t getTensorByteSize(const ::onnx::TensorProto &proto);

/// The file range of an EXTERNAL tensor, relative to `baseDir`; false with
/// a one-line `error` (a location outside the folder, a missing file, a
/// length that contradicts the dims, a file too short).
bool locateExternalData(const ::onnx::TensorProto &proto,
                        const std::string &baseDir, TensorBytes &where,
                        std::string &error);

/// The byte range of each initializer's raw_data inside the serialized model
/// (protobuf's parsed strings are copies; compiled code reads the file).
/// Tensors without raw_data are absent.
llvm::StringMap<TensorBytes> findInitializerRawData(llvm::StringRef modelBytes);

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
