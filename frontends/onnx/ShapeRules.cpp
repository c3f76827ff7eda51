//===- ShapeRules.cpp - ONNX shape rules shared by folding and emission ---===//
//
// The result shapes of Reshape-like ops, Slice, GatherND and Split from
// their inputs and attributes: the folder evaluates nodes with them, the
// emitters size the IR they write with them, so both read a node the same
// way.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/ShapeRules.h"

using namespace mlir::hgc::onnx;
using llvm::ArrayRef;
using llvm::SmallVector;

bool mlir::hgc::onnx::normalizeAxis(int64_t &axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return false;
  if (axis < 0)
    axis += rank;
  return true;
}

bool mlir::hgc::onnx::inferReshape(ArrayRef<int64_t> input,
                                   ArrayRef<int64_t> target, bool allowZero,
                                   llvm::SmallVectorImpl<int64_t> &result,
                                   std::string &error) {
  int64_t count = countElements(input), known = 1, inferred = -1;
  if (count < 0) {
    error = "Reshape of a tensor with too many elements";
    return false;
  }
  result.clear();
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t dim = target[i];
    if (dim == 0 && !allowZero) {
      if (i >= input.size()) {
        error = "Reshape copies dimension " + std::to_string(i) +
                " the input does not have";
        return false;
      }
      dim = input[i];
    }
    if (dim == -1) {
      if (inferred >= 0) {
        error = "Reshape has more than one -1";
        return false;
      }
      inferred = int64_t(i);
    } else if (dim < 0) {
      error = "Reshape to negative dimension " + std::to_string(dim);
      return false;
    } else {
      // Saturating: a product past any real count is a mismatch anyway,
      // and a later 0 still makes it 0.
      known = dim > 0 && known > std::numeric_limits<int64_t>::max() / dim
                  ? std::numeric_limits<int64_t>::max()
                  : known * dim;
    }
    result.push_back(dim);
  }
  if (inferred >= 0) {
    if (known == 0 || count % known != 0) {
      error =
          "Reshape cannot infer -1 for " + std::to_string(count) + " elements";
      return false;
    }
    result[inferred] = count / known;
    known *= result[inferred];
  }
  if (known != count) {
    error = "Reshape of " + std::to_string(count) + " elements to " +
            std::to_string(known);
    return false;
  }
  return true;
}

bool mlir::hgc::onnx::inferReshapeLike(
    const ::onnx::NodeProto &node, ArrayRef<int64_t> input,
    const HostTensor *target, const std::optional<SmallVector<int64_t>> &axes,
    llvm::SmallVectorImpl<int64_t> &result, std::string &error) {
  const std::string &op = node.op_type();
  int64_t rank = int64_t(input.size());
  result.clear();
  if (op == "Reshape") {
    if (!target) {
      error = "Reshape needs a shape known at compile time";
      return false;
    }
    return inferReshape(input, target->ints,
                        getIntAttr(node, "allowzero", 0) != 0, result, error);
  }
  if (op == "Flatten") {
    int64_t axis = getIntAttr(node, "axis", 1);
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis > rank) {
      error = "Flatten axis is out of range";
      return false;
    }
    int64_t outer = countElements(input.take_front(axis));
    int64_t inner = countElements(input.drop_front(axis));
    if (outer < 0 || inner < 0 || countElements(input) < 0) {
      error = "Flatten of a tensor with too many elements";
      return false;
    }
    result.assign({outer, inner});
    return true;
  }
  if (op == "Unsqueeze") {
    if (!axes) {
      error = "Unsqueeze needs axes";
      return false;
    }
    int64_t outRank = rank + int64_t(axes->size());
    SmallVector<bool> inserted(outRank, false);
    for (int64_t axis : *axes) {
      if (!normalizeAxis(axis, outRank) || inserted[axis]) {
        error = "Unsqueeze axis is out of range or repeated";
        return false;
      }
      inserted[axis] = true;
    }
    for (int64_t d = 0, from = 0; d < outRank; ++d)
      result.push_back(inserted[d] ? 1 : input[from++]);
    return true;
  }
  // Squeeze: the given axes (of size 1), or every dim of size 1.
  SmallVector<bool> removed(rank, false);
  if (axes) {
    for (int64_t axis : *axes) {
      if (!normalizeAxis(axis, rank) || input[axis] != 1) {
        error = "Squeeze axis is out of range or not of size 1";
        return false;
      }
      removed[axis] = true;
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      removed[d] = input[d] == 1;
  }
  for (int64_t d = 0; d < rank; ++d)
    if (!removed[d])
      result.push_back(input[d]);
  return true;
}

