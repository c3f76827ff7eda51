//===- hgc.cpp - the hgc compiler driver ---------------------------------===//
//
//   hgc compile MODEL.onnx [--target host|nvptx] [--chip sm_80]
//               [--emit mlir|llvm|obj|ptx] -o OUT
//   hgc run MODEL.onnx --input NAME=FILE.npy ... --output-dir DIR
//   hgc plan MODEL.onnx
//   hgc plan --hardware h100-pcie5 --model-config llama-3-8b --context N
//            [--batch B] [--budgets 0.01,0.05] [--json]
//
// MODEL is an ONNX model or a StableHLO module (.mlir text as JAX prints
// it, or .mlirbc as jax.export serializes it, read through jaxlib);
// a StableHLO module's inputs are its @main arguments (arg0, arg1, ... unless
// the module names them) and its outputs out0, ... or their
// jax.result_info names.
//
// Every subcommand takes the placement options of hgc-place-kv (--policy,
// --sink, --window, --budget, --block) and the target options (--target,
// --chip) with the same names and defaults, and
// --shape NAME=AxBxC for symbolic input dimensions. Errors are one line,
// `hgc: error: FILE: message`, and a non-zero exit.
//
//===----------------------------------------------------------------------===//

#include "codegen/Passes.h"
#include "codegen/Pipelines.h"
#include "dialect/HgcOps.h"
#include "exec/CompiledCode.h"
#include "exec/HostExecution.h"
#include "frontends/onnx/HostTensor.h"
#include "frontends/onnx/Importer.h"
#include "frontends/stablehlo/Importer.h"
#include "frontends/stablehlo/Passes.h"
#include "passes/Passes.h"
#include "passes/policies/PlacementPolicy.h"
#include "tools/hgc/Plan.h"
#include "tools/hgc/ThroughputPlan.h"
#include "tools/support/CachedHostProgram.h"
#include "tools/support/CompiledModel.h"
#include "tools/support/ModelSession.h"
#include "tools/support/PlacementFlags.h"
#include "tools/support/ToolDialects.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

using namespace mlir;
namespace cl = llvm::cl;

static cl::SubCommand compileCommand("compile",
                                     "compile an ONNX model or a StableHLO "
                                     "program");
static cl::SubCommand runCommand("run", "compile and run an ONNX model or a "
                                        "StableHLO program on .npy inputs");
static cl::SubCommand planCommand("plan", "print where each attention's KV "
                                          "lives and how it is read");

static cl::OptionCategory driverCategory("hgc options");
static cl::OptionCategory placementCategory("Placement (hgc-place-kv)");
#define HGC_ALL_SUBCOMMANDS                                                    \
  cl::sub(compileCommand), cl::sub(runCommand), cl::sub(planCommand)

static cl::opt<std::string>
    modelPath(cl::Positional,
              cl::desc("<model.onnx | program.mlir | program.mlirbc>"),
              HGC_ALL_SUBCOMMANDS, cl::cat(driverCategory));
static hgc::PlacementFlags placementFlags =
    hgc::makePlacementFlags(HGC_ALL_SUBCOMMANDS, cl::cat(placementCategory));
static cl::list<std::string>
    shapes("shape", cl::desc("NAME=AxBxC: the shape of a graph input"),
           HGC_ALL_SUBCOMMANDS, cl::cat(driverCategory));
static cl::list<std::string>
    dims("dim",
         cl::desc("NAME=N: the size of symbolic dimension NAME in every input "
                  "(onnxruntime's free dimension override)"),
         HGC_ALL_SUBCOMMANDS, cl::cat(driverCategory));
static cl::list<std::string> values(
    "value",
    cl::desc("NAME=N[,N...]: an integer graph input's value, for ops whose "
             "result shape depends on it (run takes it from the input file)"),
    HGC_ALL_SUBCOMMANDS, cl::cat(driverCategory));

static cl::opt<int64_t> paramMinBytes(
    "param-min-bytes", cl::init(hgc::onnx::ImportOptions{}.parameterMinBytes),
    cl::desc("initializers of at least this many bytes are parameters read "
             "from their file at load time, not IR constants (-1: none)"),
    HGC_ALL_SUBCOMMANDS, cl::cat(driverCategory));

