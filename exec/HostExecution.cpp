//===- HostExecution.cpp - JIT-run an hgc function on .npy arrays ---------===//

#include "exec/HostExecution.h"
#include "exec/CompiledCode.h"

#include "codegen/Pipelines.h"
#include "dialect/HgcDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "hgc-rt/gpu.h"
#include "hgc-rt/host_alloc.h"
#include "hgc-rt/kv_cache.h"

#include "llvm/Support/TargetSelect.h"

#include <cstring>
#include <dlfcn.h>
#include <utility>

using namespace mlir;

void hgc::registerCompilerDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<hgc::HgcDialect>();
}

std::string hgc::getNpyDescr(Type type) {
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
  if (type.isInteger(16))
    return "<i2";
  if (type.isInteger(8))
    return "|i1";
  if (type.isInteger(1))
    return "|b1";
  return "";
}

std::string hgc::describeArray(ArrayRef<int64_t> shape, StringRef descr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (shape.empty())
    os << "scalar";
  llvm::interleave(shape, os, "x");
  os << " (" << descr << ")";
  return text;
}

llvm::Error hgc::checkInput(StringRef name, Type type, const NpyArray &array) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  std::string want = tensor ? getNpyDescr(tensor.getElementType()) : "";
  if (want.empty()) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << type;
    return llvm::createStringError(name + " has type " + text +
                                   ", which the host runner cannot feed");
  }
  bool ok =
      array.descr == want && array.shape.size() == size_t(tensor.getRank());
  for (size_t d = 0; ok && d < array.shape.size(); ++d)
    ok = tensor.isDynamicDim(d) || tensor.getDimSize(d) == array.shape[d];
  if (ok)
    return llvm::Error::success();
  return llvm::createStringError(
      name + " expects " + describeArray(tensor.getShape(), want) + ", got " +
      describeArray(array.shape, array.descr));
}

llvm::Expected<hgc::NpyArray> hgc::readInput(StringRef name, Type type,
                                             StringRef path) {
  llvm::Expected<NpyArray> array = readNpy(path);
  if (!array)
    return array.takeError();
  if (llvm::Error error = checkInput(name, type, *array))
    return llvm::createStringError(path + ": " +
                                   llvm::toString(std::move(error)));
  return array;
}

namespace {
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

/// Views of the result descriptors an entry returns one after another in
/// `words`, one per type.
SmallVector<DynamicMemRefType<char>>
getResultMemRefs(int64_t *words, ArrayRef<RankedTensorType> types) {
  SmallVector<DynamicMemRefType<char>> memRefs;
  for (RankedTensorType type : types) {
    memRefs.emplace_back(::UnrankedMemRefType<char>{type.getRank(), words});
    words += 3 + 2 * type.getRank();
  }
  return memRefs;
}
} // namespace

SmallVector<std::string> hgc::getRuntimeLibraryPaths() {
  SmallVector<std::string> paths = {HGC_C_RUNNER_UTILS, HGC_OPENMP_RUNTIME};
  // Installed or in the build tree: wherever the dynamic loader found it.
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&hgc_rt_kv_create), &info) &&
      info.dli_fname)
    paths.push_back(info.dli_fname);
  else
    paths.push_back(HGC_RUNTIME_LIBRARY);
  return paths;
}

llvm::Expected<std::unique_ptr<ExecutionEngine>>
hgc::createHostEngine(ModuleOp module, bool enableObjectDump) {
  static bool targetsReady = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)targetsReady;
  ExecutionEngineOptions options;
  auto transformer = makeOptimizingTransformer(/*optLevel=*/3,
                                               /*sizeLevel=*/0, nullptr);
  options.transformer = transformer;
  SmallVector<std::string> paths = getRuntimeLibraryPaths();
  SmallVector<StringRef> sharedLibs(paths.begin(), paths.end());
  options.sharedLibPaths = sharedLibs;
  options.enableObjectDump = enableObjectDump;
  auto engine = ExecutionEngine::create(module, options);
  if (!engine)
    return llvm::createStringError("JIT compilation failed: " +
                                   llvm::toString(engine.takeError()));
  // Global constructors load the GPU kernels (mgpuModuleLoad); entry points
  // are called through lookup, which does not run them.
  (*engine)->initialize();
  return engine;
}

