//===- ModelSession.cpp - an ONNX model compiled once, run many times ----===//

#include "tools/support/ModelSession.h"
#include "exec/CompiledCode.h"
#include "tools/support/CachedHostProgram.h"
#include "tools/support/CompiledModel.h"

#include "codegen/Pipelines.h"
#include "frontends/onnx/HostTensor.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"

#include <chrono>
#include <cstring>
#include <optional>

using namespace mlir;

std::string hgc::getNpyDescrOfOnnxType(int32_t type) {
  switch (type) {
  case onnx::kFloat:
    return "<f4";
  case onnx::kFloat16:
    return "<f2";
  case onnx::kBFloat16:
    return "<u2";
  case onnx::kDouble:
    return "<f8";
  case onnx::kInt64:
    return "<i8";
  case onnx::kInt32:
    return "<i4";
  case onnx::kInt8:
    return "|i1";
  case onnx::kBool:
    return "|b1";
  default:
    return "";
  }
}

namespace {
std::string shapeText(ArrayRef<int64_t> shape) {
  std::string text;
  for (auto [i, d] : llvm::enumerate(shape))
    text += (i ? "x" : "") + (d < 0 ? std::string("?") : std::to_string(d));
  return shape.empty() ? "scalar" : text;
}

/// The values of a small integer feed, which a result shape may depend on
/// (GroupQueryAttention's total_sequence_length); nullopt for other feeds.
std::optional<std::vector<int64_t>>
smallIntegerValues(const hgc::ModelFeed &feed) {
  int64_t count = 1;
  for (int64_t d : feed.tensor.shape)
    count *= d;
  if ((feed.descr != "<i8" && feed.descr != "<i4") || count > 16)
    return std::nullopt;
  std::vector<int64_t> numbers;
  const char *bytes = static_cast<const char *>(feed.tensor.data);
  for (int64_t i = 0; i < count; ++i) {
    int64_t number = 0;
    if (feed.descr == "<i8") {
      std::memcpy(&number, bytes + 8 * i, 8);
    } else {
      int32_t narrow;
      std::memcpy(&narrow, bytes + 4 * i, 4);
      number = narrow;
    }
    numbers.push_back(number);
  }
  return numbers;
}

/// Whether `strides` are those of C order over `shape`.
bool isCOrder(ArrayRef<int64_t> shape, ArrayRef<int64_t> strides) {
  int64_t expected = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected)
      return false;
    expected *= shape[d];
  }
  return true;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}
} // namespace

/// The compiled code for one input signature, its parameters bound.
struct hgc::ModelSession::Program {
  std::vector<SmallVector<int64_t>> shapes; // per input; dynamic: any size
  std::map<std::string, std::vector<int64_t>> values; // inputs read at import
  std::unique_ptr<HostProgram> code;
  std::vector<onnx::ModelParameter> parameters;
  std::vector<const void *> parameterData;
  /// Inputs fed as append buffers (their axes), in the order of their
  /// length arguments; outputs written into them (output -> input index).
  std::vector<std::pair<std::string, int64_t>> appendBuffers;
  std::map<size_t, size_t> appendedOutputs;

  bool isAppendBuffer(StringRef input) const {
    return llvm::any_of(appendBuffers,
                        [&](const auto &a) { return a.first == input; });
  }
  bool matches(ArrayRef<onnx::GraphInput> inputs, ArrayRef<ModelFeed> feeds,
               ArrayRef<int64_t> capacities) const {
    for (auto [i, feed] : llvm::enumerate(feeds)) {
      if ((capacities[i] > 0) != isAppendBuffer(inputs[i].name))
        return false;
      if (shapes[i].size() != feed.tensor.shape.size())
        return false;
      for (auto [want, got] : llvm::zip(shapes[i], feed.tensor.shape))
        if (!ShapedType::isDynamic(want) && want != got)
          return false;
      auto value = values.find(inputs[i].name);
      if (value != values.end() && smallIntegerValues(feed) != value->second)
        return false;
    }
    return true;
  }
};