static cl::OptionCategory targetCategory("Target (hgc-lowering-pipeline)");
static hgc::TargetFlags targetFlags{HGC_ALL_SUBCOMMANDS,
                                    cl::cat(targetCategory)};
static cl::opt<std::string>
    emit("emit", cl::init("mlir"),
         cl::desc("mlir (after hgc's passes), llvm "
                  "(LLVM IR), obj (object file), ptx "
                  "(the device kernels, --target nvptx), hgcm (a compiled "
                  "model `hgc run` loads without compiling; the default for "
                  "-o X.hgcm)"),
         cl::sub(compileCommand), cl::cat(driverCategory));
static cl::opt<std::string>
    cpu("cpu", cl::init("native"),
        cl::desc("CPU the object file is tuned for (--emit obj): native "
                 "(this machine's) or an LLVM CPU name, e.g. znver4"),
        cl::sub(compileCommand), cl::cat(driverCategory));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("output file"),
                                       cl::sub(compileCommand),
                                       cl::cat(driverCategory));

static cl::OptionCategory throughputCategory(
    "Throughput model (hgc plan --hardware; docs/throughput.md)");
static cl::opt<std::string> hardware(
    "hardware",
    cl::desc("predict decode throughput on a hardware profile (h100-pcie5, "
             "h200, a6000, rtx4090, host, or a JSON file) instead of "
             "planning a model file"),
    cl::sub(planCommand), cl::cat(throughputCategory));
static cl::opt<std::string> modelConfig(
    "model-config", cl::init("llama-3-8b"),
    cl::desc("the decoder's shape: llama-3-8b (the default), llama-3-70b, "
             "mistral-7b, qwen2.5-7b, a JSON file, or layers=..,q_heads=..,"
             "kv_heads=..,head_dim=..,kv_dtype=..,parameters=.."),
    cl::sub(planCommand), cl::cat(throughputCategory));
static cl::opt<int64_t> contextTokens("context", cl::init(131072),
                                      cl::desc("tokens of KV per sequence "
                                               "(default 131072)"),
                                      cl::sub(planCommand),
                                      cl::cat(throughputCategory));
static cl::opt<int64_t> batchSize("batch", cl::init(1),
                                  cl::desc("sequences decoded per step "
                                           "(default 1)"),
                                  cl::sub(planCommand),
                                  cl::cat(throughputCategory));
static cl::opt<std::string>
    budgets("budgets", cl::init("0.01,0.02,0.05,0.1"),
            cl::desc("the hybrid rows' budgets (default 0.01,0.02,0.05,0.1; "
                     "--budget alone when --policy names one policy)"),
            cl::sub(planCommand), cl::cat(throughputCategory));
static cl::opt<std::string> hostRates(
    "host-rates",
    cl::desc("host kernel rates measured by bench/throughput.py rates "
             "(default: docs/bench/host-rates.json, built in)"),
    cl::sub(planCommand), cl::cat(throughputCategory));
static cl::opt<bool> balance(
    "balance",
    cl::desc("after each hybrid row, the hybrid at the window the split "
             "scheduler (hgc_scheduler_*) settles on in the model"),
    cl::sub(planCommand), cl::cat(throughputCategory));
static cl::opt<bool> planJson("json", cl::desc("print the prediction as JSON"),
                              cl::sub(planCommand),
                              cl::cat(throughputCategory));

static cl::list<std::string>
    inputs("input", cl::desc("NAME=FILE.npy: the value of a graph input"),
           cl::sub(runCommand), cl::cat(driverCategory));
static cl::opt<std::string> cacheDir(
    "cache-dir",
    cl::desc("where compiled programs are kept for later runs (default "
             "$HGC_CACHE_DIR, else ~/.cache/hgc; empty: none)"),
    cl::sub(runCommand), cl::cat(driverCategory));
static cl::opt<std::string> outputDir("output-dir", cl::Required,
                                      cl::desc("where NAME.npy are written"),
                                      cl::sub(runCommand),
                                      cl::cat(driverCategory));

