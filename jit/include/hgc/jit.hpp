//===- hgc/jit.hpp - C++ RAII over hgc-c/jit.h ------------------*- C++ -*-===//
//
// Header-only: owning handles that release themselves, and hgc::Error (a
// std::runtime_error carrying the status) thrown in the caller's code when a
// C call fails. The library itself never throws.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_HPP
#define HGC_JIT_HPP

#include "hgc-c/jit.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hgc {

class Error : public std::runtime_error {
public:
  Error(hgc_status status, const std::string &message)
      : std::runtime_error(std::string(hgc_status_name(status)) + ": " +
                           message),
        status_(status) {}
  hgc_status status() const { return status_; }

private:
  hgc_status status_;
};

inline void check(hgc_status status) {
  if (status != HGC_OK)
    throw Error(status, hgc_last_error());
}

namespace detail {
template <typename T, void (*Release)(T *)> struct Releaser {
  void operator()(T *handle) const { Release(handle); }
};
template <typename T, void (*Release)(T *)>
using Handle = std::unique_ptr<T, Releaser<T, Release>>;
} // namespace detail

/// An attention configuration that owns its strings and overrides.
struct AttentionConfig {
  int32_t qHeads = 0, kvHeads = 0, headDim = 0;
  hgc_dtype kvDtype = HGC_F16;
  float scale = 0, softcap = 0;
  bool causal = true;
  std::string policy, budget;
  int64_t sink, window, block;
  double tau;
  std::string codebook;
  int64_t channels, hostCapacity;
  std::string tail;
  struct Override {
    int32_t firstKvHead, kvHeads;
    std::string policy, budget;
    int64_t block = 16;
    double tau = 0; // 0: the placement's
  };
  std::vector<Override> overrides;
  /// Engine-owned paged KV (Kernel::decodePaged): tokens per block; 0 for
  /// an hgc_kv_cache.
  int32_t kvBlockSize = 0;
  hgc_kv_layout kvLayout = HGC_KV_NHD;
  bool kvSummaries = false;

  AttentionConfig() {
    hgc_attention_config defaults;
    hgc_attention_config_init(&defaults);
    policy = defaults.placement.policy;
    budget = defaults.placement.budget;
    sink = defaults.placement.sink;
    window = defaults.placement.window;
    block = defaults.placement.block;
    tau = defaults.placement.tau;
    codebook = defaults.placement.codebook;
    channels = defaults.placement.channels;
    hostCapacity = defaults.placement.host_capacity;
    tail = defaults.placement.tail;
  }

  /// The C view; valid while this object lives and is not changed.
  hgc_attention_config get() const {
    hgc_attention_config c;
    hgc_attention_config_init(&c);
    c.q_heads = qHeads;
    c.kv_heads = kvHeads;
    c.head_dim = headDim;
    c.kv_dtype = kvDtype;
    c.scale = scale;
    c.softcap = softcap;
    c.causal = causal;
    c.placement.policy = policy.c_str();
    c.placement.sink = sink;
    c.placement.window = window;
    c.placement.budget = budget.c_str();
    c.placement.block = block;
    c.placement.tau = tau;
    c.placement.codebook = codebook.c_str();
    c.placement.channels = channels;
    c.placement.host_capacity = hostCapacity;
    c.placement.tail = tail.c_str();
    cOverrides.clear();
    for (const Override &o : overrides)
      cOverrides.push_back({o.firstKvHead, o.kvHeads, o.policy.c_str(),
                            o.budget.c_str(), o.block, o.tau});
    c.overrides = cOverrides.data();
    c.num_overrides = int32_t(cOverrides.size());
    c.kv_block_size = kvBlockSize;
    c.kv_layout = kvLayout;
    c.kv_summaries = kvSummaries;
    return c;
  }

private:
  mutable std::vector<hgc_head_override> cOverrides;
};

class Kernel {
public:
  explicit Kernel(hgc_kernel *kernel) : handle(kernel) {}
  hgc_kernel *get() const { return handle.get(); }
  hgc_kernel_info info() const {
    hgc_kernel_info result;
    check(hgc_kernel_get_info(handle.get(), &result));
    return result;
  }
  /// One decode step over the engine's paged KV, read in place (see
  /// hgc_decode_paged); returns its statistics.
  hgc_step_stats decodePaged(const hgc_paged_kv &kv, int32_t batch,
                             const float *queries, float *outputs) const {
    hgc_step_stats stats;
    check(hgc_decode_paged(get(), &kv, batch, queries, outputs, &stats));
    return stats;
  }

private:
  detail::Handle<hgc_kernel, hgc_kernel_release> handle;
};

/// A later step's host-tier candidates chosen ahead (see
/// hgc_select_ahead).
class Selection {
public:
  explicit Selection(hgc_selection *selection) : handle(selection) {}
  const hgc_selection *get() const { return handle.get(); }
  hgc_selection_info info() const {
    hgc_selection_info result;
    check(hgc_selection_get_info(handle.get(), &result));
    return result;
  }

private:
  detail::Handle<hgc_selection, hgc_selection_release> handle;
};