hgc::ModelSession::ModelSession(MLIRContext &context, std::string path,
                                ModelOptions options)
    : context(context), path(std::move(path)), options(std::move(options)) {}

hgc::ModelSession::~ModelSession() = default;

llvm::Expected<std::unique_ptr<hgc::ModelSession>>
hgc::ModelSession::open(MLIRContext &context, StringRef path,
                        ModelOptions options) {
  std::string modelPath = path.str(), artifactKey;
  if (isCompiledModel(path)) {
    auto artifact = readCompiledModel(path, artifactKey);
    if (!artifact)
      return artifact.takeError();
    modelPath = artifact->first;
    options = artifact->second;
    options.keyOnCompilerBuild = false;
  }
  std::unique_ptr<ModelSession> session(
      new ModelSession(context, modelPath, std::move(options)));
  // Bad placement options fail here, not at the first run.
  if (failed(buildPlacement(&context, session->options.placement, [&] {
        return emitError(UnknownLoc::get(&context), "placement: ");
      })))
    return llvm::createStringError(""); // reported as a diagnostic
  auto interface = onnx::readGraphInterface(&context, session->path);
  if (failed(interface))
    return llvm::createStringError(""); // reported as a diagnostic
  session->inputs = std::move(interface->inputs);
  session->outputs = std::move(interface->outputNames);
  // The key hashes the model's bytes: only where a cache will use it.
  if (!session->options.cacheDirectory.empty())
    session->cacheKey = session->makeCacheKey(interface->externalDataFiles);
  if (!artifactKey.empty() && artifactKey != session->cacheKey)
    return llvm::createStringError(
        path + ": compiled from " + modelPath +
        ", which (or whose external data, or this machine) differs from then: "
        "compile it again");
  if (!session->options.cacheDirectory.empty())
    session->cache.emplace(session->options.cacheDirectory, session->cacheKey);
  for (const auto &given : session->options.shapes)
    if (llvm::none_of(session->inputs, [&](const onnx::GraphInput &input) {
          return input.name == given.first;
        }))
      return llvm::createStringError(
          session->path + ": --shape names no input '" + given.first + "'");
  return session;
}

llvm::Error hgc::ModelSession::checkFeed(size_t index,
                                         const ModelFeed &feed) const {
  const onnx::GraphInput &input = inputs[index];
  std::string want = getNpyDescrOfOnnxType(input.type);
  SmallVector<int64_t> declared = input.shape;
  auto given = options.shapes.find(input.name);
  if (given != options.shapes.end())
    declared = given->second;
  bool ok = feed.descr == want && feed.tensor.shape.size() == declared.size();
  for (size_t d = 0; ok && d < declared.size(); ++d)
    ok = declared[d] < 0 || declared[d] == feed.tensor.shape[d];
  if (ok)
    return llvm::Error::success();
  return llvm::createStringError("input '" + input.name + "' expects " +
                                 onnx::dataTypeName(input.type) + " " +
                                 shapeText(declared) + " (" + want + "), got " +
                                 describeArray(feed.tensor.shape, feed.descr));
}

std::string hgc::ModelSession::makeCacheKey(
    const std::set<std::string> &externalDataFiles) const {
  llvm::SmallString<256> absolute(path);
  llvm::sys::fs::make_absolute(absolute);
  std::string key = "hgc-model-cache=1 model=" + std::string(absolute);
  if (std::string hash = getFileHashKey(path); !hash.empty())
    key += " " + hash;
  // Small external tensors are compiled in: their files are part of the key.
  StringRef folder = llvm::sys::path::parent_path(absolute);
  for (const std::string &file : externalDataFiles) {
    llvm::SmallString<256> data(folder);
    llvm::sys::path::append(data, file);
    llvm::sys::fs::file_status status;
    if (!llvm::sys::fs::status(data, status))
      key += " data=" + file + ":" + std::to_string(status.getSize()) + ":" +
             std::to_string(
                 status.getLastModificationTime().time_since_epoch().count());
  }
  key += " " + getPlacementKey(options.placement) +
         " param-min-bytes=" + std::to_string(options.parameterMinBytes);
  for (const auto &[name, shape] : options.shapes)
    key += " shape:" + name + "=" + shapeText(shape);
  for (const auto &[name, size] : options.dimSizes)
    key += " dim:" + name + "=" + std::to_string(size);
  key += " " + getMachineCodeKey(options.lowering);
  return options.keyOnCompilerBuild ? key + " " + getCompilerBuildKey() : key;
}