namespace {
[[noreturn]] void fail(const llvm::Twine &message) {
  llvm::errs() << "hgc: error: " << message << "\n";
  std::exit(1);
}

/// Writes `bytes` to -o; 0, or exits with the file's error.
int writeOutput(llvm::StringRef bytes, bool isText) {
  std::error_code error;
  llvm::ToolOutputFile output(outputPath, error,
                              isText ? llvm::sys::fs::OF_Text
                                     : llvm::sys::fs::OF_None);
  if (error)
    fail(outputPath + ": " + error.message());
  output.os() << bytes;
  output.os().flush();
  if (output.os().has_error())
    fail(outputPath + ": " + output.os().error().message());
  output.keep();
  return 0;
}

/// Exits with `error`'s message; an empty one was reported as a diagnostic.
[[noreturn]] void failWith(llvm::Error error) {
  std::string message = llvm::toString(std::move(error));
  if (!message.empty())
    fail(message);
  std::exit(1);
}

/// One line per diagnostic: "hgc: error: FILE: message".
LogicalResult printDiagnostic(Diagnostic &diagnostic) {
  std::string file;
  diagnostic.getLocation()->walk([&](Location loc) {
    if (auto fileLoc = dyn_cast<FileLineColLoc>(loc)) {
      file = fileLoc.getFilename().str();
      if (fileLoc.getLine())
        file += ":" + std::to_string(fileLoc.getLine()) + ":" +
                std::to_string(fileLoc.getColumn());
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  std::string message = diagnostic.str();
  std::replace(message.begin(), message.end(), '\n', ' ');
  // Name the ONNX node an op came from, unless the message already does.
  diagnostic.getLocation()->walk([&](Location loc) {
    if (auto named = dyn_cast<NameLoc>(loc)) {
      std::string node = "'" + named.getName().str() + "'";
      if (message.find(node) == std::string::npos)
        message = "node " + node + ": " + message;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  llvm::errs() << "hgc: "
               << (diagnostic.getSeverity() == DiagnosticSeverity::Error
                       ? "error: "
                       : "note: ")
               << (file.empty() ? std::string() : file + ": ") << message
               << "\n";
  return success();
}

/// The --target/--chip options (checked, or a one-line error).
hgc::TargetOptions targetOptions() {
  hgc::TargetOptions options = targetFlags.get();
  std::string error = hgc::checkTargetOptions(options);
  if (!error.empty())
    fail("--target " + options.target + " --chip " + options.chip + ": " +
         error);
  return options;
}

llvm::SmallVector<int64_t> parseShape(StringRef name, StringRef text) {
  llvm::SmallVector<int64_t> shape;
  if (text == "scalar")
    return shape;
  llvm::SmallVector<StringRef> parts;
  text.split(parts, 'x');
  for (StringRef part : parts) {
    int64_t dim;
    if (part.getAsInteger(10, dim) || dim < 0)
      fail("--shape " + name + "=" + text + ": expected e.g. 1x8x128");
    shape.push_back(dim);
  }
  return shape;
}

std::string shapeText(ArrayRef<int64_t> shape) {
  std::string text;
  for (auto [i, d] : llvm::enumerate(shape))
    text += (i ? "x" : "") + (d < 0 ? std::string("?") : std::to_string(d));
  return shape.empty() ? "scalar" : text;
}

hgc::onnx::ImportOptions importOptionsFromShapes() {
  hgc::onnx::ImportOptions options;
  options.parameterMinBytes = paramMinBytes;
  for (const std::string &spec : dims) {
    auto [name, text] = StringRef(spec).split('=');
    int64_t size;
    if (name.empty() || text.getAsInteger(10, size) || size < 0)
      fail("--dim '" + spec + "' is not NAME=N");
    options.dimSizes[name.str()] = size;
  }
  for (const std::string &spec : shapes) {
    auto [name, text] = StringRef(spec).split('=');
    if (text.empty())
      fail("--shape '" + spec + "' is not NAME=AxBxC");
    options.inputShapes[name.str()] = parseShape(name, text);
  }
  for (const std::string &spec : values) {
    auto [name, text] = StringRef(spec).split('=');
    llvm::SmallVector<StringRef> parts;
    text.split(parts, ',');
    std::vector<int64_t> numbers;
    for (StringRef part : parts) {
      int64_t number;
      if (part.trim().getAsInteger(10, number))
        fail("--value '" + spec + "' is not NAME=N[,N...]");
      numbers.push_back(number);
    }
    options.knownInputValues[name.str()] = numbers;
  }
  return options;
}

void rejectOnnxOnlyOptions() {
  if (!shapes.empty() || !values.empty())
    fail(modelPath + ": --shape and --value apply to ONNX models; a "
                     "StableHLO module's shapes are static");
}

OwningOpRef<ModuleOp>
importModel(MLIRContext &context, const hgc::onnx::ImportOptions &options,
            std::vector<std::string> *outputNames,
            std::vector<hgc::onnx::ModelParameter> *parameters = nullptr) {
  if (hgc::shlo::isStablehloPath(modelPath)) {
    rejectOnnxOnlyOptions();
    auto program = hgc::shlo::importStablehloFile(&context, modelPath);
    if (failed(program))
      std::exit(1);
    if (outputNames)
      *outputNames = program->outputNames;
    return std::move(program->module);
  }
  auto imported = hgc::onnx::importOnnxFile(&context, modelPath, options);
  if (failed(imported))
    std::exit(1);
  if (failed(verify(*imported->module)))
    std::exit(1);
  if (outputNames)
    *outputNames = imported->outputNames;
  if (parameters)
    *parameters = imported->parameters;
  return std::move(imported->module);
}

void runPasses(ModuleOp module, llvm::function_ref<void(PassManager &)> add) {
  PassManager pm(module.getContext());
  // --mlir-print-ir-before=PASS and friends (hidden): what a pass saw.
  if (failed(applyPassManagerCLOptions(pm)))
    std::exit(1);
  add(pm);
  if (failed(pm.run(module)))
    std::exit(1);
}

std::string fileNameFor(StringRef output) {
  std::string name = output.str();
  for (char &c : name)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-')
      c = '_';
  return name;
}

/// Writes each result as DIR/NAME.npy.
template <typename Result>
void writeResults(ArrayRef<std::string> outputNames, ArrayRef<Result> results,
                  function_ref<llvm::Error(StringRef, const Result &)> write) {
  if (std::error_code error = llvm::sys::fs::create_directories(outputDir))
    fail(outputDir + ": " + error.message());
  for (auto [name, result] : llvm::zip(outputNames, results)) {
    llvm::SmallString<128> path(outputDir);
    llvm::sys::path::append(path, fileNameFor(name) + ".npy");
    if (llvm::Error error = write(path, result))
      fail(llvm::toString(std::move(error)));
  }
}

void writeResults(ArrayRef<std::string> outputNames,
                  ArrayRef<hgc::NpyArray> results) {
  writeResults<hgc::NpyArray>(outputNames, results,
                              [](StringRef path, const hgc::NpyArray &array) {
                                return hgc::writeNpy(path, array);
                              });
}

void writeResults(ArrayRef<std::string> outputNames,
                  ArrayRef<hgc::ResultBuffer> results) {
  writeResults<hgc::ResultBuffer>(
      outputNames, results,
      [](StringRef path, const hgc::ResultBuffer &result) {
        return hgc::writeNpy(path, result.getDescr(), result.getShape(),
                             result.getData(), result.getByteSize());
      });
}

/// --cache-dir, else $HGC_CACHE_DIR, else $XDG_CACHE_HOME/hgc or
/// ~/.cache/hgc.
std::string defaultCacheDirectory() {
  if (cacheDir.getNumOccurrences())
    return cacheDir;
  if (const char *directory = std::getenv("HGC_CACHE_DIR"))
    return directory;
  llvm::SmallString<256> path;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    path = xdg;
  else if (!llvm::sys::path::home_directory(path))
    return "";
  else
    llvm::sys::path::append(path, ".cache");
  llvm::sys::path::append(path, "hgc");
  return std::string(path);
}

/// hgc run on StableHLO: inputs named by @main's argument names (arg0, ...
/// unless the module names them), checked against its signature.
int runStablehlo(MLIRContext &context) {
  rejectOnnxOnlyOptions();
  hgc::TargetOptions lowering = targetOptions();
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> outputNames;
  auto program = hgc::shlo::importStablehloFile(&context, modelPath);
  if (failed(program))
    return 1;
  llvm::StringMap<std::string> byName;
  std::string names;
  for (const std::string &name : program->inputNames)
    names += (names.empty() ? "" : ", ") + name;
  for (const std::string &spec : inputs) {
    auto [name, path] = StringRef(spec).split('=');
    if (path.empty())
      fail("--input '" + spec + "' is not NAME=FILE.npy");
    if (!llvm::is_contained(program->inputNames, name.str()))
      fail(modelPath + ": @main has no argument '" + name +
           "' (arguments: " + names + ")");
    byName[name] = path.str();
  }
  auto main = program->module->lookupSymbol<func::FuncOp>("main");
  std::vector<hgc::NpyArray> arrays;
  for (auto [name, type] :
       llvm::zip(program->inputNames, main.getFunctionType().getInputs())) {
    auto path = byName.find(name);
    if (path == byName.end()) {
      std::string text;
      llvm::raw_string_ostream(text) << type;
      fail(modelPath + ": missing --input " + name + "=FILE.npy (" + text +
           ")");
    }
    llvm::Expected<hgc::NpyArray> array =
        hgc::readInput(name, type, path->second);
    if (!array)
      fail(llvm::toString(array.takeError()));
    arrays.push_back(std::move(*array));
  }
  SmallVector<hgc::TensorRef> arguments;
  for (const hgc::NpyArray &array : arrays)
    arguments.push_back({array.data.data(), array.shape});
  // The program's bytes and the options it is compiled for: a later run of
  // the same program links the stored code.
  hgc::PlacementOptions placement = placementFlags.get();
  std::string key = "hgc-stablehlo-cache=1 " + hgc::getFileHashKey(modelPath) +
                    " " + hgc::getPlacementKey(placement) + " " +
                    hgc::getMachineCodeKey(lowering) + " " +
                    hgc::getCompilerBuildKey();
  bool loaded = false;
  auto code = hgc::getCachedHostProgram(
      *program->module,
      [&](ModuleOp module) {
        PassManager pm(module.getContext());
        // --mlir-print-ir-before=PASS and friends (hidden), as for ONNX.
        if (failed(applyPassManagerCLOptions(pm)))
          return failure();
        hgc::buildHybridPipeline(pm, placement);
        return pm.run(module);
      },
      lowering, defaultCacheDirectory(), key, loaded);
  if (!code) {
    std::string message = llvm::toString(code.takeError());
    if (message.empty())
      return 1; // reported as a diagnostic
    fail(modelPath + ": " + message);
  }
  auto compiled = std::chrono::steady_clock::now();
  std::vector<hgc::NpyArray> results;
  if (llvm::Error error = (*code)->run(arguments, results))
    fail(modelPath + ": " + llvm::toString(std::move(error)));
  auto ran = std::chrono::steady_clock::now();
  writeResults(program->outputNames, results);
  llvm::errs() << llvm::format(
      "hgc: %s: %s in %.3f s, ran in %.3f s\n", modelPath.c_str(),
      loaded ? "loaded" : "compiled",
      std::chrono::duration<double>(compiled - start).count(),
      std::chrono::duration<double>(ran - compiled).count());
  return 0;
}

int runModel(MLIRContext &context) {
  if (hgc::shlo::isStablehloPath(modelPath))
    return runStablehlo(context);
  hgc::ModelOptions options;
  options.placement = placementFlags.get();
  options.lowering = targetOptions();
  options.parameterMinBytes = paramMinBytes;
  hgc::onnx::ImportOptions importOptions = importOptionsFromShapes();
  options.shapes = importOptions.inputShapes;
  options.dimSizes = importOptions.dimSizes;
  options.cacheDirectory = defaultCacheDirectory();
  auto session = hgc::ModelSession::open(context, modelPath, options);
  if (!session)
    failWith(session.takeError());
  const std::vector<hgc::onnx::GraphInput> &declared = (*session)->getInputs();
  llvm::StringMap<std::string> byName;
  for (const std::string &spec : inputs) {
    auto [nameRef, path] = StringRef(spec).split('=');
    StringRef name = nameRef;
    if (path.empty())
      fail("--input '" + spec + "' is not NAME=FILE.npy");
    if (llvm::none_of(declared, [&](const hgc::onnx::GraphInput &input) {
          return input.name == name;
        })) {
      std::string names;
      for (const auto &input : declared)
        names += (names.empty() ? "" : ", ") + input.name;
      fail(modelPath + ": the model has no input '" + name +
           "' (inputs: " + names + ")");
    }
    byName[name] = path.str();
  }
  std::vector<hgc::NpyArray> arrays;
  std::vector<hgc::ModelFeed> feeds;
  for (const hgc::onnx::GraphInput &input : declared) {
    auto path = byName.find(input.name);
    if (path == byName.end())
      fail(modelPath + ": missing --input " + input.name + "=FILE.npy (" +
           hgc::onnx::dataTypeName(input.type) + " " + shapeText(input.shape) +
           ")");
    llvm::Expected<hgc::NpyArray> array = hgc::readNpy(path->second);
    if (!array)
      fail(llvm::toString(array.takeError()));
    arrays.push_back(std::move(*array));
  }
  for (auto [i, array] : llvm::enumerate(arrays)) {
    feeds.push_back({array.descr, {array.data.data(), array.shape}});
    if (llvm::Error error = (*session)->checkFeed(i, feeds.back()))
      fail(byName[declared[i].name] + ": " + llvm::toString(std::move(error)));
  }
  std::vector<hgc::ResultBuffer> results;
  hgc::ModelRunStats stats;
  if (llvm::Error error = (*session)->run(feeds, results, &stats))
    failWith(std::move(error));
  writeResults((*session)->getOutputNames(), results);
  llvm::errs() << llvm::format("hgc: %s: %s in %.3f s, ran in %.3f s\n",
                               modelPath.c_str(),
                               stats.loaded ? "loaded" : "compiled",
                               stats.compileSeconds, stats.runSeconds);
  return 0;
}

/// hgc compile -o X.hgcm: the model's program for the given shapes, every
/// named symbolic dimension without a size dynamic.
/// The shapes `hgc compile` compiles for: given ones, and every named
/// symbolic dimension without a size (--shape, --dim) dynamic.
std::vector<SmallVector<int64_t>>
compileShapes(ArrayRef<hgc::onnx::GraphInput> declared,
              const hgc::onnx::ImportOptions &importOptions) {
  std::map<std::string, int64_t> named = importOptions.dimSizes;
  for (const auto &input : declared) {
    auto given = importOptions.inputShapes.find(input.name);
    if (given != importOptions.inputShapes.end())
      for (auto [d, name] : llvm::enumerate(input.dimNames))
        if (!name.empty() && d < given->second.size())
          named.try_emplace(name, given->second[d]);
  }
  std::vector<SmallVector<int64_t>> shapes;
  for (const auto &input : declared) {
    auto given = importOptions.inputShapes.find(input.name);
    if (given != importOptions.inputShapes.end()) {
      shapes.push_back(given->second);
      continue;
    }
    SmallVector<int64_t> shape = input.shape;
    for (auto [d, name] : llvm::enumerate(input.dimNames)) {
      if (shape[d] >= 0)
        continue;
      if (name.empty())
        fail(modelPath + ": input '" + input.name + "' dimension " +
             std::to_string(d) + " has no name: give it a size (--shape)");
      auto size = named.find(name);
      shape[d] = size != named.end() ? size->second : ShapedType::kDynamic;
    }
    shapes.push_back(shape);
  }
  return shapes;
}

/// hgc compile -o X.hgcm: the model's program for compileShapes.
int compileArtifact(MLIRContext &context, const hgc::TargetOptions &lowering) {
  if (hgc::shlo::isStablehloPath(modelPath))
    fail(modelPath + ": --emit hgcm takes ONNX models");
  hgc::onnx::ImportOptions importOptions = importOptionsFromShapes();
  auto declared = hgc::onnx::readGraphInputs(&context, modelPath);
  if (failed(declared))
    return 1;
  std::vector<SmallVector<int64_t>> shapes =
      compileShapes(*declared, importOptions);
  hgc::ModelOptions options;
  options.placement = placementFlags.get();
  options.lowering = lowering;
  options.parameterMinBytes = paramMinBytes;
  options.shapes = importOptions.inputShapes;
  options.dimSizes = importOptions.dimSizes;
  if (llvm::Error error = hgc::writeCompiledModel(outputPath, modelPath,
                                                  options, shapes, context))
    failWith(std::move(error));
  return 0;
}

int compileModel(MLIRContext &context) {
  hgc::TargetOptions lowering = targetOptions();
  if (!emit.getNumOccurrences() && StringRef(outputPath).ends_with(".hgcm"))
    emit = "hgcm";
  if (emit == "hgcm")
    return compileArtifact(context, lowering);
  if (emit != "mlir" && emit != "llvm" && emit != "obj" && emit != "ptx")
    fail("--emit " + emit + ": expected mlir, llvm, obj, ptx or hgcm");
  if (emit == "ptx" && lowering.target != "nvptx")
    fail("--emit ptx needs --target nvptx");
  hgc::onnx::ImportOptions importOptions = importOptionsFromShapes();
  if (!hgc::shlo::isStablehloPath(modelPath)) {
    // Named dimensions without a size stay dynamic.
    auto declared = hgc::onnx::readGraphInputs(&context, modelPath);
    if (failed(declared))
      return 1;
    for (auto [input, shape] :
         llvm::zip(*declared, compileShapes(*declared, importOptions))) {
      importOptions.inputShapes[input.name] = shape;
      for (auto [d, name] : llvm::enumerate(input.dimNames))
        if (d < shape.size() && ShapedType::isDynamic(shape[d]))
          importOptions.dynamicDims.insert(name);
    }
  }
  OwningOpRef<ModuleOp> module = importModel(context, importOptions, nullptr);
  hgc::PlacementOptions placement = placementFlags.get();
  runPasses(*module,
            [&](PassManager &pm) { hgc::buildHybridPipeline(pm, placement); });
  // The output is written only once it is complete: a failure on the way
  // leaves no file behind.
  std::string bytes;
  llvm::raw_string_ostream text(bytes);
  if (emit == "mlir") {
    module->print(text);
    return writeOutput(bytes, /*isText=*/true);
  }
  // Object files are linked and called from C (hgc-aot-run, engines): each
  // public function also gets `_mlir_ciface_<name>(results *, args *...)`,
  // taking memref descriptors by pointer.
  if (emit == "obj" || emit == "llvm")
    module->walk([](func::FuncOp function) {
      if (function.isPublic() && !function.isExternal())
        function->setAttr("llvm.emit_c_interface",
                          UnitAttr::get(function.getContext()));
    });
  runPasses(*module,
            [&](PassManager &pm) { hgc::buildLoweringPipeline(pm, lowering); });
  if (emit == "ptx") {
    std::string ptx = hgc::collectPtx(*module);
    if (ptx.empty())
      fail(modelPath + ": no device-tier attention to emit PTX for (no "
                       "attention the device kernels take: none, or only "
                       "3-D, per-head masks or QK outputs)");
    return writeOutput(ptx, /*isText=*/true);
  }
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "hgc");
  if (!llvmModule)
    fail(modelPath + ": translation to LLVM IR failed");
  if (emit == "llvm") {
    llvmModule->print(text, nullptr);
    return writeOutput(bytes, /*isText=*/true);
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string lookupError;
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, lookupError);
  if (!llvmTarget)
    fail("no host target: " + lookupError);
  // The vector width the kernels use (8 f32 lanes) is the same for every
  // CPU; the CPU picks instruction selection (AVX2 / AVX-512 encodings,
  // F16C conversions) and scheduling.
  std::string cpuName =
      cpu == "native" ? llvm::sys::getHostCPUName().str() : cpu.getValue();
  // Checked first: LLVM would only warn and fall back to a generic CPU.
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      llvmTarget->createMCSubtargetInfo(triple, "", ""));
  if (!subtarget || !subtarget->isCPUStringValid(cpuName))
    fail("unknown --cpu '" + cpu + "' for " + triple.str());
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      triple, cpuName, "", llvm::TargetOptions(), llvm::Reloc::PIC_));
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  // The optimization the JIT applies (O3), for this machine's CPU.
  if (llvm::Error error = makeOptimizingTransformer(
          /*optLevel=*/3,
          /*sizeLevel=*/0, machine.get())(llvmModule.get()))
    fail(modelPath + ": " + llvm::toString(std::move(error)));
  llvm::legacy::PassManager codegen;
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream objectStream(object);
  if (machine->addPassesToEmitFile(codegen, objectStream, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    fail("the host target cannot emit object files");
  codegen.run(*llvmModule);
  return writeOutput(llvm::StringRef(object.data(), object.size()),
                     /*isText=*/false);
}

/// `hgc plan --hardware`: the throughput model's rows.
int planThroughput(MLIRContext &context) {
  using namespace mlir::hgc;
  ThroughputQuery query;
  llvm::Expected<HardwareProfile> profile = loadHardwareProfile(hardware);
  if (!profile)
    failWith(profile.takeError());
  query.hardware = std::move(*profile);
  llvm::Expected<ModelShape> model = loadModelShape(modelConfig);
  if (!model)
    failWith(model.takeError());
  query.model = std::move(*model);
  if (contextTokens <= 0)
    fail("--context must be > 0, got " + llvm::Twine(contextTokens));
  if (batchSize <= 0)
    fail("--batch must be > 0, got " + llvm::Twine(batchSize));
  query.context = contextTokens;
  query.batch = batchSize;
  if (hostRates.empty()) {
    query.rates = getBuiltinHostKernelRates();
  } else {
    llvm::Expected<HostKernelRates> rates = loadHostKernelRates(hostRates);
    if (!rates)
      failWith(rates.takeError());
    query.rates = std::move(*rates);
  }
  HybridSweep sweep;
  sweep.placement = placementFlags.get();
  sweep.balance = balance;
  // `full` (the default) sweeps every splitting policy; another policy
  // gives its rows alone, at --budget unless --budgets is given.
  if (sweep.placement.policy == "full") {
    for (const PlacementPolicy *policy : getPlacementPolicies())
      if (policy->splits())
        sweep.policies.push_back(policy->getName().str());
  } else {
    sweep.policies.push_back(sweep.placement.policy);
  }
  if (sweep.placement.policy != "full" && budgets.getNumOccurrences() == 0) {
    sweep.budgets.push_back(sweep.placement.budget);
  } else {
    llvm::SmallVector<llvm::StringRef> items;
    llvm::StringRef(budgets).split(items, ',', -1, /*KeepEmpty=*/false);
    for (llvm::StringRef item : items)
      sweep.budgets.push_back(item.trim().str());
    if (sweep.budgets.empty())
      fail("--budgets: expected a comma-separated list of budgets");
  }
  Location loc = FileLineColLoc::get(&context, "--hardware " + hardware, 0, 0);
  if (failed(printThroughputPlan(&context, query, sweep, planJson, llvm::outs(),
                                 [&] { return emitError(loc); })))
    return 1;
  return 0;
}

int planModel(MLIRContext &context) {
  hgc::TargetOptions lowering = targetOptions();
  OwningOpRef<ModuleOp> module =
      importModel(context, importOptionsFromShapes(), nullptr);
  hgc::PlacementOptions placement = placementFlags.get();
  if (failed(hgc::printPlan(*module, placement, lowering, llvm::outs())))
    return 1;
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  hgc::registerHgcPasses();
  hgc::registerHgcCodegenPasses();
  hgc::registerHgcStablehloPasses();
  registerPassManagerCLOptions();
  // Only hgc's own flags in --help; LLVM's and MLIR's (the IR printing
  // flags among them) still parse.
  cl::HideUnrelatedOptions({&driverCategory, &placementCategory,
                            &targetCategory, &throughputCategory});
  cl::ParseCommandLineOptions(argc, argv,
                              "hgc: hybrid CPU-GPU attention "
                              "compiler for ONNX models and StableHLO "
                              "modules\n");
  DialectRegistry registry;
  hgc::registerToolDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  ScopedDiagnosticHandler diagnostics(&context, printDiagnostic);
  if (planCommand && hardware.getNumOccurrences()) {
    if (!modelPath.empty())
      fail("--hardware predicts from --model-config, not a model file ('" +
           modelPath + "')");
    return planThroughput(context);
  }
  if (modelPath.empty())
    fail("expected a model file (see --help)");
  if (!llvm::sys::fs::exists(modelPath))
    fail(modelPath + ": no such file");
  if (compileCommand)
    return compileModel(context);
  if (runCommand)
    return runModel(context);
  if (planCommand)
    return planModel(context);
  fail("expected a subcommand: compile, run or plan (see --help)");
}
