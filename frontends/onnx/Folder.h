//===- Folder.h - evaluating ONNX nodes at import time ----------*- C++ -*-===//
//
// Evaluates a node whose inputs are all known HostTensors (shape arithmetic,
// scales, small masks), so the emitted IR holds only the real computation.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_FOLDER_H
#define HGC_FRONTENDS_ONNX_FOLDER_H

#include "frontends/onnx/OnnxModel.h"
#include "frontends/onnx/ShapeRules.h"

namespace mlir::hgc::onnx {

enum class FoldResult { Folded, NotFoldable, Failed };

/// Largest result the importer folds; bigger ones are emitted as IR.
constexpr int64_t kMaxFoldedElements = int64_t(1) << 16;

/// Evaluates `node` on `inputs` (null for an absent optional input).
/// NotFoldable: an op the folder does not know or a result too large;
/// Failed: the node is invalid (message in `error`).
FoldResult foldNode(const ::onnx::NodeProto &node, int64_t opset,
                    llvm::ArrayRef<const HostTensor *> inputs,
                    llvm::SmallVectorImpl<HostTensor> &outputs,
                    std::string &error);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_FOLDER_H
