//===- JsonFields.cpp - checked fields of the cost model's JSON -----------===//

#include "passes/cost/JsonFields.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace llvm;
using namespace mlir::hgc::cost;

JsonFields::JsonFields(const json::Object *object, std::string source,
                       std::string path)
    : fields(object), source(std::move(source)), path(std::move(path)),
      error(std::make_shared<std::string>()) {}

std::string JsonFields::fieldName(StringRef key) const {
  return path.empty() ? key.str() : path + "." + key.str();
}

void JsonFields::fail(StringRef key, const Twine &what) {
  if (error->empty())
    *error = (source + ": '" + fieldName(key) + "' " + what).str();
}

double JsonFields::number(StringRef key, bool required, double fallback,
                          bool allowZero) {
  const json::Value *value = fields ? fields->get(key) : nullptr;
  if (!value) {
    if (required)
      fail(key, "is missing");
    return fallback;
  }
  std::optional<double> number = value->getAsNumber();
  if (!number || !std::isfinite(*number) || *number < 0 ||
      (*number == 0 && !allowZero)) {
    fail(key, allowZero ? "must be a number >= 0" : "must be a number > 0");
    return fallback;
  }
  return *number;
}

double JsonFields::fraction(StringRef key) {
  double value = number(key, /*required=*/true, 1.0);
  if (value > 1) {
    fail(key, "must be a number in (0, 1]");
    return 1.0;
  }
  return value;
}

int64_t JsonFields::integer(StringRef key, int64_t minimum) {
  const json::Value *value = fields ? fields->get(key) : nullptr;
  if (!value) {
    fail(key, "is missing");
    return minimum;
  }
  std::optional<int64_t> number = value->getAsInteger();
  if (!number || *number < minimum) {
    fail(key, "must be a whole number >= " + Twine(minimum));
    return minimum;
  }
  return *number;
}

std::string JsonFields::string(StringRef key, bool required) {
  const json::Value *value = fields ? fields->get(key) : nullptr;
  if (!value) {
    if (required)
      fail(key, "is missing");
    return "";
  }
  std::optional<StringRef> text = value->getAsString();
  if (!text) {
    fail(key, "must be a string");
    return "";
  }
  return text->str();
}

JsonFields JsonFields::object(StringRef key, bool &present) {
  const json::Value *value = fields ? fields->get(key) : nullptr;
  present = value && value->kind() != json::Value::Null;
  const json::Object *nested = present ? value->getAsObject() : nullptr;
  if (present && !nested)
    fail(key, "must be an object");
  JsonFields result(nested, source, fieldName(key));
  result.error = error;
  return result;
}

void JsonFields::checkKnown(std::initializer_list<StringRef> known) {
  if (!fields)
    return;
  for (const auto &entry : *fields)
    if (!llvm::is_contained(known, StringRef(entry.first)))
      fail(entry.first, "is not a known field");
}

Error JsonFields::takeError() {
  if (error->empty())
    return Error::success();
  return createStringError(inconvertibleErrorCode(), *error);
}

Expected<json::Value> mlir::hgc::cost::parseJsonObject(StringRef text,
                                                       StringRef source) {
  Expected<json::Value> value = json::parse(text);
  if (!value)
    return createStringError(inconvertibleErrorCode(),
                             source +
                                 ": not JSON: " + toString(value.takeError()));
  if (!value->getAsObject())
    return createStringError(inconvertibleErrorCode(),
                             source + ": not a JSON object");
  return value;
}
