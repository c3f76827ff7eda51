//===- ModelCache.cpp - compiled model programs on disk ------------------===//

#include "tools/support/ModelCache.h"

#include "exec/CompiledCode.h"

#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"

using namespace mlir;
namespace json = llvm::json;

namespace {
json::Array dims(ArrayRef<int64_t> shape) {
  json::Array array;
  for (int64_t d : shape)
    array.push_back(ShapedType::isDynamic(d) ? int64_t(-1) : d);
  return array;
}

std::optional<SmallVector<int64_t>> readDims(const json::Value *value) {
  const json::Array *array = value ? value->getAsArray() : nullptr;
  if (!array)
    return std::nullopt;
  SmallVector<int64_t> shape;
  for (const json::Value &d : *array) {
    std::optional<int64_t> size = d.getAsInteger();
    if (!size)
      return std::nullopt;
    shape.push_back(*size < 0 ? ShapedType::kDynamic : *size);
  }
  return shape;
}

json::Object toJson(const hgc::CachedProgram &program) {
  json::Array shapes, results, parameters, dynamic;
  for (const auto &shape : program.shapes)
    shapes.push_back(dims(shape));
  json::Object values;
  for (const auto &[name, numbers] : program.values)
    values[name] = json::Array(numbers);
  for (const std::string &name : program.dynamicDims)
    dynamic.push_back(name);
  for (const std::string &type : program.resultTypes)
    results.push_back(type);
  for (const auto &p : program.parameters)
    parameters.push_back(json::Object{{"name", p.name},
                                      {"type", p.type},
                                      {"shape", dims(p.shape)},
                                      {"file", p.bytes.file},
                                      {"offset", int64_t(p.bytes.offset)},
                                      {"length", int64_t(p.bytes.length)}});
  json::Array appendBuffers, appendedOutputs;
  for (const auto &[name, axis] : program.appendBuffers)
    appendBuffers.push_back(json::Array{name, axis});
  for (const auto &[output, input] : program.appendedOutputs)
    appendedOutputs.push_back(json::Array{int64_t(output), int64_t(input)});
  return json::Object{{"object", program.object},
                      {"shapes", std::move(shapes)},
                      {"values", std::move(values)},
                      {"dynamic", std::move(dynamic)},
                      {"results", std::move(results)},
                      {"parameters", std::move(parameters)},
                      {"append_buffers", std::move(appendBuffers)},
                      {"appended_outputs", std::move(appendedOutputs)}};
}

std::optional<hgc::CachedProgram> fromJson(const json::Value &value) {
  const json::Object *object = value.getAsObject();
  if (!object)
    return std::nullopt;
  hgc::CachedProgram program;
  std::optional<StringRef> file = object->getString("object");
  const json::Array *shapes = object->getArray("shapes");
  const json::Object *values = object->getObject("values");
  const json::Array *dynamic = object->getArray("dynamic");
  const json::Array *results = object->getArray("results");
  const json::Array *parameters = object->getArray("parameters");
  if (!file || !shapes || !values || !dynamic || !results || !parameters ||
      llvm::sys::path::filename(*file) != *file)
    return std::nullopt;
  program.object = file->str();
  for (const json::Value &shape : *shapes) {
    std::optional<SmallVector<int64_t>> dims = readDims(&shape);
    if (!dims)
      return std::nullopt;
    program.shapes.push_back(*dims);
  }
  for (const auto &[name, numbers] : *values) {
    std::optional<SmallVector<int64_t>> list = readDims(&numbers);
    if (!list)
      return std::nullopt;
    program.values[name.str()] =
        std::vector<int64_t>(list->begin(), list->end());
  }
  for (const json::Value &name : *dynamic) {
    if (!name.getAsString())
      return std::nullopt;
    program.dynamicDims.insert(name.getAsString()->str());
  }
  for (const json::Value &type : *results) {
    if (!type.getAsString())
      return std::nullopt;
    program.resultTypes.push_back(type.getAsString()->str());
  }
  for (const json::Value &entry : *parameters) {
    const json::Object *p = entry.getAsObject();
    if (!p)
      return std::nullopt;
    std::optional<StringRef> name = p->getString("name"),
                             path = p->getString("file");
    std::optional<int64_t> type = p->getInteger("type"),
                           offset = p->getInteger("offset"),
                           length = p->getInteger("length");
    std::optional<SmallVector<int64_t>> shape = readDims(p->get("shape"));
    if (!name || !path || !type || !offset || !length || !shape ||
        *offset < 0 || *length < 0)
      return std::nullopt;
    program.parameters.push_back(
        {name->str(),
         int32_t(*type),
         *shape,
         {path->str(), uint64_t(*offset), uint64_t(*length)}});
  }
  // Both absent in manifests written before append buffers: none.
  if (const json::Array *buffers = object->getArray("append_buffers"))
    for (const json::Value &entry : *buffers) {
      const json::Array *pair = entry.getAsArray();
      if (!pair || pair->size() != 2 || !(*pair)[0].getAsString() ||
          !(*pair)[1].getAsInteger())
        return std::nullopt;
      program.appendBuffers.emplace_back((*pair)[0].getAsString()->str(),
                                         *(*pair)[1].getAsInteger());
    }
  if (const json::Array *outputs = object->getArray("appended_outputs"))
    for (const json::Value &entry : *outputs) {
      const json::Array *pair = entry.getAsArray();
      if (!pair || pair->size() != 2 || !(*pair)[0].getAsInteger() ||
          !(*pair)[1].getAsInteger() || *(*pair)[0].getAsInteger() < 0 ||
          *(*pair)[1].getAsInteger() < 0)
        return std::nullopt;
      program.appendedOutputs[size_t(*(*pair)[0].getAsInteger())] =
          size_t(*(*pair)[1].getAsInteger());
    }
  return program;
}
} // namespace