bool mlir::hgc::onnx::resolveSlice(ArrayRef<int64_t> shape,
                                   const HostTensor &starts,
                                   const HostTensor &ends,
                                   const HostTensor *axes,
                                   const HostTensor *steps, SliceBounds &bounds,
                                   std::string &error) {
  int64_t rank = int64_t(shape.size());
  bounds.starts.assign(rank, 0);
  bounds.sizes.assign(shape.begin(), shape.end());
  bounds.steps.assign(rank, 1);
  int64_t n = starts.size();
  if (ends.size() != n || (axes && axes->size() != n) ||
      (steps && steps->size() != n)) {
    error = "Slice starts, ends, axes and steps differ in length";
    return false;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = axes ? axes->asInt(i) : i;
    if (!normalizeAxis(axis, rank)) {
      error = "Slice axis " + std::to_string(axis) + " is out of range";
      return false;
    }
    int64_t dim = shape[axis], step = steps ? steps->asInt(i) : 1;
    if (step == 0) {
      error = "Slice step is 0";
      return false;
    }
    int64_t start = starts.asInt(i), end = ends.asInt(i);
    if (start < 0)
      start += dim;
    if (end < 0)
      end += dim;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      bounds.sizes[axis] = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      bounds.sizes[axis] =
          start > end ? (start - end + (-step) - 1) / (-step) : 0;
    }
    bounds.starts[axis] = start;
    bounds.steps[axis] = step;
  }
  return true;
}

bool mlir::hgc::onnx::resolveGatherND(const ::onnx::NodeProto &node,
                                      ArrayRef<int64_t> dataShape,
                                      ArrayRef<int64_t> indexShape,
                                      int64_t &batchDims, int64_t &depth,
                                      llvm::SmallVectorImpl<int64_t> &shape,
                                      std::string &error) {
  int64_t rank = int64_t(dataShape.size());
  int64_t indexRank = int64_t(indexShape.size());
  batchDims = getIntAttr(node, "batch_dims", 0);
  if (indexRank < 1 || batchDims < 0 ||
      batchDims >= std::min(rank, indexRank)) {
    error = "GatherND batch_dims is out of range for the input ranks";
    return false;
  }
  depth = indexShape.back();
  if (depth < 1 || batchDims + depth > rank) {
    error = "GatherND: the last dimension of indices (" +
            std::to_string(depth) + ") does not fit data of rank " +
            std::to_string(rank);
    return false;
  }
  for (int64_t d = 0; d < batchDims; ++d)
    if (dataShape[d] != indexShape[d] && dataShape[d] >= 0 &&
        indexShape[d] >= 0) { // dynamic (negative) dims are checked later
      error = "GatherND batch dimension " + std::to_string(d) +
              " differs between data and indices";
      return false;
    }
  shape.assign(indexShape.begin(), indexShape.end() - 1);
  shape.append(dataShape.begin() + batchDims + depth, dataShape.end());
  return true;
}

bool mlir::hgc::onnx::resolveSplit(const ::onnx::NodeProto &node,
                                   ArrayRef<int64_t> shape,
                                   const HostTensor *split, size_t outputs,
                                   int64_t &axis,
                                   llvm::SmallVectorImpl<int64_t> &sizes,
                                   std::string &error) {
  int64_t rank = int64_t(shape.size());
  axis = getIntAttr(node, "axis", 0);
  if (rank == 0 || !normalizeAxis(axis, rank)) {
    error = "Split axis is out of range";
    return false;
  }
  int64_t dim = shape[axis];
  sizes.clear();
  std::optional<SmallVector<int64_t>> given = getIntsAttr(node, "split");
  if (split)
    given = SmallVector<int64_t>(split->ints.begin(), split->ints.end());
  if (given) {
    sizes.assign(given->begin(), given->end());
  } else {
    int64_t parts = getIntAttr(node, "num_outputs", int64_t(outputs));
    if (parts <= 0 || size_t(parts) != outputs) {
      error = "Split num_outputs differs from the node's outputs";
      return false;
    }
    int64_t each = (dim + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i)
      sizes.push_back(std::clamp<int64_t>(dim - i * each, 0, each));
  }
  int64_t total = 0;
  for (int64_t size : sizes) {
    if (size < 0) {
      error = "Split sizes must not be negative";
      return false;
    }
    total += size;
  }
  if (sizes.size() != outputs || total != dim) {
    error = "Split sizes (" + std::to_string(sizes.size()) + " parts, " +
            std::to_string(total) + " in all) do not split dimension " +
            std::to_string(dim) + " into " + std::to_string(outputs);
    return false;
  }
  return true;
}