SmallVector<int64_t>
hgc::ModelSession::getAppendCapacities(ArrayRef<ModelFeed> feeds) const {
  SmallVector<int64_t> capacities(feeds.size(), 0);
  if (!options.appendInPlace)
    return capacities;
  for (auto [i, input, feed] : llvm::enumerate(inputs, feeds)) {
    ArrayRef<int64_t> shape = feed.tensor.shape, strides = feed.strides;
    int64_t axis = input.appendAxis, rank = int64_t(shape.size());
    if (axis < 1 || axis >= rank || int64_t(strides.size()) != rank)
      continue;
    // C order over the shape with the axis stretched to the capacity.
    bool fits = strides[rank - 1] == 1;
    for (int64_t d = rank - 2; fits && d >= 0; --d)
      if (d != axis - 1)
        fits = strides[d] == strides[d + 1] * shape[d + 1];
    int64_t row = strides[axis]; // elements per position along the axis
    if (!fits || row <= 0 || strides[axis - 1] % row)
      continue;
    int64_t capacity = strides[axis - 1] / row;
    if (capacity > shape[axis])
      capacities[i] = capacity;
  }
  return capacities;
}

hgc::ModelSession::Signature
hgc::ModelSession::getSignature(ArrayRef<ModelFeed> feeds,
                                const std::set<std::string> &dynamic,
                                ArrayRef<int64_t> capacities) const {
  Signature signature;
  signature.dynamicDims = dynamic;
  for (auto [i, input] : llvm::enumerate(inputs))
    if (capacities[i] > 0)
      signature.appendBuffers[input.name] = input.appendAxis;
  for (auto [input, feed] : llvm::zip(inputs, feeds)) {
    signature.shapes.emplace_back(feed.tensor.shape.begin(),
                                  feed.tensor.shape.end());
    for (auto [d, name] : llvm::enumerate(input.dimNames))
      if (dynamic.count(name) && d < signature.shapes.back().size())
        signature.shapes.back()[d] = ShapedType::kDynamic;
    if (std::optional<std::vector<int64_t>> numbers = smallIntegerValues(feed))
      signature.values[input.name] = *numbers;
  }
  return signature;
}

