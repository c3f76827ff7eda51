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

#define GET_ATTRDEF_CLASSES
#include "dialect/HgcAttrs.h.inc"

#endif // HGC_DIALECT_HGCDIALECT_H
