//===- CApi.cpp - hgc-c/jit.h over the JIT and the KV runtime -------------===//
//
// Every entry point checks its arguments, runs, records a failure's message
// for hgc_last_error() and returns its status. LLVM is built without
// exceptions and nothing here throws; allocation failure is the only way
// out, as for any C library.
//
//===----------------------------------------------------------------------===//

#include "hgc-c/jit.h"

#include "jit/Calibration.h"
#include "jit/DecodeSession.h"
#include "jit/Jit.h"
#include "jit/Residency.h"
#include "passes/cost/SplitScheduler.h"
#include "passes/policies/PlacementPolicy.h"

#include "hgc-rt/gpu.h"
#include "hgc-rt/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

using namespace hgc::jit;

namespace {
thread_local std::string lastError;
} // namespace

hgc_status hgc::jit::report(const Failure &failure) {
  lastError = failure.message;
  return failure.status;
}

namespace hgc::jit {

hgc_status fail(hgc_status status, std::string message) {
  return report({status, std::move(message)});
}

hgc_status nullArgument(const char *what) {
  return fail(HGC_INVALID_ARGUMENT, std::string(what) + " is null");
}

Failure fromRuntimeStatus(hgc_rt_status status) {
  if (status == HGC_RT_OK)
    return Failure::ok();
  return {hgc_status(status), hgc_rt_last_error()};
}

hgc_status fromRuntime(hgc_rt_status status) {
  return report(fromRuntimeStatus(status));
}

} // namespace hgc::jit

namespace {
/// Periodic recall needs both options, a hybrid placement and, with a
/// bounded device tier, room for the pages it recalls; eviction a storage
/// tier to evict to.
Failure checkResidencyOptions(const hgc_kv_cache_options &options,
                              const AttentionConfig &config) {
  auto invalid = [](std::string message) {
    return Failure{HGC_INVALID_ARGUMENT, std::move(message)};
  };
  if (options.evict_after < 0)
    return invalid("evict_after must be >= 0, got " +
                   std::to_string(options.evict_after));
  if (options.evict_after > 0 &&
      (!options.storage_dir || !*options.storage_dir))
    return invalid("evict_after needs a storage tier to evict to "
                   "(storage_dir)");
  if (options.evict_after > 0 &&
      !mlir::hgc::getPlacementPolicy(config.placement).splits())
    return invalid("eviction needs a hybrid placement; policy '" +
                   config.placement.policy +
                   "' keeps every token on the "
                   "device tier");
  if (options.recalibrate_period < 0)
    return invalid("recalibrate_period must be >= 0, got " +
                   std::to_string(options.recalibrate_period));
  if (options.recall_period < 0 || options.recall_blocks < 0)
    return invalid("recall_period and recall_blocks must be >= 0, got " +
                   std::to_string(options.recall_period) + " and " +
                   std::to_string(options.recall_blocks));
  if ((options.recall_period > 0) != (options.recall_blocks > 0))
    return invalid("periodic recall needs both recall_period and "
                   "recall_blocks, got " +
                   std::to_string(options.recall_period) + " and " +
                   std::to_string(options.recall_blocks));
  if (options.recall_blocks == 0)
    return Failure::ok();
  if (!mlir::hgc::getPlacementPolicy(config.placement).splits())
    return invalid("periodic recall needs a hybrid placement; policy '" +
                   config.placement.policy +
                   "' keeps every token on the "
                   "device tier");
  if (options.device_pages > 0 && options.recall_blocks > options.device_pages)
    return invalid("recall_blocks " + std::to_string(options.recall_blocks) +
                   " exceeds the device tier's device_pages " +
                   std::to_string(options.device_pages));
  return Failure::ok();
}
} // namespace

