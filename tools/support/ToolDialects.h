//===- ToolDialects.h - what the tools parse --------------------*- C++ -*-===//
//
// The executables read StableHLO modules as well as hgc's: their registry
// adds the StableHLO frontend's dialect to the compiler's. libhgc does not
// link it.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_TOOLDIALECTS_H
#define HGC_TOOLS_SUPPORT_TOOLDIALECTS_H

#include "mlir/IR/DialectRegistry.h"

namespace mlir::hgc {

/// registerCompilerDialects and the StableHLO frontend's dialect.
void registerToolDialects(DialectRegistry &registry);

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_TOOLDIALECTS_H
