//===- PresentKV.h - past ++ current KV along the sequence ---*- C++ -*-===//
//
// An attention's present KV is its past with the current tokens appended
// along the sequence (dim 2 of [batch, kv_heads, seq, head]). Where the two
// are adjacent slices of one tensor (an append buffer the importer wrote the
// current tokens into, after the past) the present is one slice of it, not
// a copy: every place that forms a present goes through this.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_DIALECT_PRESENTKV_H
#define HGC_DIALECT_PRESENTKV_H

#include "mlir/IR/Builders.h"

namespace mlir::hgc {

/// `past` ++ `current` along dim 2: `current` without a past; one
/// tensor.extract_slice when they are adjacent unit-stride slices of one
/// tensor; a tensor.concat otherwise.
Value buildPresentKV(OpBuilder &b, Location loc, Value past, Value current);

} // namespace mlir::hgc

#endif // HGC_DIALECT_PRESENTKV_H
