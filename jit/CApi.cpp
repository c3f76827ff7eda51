//===- CApi.cpp - hgc-c/jit.h over the JIT and the KV runtime -------------===//
//
// Every entry point checks its arguments, runs, records a failure's message
// for hgc_last_error() and returns its status. LLVM is built without
// exceptions and nothing here throws; allocation failure is the only way
// out, as for any C library.
//
//===----------------------------------------------------------------------===//

#include "hgc-c/jit.h"

#include "jit/Jit.h"

#include "hgc-rt/compiled.h"
#include "hgc-rt/gpu.h"
#include "hgc-rt/host_alloc.h"
#include "hgc-rt/kv_cache.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using namespace hgc::jit;

struct hgc_kernel {
  std::shared_ptr<ContextState> context;
  std::shared_ptr<Kernel> kernel;
};

struct hgc_kv_cache {
  std::shared_ptr<ContextState> context;
  AttentionConfig config;
  int32_t layers = 0;
  hgc_rt_kv_cache *runtime = nullptr;
  ~hgc_kv_cache() { hgc_rt_kv_destroy(runtime); }
};

namespace {
thread_local std::string lastError;
} // namespace

hgc_status hgc::jit::report(const Failure &failure) {
  lastError = failure.message;
  return failure.status;
}

namespace {

hgc_status fail(hgc_status status, std::string message) {
  return report({status, std::move(message)});
}

hgc_status nullArgument(const char *what) {
  return fail(HGC_INVALID_ARGUMENT, std::string(what) + " is null");
}

/// The runtime's statuses are the first eight of ours.
hgc_status fromRuntime(hgc_rt_status status) {
  lastError = status == HGC_RT_OK ? "" : hgc_rt_last_error();
  return hgc_status(status);
}

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// A memref descriptor of a dense row-major buffer (see the packed calling
/// convention: allocated, aligned, offset, sizes, strides).
template <int Rank> struct Descriptor {
  void *allocated, *aligned;
  int64_t offset, sizes[Rank], strides[Rank];
  Descriptor(const void *data, const int64_t (&shape)[Rank])
      : allocated(const_cast<void *>(data)), aligned(allocated), offset(0) {
    int64_t stride = 1;
    for (int d = Rank - 1; d >= 0; --d) {
      sizes[d] = shape[d];
      strides[d] = stride;
      stride *= shape[d];
    }
  }
};

/// Copies a decode result [batch][q_heads][head_dim] (fresh and dense
/// unless the lowering returned a view) into `outputs` when given, and
/// frees it.
void takeResult(const Descriptor<3> &result, float *outputs,
                const float *queries) {
  if (outputs) {
    const char *base = static_cast<const char *>(result.aligned) +
                       result.offset * sizeof(float);
    for (int64_t b = 0; b < result.sizes[0]; ++b)
      for (int64_t h = 0; h < result.sizes[1]; ++h)
        std::memcpy(outputs + (b * result.sizes[1] + h) * result.sizes[2],
                    base + (b * result.strides[0] + h * result.strides[1]) *
                               sizeof(float),
                    result.sizes[2] * sizeof(float));
  }
  if (result.allocated && result.allocated != queries)
    hgc_rt_host_free(result.allocated);
}

/// Host tokens one KV head of a sequence attends under `policy` when the
/// host tier holds `host` of them: hgc.select's budget (a count rounded up
/// to blocks, or ceil(fraction x candidates)), at most all of them.
int64_t selectedTokens(const mlir::hgc::PlacementOptions &policy,
                       int64_t host) {
  if (policy.policy == "full")
    return host;
  int64_t block = policy.policy == "quest" ? policy.block : 1;
  int64_t units = (host + block - 1) / block;
  int64_t tokens;
  double fraction;
  if (!mlir::hgc::parseBudget(policy.budget, tokens, fraction))
    return 0; // compiling the kernel rejected it already
  int64_t keep = tokens > 0 ? (tokens + block - 1) / block
                            : int64_t(std::ceil(double(units) * fraction));
  return std::min(std::min(keep, units) * block, host);
}

/// Adds a sequence of `total` tokens, `device` of them on the device tier,
/// to the tiers' token counts and the host tokens selected.
void addSequenceStats(hgc_step_stats &stats, const AttentionConfig &k,
                      int64_t total, int64_t device) {
  bool full = k.placement.policy == "full";
  int64_t host = full ? 0 : total - device;
  stats.tokens[0] += full ? total : device;
  stats.tokens[1] += host;
  int32_t defaultHeads = k.kvHeads;
  for (const HeadPolicy &head : k.overrides) {
    stats.selected_tokens +=
        head.kvHeads * selectedTokens(head.placement, host);
    defaultHeads -= head.kvHeads;
  }
  if (!full)
    stats.selected_tokens += defaultHeads * selectedTokens(k.placement, host);
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
}

hgc_status hgc_compile(hgc_context *context, const hgc_attention_config *config,
                       hgc_kernel **kernel) {
  if (!context || !config || !kernel)
    return nullArgument("context, config or kernel");
  AttentionConfig checked;
  if (Failure failure = AttentionConfig::fromC(*config, checked);
      failure.failed())
    return report(failure);
  std::shared_ptr<Kernel> compiled;
  if (Failure failure = context->state->kernels->get(checked, compiled);
      failure.failed())
    return report(failure);
  *kernel = new hgc_kernel{context->state, std::move(compiled)};
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
  options->page_tokens = 64;
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
  runtime.page_tokens = options->page_tokens ? options->page_tokens : 64;
  // Policy full keeps every token on the device tier.
  bool full = checked.placement.policy == "full";
  runtime.sink = full ? 0 : checked.placement.sink;
  runtime.window = full ? int64_t(1) << 40 : checked.placement.window;
  runtime.device_pages = options->device_pages;
  runtime.host_pages = options->host_pages;
  runtime.host_numa_nodes = options->host_numa_nodes;
  auto made = std::make_unique<hgc_kv_cache>();
  if (hgc_status status =
          fromRuntime(hgc_rt_kv_create(&runtime, &made->runtime)))
    return status;
  made->context = context->state;
  made->config = std::move(checked);
  made->layers = options->layers;
  *cache = made.release();
  return HGC_OK;
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

hgc_status hgc_kv_cache_get_stats(hgc_kv_cache *cache,
                                  hgc_kv_cache_stats *stats) {
  if (!cache || !stats)
    return nullArgument("cache or stats");
  hgc_rt_kv_stats runtime;
  if (hgc_status status =
          fromRuntime(hgc_rt_kv_get_stats(cache->runtime, &runtime)))
    return status;
  stats->pages[0] = runtime.pages[0];
  stats->pages[1] = runtime.pages[1];
  stats->tokens = runtime.tokens;
  stats->device_is_cuda = runtime.device_is_cuda;
  return HGC_OK;
}

hgc_status hgc_decode(hgc_kernel *kernel, hgc_kv_cache *cache, int32_t layer,
                      int32_t batch, const int64_t *seqs, const float *queries,
                      float *outputs, hgc_step_stats *stats) {
  auto start = std::chrono::steady_clock::now();
  if (!kernel || !cache || !seqs || !queries || !outputs)
    return nullArgument("kernel, cache, seqs, queries or outputs");
  if (batch <= 0)
    return fail(HGC_INVALID_ARGUMENT,
                "batch must be positive, got " + std::to_string(batch));
  const AttentionConfig &k = kernel->kernel->config, &c = cache->config;
  if (k.kvBlockSize > 0)
    return fail(HGC_INVALID_ARGUMENT,
                "the kernel was compiled for paged KV (kv_block_size " +
                    std::to_string(k.kvBlockSize) +
                    "): run it with hgc_decode_paged");
  bool full = k.placement.policy == "full",
       cacheFull = c.placement.policy == "full";
  if (k.kvHeads != c.kvHeads || k.headDim != c.headDim ||
      k.kvDtype != c.kvDtype ||
      (!full && (cacheFull || k.placement.sink != c.placement.sink ||
                 k.placement.window != c.placement.window)))
    return fail(HGC_SHAPE_MISMATCH, "kernel (" + k.describe() +
                                        ") does not fit the cache (" +
                                        c.describe() + ")");
  if (layer < 0 || layer >= cache->layers)
    return fail(HGC_OUT_OF_RANGE, "layer " + std::to_string(layer) +
                                      " is not in [0, " +
                                      std::to_string(cache->layers) + ")");
  std::vector<int64_t> lengths(batch);
  for (int32_t b = 0; b < batch; ++b) {
    int64_t &tokens = lengths[b];
    if (hgc_status status = fromRuntime(
            hgc_rt_kv_length(cache->runtime, seqs[b], layer, &tokens)))
      return status;
    if (tokens == 0)
      return fail(HGC_OUT_OF_RANGE, "sequence " + std::to_string(seqs[b]) +
                                        " has no tokens in "
                                        "layer " +
                                        std::to_string(layer) +
                                        "; append its KV first");
  }

  int64_t queryShape[3] = {batch, k.qHeads, k.headDim};
  int64_t sequenceShape[1] = {batch};
  Descriptor<3> query(queries, queryShape);
  Descriptor<1> sequences(seqs, sequenceShape);
  int64_t handle = reinterpret_cast<int64_t>(cache->runtime);
  int32_t layerValue = layer;
  Descriptor<3> result(nullptr, queryShape);
  // Packed: one pointer per argument word (descriptors flattened), then the
  // result descriptor.
  void *packed[] = {&query.allocated,
                    &query.aligned,
                    &query.offset,
                    &query.sizes[0],
                    &query.sizes[1],
                    &query.sizes[2],
                    &query.strides[0],
                    &query.strides[1],
                    &query.strides[2],
                    &sequences.allocated,
                    &sequences.aligned,
                    &sequences.offset,
                    &sequences.sizes[0],
                    &sequences.strides[0],
                    &handle,
                    &layerValue,
                    &result};
  if (kernel->context->threads > 0)
    omp_set_num_threads(kernel->context->threads);
  hgc_rt_compiled_reset();
  hgc_rt_gpu_reset_kernel_time();
  auto computeStart = std::chrono::steady_clock::now();
  Failure failure = invokeDecode(*kernel->kernel->code, packed);
  double computeSeconds = since(computeStart);
  if (const char *viewError = hgc_rt_compiled_take_error())
    failure = {HGC_INTERNAL, viewError};
  takeResult(result, failure.failed() ? nullptr : outputs, queries);
  if (failure.failed())
    return report(failure);

  if (stats) {
    hgc_rt_compiled_stats views;
    hgc_rt_compiled_get_stats(&views);
    double kernelSeconds = 0;
    long long launches = 0;
    hgc_rt_gpu_kernel_time(&kernelSeconds, &launches);
    std::memset(stats, 0, sizeof(*stats));
    for (int32_t b = 0; b < batch; ++b) {
      int64_t device = 0;
      if (!full)
        hgc_rt_kv_view_tokens(cache->runtime, &seqs[b], 1, layer,
                              HGC_RT_TIER_DEVICE, &device);
      addSequenceStats(*stats, k, lengths[b], device);
    }
    for (int t = 0; t < 2; ++t)
      stats->gather_seconds[t] = views.seconds[t];
    stats->compute_seconds =
        computeSeconds - views.seconds[0] - views.seconds[1];
    stats->device_kernel_seconds = kernelSeconds;
    stats->bytes_moved =
        views.bytes[0] + views.bytes[1] +
        2 * batch * k.qHeads * k.headDim * int64_t(sizeof(float));
    stats->seconds = since(start);
  }
  return HGC_OK;
}

hgc_status hgc_decode_paged(hgc_kernel *kernel, const hgc_paged_kv *kv,
                            int32_t batch, const float *queries, float *outputs,
                            hgc_step_stats *stats) {
  auto start = std::chrono::steady_clock::now();
  if (!kernel || !kv || !queries || !outputs)
    return nullArgument("kernel, kv, queries or outputs");
  const AttentionConfig &k = kernel->kernel->config;
  if (k.kvBlockSize <= 0)
    return fail(HGC_INVALID_ARGUMENT,
                "the kernel was compiled for an hgc_kv_cache (kv_block_size "
                "0): compile one with kv_block_size set for paged KV");
  if (batch <= 0)
    return fail(HGC_INVALID_ARGUMENT,
                "batch must be positive, got " + std::to_string(batch));
  if (!kv->k_cache || !kv->v_cache || !kv->block_tables || !kv->seq_lens)
    return nullArgument("k_cache, v_cache, block_tables or seq_lens");
  if (k.kvSummaries && (!kv->key_min || !kv->key_max))
    return nullArgument("key_min or key_max (the kernel reads summaries)");
  if (kv->num_blocks <= 0 || kv->max_blocks <= 0)
    return fail(HGC_INVALID_ARGUMENT,
                "num_blocks and max_blocks must be positive, got " +
                    std::to_string(kv->num_blocks) + " and " +
                    std::to_string(kv->max_blocks));
  // Every block a sequence's tokens are in must be a block of the caches:
  // the kernels read them unchecked.
  for (int32_t b = 0; b < batch; ++b) {
    int64_t n = kv->seq_lens[b];
    if (n < 1 || n > int64_t(kv->max_blocks) * k.kvBlockSize)
      return fail(HGC_OUT_OF_RANGE,
                  "sequence " + std::to_string(b) + " has seq_len " +
                      std::to_string(n) + ", not within [1, max_blocks x " +
                      "block_size = " +
                      std::to_string(int64_t(kv->max_blocks) * k.kvBlockSize) +
                      "]");
    if (k.kvSummaries &&
        (n + k.placement.block - 1) / k.placement.block > kv->max_summaries)
      return fail(HGC_OUT_OF_RANGE, "sequence " + std::to_string(b) +
                                        " has seq_len " + std::to_string(n) +
                                        ", more blocks of " +
                                        std::to_string(k.placement.block) +
                                        " tokens than max_summaries " +
                                        std::to_string(kv->max_summaries));
    const int32_t *row = kv->block_tables + int64_t(b) * kv->max_blocks;
    for (int64_t j = 0; j < (n + k.kvBlockSize - 1) / k.kvBlockSize; ++j)
      if (row[j] < 0 || row[j] >= kv->num_blocks)
        return fail(HGC_OUT_OF_RANGE,
                    "sequence " + std::to_string(b) + ": block_tables[" +
                        std::to_string(b) + "][" + std::to_string(j) + "] = " +
                        std::to_string(row[j]) + " is not a block id in [0, " +
                        std::to_string(kv->num_blocks) + ")");
  }

  int64_t queryShape[3] = {batch, k.qHeads, k.headDim};
  int64_t blockShape[4] = {kv->num_blocks, k.kvBlockSize, k.kvHeads, k.headDim};
  if (k.kvLayout == HGC_KV_HND)
    std::swap(blockShape[1], blockShape[2]);
  int64_t tableShape[2] = {batch, kv->max_blocks};
  int64_t lengthShape[1] = {batch};
  Descriptor<3> query(queries, queryShape);
  Descriptor<4> keys(kv->k_cache, blockShape), values(kv->v_cache, blockShape);
  Descriptor<2> tables(kv->block_tables, tableShape);
  Descriptor<1> lengths(kv->seq_lens, lengthShape);
  int64_t summaryShape[4] = {batch, k.kvHeads, kv->max_summaries, k.headDim};
  Descriptor<4> keyMin(kv->key_min, summaryShape),
      keyMax(kv->key_max, summaryShape);
  Descriptor<3> result(nullptr, queryShape);
  std::vector<void *> packed;
  auto pack = [&](auto &descriptor) {
    packed.push_back(&descriptor.allocated);
    packed.push_back(&descriptor.aligned);
    packed.push_back(&descriptor.offset);
    for (int64_t &size : descriptor.sizes)
      packed.push_back(&size);
    for (int64_t &stride : descriptor.strides)
      packed.push_back(&stride);
  };
  pack(query);
  pack(keys);
  pack(values);
  pack(tables);
  pack(lengths);
  if (k.kvSummaries) {
    pack(keyMin);
    pack(keyMax);
  }
  packed.push_back(&result);
  if (kernel->context->threads > 0)
    omp_set_num_threads(kernel->context->threads);
  hgc_rt_compiled_reset();
  hgc_rt_gpu_reset_kernel_time();
  auto computeStart = std::chrono::steady_clock::now();
  Failure failure = invokeDecode(*kernel->kernel->code, packed.data());
  double computeSeconds = since(computeStart);
  takeResult(result, failure.failed() ? nullptr : outputs, queries);
  if (failure.failed())
    return report(failure);

  if (stats) {
    std::memset(stats, 0, sizeof(*stats));
    int64_t hot = k.placement.sink + k.placement.window;
    int64_t gathered = 0; // the device tier's tokens, copied for its kernel
    for (int32_t b = 0; b < batch; ++b) {
      int64_t n = kv->seq_lens[b], device = std::min(n, hot);
      addSequenceStats(*stats, k, n, device);
      gathered += k.placement.policy == "full" ? 0 : device;
    }
    double kernelSeconds = 0;
    long long launches = 0;
    hgc_rt_gpu_kernel_time(&kernelSeconds, &launches);
    stats->compute_seconds = computeSeconds;
    stats->device_kernel_seconds = kernelSeconds;
    int64_t elementBytes = k.kvDtype == HGC_F32 ? 4 : 2;
    stats->bytes_moved =
        2 * gathered * k.kvHeads * k.headDim * elementBytes +
        2 * batch * k.qHeads * k.headDim * int64_t(sizeof(float));
    stats->seconds = since(start);
  }
  return HGC_OK;
}

} // extern "C"
