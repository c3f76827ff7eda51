//===- Jit.h - libhgc internals ---------------------------------*- C++ -*-===//
//
// The C++ behind hgc-c/jit.h: configurations checked and keyed, kernels
// compiled through the named pipelines and cached (memory, then disk), and
// the handles the C API hands out.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_JIT_H
#define HGC_JIT_JIT_H

#include "hgc-c/jit.h"
#include "hgc-rt/kv_cache.h"

#include "codegen/Pipelines.h"
#include "exec/CompiledCode.h"
#include "exec/DecodeModule.h"

#include "llvm/Support/Error.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hgc::jit {

class PageResidency;
class HeadCalibration;

/// A failure with the status the C API returns for it.
struct Failure {
  hgc_status status = HGC_OK;
  std::string message;
  static Failure ok() { return {}; }
  bool failed() const { return status != HGC_OK; }
};

/// One host-tier policy for a range of KV heads.
/// The placement options a C `hgc_placement` spells (names and defaults
/// are PlacementOptions'; strings copied).
mlir::hgc::PlacementOptions toPlacementOptions(const hgc_placement &placement);

struct HeadPolicy {
  int32_t firstKvHead = 0, kvHeads = 0;
  mlir::hgc::PlacementOptions placement;
};

/// A checked attention configuration with owned strings.
struct AttentionConfig {
  int32_t qHeads = 0, kvHeads = 0, headDim = 0;
  hgc_dtype kvDtype = HGC_F16;
  float scale = 0, softcap = 0;
  bool causal = true;
  mlir::hgc::PlacementOptions placement;
  std::vector<HeadPolicy> overrides;
  /// Engine-owned paged KV: tokens per block (0: a runtime-owned cache).
  int32_t kvBlockSize = 0;
  hgc_kv_layout kvLayout = HGC_KV_NHD;
  /// Paged KV whose engine passes per-block key summaries.
  bool kvSummaries = false;
  /// Paged KV read with the runtime's int8 key codes in token order
  /// (hgc_rt_kv_codes), for a policy that scores them.
  bool kvCodes = false;
  /// Paged KV read with the runtime's channel-major keys and per-page value
  /// sums (hgc_rt_kv_channel_keys), for a policy that reads them.
  bool kvChannels = false;
  /// Paged KV read with the runtime's product-quantized keys in token order
  /// and codebooks (hgc_rt_kv_pq_codes), for a policy that scores them.
  bool kvPq = false;
  /// The step, the selection of a later step chosen ahead, or the step over
  /// candidates chosen ahead (hgc_select_ahead, hgc_decode_selected).
  mlir::hgc::DecodeModuleSpec::Ahead ahead =
      mlir::hgc::DecodeModuleSpec::Ahead::None;

  /// Checks and copies `config`; the message names the bad field.
  static Failure fromC(const hgc_attention_config &config,
                       AttentionConfig &out);
  /// Every field, canonically: configurations that compile alike print
  /// alike.
  std::string describe() const;
};

/// Tokens per page of an hgc_kv_cache unless its options say otherwise.
constexpr int32_t kDefaultPageTokens = 64;

/// The paged configuration that reads the pages of a runtime cache of
/// `pageTokens`-token pages in place: blocks are pages, heads-major; quest
/// reads the runtime's page summaries when its block is the page, hca the
/// runtime's key codes.
AttentionConfig inPlaceConfig(const AttentionConfig &config,
                              int32_t pageTokens);

/// The function every decode kernel exports.
constexpr const char *kDecodeEntry = "hgc_decode";

/// The decode function of paged `config`, placed by `placement`:
/// @hgc_decode(queries, key cache, value cache, block tables, lengths[, key
/// minimum, key maximum]), any batch and number of blocks.
mlir::hgc::DecodeModuleSpec
getDecodeModuleSpec(const AttentionConfig &config,
                    mlir::hgc::PlacementAttr placement);

/// A compiled decode kernel (shared by every handle on its configuration).
struct Kernel {
  AttentionConfig config;
  std::string key, target;
  hgc_kernel_origin origin = HGC_KERNEL_COMPILED;
  double seconds = 0;
  std::shared_ptr<mlir::hgc::CompiledCode> code;
};

