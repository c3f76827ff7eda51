//===- CompiledModel.cpp - compiled-model folders (.hgcm) -----------------===//

#include "tools/support/CompiledModel.h"

#include "exec/CompiledCode.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
namespace json = llvm::json;

namespace {
constexpr const char *kArtifactManifest = "artifact.json";

json::Object placementJson(const hgc::PlacementOptions &p) {
  return json::Object{{"policy", p.policy},
                      {"sink", p.sink},
                      {"window", p.window},
                      {"budget", p.budget},
                      {"block", p.block}};
}

json::Object
shapesJson(const std::map<std::string, SmallVector<int64_t>> &map) {
  json::Object object;
  for (const auto &[name, shape] : map)
    object[name] = json::Array(shape);
  return object;
}

} // namespace

llvm::Expected<std::pair<std::string, hgc::ModelOptions>>
hgc::readCompiledModel(StringRef directory, std::string &key) {
  llvm::SmallString<256> manifest(directory);
  llvm::sys::path::append(manifest, kArtifactManifest);
  auto fail = [&](const llvm::Twine &why) {
    return llvm::createStringError(directory + ": " + why);
  };
  auto buffer = llvm::MemoryBuffer::getFile(manifest);
  if (!buffer)
    return fail("not a compiled model (" + buffer.getError().message() + ")");
  llvm::Expected<json::Value> parsed = json::parse((*buffer)->getBuffer());
  if (!parsed)
    return fail("damaged " + llvm::Twine(kArtifactManifest) + ": " +
                llvm::toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  const json::Object *placement = root ? root->getObject("placement") : nullptr;
  const json::Object *shapes = root ? root->getObject("shapes") : nullptr;
  const json::Object *dims = root ? root->getObject("dims") : nullptr;
  std::optional<StringRef> model =
                               root ? root->getString("model") : std::nullopt,
                           stored =
                               root ? root->getString("key") : std::nullopt,
                           target =
                               root ? root->getString("target") : std::nullopt,
                           chip = root ? root->getString("chip") : std::nullopt;
  std::optional<int64_t> minBytes =
      root ? root->getInteger("param_min_bytes") : std::nullopt;
  if (!placement || !shapes || !dims || !model || !stored || !target || !chip ||
      !minBytes)
    return fail("damaged " + llvm::Twine(kArtifactManifest));
  hgc::ModelOptions options;
  options.placement.policy = placement->getString("policy").value_or("").str();
  options.placement.sink = placement->getInteger("sink").value_or(-1);
  options.placement.window = placement->getInteger("window").value_or(-1);
  options.placement.budget = placement->getString("budget").value_or("").str();
  options.placement.block = placement->getInteger("block").value_or(-1);
  options.lowering.target = target->str();
  options.lowering.chip = chip->str();
  options.parameterMinBytes = *minBytes;
  for (const auto &[name, value] : *shapes) {
    SmallVector<int64_t> shape;
    if (const json::Array *array = value.getAsArray())
      for (const json::Value &d : *array)
        shape.push_back(d.getAsInteger().value_or(-1));
    options.shapes[name.str()] = shape;
  }
  for (const auto &[name, value] : *dims)
    options.dimSizes[name.str()] = value.getAsInteger().value_or(-1);
  options.cacheDirectory = directory.str();
  options.compileOnMiss = false;
  key = stored->str();
  return std::make_pair(model->str(), options);
}

bool hgc::isCompiledModel(StringRef path) {
  llvm::SmallString<256> manifest(path);
  llvm::sys::path::append(manifest, kArtifactManifest);
  return llvm::sys::fs::is_directory(path) && llvm::sys::fs::exists(manifest);
}

llvm::Error hgc::writeCompiledModel(StringRef directory, StringRef model,
                                    const ModelOptions &options,
                                    ArrayRef<SmallVector<int64_t>> shapes,
                                    MLIRContext &context) {
  ModelOptions stored = options;
  stored.cacheDirectory = directory.str();
  stored.keyOnCompilerBuild = false;
  if (std::error_code error = llvm::sys::fs::create_directories(directory))
    return llvm::createStringError(directory + ": " + error.message());
  auto session = ModelSession::open(context, model, stored);
  if (!session)
    return session.takeError();
  if (llvm::Error error = (*session)->precompile(shapes))
    return error;
  llvm::SmallString<256> absolute(model);
  llvm::sys::fs::make_absolute(absolute);
  json::Value root(json::Object{{"model", std::string(absolute)},
                                {"key", (*session)->getCacheKey()},
                                {"placement", placementJson(options.placement)},
                                {"target", options.lowering.target},
                                {"chip", options.lowering.chip},
                                {"param_min_bytes", options.parameterMinBytes},
                                {"shapes", shapesJson(options.shapes)},
                                {"dims", json::Object([&] {
                                   json::Object dims;
                                   for (const auto &[name, size] :
                                        options.dimSizes)
                                     dims[name] = size;
                                   return dims;
                                 }())}});
  llvm::SmallString<256> manifest(directory);
  llvm::sys::path::append(manifest, kArtifactManifest);
  if (!publishFile(std::string(manifest), [&](const std::string &path) {
        std::error_code error;
        llvm::raw_fd_ostream os(path, error);
        os << llvm::formatv("{0:2}", root);
        return !error;
      }))
    return llvm::createStringError(manifest + ": cannot be written");
  return llvm::Error::success();
}
