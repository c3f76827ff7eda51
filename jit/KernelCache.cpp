//===- KernelCache.cpp - compile once, reuse in memory and on disk --------===//
//
// A kernel is compiled through the driver's pipelines (hgc-hybrid-pipeline
// with the configuration's placement, then hgc-lowering-pipeline for the
// context's target) by MLIR's ExecutionEngine. Its object file goes to the
// cache directory under a hash of the key; a later process links that
// object with ORC instead of compiling. Concurrent requests for one key wait
// for the first compile.
//
//===----------------------------------------------------------------------===//

#include "jit/Jit.h"
#include "jit/RuntimePages.h"
#include "passes/policies/PlacementPolicy.h"

#include "dialect/HgcOps.h"
#include "exec/CompiledCode.h"
#include "exec/HostExecution.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/xxhash.h"
#include "llvm/TargetParser/Host.h"

#include "hgc-rt/gpu.h"

#include <chrono>
#include <unistd.h>

using namespace hgc::jit;
using namespace mlir;
namespace mhgc = mlir::hgc;

namespace {
/// What makes machine code differ besides the configuration.
std::string environmentKey(const mhgc::TargetOptions &target) {
  return "hgc-jit-abi=" + std::to_string(HGC_JIT_API_VERSION) + " " +
         mhgc::getMachineCodeKey(target) + " " + mhgc::getCompilerBuildKey();
}

/// The placement of `config` as an attribute, per-head overrides included;
/// failures are reported as diagnostics.
FailureOr<mhgc::PlacementAttr>
buildFullPlacement(MLIRContext &context, const AttentionConfig &config) {
  auto report = [&]() {
    return emitError(UnknownLoc::get(&context), "placement: ");
  };
  FailureOr<mhgc::PlacementAttr> base =
      mhgc::buildPlacement(&context, config.placement, report);
  if (failed(base) || config.overrides.empty())
    return base;
  SmallVector<mhgc::HeadPlacementAttr> heads;
  for (const HeadPolicy &head : config.overrides) {
    FailureOr<mhgc::PlacementAttr> nested =
        mhgc::buildPlacement(&context, head.placement, report);
    if (failed(nested))
      return failure();
    SmallVector<int64_t> ids;
    for (int32_t h = head.firstKvHead; h < head.firstKvHead + head.kvHeads; ++h)
      ids.push_back(h);
    // A nested unsplit placement is all device; on the runtime's pages
    // such a head attends its host tokens exactly instead.
    mhgc::PlacementAttr placement = *nested;
    if (!mhgc::getPlacementPolicy(head.placement).splits())
      placement = mhgc::PlacementAttr::get(
          &context, base->getSink(), base->getWindow(),
          {base->getTiers().front(),
           mhgc::TierPolicyAttr::getDense(&context, mhgc::Tier::Host)},
          {});
    heads.push_back(mhgc::HeadPlacementAttr::get(&context, ids, placement));
  }
  return mhgc::PlacementAttr::get(&context, base->getSink(), base->getWindow(),
                                  base->getTiers(), heads);
}

DialectRegistry getCompilerRegistry() {
  DialectRegistry registry;
  mhgc::registerCompilerDialects(registry);
  return registry;
}

/// A compiler context of its own (kernels compile on any thread) whose
/// errors are collected as one message.
struct CompilerScope {
  DialectRegistry registry = getCompilerRegistry();
  MLIRContext context{registry, MLIRContext::Threading::DISABLED};
  std::string diagnostics;
  ScopedDiagnosticHandler handler{&context, [this](Diagnostic &diagnostic) {
                                    if (diagnostic.getSeverity() ==
                                        DiagnosticSeverity::Error) {
                                      if (!diagnostics.empty())
                                        diagnostics += "; ";
                                      diagnostics += diagnostic.str();
                                    }
                                    return success();
                                  }};
  CompilerScope() { context.loadAllAvailableDialects(); }
};

Failure compile(const AttentionConfig &config,
                const mhgc::TargetOptions &target, bool keepObject,
                std::unique_ptr<mhgc::CompiledCode> &code) {
  CompilerScope scope;
  MLIRContext &context = scope.context;
  std::string &diagnostics = scope.diagnostics;
  FailureOr<mhgc::PlacementAttr> placement =
      buildFullPlacement(context, config);
  if (failed(placement))
    return {HGC_INVALID_ARGUMENT, diagnostics};
  OwningOpRef<ModuleOp> module = mhgc::buildDecodeModule(
      &context, getDecodeModuleSpec(config, *placement));
  if (failed(mlir::verify(*module)))
    return {HGC_INVALID_ARGUMENT, "configuration: " + diagnostics};

  PassManager pm(&context);
  mhgc::buildHybridPipeline(pm, config.placement);
  mhgc::buildLoweringPipeline(pm, target);
  if (failed(pm.run(*module)))
    return {HGC_COMPILE, "compiling " + config.describe() + ": " + diagnostics};
  auto created = mhgc::CompiledCode::compile(*module, keepObject);
  if (!created)
    return {HGC_COMPILE, llvm::toString(created.takeError())};
  code = std::move(*created);
  return Failure::ok();
}

bool readFile(const std::string &path, std::string &text) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return false;
  text = (*buffer)->getBuffer().str();
  return true;
}

} // namespace