/// Compiles (or finds) kernels: one in-memory table per context, object
/// files under a cache directory shared between processes.
class KernelCache {
public:
  KernelCache(mlir::hgc::TargetOptions target, std::string directory);
  ~KernelCache();
  Failure get(const AttentionConfig &config, std::shared_ptr<Kernel> &kernel);

private:
  struct Entry {
    bool ready = false;
    Failure failure;
    std::shared_ptr<Kernel> kernel;
  };
  mlir::hgc::TargetOptions target;
  std::string directory;
  std::mutex mutex;
  std::condition_variable compiled;
  std::map<std::string, std::shared_ptr<Entry>> entries;
};

/// Bytes one step of a sequence of `length` tokens reads on the device, host
/// and storage tiers under `config`'s placement and overrides
/// (TierPolicyAttr::getStepReadBytes, what `hgc plan` prints), with what a
/// runtime cache of `pageTokens`-token pages keeps beside the KV.
Failure getStepReadBytes(const AttentionConfig &config, int64_t length,
                         int32_t pageTokens, double bytes[3]);

/// Runs the packed @hgc_decode of `code`.
Failure invokeDecode(mlir::hgc::CompiledCode &code, void **packedArguments);

/// Records `failure`'s message for hgc_last_error() and returns its status.
hgc_status report(const Failure &failure);
hgc_status fail(hgc_status status, std::string message);
hgc_status nullArgument(const char *what);
/// The runtime's statuses are the first eight of ours; a failure carries
/// the runtime's message.
Failure fromRuntimeStatus(hgc_rt_status status);
/// report(fromRuntimeStatus(status)).
hgc_status fromRuntime(hgc_rt_status status);

/// Seconds from `start` until now.
inline double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// What every handle made from one hgc_context shares.
struct ContextState {
  std::string target; // "host" or "cuda"
  int32_t threads = 0;
  std::string cacheDirectory; // "" when there is none
  std::unique_ptr<KernelCache> kernels;
};

} // namespace hgc::jit

struct hgc_context {
  std::shared_ptr<hgc::jit::ContextState> state;
};

/// A kernel for KV the engine pages (config.kvBlockSize > 0) is the paged
/// kernel itself. One for runtime-owned caches keeps the configuration
/// compiled and reads each cache's pages through a paged kernel of the
/// cache's page size (DecodeSession.cpp): `kernel` is the one of
/// hgc::jit::kDefaultPageTokens, compiled by hgc_compile, and the others
/// are compiled on first use.
struct hgc_kernel {
  std::shared_ptr<hgc::jit::ContextState> context;
  std::shared_ptr<hgc::jit::Kernel> kernel;
  hgc::jit::AttentionConfig config; // as compiled (kvBlockSize 0: runtime)
  std::mutex inPlaceMutex;
  /// By page size and role (the step, or a selection ahead and the step
  /// over it).
  std::map<std::pair<int32_t, mlir::hgc::DecodeModuleSpec::Ahead>,
           std::shared_ptr<hgc::jit::Kernel>>
      inPlace;
};

/// Candidates chosen ahead for a later step (hgc_select_ahead): what the
/// step is (kernel, cache, layer, sequences) and the second tier's
/// candidates, [batch][kv_heads][count] (-1 past a row's valid ones).
struct hgc_selection {
  std::string kernelKey; // the kernel's describe()
  const hgc_kv_cache *cache = nullptr;
  int32_t layer = 0, batch = 0;
  std::vector<int64_t> seqs, lengths;
  int32_t kvHeads = 0;
  int64_t count = 0;
  int32_t blockSize = 1; // tokens per candidate
  std::vector<int32_t> candidates;
};

struct hgc_kv_cache {
  std::shared_ptr<hgc::jit::ContextState> context;
  hgc::jit::AttentionConfig config;
  int32_t layers = 0;
  int32_t pageTokens = 0;
  hgc_rt_kv_cache *runtime = nullptr;
  /// Periodic recall and eviction (hgc_kv_cache_options.recall_*,
  /// evict_after), when enabled.
  std::shared_ptr<hgc::jit::PageResidency> residency;
  /// Per-head budgets of calibrating kernels (fluxion), per layer.
  std::shared_ptr<hgc::jit::HeadCalibration> calibration;
  ~hgc_kv_cache() { hgc_rt_kv_destroy(runtime); }
};

#endif // HGC_JIT_JIT_H
