//===- HgcDialect.h - hgc dialect, enums, types, attributes -----*- C++ -*-===//
//
// Include this for the dialect and its types and attributes; HgcOps.h adds the
// operations.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_DIALECT_HGCDIALECT_H
#define HGC_DIALECT_HGCDIALECT_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"

#include "dialect/HgcDialect.h.inc"
#include "dialect/HgcEnums.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialect/HgcTypes.h.inc"

namespace mlir::hgc {
/// What a cache keeps beside its keys and values for selections to read
/// (hgc.bind_kv's operands, or the KV runtime's metadata): per-token int8
/// key codes, a channel-major key copy, per-block value sums of
/// `valueBlock` tokens (0: none), and per-block key and value moments for a
/// summary tail estimate (`tailMoments`: no cache keeps them yet, so a tail
/// estimate reads the tier's keys and values).
struct KeptWithKV {
  bool keyCodes = true;
  bool channelKeys = true;
  int64_t valueBlock = 16;
  bool tailMoments = false;
};

/// Tokens per block of a summary tail estimate (tail = summary): the
/// granularity of the moments its blocks are summarized by.
constexpr int64_t kTailSummaryBlock = 16;
} // namespace mlir::hgc

#define GET_ATTRDEF_CLASSES
#include "dialect/HgcAttrs.h.inc"

#endif // HGC_DIALECT_HGCDIALECT_H