llvm::Expected<std::unique_ptr<hgc::HostProgram>>
hgc::HostProgram::compile(ModuleOp module, StringRef entry,
                          const TargetOptions &target, bool keepObject) {
  auto function = module.lookupSymbol<func::FuncOp>(entry);
  if (!function)
    return llvm::createStringError("no function @" + entry);
  std::unique_ptr<HostProgram> program(new HostProgram());
  program->entry = entry.str();
  for (Type type : function.getFunctionType().getResults()) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || getNpyDescr(tensor.getElementType()).empty()) {
      std::string text;
      llvm::raw_string_ostream os(text);
      os << type;
      return llvm::createStringError("@" + entry + " returns " + text +
                                     ", which the host runner cannot write");
    }
    program->resultTypes.push_back(tensor);
  }

  std::string targetError = checkTargetOptions(target);
  if (!targetError.empty())
    return llvm::createStringError(targetError);
  PassManager pm(module.getContext());
  hgc::buildLoweringPipeline(pm, target);
  if (failed(pm.run(module)))
    return llvm::createStringError(target.target + " lowering failed");

  auto code = CompiledCode::compile(module, keepObject);
  if (!code)
    return code.takeError();
  // ORC generates machine code on first lookup: do it now, so that compile
  // time is spent here and not in the first run.
  if (!(*code)->lookup(("_mlir_" + entry).str()))
    return llvm::createStringError("compiled code has no @" + entry);
  program->code = std::move(*code);
  return program;
}

llvm::Expected<std::unique_ptr<hgc::HostProgram>>
hgc::HostProgram::load(StringRef objectPath, StringRef entry,
                       ArrayRef<RankedTensorType> resultTypes) {
  auto code = CompiledCode::link(objectPath);
  if (!code)
    return code.takeError();
  if (!(*code)->lookup(("_mlir_" + entry).str()))
    return llvm::createStringError(objectPath + ": no @" + entry);
  std::unique_ptr<HostProgram> program(new HostProgram());
  program->entry = entry.str();
  program->resultTypes.assign(resultTypes.begin(), resultTypes.end());
  program->code = std::move(*code);
  return program;
}

void hgc::HostProgram::writeObject(StringRef path) { code->writeObject(path); }

hgc::HostProgram::~HostProgram() = default;

llvm::Error hgc::HostProgram::run(std::vector<NpyArray> &inputs,
                                  std::vector<NpyArray> &outputs) {
  SmallVector<TensorRef> arguments;
  for (const NpyArray &array : inputs)
    arguments.push_back({array.data.data(), array.shape});
  return run(arguments, outputs);
}

llvm::Error hgc::HostProgram::run(ArrayRef<TensorRef> inputs,
                                  std::vector<NpyArray> &outputs) {
  std::vector<ResultBuffer> results;
  if (llvm::Error error = run(inputs, results))
    return error;
  outputs.clear();
  for (const ResultBuffer &result : results)
    outputs.push_back(result.toNpy());
  return llvm::Error::success();
}

