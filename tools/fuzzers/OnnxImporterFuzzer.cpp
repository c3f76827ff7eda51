//===- OnnxImporterFuzzer.cpp - libFuzzer entry for the ONNX importer ----===//
//
// Feeds arbitrary bytes to the importer (protobuf parse, tensor decoding,
// shape folding, op emission, verification). Any crash, hang, sanitizer
// report or out-of-memory is a bug: bad models must be errors.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcDialect.h"
#include "frontends/onnx/Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    DialectRegistry registry;
    registry
        .insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                math::MathDialect, tensor::TensorDialect, hgc::HgcDialect>();
    auto *created = new MLIRContext(registry);
    created->loadAllAvailableDialects();
    return created;
  }();
  ScopedDiagnosticHandler silence(context,
                                  [](Diagnostic &) { return success(); });
  auto imported = hgc::onnx::importOnnxBuffer(
      context, StringRef(reinterpret_cast<const char *>(data), size),
      "fuzz.onnx", {});
  if (succeeded(imported))
    (void)verify(*imported->module);
  return 0;
}
