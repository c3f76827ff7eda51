//===- JsonFields.h - checked fields of the cost model's JSON ---*- C++ -*-===//
//
// The hardware profiles, model configurations and host kernel rates are
// small JSON objects. A JsonFields reads one object's fields and keeps the
// first error as one line naming the source and the field's path.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_COST_JSONFIELDS_H
#define HGC_PASSES_COST_JSONFIELDS_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>

namespace mlir::hgc::cost {

class JsonFields {
public:
  /// Reads `object`; `source` (a file or a profile name) and `path` (the
  /// object's place, "" at the top) prefix every error.
  JsonFields(const llvm::json::Object *object, std::string source,
             std::string path = "");

  /// A number > 0 (>= 0 when `allowZero`), or `fallback` when the field is
  /// absent and `required` is false.
  double number(llvm::StringRef key, bool required = true, double fallback = 0,
                bool allowZero = false);
  /// A whole number >= `minimum`.
  /// A number in (0, 1].
  double fraction(llvm::StringRef key);
  int64_t integer(llvm::StringRef key, int64_t minimum = 1);
  std::string string(llvm::StringRef key, bool required = true);
  /// A nested object's fields; an absent or null one reads as no fields.
  JsonFields object(llvm::StringRef key, bool &present);
  /// The first error, or success; every field read after one is ignored.
  llvm::Error takeError();
  /// Fails on the first key not in `known` (a misspelt field is not ignored).
  void checkKnown(std::initializer_list<llvm::StringRef> known);

  /// Records "'<path.key>' <what>" unless an error is kept already.
  void fail(llvm::StringRef key, const llvm::Twine &what);

private:
  std::string fieldName(llvm::StringRef key) const;

  const llvm::json::Object *fields;
  std::string source, path;
  std::shared_ptr<std::string> error;
};

/// Parses `text` as a JSON object; `source` names it in the error.
llvm::Expected<llvm::json::Value> parseJsonObject(llvm::StringRef text,
                                                  llvm::StringRef source);

} // namespace mlir::hgc::cost

#endif // HGC_PASSES_COST_JSONFIELDS_H
