//===- ModelShape.cpp - what a decoder's KV and weights weigh -------------===//

#include "passes/cost/ModelShape.h"

#include "passes/cost/JsonFields.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using namespace mlir::hgc;
using namespace mlir::hgc::cost;

namespace {
// From the models' published configurations (config.json).
const ModelShape kBuiltinShapes[] = {
    {"llama-3-8b", 32, 32, 8, 128, "f16", 8.03e9},
    {"llama-3-70b", 80, 64, 8, 128, "f16", 70.6e9},
    {"mistral-7b", 32, 32, 8, 128, "f16", 7.24e9},
    {"qwen2.5-7b", 28, 28, 4, 128, "f16", 7.62e9},
};

Error shapeError(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

Expected<ModelShape> readShape(JsonFields fields, StringRef name) {
  fields.checkKnown({"name", "layers", "q_heads", "kv_heads", "head_dim",
                     "kv_dtype", "parameters"});
  ModelShape shape;
  shape.name = fields.string("name", /*required=*/false);
  if (shape.name.empty())
    shape.name = name.str();
  shape.layers = fields.integer("layers");
  shape.qHeads = fields.integer("q_heads");
  shape.kvHeads = fields.integer("kv_heads");
  shape.headDim = fields.integer("head_dim");
  shape.kvDtype = fields.string("kv_dtype", /*required=*/false);
  if (shape.kvDtype.empty())
    shape.kvDtype = "f16";
  if (shape.kvDtype != "f32" && shape.kvDtype != "f16" &&
      shape.kvDtype != "bf16")
    fields.fail("kv_dtype", "must be f32, f16 or bf16");
  shape.parameters = fields.number("parameters", true, 0, /*allowZero=*/true);
  if (shape.qHeads % shape.kvHeads != 0)
    fields.fail("q_heads", "must be a multiple of kv_heads");
  if (Error error = fields.takeError())
    return std::move(error);
  return shape;
}

/// "layers=32,q_heads=32,..." as a JSON object.
Expected<ModelShape> readInlineShape(StringRef spec) {
  json::Object object;
  SmallVector<StringRef> items;
  spec.split(items, ',');
  for (StringRef item : items) {
    auto [key, text] = item.split('=');
    key = key.trim();
    text = text.trim();
    if (key.empty() || text.empty())
      return shapeError("--model-config '" + spec +
                        "': expected NAME=VALUE "
                        "items, got '" +
                        item + "'");
    double number;
    if (key == "kv_dtype" || key == "name")
      object[key] = text.str();
    else if (!text.getAsDouble(number))
      object[key] = number;
    else
      return shapeError("--model-config: '" + key +
                        "' must be a number, got '" + text + "'");
  }
  return readShape(JsonFields(&object, "--model-config"), "inline");
}
} // namespace

std::vector<std::string> mlir::hgc::getModelShapeNames() {
  std::vector<std::string> names;
  for (const ModelShape &shape : kBuiltinShapes)
    names.push_back(shape.name);
  return names;
}

Expected<ModelShape> mlir::hgc::loadModelShape(StringRef spec) {
  for (const ModelShape &builtin : kBuiltinShapes)
    if (spec == builtin.name)
      return builtin;
  if (spec.contains('='))
    return readInlineShape(spec);
  if (!sys::fs::exists(spec))
    return shapeError("unknown model configuration '" + spec + "' (one of " +
                      join(getModelShapeNames(), ", ") +
                      ", a JSON file's path, or NAME=VALUE items)");
  ErrorOr<std::unique_ptr<MemoryBuffer>> file = MemoryBuffer::getFile(spec);
  if (!file)
    return shapeError(spec + ": " + file.getError().message());
  Expected<json::Value> value = parseJsonObject((*file)->getBuffer(), spec);
  if (!value)
    return value.takeError();
  return readShape(JsonFields(value->getAsObject(), spec.str()),
                   sys::path::stem(spec));
}
