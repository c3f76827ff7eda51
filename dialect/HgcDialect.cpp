//===- HgcDialect.cpp - hgc dialect registration ------------------------===//

#include "dialect/HgcDialect.h"
#include "dialect/HgcOps.h"

using namespace mlir;
using namespace mlir::hgc;

#include "dialect/HgcDialect.cpp.inc"
#include "dialect/HgcEnums.cpp.inc"

void HgcDialect::initialize() {
  registerTypes();
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialect/HgcOps.cpp.inc"
      >();
}