class KVCache {
public:
  explicit KVCache(hgc_kv_cache *cache) : handle(cache) {}
  hgc_kv_cache *get() const { return handle.get(); }
  void addSequence(int64_t seq) { check(hgc_kv_add_sequence(get(), seq)); }
  void releaseSequence(int64_t seq) {
    check(hgc_kv_release_sequence(get(), seq));
  }
  void append(int64_t seq, int32_t layer, int64_t tokens, const void *keys,
              const void *values) {
    check(hgc_kv_append(get(), seq, layer, tokens, keys, values));
  }
  int64_t length(int64_t seq, int32_t layer) {
    int64_t tokens;
    check(hgc_kv_length(get(), seq, layer, &tokens));
    return tokens;
  }
  /// One decode step (see hgc_decode); returns its statistics.
  hgc_step_stats decode(const Kernel &kernel, int32_t layer,
                        const std::vector<int64_t> &seqs, const float *queries,
                        float *outputs) {
    hgc_step_stats stats;
    check(hgc_decode(kernel.get(), get(), layer, int32_t(seqs.size()),
                     seqs.data(), queries, outputs, &stats));
    return stats;
  }
  /// Fluxion's per-head budgets of `layer` for `kernel` (see
  /// hgc_calibrate).
  void calibrate(const Kernel &kernel, int32_t layer,
                 const std::vector<int64_t> &seqs, const float *queries) {
    check(hgc_calibrate(kernel.get(), get(), layer, int32_t(seqs.size()),
                        seqs.data(), queries));
  }
  /// The budgets `kernel` decodes `layer` with (see hgc_kv_get_calibration).
  std::vector<hgc_head_budget> calibration(const Kernel &kernel,
                                           int32_t layer) {
    int32_t count = 0;
    check(
        hgc_kv_get_calibration(kernel.get(), get(), layer, nullptr, 0, &count));
    std::vector<hgc_head_budget> budgets(count);
    check(hgc_kv_get_calibration(kernel.get(), get(), layer, budgets.data(),
                                 count, &count));
    return budgets;
  }
  /// The host tier's candidates of a later step of `layer`, chosen from
  /// predicted queries (see hgc_select_ahead).
  Selection selectAhead(const Kernel &kernel, int32_t layer,
                        const std::vector<int64_t> &seqs,
                        const float *predictedQueries) {
    hgc_selection *selection;
    check(hgc_select_ahead(kernel.get(), get(), layer, int32_t(seqs.size()),
                           seqs.data(), predictedQueries, &selection));
    return Selection(selection);
  }
  /// The pages of `layer` of `seq` recalled now (see hgc_kv_get_recalled).
  std::vector<int64_t> recalled(int64_t seq, int32_t layer) {
    int32_t count = 0;
    check(hgc_kv_get_recalled(get(), seq, layer, nullptr, 0, &count));
    std::vector<int64_t> pages(count);
    check(hgc_kv_get_recalled(get(), seq, layer, pages.data(), count, &count));
    pages.resize(std::min<size_t>(pages.size(), count));
    return pages;
  }
  /// The step over `selection`'s candidates (see hgc_decode_selected).
  hgc_step_stats decodeSelected(const Kernel &kernel,
                                const Selection &selection,
                                const float *queries, float *outputs) {
    hgc_step_stats stats;
    check(hgc_decode_selected(kernel.get(), get(), selection.get(), queries,
                              outputs, &stats));
    return stats;
  }

private:
  detail::Handle<hgc_kv_cache, hgc_kv_cache_release> handle;
};

class Context {
public:
  explicit Context(hgc_target target = HGC_TARGET_AUTO, int32_t threads = 0,
                   const char *cacheDir = nullptr) {
    hgc_context_options options;
    hgc_context_options_init(&options);
    options.target = target;
    options.threads = threads;
    options.cache_dir = cacheDir;
    hgc_context *context;
    check(hgc_context_create(&options, &context));
    handle.reset(context);
  }
  hgc_context *get() const { return handle.get(); }
  std::string target() const { return hgc_context_target(get()); }

  Kernel compile(const AttentionConfig &config) {
    hgc_attention_config c = config.get();
    hgc_kernel *kernel;
    check(hgc_compile(get(), &c, &kernel));
    return Kernel(kernel);
  }
  KVCache createCache(const AttentionConfig &config, int32_t layers,
                      int32_t pageTokens = 64, int64_t devicePages = 0,
                      int64_t hostPages = 0, int32_t recallPeriod = 0,
                      int32_t recallBlocks = 0, int32_t evictAfter = 0,
                      const char *storageDir = nullptr,
                      int32_t recalibratePeriod = 0) {
    hgc_attention_config c = config.get();
    hgc_kv_cache_options options;
    hgc_kv_cache_options_init(&options);
    options.layers = layers;
    options.page_tokens = pageTokens;
    options.device_pages = devicePages;
    options.host_pages = hostPages;
    options.recall_period = recallPeriod;
    options.recall_blocks = recallBlocks;
    options.evict_after = evictAfter;
    options.storage_dir = storageDir;
    options.recalibrate_period = recalibratePeriod;
    hgc_kv_cache *cache;
    check(hgc_kv_cache_create(get(), &c, &options, &cache));
    return KVCache(cache);
  }

private:
  detail::Handle<hgc_context, hgc_context_release> handle;
};

} // namespace hgc

#endif // HGC_JIT_HPP