hgc::ModelCache::ModelCache(std::string directory, std::string key)
    : directory(std::move(directory)), key(std::move(key)) {
  stem = llvm::utohexstr(llvm::xxh3_64bits(this->key));
  llvm::SmallString<256> path(this->directory);
  llvm::sys::path::append(path, stem + ".json");
  manifest = std::string(path);
}

std::vector<hgc::CachedProgram> hgc::ModelCache::read() const {
  std::vector<CachedProgram> programs;
  auto buffer = llvm::MemoryBuffer::getFile(manifest);
  if (!buffer)
    return programs;
  llvm::Expected<json::Value> parsed = json::parse((*buffer)->getBuffer());
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return programs;
  }
  const json::Object *root = parsed->getAsObject();
  const json::Array *list = root ? root->getArray("programs") : nullptr;
  if (!list || root->getString("key") != StringRef(key))
    return programs;
  for (const json::Value &entry : *list)
    if (std::optional<CachedProgram> program = fromJson(entry))
      programs.push_back(std::move(*program));
  return programs;
}

std::string hgc::ModelCache::getObjectPath(const CachedProgram &program) const {
  llvm::SmallString<256> path(directory);
  llvm::sys::path::append(path, program.object);
  return std::string(path);
}

void hgc::ModelCache::add(
    CachedProgram program,
    const std::function<void(llvm::StringRef)> &writeObject) {
  if (llvm::sys::fs::create_directories(directory))
    return;
  std::vector<CachedProgram> programs = read();
  std::string signature =
      llvm::formatv("{0}", json::Value(toJson(program))).str();
  program.object =
      stem + "-" + llvm::utohexstr(llvm::xxh3_64bits(signature)) + ".o";
  if (!publishFile(getObjectPath(program), [&](const std::string &path) {
        writeObject(path);
        return llvm::sys::fs::exists(path);
      }))
    return;
  programs.push_back(std::move(program));
  json::Array list;
  for (const CachedProgram &stored : programs)
    list.push_back(toJson(stored));
  json::Value root(json::Object{{"key", key}, {"programs", std::move(list)}});
  publishFile(manifest, [&](const std::string &path) {
    std::error_code error;
    llvm::raw_fd_ostream os(path, error);
    os << llvm::formatv("{0:2}", root);
    return !error;
  });
}