llvm::Expected<hgc::ModelSession::Program *>
hgc::ModelSession::getProgram(ArrayRef<ModelFeed> feeds,
                              ArrayRef<int64_t> capacities,
                              ModelRunStats &stats) {
  for (const std::unique_ptr<Program> &program : programs)
    if (program->matches(inputs, feeds, capacities))
      return program.get();
  if (cache)
    for (const CachedProgram &stored : cache->read()) {
      Program probe;
      probe.shapes = stored.shapes;
      probe.values = stored.values;
      probe.appendBuffers = stored.appendBuffers;
      if (!probe.matches(inputs, feeds, capacities))
        continue;
      llvm::Expected<Program *> program = loadProgram(stored);
      if (!program) {
        llvm::consumeError(program.takeError()); // damaged: compile again
        continue;
      }
      dynamicDims.insert(stored.dynamicDims.begin(), stored.dynamicDims.end());
      stats.loaded = true;
      return program;
    }
  if (!options.compileOnMiss) {
    std::string signature;
    for (auto [input, feed] : llvm::zip(inputs, feeds))
      signature += (signature.empty() ? "" : ", ") + input.name + " " +
                   shapeText(feed.tensor.shape);
    return llvm::createStringError(
        options.cacheDirectory + ": no compiled program serves these inputs (" +
        signature + "); compile it for them");
  }

  // A named dimension that changed since the last program stays dynamic
  // from now on (torch.compile's automatic dynamic shapes): a decode loop
  // whose past grows compiles twice, then never again. A set of dims that
  // some op cannot take dynamic (the prompt's length changing to the decode
  // step's 1, say) is remembered as failed; a later change of fewer dims
  // (the past alone) is tried on its own.
  std::set<std::string> dynamic = dynamicDims;
  if (!programs.empty())
    for (auto [input, feed, shape] :
         llvm::zip(inputs, feeds, programs.back()->shapes))
      for (auto [d, name] : llvm::enumerate(input.dimNames))
        if (!name.empty() && !options.shapes.count(input.name) &&
            !options.dimSizes.count(name) && d < shape.size() &&
            d < feed.tensor.shape.size() && shape[d] != feed.tensor.shape[d])
          dynamic.insert(name);
  stats.compiled = true;
  if (dynamic != dynamicDims && !failedDynamicDims.count(dynamic)) {
    llvm::Expected<Program *> program =
        compileProgram(getSignature(feeds, dynamic, capacities),
                       /*quietly=*/true);
    if (program) {
      dynamicDims = dynamic;
      return program;
    }
    // Some op needs these sizes static: specialize them this time.
    llvm::consumeError(program.takeError());
    failedDynamicDims.insert(dynamic);
  }
  return compileProgram(getSignature(feeds, dynamicDims, capacities),
                        /*quietly=*/false);
}

llvm::Error
hgc::ModelSession::precompile(ArrayRef<SmallVector<int64_t>> shapes) {
  Signature signature;
  signature.shapes.assign(shapes.begin(), shapes.end());
  for (auto [input, shape] : llvm::zip(inputs, shapes))
    for (auto [d, name] : llvm::enumerate(input.dimNames))
      if (d < shape.size() && ShapedType::isDynamic(shape[d]))
        signature.dynamicDims.insert(name);
  llvm::Expected<Program *> program =
      compileProgram(signature, /*quietly=*/false);
  return program ? llvm::Error::success() : program.takeError();
}

llvm::Error hgc::ModelSession::bindParameters(Program &program) {
  for (const onnx::ModelParameter &parameter : program.parameters) {
    uint64_t alignment =
        std::max<uint64_t>(1, onnx::getElementByteSize(parameter.type));
    llvm::Expected<const void *> data =
        weights.get(parameter.bytes.file, parameter.bytes.offset,
                    parameter.bytes.length, alignment, parameter.name);
    if (!data)
      return data.takeError();
    program.parameterData.push_back(*data);
  }
  return llvm::Error::success();
}

llvm::Expected<hgc::ModelSession::Program *>
hgc::ModelSession::loadProgram(const CachedProgram &stored) {
  SmallVector<RankedTensorType> resultTypes;
  for (const std::string &text : stored.resultTypes) {
    auto type = dyn_cast_or_null<RankedTensorType>(parseType(text, &context));
    if (!type)
      return llvm::createStringError("cached result type '" + text +
                                     "' does not parse");
    resultTypes.push_back(type);
  }
  auto code =
      HostProgram::load(cache->getObjectPath(stored), "main", resultTypes);
  if (!code)
    return code.takeError();
  auto program = std::make_unique<Program>();
  program->code = std::move(*code);
  program->shapes = stored.shapes;
  program->values = stored.values;
  program->parameters = stored.parameters;
  program->appendBuffers = stored.appendBuffers;
  program->appendedOutputs = stored.appendedOutputs;
  for (const auto &buffer : program->appendBuffers)
    if (llvm::none_of(inputs, [&](const onnx::GraphInput &input) {
          return input.name == buffer.first &&
                 input.appendAxis == buffer.second;
        }))
      return llvm::createStringError("cached program appends to '" +
                                     buffer.first +
                                     "', which the model does not");
  for (auto [output, input] : program->appendedOutputs)
    if (output >= resultTypes.size() || input >= inputs.size() ||
        !program->isAppendBuffer(inputs[input].name))
      return llvm::createStringError("cached program's appended outputs do "
                                     "not fit the model");
  if (llvm::Error error = bindParameters(*program))
    return std::move(error);
  programs.push_back(std::move(program));
  return programs.back().get();
}

