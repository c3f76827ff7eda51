//===- HgcOps.h - hgc operations --------------------------------*- C++ -*-===//

#ifndef HGC_DIALECT_HGCOPS_H
#define HGC_DIALECT_HGCOPS_H

#include "dialect/HgcDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialect/HgcOps.h.inc"

#endif // HGC_DIALECT_HGCOPS_H
