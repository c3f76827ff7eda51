//===- MemrefCopy.cpp - memrefCopy for compiled code linked ahead of time -===//
//
// MLIR lowers a copy between memrefs of non-identity layouts to a call of
// `memrefCopy`, which the ExecutionEngine finds in MLIR's runner utilities.
// Programs compiled ahead of time (hgc compile --emit obj) link against the
// runtime alone, so it provides the function with the same C ABI.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>

namespace {
/// What MLIR passes for an unranked memref: the rank and a pointer to the
/// ranked descriptor {allocated, aligned, offset, sizes[rank],
/// strides[rank]}.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

struct View {
  char *data;
  const int64_t *sizes, *strides;
};

View viewOf(const UnrankedMemRef &memref, int64_t elementSize) {
  auto *words = static_cast<int64_t *>(memref.descriptor);
  char *aligned = reinterpret_cast<char *>(words[1]);
  return {aligned + words[2] * elementSize, words + 3, words + 3 + memref.rank};
}

void copy(const View &from, const View &to, int64_t rank, int64_t dim,
          int64_t elementSize, int64_t fromOffset, int64_t toOffset) {
  if (dim == rank) {
    std::memcpy(to.data + toOffset * elementSize,
                from.data + fromOffset * elementSize, size_t(elementSize));
    return;
  }
  // The innermost contiguous dimension in one memcpy.
  if (dim == rank - 1 && from.strides[dim] == 1 && to.strides[dim] == 1) {
    std::memcpy(to.data + toOffset * elementSize,
                from.data + fromOffset * elementSize,
                size_t(from.sizes[dim] * elementSize));
    return;
  }
  for (int64_t i = 0; i < from.sizes[dim]; ++i)
    copy(from, to, rank, dim + 1, elementSize,
         fromOffset + i * from.strides[dim], toOffset + i * to.strides[dim]);
}
} // namespace

extern "C" void memrefCopy(int64_t elementSize, UnrankedMemRef *source,
                           UnrankedMemRef *target) {
  View from = viewOf(*source, elementSize), to = viewOf(*target, elementSize);
  for (int64_t d = 0; d < source->rank; ++d)
    if (from.sizes[d] == 0)
      return;
  copy(from, to, source->rank, 0, elementSize, 0, 0);
}