extern "C" {

const char *hgc_status_name(hgc_status status) {
  switch (status) {
  case HGC_OK:
    return "HGC_OK";
  case HGC_INVALID_ARGUMENT:
    return "HGC_INVALID_ARGUMENT";
  case HGC_SHAPE_MISMATCH:
    return "HGC_SHAPE_MISMATCH";
  case HGC_UNKNOWN_SEQUENCE:
    return "HGC_UNKNOWN_SEQUENCE";
  case HGC_OUT_OF_RANGE:
    return "HGC_OUT_OF_RANGE";
  case HGC_CAPACITY:
    return "HGC_CAPACITY";
  case HGC_IO:
    return "HGC_IO";
  case HGC_DEVICE:
    return "HGC_DEVICE";
  case HGC_COMPILE:
    return "HGC_COMPILE";
  case HGC_INTERNAL:
    return "HGC_INTERNAL";
  }
  return "HGC_UNKNOWN_STATUS";
}

const char *hgc_last_error(void) { return lastError.c_str(); }

void hgc_context_options_init(hgc_context_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->target = HGC_TARGET_AUTO;
}

hgc_status hgc_context_create(const hgc_context_options *options,
                              hgc_context **context) {
  if (!options || !context)
    return nullArgument("options or context");
  auto state = std::make_shared<ContextState>();
  switch (options->target) {
  case HGC_TARGET_HOST:
    state->target = "host";
    break;
  case HGC_TARGET_CUDA:
    state->target = "cuda";
    break;
  case HGC_TARGET_AUTO:
    state->target =
        std::strcmp(hgc_rt_gpu_backend(), "cuda") == 0 ? "cuda" : "host";
    break;
  }
  if (state->target.empty())
    return fail(HGC_INVALID_ARGUMENT,
                "target " + std::to_string(int(options->target)) +
                    " is not HGC_TARGET_AUTO, HGC_TARGET_HOST or "
                    "HGC_TARGET_CUDA");
  if (options->threads < 0)
    return fail(HGC_INVALID_ARGUMENT, "threads must be >= 0");
  state->threads = options->threads;
  mlir::hgc::TargetOptions target;
  target.countSelected = true; // hgc_step_stats.selected_tokens
  if (state->target == "cuda") {
    target.target = "nvptx";
    if (options->chip)
      target.chip = options->chip;
  }
  std::string targetError = mlir::hgc::checkTargetOptions(target);
  if (!targetError.empty())
    return fail(HGC_INVALID_ARGUMENT, targetError);
  const char *directory = options->cache_dir;
  if (!directory)
    directory = std::getenv("HGC_CACHE_DIR");
  state->cacheDirectory = directory ? directory : "";
  state->kernels = std::make_unique<KernelCache>(target, state->cacheDirectory);
  *context = new hgc_context{std::move(state)};
  return report(Failure::ok());
}

void hgc_context_release(hgc_context *context) { delete context; }

const char *hgc_context_target(const hgc_context *context) {
  return context ? context->state->target.c_str() : "";
}

void hgc_attention_config_init(hgc_attention_config *config) {
  if (!config)
    return;
  std::memset(config, 0, sizeof(*config));
  // The one set of placement defaults (passes/PlacementOptions.h).
  static const mlir::hgc::PlacementOptions defaults;
  config->kv_dtype = HGC_F16;
  config->causal = 1;
  config->placement.policy = defaults.policy.c_str();
  config->placement.sink = defaults.sink;
  config->placement.window = defaults.window;
  config->placement.budget = defaults.budget.c_str();
  config->placement.block = defaults.block;
  config->placement.tau = defaults.tau;
  config->placement.codebook = defaults.codebook.c_str();
  config->placement.channels = defaults.channels;
  config->placement.host_capacity = defaults.hostCapacity;
  config->placement.far_capacity = defaults.farCapacity;
  config->placement.tail = defaults.tail.c_str();
}

hgc_status hgc_compile(hgc_context *context, const hgc_attention_config *config,
                       hgc_kernel **kernel) {
  if (!context || !config || !kernel)
    return nullArgument("context, config or kernel");
  AttentionConfig checked;
  if (Failure failure = AttentionConfig::fromC(*config, checked);
      failure.failed())
    return report(failure);
  bool runtimeOwned = checked.kvBlockSize == 0;
  std::shared_ptr<Kernel> compiled;
  if (Failure failure = context->state->kernels->get(
          runtimeOwned ? inPlaceConfig(checked, kDefaultPageTokens) : checked,
          compiled);
      failure.failed())
    return report(failure);
  auto made = std::make_unique<hgc_kernel>();
  made->context = context->state;
  made->kernel = compiled;
  made->config = std::move(checked);
  if (runtimeOwned)
    made->inPlace[{kDefaultPageTokens,
                   mlir::hgc::DecodeModuleSpec::Ahead::None}] =
        std::move(compiled);
  *kernel = made.release();
  return report(Failure::ok());
}

hgc_status hgc_kernel_get_info(const hgc_kernel *kernel,
                               hgc_kernel_info *info) {
  if (!kernel || !info)
    return nullArgument("kernel or info");
  info->origin = kernel->kernel->origin;
  info->seconds = kernel->kernel->seconds;
  info->key = kernel->kernel->key.c_str();
  info->target = kernel->kernel->target.c_str();
  return report(Failure::ok());
}

void hgc_kernel_release(hgc_kernel *kernel) { delete kernel; }

void hgc_kv_cache_options_init(hgc_kv_cache_options *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->layers = 1;
  options->page_tokens = kDefaultPageTokens;
}

hgc_status hgc_kv_cache_create(hgc_context *context,
                               const hgc_attention_config *config,
                               const hgc_kv_cache_options *options,
                               hgc_kv_cache **cache) {
  if (!context || !config || !options || !cache)
    return nullArgument("context, config, options or cache");
  AttentionConfig checked;
  if (Failure failure = AttentionConfig::fromC(*config, checked);
      failure.failed())
    return report(failure);
  hgc_rt_kv_config runtime{};
  runtime.layers = options->layers;
  runtime.kv_heads = checked.kvHeads;
  runtime.head_dim = checked.headDim;
  runtime.dtype = hgc_rt_dtype(checked.kvDtype);
  runtime.page_tokens =
      options->page_tokens ? options->page_tokens : kDefaultPageTokens;
  // A policy that does not split keeps every token on the device tier.
  bool full = !mlir::hgc::getPlacementPolicy(checked.placement).splits();
  runtime.sink = full ? 0 : checked.placement.sink;
  runtime.window = full ? int64_t(1) << 40 : checked.placement.window;
  runtime.device_pages = options->device_pages;
  runtime.host_pages = options->host_pages;
  runtime.host_numa_nodes = options->host_numa_nodes;
  runtime.storage_dir = options->storage_dir;
  runtime.far_pages = options->far_pages;
  runtime.far_numa_nodes = options->far_numa_nodes;
  runtime.far_bandwidth_gbs = options->far_bandwidth_gbs;
  runtime.device_mirror = options->device_mirror;
  // Kernels of a policy that scores key codes read the runtime's.
  runtime.quantize_keys = mlir::hgc::getPlacementPolicy(checked.placement)
                              .readsKeyCodes(checked.placement);
  runtime.channel_keys =
      mlir::hgc::getPlacementPolicy(checked.placement).readsChannelKeys();
  // ... and product-quantized keys, codebooks fitted to each prefill.
  auto [subspaces, centroids] = mlir::hgc::getPlacementPolicy(checked.placement)
                                    .getProductQuantizer(checked.placement);
  runtime.pq_subspaces = int32_t(subspaces);
  runtime.pq_centroids = int32_t(centroids);
  if (Failure failure = checkResidencyOptions(*options, checked);
      failure.failed())
    return report(failure);
  auto made = std::make_unique<hgc_kv_cache>();
  if (hgc_status status =
          fromRuntime(hgc_rt_kv_create(&runtime, &made->runtime)))
    return status;
  made->context = context->state;
  made->config = std::move(checked);
  made->layers = options->layers;
  made->pageTokens = runtime.page_tokens;
  if (options->recall_blocks > 0 || options->evict_after > 0)
    made->residency = std::make_shared<PageResidency>(
        ResidencyOptions{options->recall_period, options->recall_blocks,
                         options->evict_after},
        runtime.page_tokens);
  made->calibration =
      std::make_shared<HeadCalibration>(options->recalibrate_period);
  *cache = made.release();
  return HGC_OK;
}

hgc_status hgc_kv_get_recalled(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                               int64_t *pages, int32_t capacity,
                               int32_t *count) {
  if (!cache || !count || (capacity > 0 && !pages))
    return nullArgument("cache, pages or count");
  std::vector<int64_t> recalled;
  if (cache->residency)
    recalled = cache->residency->getRecalled(seq, layer);
  *count = int32_t(recalled.size());
  std::copy_n(recalled.begin(),
              std::min<size_t>(recalled.size(), std::max(capacity, 0)), pages);
  return report(Failure::ok());
}

hgc_status hgc_calibrate(hgc_kernel *kernel, hgc_kv_cache *cache, int32_t layer,
                         int32_t batch, const int64_t *seqs,
                         const float *queries) {
  if (!kernel || !cache || !seqs || !queries)
    return nullArgument("kernel, cache, seqs or queries");
  DecodeSession session(*kernel, batch, queries, nullptr, nullptr);
  return report(session.calibrate(*cache, layer, seqs));
}

hgc_status hgc_kv_get_calibration(hgc_kernel *kernel, hgc_kv_cache *cache,
                                  int32_t layer, hgc_head_budget *budgets,
                                  int32_t capacity, int32_t *count) {
  if (!kernel || !cache || !count || (capacity > 0 && !budgets))
    return nullArgument("kernel, cache, budgets or count");
  std::vector<mlir::hgc::HeadBudget> chosen =
      cache->calibration->getBudgets(kernel->config, layer);
  *count = int32_t(chosen.size());
  for (size_t h = 0; h < chosen.size() && int32_t(h) < capacity; ++h)
    budgets[h] = {chosen[h].tokens, chosen[h].fraction, chosen[h].block,
                  chosen[h].massKept, chosen[h].entropy};
  return report(Failure::ok());
}

hgc_status hgc_kernel_step_bytes(hgc_kernel *kernel, hgc_kv_cache *cache,
                                 int32_t layer, int64_t length,
                                 double bytes[3]) {
  if (!kernel || !bytes)
    return nullArgument("kernel or bytes");
  if (length < 0)
    return fail(HGC_INVALID_ARGUMENT,
                "length must be >= 0, got " + std::to_string(length));
  AttentionConfig config =
      cache ? cache->calibration->getConfig(kernel->config, layer)
            : kernel->config;
  return report(getStepReadBytes(
      config, length, cache ? cache->pageTokens : kDefaultPageTokens, bytes));
}

void hgc_kv_cache_release(hgc_kv_cache *cache) { delete cache; }

hgc_status hgc_kv_add_sequence(hgc_kv_cache *cache, int64_t seq) {
  if (!cache)
    return nullArgument("cache");
  return fromRuntime(hgc_rt_kv_add_sequence(cache->runtime, seq));
}

hgc_status hgc_kv_release_sequence(hgc_kv_cache *cache, int64_t seq) {
  if (!cache)
    return nullArgument("cache");
  if (cache->residency)
    cache->residency->forget(seq);
  return fromRuntime(hgc_rt_kv_release_sequence(cache->runtime, seq));
}

hgc_status hgc_kv_append(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                         int64_t tokens, const void *keys, const void *values) {
  if (!cache)
    return nullArgument("cache");
  hgc_rt_kv_block block{hgc_rt_dtype(cache->config.kvDtype),
                        cache->config.kvHeads,
                        cache->config.headDim,
                        tokens,
                        keys,
                        values};
  return fromRuntime(hgc_rt_kv_append(cache->runtime, seq, layer, &block));
}

hgc_status hgc_kv_length(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                         int64_t *tokens) {
  if (!cache)
    return nullArgument("cache");
  return fromRuntime(hgc_rt_kv_length(cache->runtime, seq, layer, tokens));
}

hgc_status hgc_kv_read(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                       int64_t first, int64_t count, void *keys, void *values) {
  if (!cache)
    return nullArgument("cache");
  return fromRuntime(
      hgc_rt_kv_read(cache->runtime, seq, layer, first, count, keys, values));
}

hgc_status hgc_kv_add_page_mass(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                                const float *masses, int64_t pages,
                                float decay) {
  if (!cache)
    return nullArgument("cache");
  return fromRuntime(hgc_rt_kv_add_page_mass(cache->runtime, seq, layer, masses,
                                             pages, decay));
}

hgc_status hgc_kv_remap(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                        float margin) {
  if (!cache)
    return nullArgument("cache");
  uint64_t ticket = 0;
  if (hgc_status status = fromRuntime(
          hgc_rt_kv_remap(cache->runtime, seq, layer, margin, &ticket)))
    return status;
  return fromRuntime(hgc_rt_kv_wait(cache->runtime, ticket));
}

hgc_status hgc_kv_page_tier(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                            int64_t page, int32_t *tier) {
  if (!cache || !tier)
    return nullArgument("cache or tier");
  hgc_rt_tier where = HGC_RT_TIER_DEVICE;
  if (hgc_status status = fromRuntime(
          hgc_rt_kv_page_tier(cache->runtime, seq, layer, page, &where)))
    return status;
  *tier = int32_t(where);
  return HGC_OK;
}

hgc_status hgc_kv_cache_get_stats(hgc_kv_cache *cache,
                                  hgc_kv_cache_stats *stats) {
  if (!cache || !stats)
    return nullArgument("cache or stats");
  hgc_rt_kv_stats runtime;
  if (hgc_status status =
          fromRuntime(hgc_rt_kv_get_stats(cache->runtime, &runtime)))
    return status;
  std::copy_n(runtime.pages, HGC_RT_TIERS, stats->pages);
  stats->tokens = runtime.tokens;
  stats->device_is_cuda = runtime.device_is_cuda;
  stats->mirrored_pages = runtime.mirrored_pages;
  stats->failed_over_pages = runtime.failed_over_pages;
  return HGC_OK;
}

hgc_status hgc_decode(hgc_kernel *kernel, hgc_kv_cache *cache, int32_t layer,
                      int32_t batch, const int64_t *seqs, const float *queries,
                      float *outputs, hgc_step_stats *stats) {
  if (!kernel || !cache || !seqs || !queries || !outputs)
    return nullArgument("kernel, cache, seqs, queries or outputs");
  DecodeSession session(*kernel, batch, queries, outputs, stats);
  return report(session.runOnCache(*cache, layer, seqs));
}

hgc_status hgc_select_ahead(hgc_kernel *kernel, hgc_kv_cache *cache,
                            int32_t layer, int32_t batch, const int64_t *seqs,
                            const float *predicted_queries,
                            hgc_selection **selection) {
  if (!kernel || !cache || !seqs || !predicted_queries || !selection)
    return nullArgument("kernel, cache, seqs, predicted_queries or selection");
  *selection = nullptr;
  auto chosen = std::make_unique<hgc_selection>();
  DecodeSession session(*kernel, batch, predicted_queries, nullptr, nullptr);
  if (hgc_status status =
          report(session.selectAhead(*cache, layer, seqs, *chosen)))
    return status;
  *selection = chosen.release();
  return HGC_OK;
}

hgc_status hgc_decode_selected(hgc_kernel *kernel, hgc_kv_cache *cache,
                               const hgc_selection *selection,
                               const float *queries, float *outputs,
                               hgc_step_stats *stats) {
  if (!kernel || !cache || !selection || !queries || !outputs)
    return nullArgument("kernel, cache, selection, queries or outputs");
  DecodeSession session(*kernel, selection->batch, queries, outputs, stats);
  return report(session.runOnSelection(*cache, *selection));
}

hgc_status hgc_selection_get_info(const hgc_selection *selection,
                                  hgc_selection_info *info) {
  if (!selection || !info)
    return nullArgument("selection or info");
  info->batch = selection->batch;
  info->kv_heads = selection->kvHeads;
  info->count = selection->count;
  info->block = selection->blockSize;
  info->candidates = selection->candidates.data();
  return report(Failure::ok());
}

void hgc_selection_release(hgc_selection *selection) { delete selection; }

hgc_status hgc_decode_paged(hgc_kernel *kernel, const hgc_paged_kv *kv,
                            int32_t batch, const float *queries, float *outputs,
                            hgc_step_stats *stats) {
  if (!kernel || !kv || !queries || !outputs)
    return nullArgument("kernel, kv, queries or outputs");
  DecodeSession session(*kernel, batch, queries, outputs, stats);
  return report(session.runOnPagedKV(*kv));
}

} // extern "C"