llvm::Error hgc::HostProgram::run(ArrayRef<TensorRef> inputs,
                                  std::vector<ResultBuffer> &outputs) {
  // Packed calling convention: one pointer per descriptor word, then one
  // pointer to the (flat, all 8-byte words) result struct.
  SmallVector<SmallVector<int64_t>> descriptors;
  for (const TensorRef &input : inputs)
    descriptors.push_back(
        makeDescriptor(const_cast<void *>(input.data), input.shape));
  SmallVector<void *> packed;
  for (SmallVector<int64_t> &words : descriptors)
    for (int64_t &word : words)
      packed.push_back(&word);
  size_t resultWords = 0;
  for (RankedTensorType type : resultTypes)
    resultWords += 3 + 2 * type.getRank();
  SmallVector<int64_t> results(resultWords, 0);
  packed.push_back(results.data());
  if (llvm::Error error = code->invoke(entry, packed.data()))
    return llvm::createStringError("running @" + entry + ": " +
                                   llvm::toString(std::move(error)));
  // A fresh, dense result is handed over as it is; a view, a buffer
  // returned twice, an input or a constant (memref.get_global marks its
  // descriptor 0xdeadbeef) is copied into a buffer of its own.
  llvm::SmallPtrSet<void *, 8> notOurs;
  for (const TensorRef &input : inputs)
    notOurs.insert(const_cast<void *>(input.data));
  notOurs.insert(reinterpret_cast<void *>(0xdeadbeef));
  llvm::SmallPtrSet<void *, 8> taken;
  outputs.clear();
  SmallVector<DynamicMemRefType<char>> memRefs =
      getResultMemRefs(results.data(), resultTypes);
  for (auto [tensor, memRef] : llvm::zip(resultTypes, memRefs)) {
    int64_t rank = memRef.rank;
    void *allocated = memRef.basePtr;
    ArrayRef<int64_t> sizes(memRef.sizes, rank), strides(memRef.strides, rank);
    std::string descr = getNpyDescr(tensor.getElementType());
    int64_t elementSize = getNpyElementSize(descr), count = 1;
    for (int64_t size : sizes)
      count *= size;
    bool contiguous = true;
    for (int64_t d = rank - 1, expected = 1; d >= 0; --d) {
      contiguous &= sizes[d] == 1 || strides[d] == expected;
      expected *= sizes[d];
    }
    char *first = memRef.data + memRef.offset * elementSize;
    size_t bytes = size_t(count * elementSize);
    if (contiguous && !notOurs.contains(allocated) &&
        taken.insert(allocated).second) {
      outputs.emplace_back(descr, sizes, allocated, first, bytes);
      continue;
    }
    auto *copy = static_cast<char *>(_mlir_memref_to_llvm_alloc(bytes));
    if (contiguous) {
      if (bytes)
        std::memcpy(copy, first, bytes);
    } else {
      packStrided(first, sizes, strides, elementSize, copy);
    }
    outputs.emplace_back(descr, sizes, copy, copy, bytes);
  }
  // What was neither handed over nor an input (the source of a view).
  for (const DynamicMemRefType<char> &memRef : memRefs)
    if (!notOurs.contains(memRef.basePtr) &&
        taken.insert(memRef.basePtr).second)
      hgc_rt_host_free(memRef.basePtr);
  return llvm::Error::success();
}

hgc::ResultBuffer::~ResultBuffer() { hgc_rt_host_free(owned); }

hgc::ResultBuffer &hgc::ResultBuffer::operator=(ResultBuffer &&other) {
  if (this != &other) {
    hgc_rt_host_free(owned);
    descr = std::move(other.descr);
    shape = std::move(other.shape);
    strides = std::move(other.strides);
    owned = std::exchange(other.owned, nullptr);
    data = other.data;
    bytes = other.bytes;
  }
  return *this;
}

hgc::ResultBuffer hgc::ResultBuffer::view(std::string descr,
                                          ArrayRef<int64_t> shape,
                                          ArrayRef<int64_t> strides,
                                          const char *data,
                                          size_t elementBytes) {
  size_t count = 1;
  for (int64_t d : shape)
    count *= size_t(d);
  ResultBuffer result(std::move(descr), shape, nullptr, data,
                      count * elementBytes);
  result.strides.assign(strides.begin(), strides.end());
  return result;
}

void hgc::packStrided(const char *source, ArrayRef<int64_t> shape,
                      ArrayRef<int64_t> strides, size_t elementBytes,
                      char *target) {
  if (llvm::is_contained(shape, 0))
    return;
  // Rows along the last dim, walked with an odometer over the others.
  int64_t rank = int64_t(shape.size());
  if (rank == 0) {
    std::memcpy(target, source, elementBytes);
    return;
  }
  int64_t inner = shape.back();
  bool contiguousRows = strides.back() == 1;
  SmallVector<int64_t> at(rank - 1, 0);
  while (true) {
    int64_t offset = 0;
    for (int64_t d = 0; d + 1 < rank; ++d)
      offset += at[d] * strides[d];
    const char *row = source + offset * int64_t(elementBytes);
    if (contiguousRows) {
      std::memcpy(target, row, inner * elementBytes);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(target + i * elementBytes,
                    row + i * strides.back() * int64_t(elementBytes),
                    elementBytes);
    }
    target += inner * elementBytes;
    int64_t d = rank - 2;
    for (; d >= 0 && ++at[d] == shape[d]; --d)
      at[d] = 0;
    if (d < 0)
      return;
  }
}

hgc::NpyArray hgc::ResultBuffer::toNpy() const {
  NpyArray array;
  array.descr = descr;
  array.shape = shape;
  if (strides.empty()) {
    array.data.assign(data, data + bytes);
    return array;
  }
  size_t count = 1;
  for (int64_t d : shape)
    count *= size_t(d);
  array.data.resize(bytes);
  packStrided(data, shape, strides, count ? bytes / count : 0,
              array.data.data());
  return array;
}
