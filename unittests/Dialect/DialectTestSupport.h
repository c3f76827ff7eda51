//===- DialectTestSupport.h - shared fixture for dialect tests --*- C++ -*-===//

#ifndef HGC_UNITTESTS_DIALECT_DIALECTTESTSUPPORT_H
#define HGC_UNITTESTS_DIALECT_DIALECTTESTSUPPORT_H

#include "dialect/HgcDialect.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

#include <functional>
#include <string>

namespace hgc_test {

/// An MLIRContext with the hgc dialect loaded that records diagnostics instead
/// of printing them.
class DialectTest : public ::testing::Test {
protected:
  DialectTest()
      : handler(&context, [this](mlir::Diagnostic &diag) {
          diagnostics += diag.str() + "\n";
        }) {
    context.loadDialect<mlir::hgc::HgcDialect>();
  }

  template <typename AttrT> AttrT parseAttr(llvm::StringRef text) {
    return llvm::dyn_cast_or_null<AttrT>(mlir::parseAttribute(text, &context));
  }

  template <typename TypeT> TypeT parseType(llvm::StringRef text) {
    return llvm::dyn_cast_or_null<TypeT>(mlir::parseType(text, &context));
  }

  /// An error emitter for the C++ getChecked builders.
  std::function<mlir::InFlightDiagnostic()> emitAtUnknownLoc() {
    return [this] { return mlir::emitError(mlir::UnknownLoc::get(&context)); };
  }

  /// True when a recorded diagnostic contains `text`.
  bool diagnosed(llvm::StringRef text) const {
    return llvm::StringRef(diagnostics).contains(text);
  }

  static std::string print(mlir::Attribute attr) {
    std::string text;
    llvm::raw_string_ostream os(text);
    attr.print(os);
    return text;
  }

  mlir::MLIRContext context;
  std::string diagnostics;

private:
  mlir::ScopedDiagnosticHandler handler;
};

} // namespace hgc_test

#endif // HGC_UNITTESTS_DIALECT_DIALECTTESTSUPPORT_H
