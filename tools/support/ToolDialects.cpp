//===- ToolDialects.cpp - what the tools parse ----------------------------===//

#include "tools/support/ToolDialects.h"

#include "exec/HostExecution.h"
#include "frontends/stablehlo/StablehloDialect.h"

void mlir::hgc::registerToolDialects(DialectRegistry &registry) {
  registerCompilerDialects(registry);
  registry.insert<shlo::ShloDialect>();
}