llvm::Expected<hgc::ModelSession::Program *>
hgc::ModelSession::compileProgram(const Signature &signature, bool quietly) {
  onnx::ImportOptions importOptions;
  importOptions.parameterMinBytes = options.parameterMinBytes;
  importOptions.dynamicDims = signature.dynamicDims;
  importOptions.dimSizes = options.dimSizes;
  importOptions.appendBuffers = signature.appendBuffers;
  for (auto [input, shape] : llvm::zip(inputs, signature.shapes))
    importOptions.inputShapes[input.name] = shape;
  for (const auto &[name, numbers] : signature.values)
    importOptions.knownInputValues[name] = numbers;
  // A try with more dimensions dynamic may fail; its diagnostics are not
  // the user's unless the static compile fails too.
  std::optional<ScopedDiagnosticHandler> quiet;
  if (quietly)
    quiet.emplace(&context, [](Diagnostic &) { return success(); });
  auto imported = onnx::importOnnxFile(&context, path, importOptions);
  if (failed(imported) || failed(verify(*imported->module)))
    return llvm::createStringError(""); // reported as a diagnostic
  PassManager pm(&context);
  buildHybridPipeline(pm, options.placement);
  if (failed(pm.run(*imported->module)))
    return llvm::createStringError("");
  auto code = HostProgram::compile(*imported->module, "main", options.lowering,
                                   /*keepObject=*/cache.has_value());
  if (!code)
    return llvm::createStringError(path + ": " +
                                   llvm::toString(code.takeError()));
  quiet.reset();

  auto program = std::make_unique<Program>();
  program->code = std::move(*code);
  program->shapes = signature.shapes;
  for (const std::string &name : imported->usedKnownInputs)
    program->values[name] = importOptions.knownInputValues[name];
  program->parameters = imported->parameters;
  for (const std::string &name : imported->appendBufferInputs)
    program->appendBuffers.emplace_back(name, signature.appendBuffers.at(name));
  program->appendedOutputs = imported->appendedOutputs;
  if (cache) {
    CachedProgram stored;
    stored.shapes = program->shapes;
    stored.values = program->values;
    stored.dynamicDims = signature.dynamicDims;
    for (RankedTensorType type : program->code->getResultTypes()) {
      std::string text;
      llvm::raw_string_ostream os(text);
      os << type;
      stored.resultTypes.push_back(text);
    }
    stored.parameters = program->parameters;
    stored.appendBuffers = program->appendBuffers;
    stored.appendedOutputs = program->appendedOutputs;
    cache->add(std::move(stored),
               [&](StringRef path) { program->code->writeObject(path); });
  }
  if (llvm::Error error = bindParameters(*program))
    return std::move(error);
  programs.push_back(std::move(program));
  return programs.back().get();
}