KernelCache::KernelCache(mhgc::TargetOptions target, std::string directory)
    : target(std::move(target)), directory(std::move(directory)) {}

KernelCache::~KernelCache() = default;

Failure KernelCache::get(const AttentionConfig &config,
                         std::shared_ptr<Kernel> &kernel) {
  auto start = std::chrono::steady_clock::now();
  std::string key = config.describe() + " " + environmentKey(target);
  std::shared_ptr<Entry> entry;
  bool mine = false;
  {
    std::unique_lock<std::mutex> lock(mutex);
    auto [it, inserted] = entries.try_emplace(key);
    if (inserted)
      it->second = std::make_shared<Entry>();
    entry = it->second;
    mine = inserted;
    if (!mine) {
      compiled.wait(lock, [&] { return entry->ready; });
      if (entry->failure.failed())
        return entry->failure;
      kernel = std::make_shared<Kernel>(*entry->kernel);
      kernel->origin = HGC_KERNEL_MEMORY;
      kernel->seconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      return Failure::ok();
    }
  }

  auto made = std::make_shared<Kernel>();
  made->config = config;
  made->key = key;
  made->target = target.target == "nvptx" ? "cuda" : "host";
  Failure failure;
  std::string stem;
  if (!directory.empty())
    stem = directory + "/" + llvm::utohexstr(llvm::xxh3_64bits(key));
  std::string cachedKey;
  std::unique_ptr<mhgc::CompiledCode> code;
  if (!stem.empty() && readFile(stem + ".key", cachedKey) && cachedKey == key) {
    auto linked = mhgc::CompiledCode::link(stem + ".o");
    if (linked) {
      code = std::move(*linked);
      made->origin = HGC_KERNEL_DISK;
    } else {
      llvm::consumeError(linked.takeError()); // damaged: compile again
    }
  }
  if (!code) {
    failure = compile(config, target, /*keepObject=*/!stem.empty(), code);
    if (!failure.failed() && !stem.empty()) {
      // A cache that cannot be written costs later processes a compile, not
      // this one its kernel.
      llvm::sys::fs::create_directories(directory);
      if (mhgc::publishFile(stem + ".o", [&](const std::string &path) {
            code->writeObject(path);
            return llvm::sys::fs::exists(path);
          }))
        mhgc::publishFile(stem + ".key", [&](const std::string &path) {
          std::error_code error;
          llvm::raw_fd_ostream os(path, error);
          os << key;
          return !error;
        });
    }
  }
  if (!failure.failed() && !code->lookup(std::string("_mlir_") + kDecodeEntry))
    failure = {HGC_INTERNAL,
               "compiled code has no @" + std::string(kDecodeEntry)};
  made->code = std::move(code);
  made->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  {
    std::lock_guard<std::mutex> lock(mutex);
    entry->ready = true;
    entry->failure = failure;
    if (failure.failed())
      entries.erase(key); // a later call tries again
    else
      entry->kernel = made;
  }
  compiled.notify_all();
  if (failure.failed())
    return failure;
  kernel = made;
  return Failure::ok();
}

namespace hgc::jit {
Failure invokeDecode(mhgc::CompiledCode &code, void **packedArguments) {
  if (llvm::Error error = code.invoke(kDecodeEntry, packedArguments))
    return {HGC_DEVICE, llvm::toString(std::move(error))};
  return Failure::ok();
}
Failure getStepReadBytes(const AttentionConfig &config, int64_t length,
                         int32_t pageTokens, double bytes[3]) {
  CompilerScope scope;
  FailureOr<mhgc::PlacementAttr> placement =
      buildFullPlacement(scope.context, config);
  if (failed(placement))
    return {HGC_INVALID_ARGUMENT, scope.diagnostics};
  mhgc::KeptWithKV kept =
      mhgc::getKeptByKVRuntime(config.placement, pageTokens);
  std::fill(bytes, bytes + 3, 0.0);
  for (int32_t h = 0; h < config.kvHeads; ++h) {
    mhgc::PlacementAttr head = placement->getForHead(h);
    SmallVector<int64_t> resident = head.getResidentTokens(length);
    for (auto [tier, tokens] : llvm::zip(head.getTiers(), resident)) {
      int index = tier.getTier() == mhgc::Tier::Device ? 0
                  : tier.getTier() == mhgc::Tier::Host ? 1
                                                       : 2;
      bytes[index] += tier.getStepReadBytes(tokens, config.headDim,
                                            getElementBytes(config), kept);
    }
  }
  return Failure::ok();
}

} // namespace hgc::jit
