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
#include "dialect/HgcDialect.h"
#include "tools/hgc-runner/Npy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<input .mlir>"));
static cl::list<std::string>
    inputs("input", cl::desc("argN=FILE.npy: the value of argument N"));
static cl::opt<std::string> outputDir("output-dir", cl::Required,
                                      cl::desc("where outN.npy are written"));
static cl::opt<std::string> entry("entry", cl::init("main"),
                                  cl::desc("function to run"));
static cl::opt<bool> split("split",
                           cl::desc("place and split decode attention first "
                                    "(hgc-hybrid-pipeline)"));
static cl::opt<std::string> policy("policy",
                                   cl::init(hgc::PlacementOptions{}.policy),
                                   cl::desc("placement policy: full or hgca"));
static cl::opt<int64_t> sink("sink", cl::init(hgc::PlacementOptions{}.sink),
                             cl::desc("attention-sink tokens on the device"));
static cl::opt<int64_t> window("window",
                               cl::init(hgc::PlacementOptions{}.window),
                               cl::desc("recent tokens on the device"));
static cl::opt<std::string>
    budget("budget", cl::init(hgc::PlacementOptions{}.budget),
           cl::desc("host tokens per KV head: a count or a fraction"));

namespace {
[[noreturn]] void fail(const llvm::Twine &message) {
  llvm::errs() << "hgc-runner: error: " << message << "\n";
  std::exit(1);
}

std::string describe(ArrayRef<int64_t> shape, StringRef descr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(shape, os, "x");
  os << " (" << descr << ")";
  return text;
}

std::string typeToString(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

/// The .npy descriptor that carries `type`.
std::string npyDescr(Type type) {
  if (type.isF32())
    return "<f4";
  if (type.isF16())
    return "<f2";
  if (type.isBF16())
    return "<u2";
  if (type.isF64())
    return "<f8";
  if (type.isInteger(32))
    return "<i4";
  if (type.isInteger(64))
    return "<i8";
  if (type.isInteger(1))
    return "|b1";
  return "";
}

/// A memref descriptor as the LLVM lowering lays it out: allocated and
/// aligned pointers, offset, sizes, strides, each one 8-byte word.
SmallVector<int64_t> makeDescriptor(void *data, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> words = {reinterpret_cast<int64_t>(data),
                                reinterpret_cast<int64_t>(data), 0};
  words.append(shape.begin(), shape.end());
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  words.append(strides.begin(), strides.end());
  return words;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "hgc host runner\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<hgc::HgcDialect>();
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
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || npyDescr(tensor.getElementType()).empty())
      fail("@" + entry + " " + name + " has type " + typeToString(type) +
           ", which the host runner cannot feed");
    auto path = byName.find(name);
    if (path == byName.end())
      fail("missing --input " + name + "=FILE.npy for " + typeToString(type));
    llvm::Expected<hgc::NpyArray> array = hgc::readNpy(path->second);
    if (!array)
      fail(llvm::toString(array.takeError()));
    std::string want = npyDescr(tensor.getElementType());
    bool ok =
        array->descr == want && array->shape.size() == size_t(tensor.getRank());
    for (size_t d = 0; ok && d < array->shape.size(); ++d)
      ok = tensor.isDynamicDim(d) || tensor.getDimSize(d) == array->shape[d];
    if (!ok)
      fail(path->second + ": " + name + " expects " +
           describe(tensor.getShape(), want) + ", got " +
           describe(array->shape, array->descr));
    arrays.push_back(std::move(*array));
  }
  for (Type type : signature.getResults())
    if (!isa<RankedTensorType>(type) ||
        npyDescr(cast<RankedTensorType>(type).getElementType()).empty())
      fail("@" + entry + " returns " + typeToString(type) +
           ", which the host runner cannot write");

  PassManager pm(&context);
  if (split)
    hgc::buildHybridPipeline(pm, {policy, sink, window, budget});
  hgc::buildHostLoweringPipeline(pm);
  if (failed(pm.run(*module)))
    return 1;

  ExecutionEngineOptions options;
  auto transformer = makeOptimizingTransformer(/*optLevel=*/3,
                                               /*sizeLevel=*/0, nullptr);
  options.transformer = transformer;
  SmallVector<StringRef> sharedLibs = {HGC_C_RUNNER_UTILS, HGC_OPENMP_RUNTIME};
  options.sharedLibPaths = sharedLibs;
  auto engine = ExecutionEngine::create(*module, options);
  if (!engine)
    fail("JIT compilation failed: " + llvm::toString(engine.takeError()));

  // Packed calling convention: one pointer per descriptor word, then one
  // pointer to the (flat, all 8-byte words) result struct.
  SmallVector<SmallVector<int64_t>> descriptors;
  for (hgc::NpyArray &array : arrays)
    descriptors.push_back(makeDescriptor(array.data.data(), array.shape));
  SmallVector<void *> packed;
  for (SmallVector<int64_t> &words : descriptors)
    for (int64_t &word : words)
      packed.push_back(&word);
  size_t resultWords = 0;
  for (Type type : signature.getResults())
    resultWords += 3 + 2 * cast<RankedTensorType>(type).getRank();
  SmallVector<int64_t> results(resultWords, 0);
  packed.push_back(results.data());
  if (llvm::Error error = (*engine)->invokePacked(entry, packed))
    fail("running @" + entry + ": " + llvm::toString(std::move(error)));

  if (std::error_code error = llvm::sys::fs::create_directories(outputDir))
    fail(outputDir + ": " + error.message());
  int64_t *word = results.data();
  for (auto [i, type] : llvm::enumerate(signature.getResults())) {
    auto tensor = cast<RankedTensorType>(type);
    int64_t rank = tensor.getRank();
    auto *allocated = reinterpret_cast<char *>(word[0]);
    auto *aligned = reinterpret_cast<char *>(word[1]);
    int64_t offset = word[2];
    ArrayRef<int64_t> sizes(word + 3, rank), strides(word + 3 + rank, rank);
    hgc::NpyArray out;
    out.descr = npyDescr(tensor.getElementType());
    out.shape.assign(sizes.begin(), sizes.end());
    int64_t elementSize = hgc::getNpyElementSize(out.descr);
    out.data.resize(out.getNumElements() * elementSize);
    // Copy element by element through the strides (results may be views).
    SmallVector<int64_t> at(rank, 0);
    for (int64_t linear = 0; linear < out.getNumElements(); ++linear) {
      int64_t source = offset;
      for (int64_t d = 0; d < rank; ++d)
        source += at[d] * strides[d];
      std::memcpy(out.data.data() + linear * elementSize,
                  aligned + source * elementSize, elementSize);
      for (int64_t d = rank - 1; d >= 0 && ++at[d] == sizes[d]; --d)
        at[d] = 0;
    }
    // Fresh results are owned by the caller; results aliasing an input are
    // not freed.
    bool ownsBuffer = llvm::none_of(arrays, [&](const hgc::NpyArray &array) {
      return array.data.data() == allocated;
    });
    if (ownsBuffer)
      std::free(allocated);
    llvm::SmallString<128> path(outputDir);
    llvm::sys::path::append(path, "out" + std::to_string(i) + ".npy");
    if (llvm::Error error = hgc::writeNpy(path, out))
      fail(llvm::toString(std::move(error)));
    word += 3 + 2 * rank;
  }
  return 0;
}