llvm::Error hgc::ModelSession::run(ArrayRef<ModelFeed> feeds,
                                   std::vector<ResultBuffer> &results,
                                   ModelRunStats *stats) {
  if (feeds.size() != inputs.size())
    return llvm::createStringError(
        path + ": expected " + std::to_string(inputs.size()) + " inputs, got " +
        std::to_string(feeds.size()));
  for (auto [i, feed] : llvm::enumerate(feeds))
    if (llvm::Error error = checkFeed(i, feed))
      return llvm::createStringError(path + ": " +
                                     llvm::toString(std::move(error)));
  // Dimensions that share a name share a size: compiled code with that
  // dimension dynamic assumes it.
  llvm::StringMap<std::pair<int64_t, StringRef>> named;
  for (auto [input, feed] : llvm::zip(inputs, feeds))
    for (auto [d, name] : llvm::enumerate(input.dimNames)) {
      if (name.empty() || !dynamicDims.count(name))
        continue;
      auto [it, inserted] =
          named.try_emplace(name, feed.tensor.shape[d], input.name);
      if (!inserted && it->second.first != feed.tensor.shape[d])
        return llvm::createStringError(
            path + ": input '" + input.name + "' has " + name + " = " +
            std::to_string(feed.tensor.shape[d]) + ", input '" +
            it->second.second + "' has " + name + " = " +
            std::to_string(it->second.first));
    }
  auto start = std::chrono::steady_clock::now();
  ModelRunStats runStats;
  SmallVector<int64_t> capacities = getAppendCapacities(feeds);
  llvm::Expected<Program *> program = getProgram(feeds, capacities, runStats);
  if (!program)
    return program.takeError();
  double compileSeconds = secondsSince(start);
  if (llvm::Error error = weights.checkUnchanged())
    return error;
  // Arguments: the feeds (an append buffer whole, other layouts copied to C
  // order), the parameters, then the append buffers' lengths.
  SmallVector<TensorRef> arguments;
  std::vector<SmallVector<int64_t>> bufferShapes;
  std::vector<std::vector<char>> packed;
  std::vector<int64_t> lengths;
  bufferShapes.reserve(feeds.size());
  for (auto [i, input, feed] : llvm::enumerate(inputs, feeds)) {
    ArrayRef<int64_t> shape = feed.tensor.shape;
    if (capacities[i] > 0) {
      bufferShapes.emplace_back(shape.begin(), shape.end());
      bufferShapes.back()[input.appendAxis] = capacities[i];
      arguments.push_back({feed.tensor.data, bufferShapes.back()});
      continue;
    }
    if (!feed.strides.empty() && !isCOrder(shape, feed.strides)) {
      size_t elementBytes = onnx::getElementByteSize(input.type);
      packed.emplace_back(elementBytes * size_t(onnx::countElements(shape)));
      packStrided(static_cast<const char *>(feed.tensor.data), shape,
                  feed.strides, elementBytes, packed.back().data());
      arguments.push_back({packed.back().data(), shape});
      continue;
    }
    arguments.push_back(feed.tensor);
  }
  for (auto [parameter, data] :
       llvm::zip((*program)->parameters, (*program)->parameterData))
    arguments.push_back({data, parameter.shape});
  lengths.reserve((*program)->appendBuffers.size());
  for (const auto &buffer : (*program)->appendBuffers) {
    size_t i = llvm::find_if(inputs,
                             [&](const onnx::GraphInput &input) {
                               return input.name == buffer.first;
                             }) -
               inputs.begin();
    lengths.push_back(feeds[i].tensor.shape[buffer.second]);
    arguments.push_back({&lengths.back(), {}});
  }
  auto ran = std::chrono::steady_clock::now();
  if (llvm::Error error = (*program)->code->run(arguments, results))
    return llvm::createStringError(path + ": " +
                                   llvm::toString(std::move(error)));
  // An output written into an append buffer comes back as its length: the
  // output is the buffer's view of that many positions.
  for (auto [output, input] : (*program)->appendedOutputs) {
    int64_t length;
    std::memcpy(&length, results[output].getData(), sizeof(length));
    const ModelFeed &feed = feeds[input];
    SmallVector<int64_t> shape(feed.tensor.shape);
    shape[inputs[input].appendAxis] = length;
    results[output] =
        ResultBuffer::view(feed.descr, shape, feed.strides,
                           static_cast<const char *>(feed.tensor.data),
                           onnx::getElementByteSize(inputs[input].type));
  }
  if (stats) {
    stats->compiled = runStats.compiled;
    stats->loaded = runStats.loaded;
    stats->compileSeconds = compileSeconds;
    stats->runSeconds = secondsSince(ran);
    stats->programs = int64_t(programs.size());
  }
  return llvm::Error::success();
}
