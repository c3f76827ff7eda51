//===- ShapeRules.h - ONNX shape rules for folding and emission -*- C++ -*-===//
//
// Result shapes of Reshape, Flatten, Squeeze, Unsqueeze, Slice, GatherND
// and Split, read from a node's inputs and attributes: one reading for the
// folder and the emitters.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_SHAPERULES_H
#define HGC_FRONTENDS_ONNX_SHAPERULES_H

#include "frontends/onnx/OnnxModel.h"

namespace mlir::hgc::onnx {

/// Normalizes a possibly negative `axis` of a rank-`rank` tensor; false when
/// out of range.
bool normalizeAxis(int64_t &axis, int64_t rank);

/// The shape Reshape produces for `input` and `target` (0 copies a dim
/// unless `allowZero`, one -1 is inferred); false with `error`.
bool inferReshape(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> target,
                  bool allowZero, llvm::SmallVectorImpl<int64_t> &result,
                  std::string &error);

/// The result shape of a Reshape (`target`: its shape input), Flatten,
/// Squeeze or Unsqueeze (`axes`: absent when none are given) `node` applied
/// to `input`; false with `error`.
bool inferReshapeLike(const ::onnx::NodeProto &node,
                      llvm::ArrayRef<int64_t> input, const HostTensor *target,
                      const std::optional<llvm::SmallVector<int64_t>> &axes,
                      llvm::SmallVectorImpl<int64_t> &result,
                      std::string &error);

/// Slice parameters resolved against `shape`: per dim start, size, step.
struct SliceBounds {
  llvm::SmallVector<int64_t> starts, sizes, steps;
};
bool resolveSlice(llvm::ArrayRef<int64_t> shape, const HostTensor &starts,
                  const HostTensor &ends, const HostTensor *axes,
                  const HostTensor *steps, SliceBounds &bounds,
                  std::string &error);

/// GatherND's `batch_dims`, index depth and result shape for data of
/// `dataShape` and integer indices of `indexShape`; false with a message in
/// `error` when they do not fit.
bool resolveGatherND(const ::onnx::NodeProto &node,
                     llvm::ArrayRef<int64_t> dataShape,
                     llvm::ArrayRef<int64_t> indexShape, int64_t &batchDims,
                     int64_t &depth, llvm::SmallVectorImpl<int64_t> &shape,
                     std::string &error);

/// The sizes along `axis` (normalized in place) of Split's `outputs` parts
/// of a tensor of `shape`: `split` when given (input or pre-13 attribute),
/// else equal parts (opset 18's num_outputs: the last one smaller). False
/// with a message in `error` when they do not add up.
bool resolveSplit(const ::onnx::NodeProto &node, llvm::ArrayRef<int64_t> shape,
                  const HostTensor *split, size_t outputs, int64_t &axis,
                  llvm::SmallVectorImpl<int64_t> &sizes, std::string &error);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_SHAPERULES_H
