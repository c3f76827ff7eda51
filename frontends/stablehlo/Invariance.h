//===- Invariance.h - where a StableHLO value is constant -------*- C++ -*-===//

#ifndef HGC_FRONTENDS_STABLEHLO_INVARIANCE_H
#define HGC_FRONTENDS_STABLEHLO_INVARIANCE_H

#include "mlir/IR/Value.h"

#include "llvm/ADT/SmallVector.h"

namespace mlir::hgc::shlo {
/// Per dimension of `value` (a ranked tensor): true where it is provably
/// the same along the dimension (size-1 dimensions always are), from the
/// StableHLO ops that compute it: splat constants, iota, broadcast_in_dim,
/// reshape, transpose, convert and elementwise ops. Masks JAX broadcasts
/// over heads are per key, which makes a decode step of them.
SmallVector<bool> getInvariantDims(Value value);
} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_INVARIANCE_H