//===-- Split scheduler ---------------------------------------------------===//

using mlir::hgc::SchedulerOptions;
using mlir::hgc::Split;
using mlir::hgc::SplitScheduler;

struct hgc_scheduler {
  explicit hgc_scheduler(const SchedulerOptions &options)
      : scheduler(options) {}
  mutable std::mutex mutex; // observations from several threads serialize
  SplitScheduler scheduler;
};

namespace {
void toC(const Split &split, hgc_split &out) {
  out.window = split.window;
  out.threads = split.threads;
  out.moved = split.moved ? 1 : 0;
  out.imbalance = split.imbalance;
  out.steps = split.steps;
}
} // namespace

hgc_status hgc_scheduler_create(const hgc_scheduler_options *options,
                                hgc_scheduler **scheduler) {
  if (!options || !scheduler)
    return nullArgument("options or scheduler");
  SchedulerOptions o;
  o.context = options->context;
  o.window = options->window;
  o.minWindow = options->min_window;
  o.maxWindow = options->max_window;
  if (options->quantum)
    o.quantum = options->quantum;
  if (options->threads)
    o.threads = options->threads;
  o.minThreads = options->min_threads ? options->min_threads : o.threads;
  o.maxThreads = options->max_threads ? options->max_threads : o.threads;
  if (options->smoothing != 0)
    o.smoothing = options->smoothing;
  if (options->gain != 0)
    o.gain = options->gain;
  if (options->tolerance != 0)
    o.tolerance = options->tolerance;
  std::string problem = SplitScheduler::checkOptions(o);
  if (!problem.empty())
    return fail(HGC_INVALID_ARGUMENT, "scheduler: " + problem);
  *scheduler = new hgc_scheduler(o);
  return HGC_OK;
}

void hgc_scheduler_release(hgc_scheduler *scheduler) { delete scheduler; }

hgc_status hgc_scheduler_observe(hgc_scheduler *scheduler,
                                 const hgc_tier_times *times, hgc_split *next) {
  if (!scheduler || !times)
    return nullArgument("scheduler or times");
  for (double seconds :
       {times->device_seconds, times->host_seconds, times->transfer_seconds})
    if (!std::isfinite(seconds) || seconds < 0)
      return fail(HGC_INVALID_ARGUMENT,
                  "scheduler: tier times must be finite and >= 0, got " +
                      std::to_string(seconds));
  std::lock_guard<std::mutex> lock(scheduler->mutex);
  const Split &split = scheduler->scheduler.observe(
      {times->device_seconds, times->host_seconds, times->transfer_seconds});
  if (next)
    toC(split, *next);
  return HGC_OK;
}

hgc_status hgc_scheduler_get_split(const hgc_scheduler *scheduler,
                                   hgc_split *split) {
  if (!scheduler || !split)
    return nullArgument("scheduler or split");
  std::lock_guard<std::mutex> lock(scheduler->mutex);
  toC(scheduler->scheduler.getSplit(), *split);
  return HGC_OK;
}
