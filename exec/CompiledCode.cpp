//===- CompiledCode.cpp - machine code of a lowered module ----------------===//

#include "exec/CompiledCode.h"

#include "exec/HostExecution.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/xxhash.h"
#include "llvm/TargetParser/Host.h"

#include "hgc-rt/compiled.h"
#include "hgc-rt/gpu.h"

#include <dlfcn.h>
#include <thread>
#include <unistd.h>

using namespace mlir;

namespace {
/// The code whose emulated GPU kernels this thread may launch now: the
/// runtime's twin resolver is process-wide, the code being run is not.
thread_local hgc::CompiledCode *currentCode = nullptr;

void *resolveTwin(void *, const char *name) {
  return currentCode ? currentCode->lookup(name) : nullptr;
}

struct CurrentCode {
  hgc::CompiledCode *previous;
  explicit CurrentCode(hgc::CompiledCode *code) : previous(currentCode) {
    static bool installed = [] {
      hgc_rt_gpu_set_kernel_resolver(resolveTwin, nullptr);
      return true;
    }();
    (void)installed;
    currentCode = code;
  }
  ~CurrentCode() { currentCode = previous; }
};
} // namespace

hgc::CompiledCode::~CompiledCode() = default;

llvm::Expected<std::unique_ptr<hgc::CompiledCode>>
hgc::CompiledCode::compile(ModuleOp module, bool keepObject) {
  hgc_rt_gpu_take_error(); // not this code's
  auto engine = createHostEngine(module, keepObject);
  if (!engine)
    return engine.takeError();
  std::unique_ptr<CompiledCode> code(new CompiledCode());
  code->engine = std::move(*engine);
  if (llvm::Error error = code->takeLoadError())
    return std::move(error);
  return code;
}

llvm::Expected<std::unique_ptr<hgc::CompiledCode>>
hgc::CompiledCode::link(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return llvm::createStringError(path + ": " + buffer.getError().message());
  static bool targetsReady = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)targetsReady;
  auto created =
      llvm::orc::LLJITBuilder()
          .setObjectLinkingLayerCreator(
              [](llvm::orc::ExecutionSession &session) {
                return std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                    session, [](const llvm::MemoryBuffer &) {
                      return std::make_unique<llvm::SectionMemoryManager>();
                    });
              })
          .create();
  if (!created)
    return created.takeError();
  std::unique_ptr<llvm::orc::LLJIT> jit = std::move(*created);
  hgc_rt_gpu_take_error(); // not this code's
  for (const std::string &library : getRuntimeLibraryPaths()) {
    std::string message;
    if (!llvm::sys::DynamicLibrary::getPermanentLibrary(library.c_str(),
                                                        &message)
             .isValid())
      return llvm::createStringError("loading " + library + ": " + message);
  }
  auto generator =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
          jit->getDataLayout().getGlobalPrefix());
  if (!generator)
    return generator.takeError();
  jit->getMainJITDylib().addGenerator(std::move(*generator));
  if (llvm::Error error = jit->addObjectFile(std::move(*buffer)))
    return llvm::createStringError(path + ": " +
                                   llvm::toString(std::move(error)));
  if (llvm::Error error = jit->initialize(jit->getMainJITDylib()))
    return llvm::createStringError(path + ": " +
                                   llvm::toString(std::move(error)));
  std::unique_ptr<CompiledCode> code(new CompiledCode());
  code->linked = std::move(jit);
  if (llvm::Error error = code->takeLoadError())
    return std::move(error);
  return code;
}

llvm::Error hgc::CompiledCode::takeLoadError() {
  // Constructors load the GPU kernels (mgpuModuleLoad); their calls return
  // no status, and a run takes stale errors first, so look now.
  if (const char *gpuError = hgc_rt_gpu_take_error())
    return llvm::createStringError(llvm::Twine("loading the GPU kernels: ") +
                                   gpuError);
  return llvm::Error::success();
}

void *hgc::CompiledCode::lookup(llvm::StringRef name) {
  if (engine) {
    auto symbol = engine->lookup(name);
    if (symbol)
      return *symbol;
    llvm::consumeError(symbol.takeError());
    return nullptr;
  }
  auto symbol = linked->lookup(name);
  if (symbol)
    return symbol->toPtr<void *>();
  llvm::consumeError(symbol.takeError());
  return nullptr;
}

llvm::Error hgc::CompiledCode::invoke(llvm::StringRef entry,
                                      void **packedArguments) {
  void *address;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto [it, inserted] = entries.try_emplace(entry, nullptr);
    if (inserted)
      it->second = lookup(("_mlir_" + entry).str());
    address = it->second;
  }
  auto *function = reinterpret_cast<void (*)(void **)>(address);
  if (!function)
    return llvm::createStringError("compiled code has no @" + entry);
  CurrentCode current(this);
  hgc_rt_gpu_take_error();
  if (hgc_rt_compiled_call(function, packedArguments))
    return llvm::createStringError(hgc_rt_compiled_take_error());
  if (const char *gpuError = hgc_rt_gpu_take_error())
    return llvm::createStringError(gpuError);
  return llvm::Error::success();
}

void hgc::CompiledCode::writeObject(llvm::StringRef path) {
  if (engine)
    engine->dumpToObjectFile(path);
}

std::string hgc::getMachineCodeKey(const TargetOptions &target) {
  std::string features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    if (feature.second)
      features += feature.first().str() + ",";
  // code-abi 2: buffers from hgc-rt/host_alloc.h, not malloc.
  return "code-abi=2 llvm=" LLVM_VERSION_STRING " target=" + target.target +
         (target.target == "nvptx" ? " chip=" + target.chip : "") +
         (target.countSelected ? " count-selected" : "") +
         " cpu=" + llvm::sys::getHostCPUName().str() +
         " features=" + llvm::utohexstr(llvm::xxh3_64bits(features));
}

std::string hgc::getCompilerBuildKey() {
  static const std::string key = [] {
    Dl_info info;
    if (!dladdr(reinterpret_cast<void *>(&getCompilerBuildKey), &info) ||
        !info.dli_fname)
      return std::string("compiler=unknown");
    auto bytes = llvm::MemoryBuffer::getFile(info.dli_fname, /*IsText=*/false,
                                             /*RequiresNullTerminator=*/false);
    if (!bytes)
      return std::string("compiler=unknown");
    return "compiler=" +
           llvm::utohexstr(llvm::xxh3_64bits(
               llvm::arrayRefFromStringRef((*bytes)->getBuffer())));
  }();
  return key;
}

bool hgc::publishFile(const std::string &path,
                      const std::function<bool(const std::string &)> &write) {
  std::string temporary =
      path + ".tmp." + std::to_string(getpid()) + "." +
      std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  if (!write(temporary)) {
    llvm::sys::fs::remove(temporary);
    return false;
  }
  if (llvm::sys::fs::rename(temporary, path)) {
    llvm::sys::fs::remove(temporary);
    return false;
  }
  return true;
}
