//===- hgc-runner.cpp - run an hgc function on the host ------------------===//
//
// Compiles a function through the named hgc pipelines (optionally the hybrid
// split, always the host lowering), JIT-compiles it with MLIR's
// ExecutionEngine, feeds .npy inputs and writes every result as .npy. This is
// how the test suite checks each stage numerically on a machine without a GPU.
//
//   hgc-runner FILE.mlir --input arg0=q.npy ... --output-dir DIR
//              [--entry main] [--split --policy hgca --sink 4 ...]
//
//===----------------------------------------------------------------------===//

#include "codegen/Pipelines.h"
#include "exec/HostExecution.h"
#include "tools/support/PlacementFlags.h"
#include "tools/support/ToolDialects.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "hgc-rt/gpu.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory runnerCategory("hgc-runner options");

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<input .mlir>"),
                                      cl::cat(runnerCategory));
static cl::list<std::string>
    inputs("input", cl::desc("argN=FILE.npy: the value of argument N"),
           cl::cat(runnerCategory));
static cl::opt<std::string> outputDir("output-dir", cl::Required,
                                      cl::desc("where outN.npy are written"),
                                      cl::cat(runnerCategory));
static cl::opt<std::string> entry("entry", cl::init("main"),
                                  cl::desc("function to run"),
                                  cl::cat(runnerCategory));
static cl::opt<bool> split("split",
                           cl::desc("place and split decode attention first "
                                    "(hgc-hybrid-pipeline)"),
                           cl::cat(runnerCategory));
static hgc::PlacementFlags placementFlags =
    hgc::makePlacementFlags(cl::cat(runnerCategory));

static hgc::TargetFlags targetFlags{cl::cat(runnerCategory)};

static cl::opt<unsigned>
    repeat("repeat", cl::init(1),
           cl::desc("runs of the compiled program; with more than one, a "
                    "JSON line of timings (medians over the runs after the "
                    "first) goes to stdout"),
           cl::cat(runnerCategory));

namespace {
[[noreturn]] void fail(const llvm::Twine &message) {
  llvm::errs() << "hgc-runner: error: " << message << "\n";
  std::exit(1);
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Only the runner's own flags in --help, not every LLVM backend's.
  cl::HideUnrelatedOptions(runnerCategory);
  cl::ParseCommandLineOptions(argc, argv, "hgc host runner\n");
  hgc::TargetOptions target = targetFlags.get();
  std::string targetError = hgc::checkTargetOptions(target);
  if (!targetError.empty())
    fail(targetError);

  DialectRegistry registry;
  hgc::registerToolDialects(registry);
  MLIRContext context(registry);

  llvm::SourceMgr sourceMgr;
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputFile);
  if (!buffer)
    fail(inputFile + ": " + buffer.getError().message());
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  // Diagnostics as file:line:col: error: with the source line.
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  auto function = module->lookupSymbol<func::FuncOp>(entry);
  if (!function)
    fail(inputFile + ": no function @" + entry);
  FunctionType signature = function.getFunctionType();

  // Inputs, checked against the signature before anything is compiled.
  llvm::StringMap<std::string> byName;
  for (const std::string &spec : inputs) {
    auto [name, path] = StringRef(spec).split('=');
    if (path.empty())
      fail("--input '" + spec + "' is not NAME=FILE.npy");
    byName[name] = path.str();
  }
  std::vector<hgc::NpyArray> arrays;
  for (auto [i, type] : llvm::enumerate(signature.getInputs())) {
    std::string name = "arg" + std::to_string(i);
    auto path = byName.find(name);
    if (path == byName.end()) {
      std::string text;
      llvm::raw_string_ostream os(text);
      os << type;
      fail("missing --input " + name + "=FILE.npy for " + text);
    }
    llvm::Expected<hgc::NpyArray> array =
        hgc::readInput(name, type, path->second);
    if (!array)
      fail(llvm::toString(array.takeError()));
    arrays.push_back(std::move(*array));
  }

  if (split) {
    PassManager pm(&context);
    hgc::buildHybridPipeline(pm, placementFlags.get());
    if (failed(pm.run(*module)))
      return 1;
  }
  std::vector<hgc::NpyArray> outputs;
  auto program = hgc::HostProgram::compile(*module, entry, target);
  if (!program)
    fail(llvm::toString(program.takeError()));
  std::vector<double> runSeconds, kernelSeconds;
  long long launches = 0;
  for (unsigned i = 0; i < std::max(1u, unsigned(repeat)); ++i) {
    hgc_rt_gpu_reset_kernel_time();
    auto start = std::chrono::steady_clock::now();
    if (llvm::Error error = (*program)->run(arrays, outputs))
      fail(llvm::toString(std::move(error)));
    runSeconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    double seconds = 0;
    hgc_rt_gpu_kernel_time(&seconds, &launches);
    kernelSeconds.push_back(seconds);
  }
  if (repeat > 1) {
    // The first run pays for lazy initialization (module load, pages).
    auto median = [](std::vector<double> v) {
      v.erase(v.begin());
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    llvm::outs() << llvm::format(
        "{\"backend\": \"%s\", \"runs\": %u, \"median_run_s\": %.9g, "
        "\"median_kernel_s\": %.9g, \"launches_per_run\": %lld, "
        "\"peak_bandwidth_bytes_per_s\": %.6g}\n",
        hgc_rt_gpu_backend(), unsigned(repeat), median(runSeconds),
        median(kernelSeconds), launches, hgc_rt_gpu_peak_bandwidth());
  }
  if (std::error_code error = llvm::sys::fs::create_directories(outputDir))
    fail(outputDir + ": " + error.message());
  for (auto [i, out] : llvm::enumerate(outputs)) {
    llvm::SmallString<128> path(outputDir);
    llvm::sys::path::append(path, "out" + std::to_string(i) + ".npy");
    if (llvm::Error error = hgc::writeNpy(path, out))
      fail(llvm::toString(std::move(error)));
  }
  return 0;
}
