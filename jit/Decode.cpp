//===- Decode.cpp - decode steps over runtime-owned and engine-owned KV ---===//
//
// hgc_decode over an hgc_kv_cache reads the runtime's pages in place: the
// runtime hands out the slot space its host-addressable pages share and a
// page table per sequence, and the kernel compiled for paged KV (block =
// the cache's page, heads-major, keys and values of a page in one slot)
// reads them through it, with the page summaries the runtime keeps when
// quest's block is the page. When a page is where only copies reach it (the
// storage tier, CUDA memory) the step copies the batch's pages into one
// buffer and the same kernel reads that. hgc_decode_paged runs the same
// paged kernels over KV the engine owns.
//
//===----------------------------------------------------------------------===//

#include "hgc-c/jit.h"

#include "jit/Jit.h"
#include "passes/policies/PlacementPolicy.h"

#include "hgc-rt/compiled.h"
#include "hgc-rt/gpu.h"
#include "hgc-rt/host_alloc.h"
#include "hgc-rt/kv_cache.h"

#include <omp.h>

#include <chrono>
#include <cstring>
#include <vector>

using namespace hgc::jit;
namespace mhgc = mlir::hgc;

namespace {
int64_t elementBytes(const AttentionConfig &k) {
  return k.kvDtype == HGC_F32 ? 4 : 2;
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

/// Adds a sequence of `total` tokens, `device` of them on the device tier,
/// to the tiers' token counts; head groups whose policy does not split
/// attend their host tokens whole (the selections count the rest).
void addSequenceStats(hgc_step_stats &stats, const AttentionConfig &k,
                      int64_t total, int64_t device) {
  bool full = !mhgc::getPlacementPolicy(k.placement).splits();
  int64_t host = full ? 0 : total - device;
  stats.tokens[0] += full ? total : device;
  stats.tokens[1] += host;
  for (const HeadPolicy &head : k.overrides)
    if (!mhgc::getPlacementPolicy(head.placement).splits())
      stats.selected_tokens += head.kvHeads * host;
}

/// What a paged kernel reads: KV blocks in the kernel's layout, block
/// tables [batch][max_blocks], lengths [batch] and, when the kernel takes
/// them, summaries [batch][kv_heads][max_summaries][head_dim].
struct PagedOperands {
  const void *keys = nullptr, *values = nullptr;
  int64_t keyBlocks = 0, valueBlocks = 0;
  const int32_t *tables = nullptr;
  int32_t maxBlocks = 0;
  const int32_t *lengths = nullptr;
  const void *keyMin = nullptr, *keyMax = nullptr;
  int32_t maxSummaries = 0;
  // Pages copied for the step (those only copies reach), and how long.
  int64_t copiedBytes = 0;
  double copySeconds = 0;
};

/// Runs the paged kernel `kernel` over checked operands.
hgc_status runPaged(const Kernel &kernel, const ContextState &context,
                    const PagedOperands &kv, int32_t batch,
                    const float *queries, float *outputs, hgc_step_stats *stats,
                    std::chrono::steady_clock::time_point start) {
  const AttentionConfig &k = kernel.config;
  int64_t queryShape[3] = {batch, k.qHeads, k.headDim};
  int64_t keyShape[4] = {kv.keyBlocks, k.kvBlockSize, k.kvHeads, k.headDim};
  if (k.kvLayout == HGC_KV_HND)
    std::swap(keyShape[1], keyShape[2]);
  int64_t valueShape[4] = {kv.valueBlocks, keyShape[1], keyShape[2], k.headDim};
  int64_t tableShape[2] = {batch, kv.maxBlocks};
  int64_t lengthShape[1] = {batch};
  Descriptor<3> query(queries, queryShape);
  Descriptor<4> keys(kv.keys, keyShape), values(kv.values, valueShape);
  Descriptor<2> tables(kv.tables, tableShape);
  Descriptor<1> lengths(kv.lengths, lengthShape);
  int64_t summaryShape[4] = {batch, k.kvHeads, kv.maxSummaries, k.headDim};
  Descriptor<4> keyMin(kv.keyMin, summaryShape),
      keyMax(kv.keyMax, summaryShape);
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
  if (context.threads > 0)
    omp_set_num_threads(context.threads);
  hgc_rt_compiled_reset();
  hgc_rt_gpu_reset_kernel_time();
  auto computeStart = std::chrono::steady_clock::now();
  Failure failure = invokeDecode(*kernel.code, packed.data());
  double computeSeconds = since(computeStart);
  takeResult(result, failure.failed() ? nullptr : outputs, queries);
  if (failure.failed())
    return report(failure);

  if (stats) {
    std::memset(stats, 0, sizeof(*stats));
    hgc_rt_compiled_stats counted;
    hgc_rt_compiled_get_stats(&counted);
    stats->selected_tokens = counted.selected_tokens;
    int64_t hot = k.placement.sink + k.placement.window;
    int64_t gathered = 0; // the device tier's tokens, copied for its kernel
    for (int32_t b = 0; b < batch; ++b) {
      int64_t n = kv.lengths[b], device = std::min(n, hot);
      addSequenceStats(*stats, k, n, device);
      gathered += mhgc::getPlacementPolicy(k.placement).splits() ? device : 0;
    }
    double kernelSeconds = 0;
    long long launches = 0;
    hgc_rt_gpu_kernel_time(&kernelSeconds, &launches);
    stats->compute_seconds = computeSeconds;
    stats->device_kernel_seconds = kernelSeconds;
    stats->bytes_moved =
        2 * gathered * k.kvHeads * k.headDim * elementBytes(k) +
        kv.copiedBytes +
        2 * batch * k.qHeads * k.headDim * int64_t(sizeof(float));
    stats->gather_seconds[1] = kv.copySeconds;
    stats->seconds = since(start);
  }
  return HGC_OK;
}

/// The paged kernel reading a runtime cache of `pageTokens`-token pages.
Failure inPlaceKernel(hgc_kernel &kernel, int32_t pageTokens,
                      std::shared_ptr<Kernel> &paged) {
  std::lock_guard<std::mutex> lock(kernel.inPlaceMutex);
  std::shared_ptr<Kernel> &known = kernel.inPlace[pageTokens];
  if (!known)
    if (Failure failure = kernel.context->kernels->get(
            inPlaceConfig(kernel.config, pageTokens), known);
        failure.failed())
      return failure;
  paged = known;
  return Failure::ok();
}

/// Buffers behind a step's PagedOperands over a runtime cache.
struct RuntimeStep {
  std::vector<int32_t> tables, lengths;
  std::vector<char> pages;     // copied pages, when not read in place
  std::vector<char> summaries; // a batch's summaries, copied together
};

/// Table rows over the runtime's slot space: true when every page of the
/// batch is in it. A slot holds a page's keys then its values, so slot `id`
/// is key block 2 id, and value block 2 id of a base one block further.
bool slotTables(hgc_kv_cache &cache, const AttentionConfig &k, int32_t layer,
                int32_t batch, const int64_t *seqs, int64_t maxPages,
                RuntimeStep &step, PagedOperands &kv) {
  hgc_rt_kv_slots slots;
  int64_t halfSlot =
      int64_t(k.kvHeads) * k.kvBlockSize * k.headDim * elementBytes(k);
  if (hgc_rt_kv_get_slots(cache.runtime, &slots) != HGC_RT_OK ||
      slots.slot_bytes != 2 * halfSlot)
    return false;
  for (int32_t b = 0; b < batch; ++b) {
    int32_t *row = step.tables.data() + b * maxPages;
    int64_t pages = 0, tokens = 0;
    if (hgc_rt_kv_page_table(cache.runtime, seqs[b], layer, row, maxPages,
                             &pages, &tokens) != HGC_RT_OK)
      return false;
    for (int64_t p = 0; p < pages; ++p)
      row[p] *= 2;
  }
  kv.keys = slots.base;
  kv.values = static_cast<const char *>(slots.base) + halfSlot;
  kv.keyBlocks = 2 * slots.slots;
  kv.valueBlocks = 2 * slots.slots - 1;
  return true;
}

/// Copies every page of the batch into `step.pages` ([pages][kv_heads]
/// [page][head_dim] keys, then as many values), for pages only copies
/// reach: the same kernel then reads the copies.
hgc_status copiedTables(hgc_kv_cache &cache, const AttentionConfig &k,
                        int32_t layer, int32_t batch, const int64_t *seqs,
                        const std::vector<int64_t> &tokens, int64_t maxPages,
                        RuntimeStep &step, PagedOperands &kv) {
  int64_t page = k.kvBlockSize;
  size_t blockBytes = size_t(k.kvHeads) * page * k.headDim * elementBytes(k);
  int64_t total = 0;
  for (int64_t n : tokens)
    total += (n + page - 1) / page;
  step.pages.assign(2 * size_t(total) * blockBytes, 0);
  char *keys = step.pages.data(), *values = keys + total * blockBytes;
  // hgc_rt_kv_read lays a run out [kv_heads][count][head_dim]: one page's
  // run (the last one short) is spread over a block head by head.
  std::vector<char> run(2 * blockBytes);
  int64_t next = 0;
  for (int32_t b = 0; b < batch; ++b)
    for (int64_t first = 0; first < tokens[b]; first += page, ++next) {
      int64_t count = std::min(page, tokens[b] - first);
      size_t rowBytes = size_t(count) * k.headDim * elementBytes(k);
      char *runValues = run.data() + k.kvHeads * rowBytes;
      if (hgc_status status =
              fromRuntime(hgc_rt_kv_read(cache.runtime, seqs[b], layer, first,
                                         count, run.data(), runValues)))
        return status;
      for (int32_t h = 0; h < k.kvHeads; ++h) {
        size_t target = next * blockBytes + h * (blockBytes / k.kvHeads);
        std::memcpy(keys + target, run.data() + h * rowBytes, rowBytes);
        std::memcpy(values + target, runValues + h * rowBytes, rowBytes);
      }
      step.tables[b * maxPages + first / page] = int32_t(next);
    }
  kv.keys = keys;
  kv.values = values;
  kv.keyBlocks = kv.valueBlocks = total;
  return HGC_OK;
}

/// The step's operands over the runtime's pages: in place when they all
/// are in the slot space, else copies of them.
hgc_status runtimeOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                           int32_t layer, int32_t batch, const int64_t *seqs,
                           const std::vector<int64_t> &tokens,
                           RuntimeStep &step, PagedOperands &kv) {
  int64_t page = k.kvBlockSize, maxPages = 0;
  for (int64_t n : tokens)
    maxPages = std::max(maxPages, (n + page - 1) / page);
  step.tables.assign(size_t(batch * maxPages), 0);
  step.lengths.assign(tokens.begin(), tokens.end());
  if (!slotTables(cache, k, layer, batch, seqs, maxPages, step, kv)) {
    auto copyStart = std::chrono::steady_clock::now();
    if (hgc_status status = copiedTables(cache, k, layer, batch, seqs, tokens,
                                         maxPages, step, kv))
      return status;
    kv.copiedBytes = int64_t(step.pages.size());
    kv.copySeconds = since(copyStart);
  }
  kv.tables = step.tables.data();
  kv.maxBlocks = int32_t(maxPages);
  kv.lengths = step.lengths.data();
  if (!k.kvSummaries)
    return HGC_OK;
  // One sequence reads the runtime's summaries where they are; a batch
  // has them copied into one [batch][kv_heads][pages][head_dim] buffer.
  int64_t capacity = 0;
  if (batch == 1) {
    if (hgc_status status = fromRuntime(hgc_rt_kv_summaries(
            cache.runtime, seqs[0], layer, &kv.keyMin, &kv.keyMax, &capacity)))
      return status;
    kv.maxSummaries = int32_t(capacity);
    return HGC_OK;
  }
  size_t row = size_t(k.headDim) * elementBytes(k);
  size_t perSide = size_t(batch) * k.kvHeads * maxPages * row;
  step.summaries.assign(2 * perSide, 0);
  for (int32_t b = 0; b < batch; ++b) {
    const void *keyMin = nullptr, *keyMax = nullptr;
    if (hgc_status status = fromRuntime(hgc_rt_kv_summaries(
            cache.runtime, seqs[b], layer, &keyMin, &keyMax, &capacity)))
      return status;
    size_t pages = size_t((tokens[b] + page - 1) / page);
    for (int32_t h = 0; h < k.kvHeads; ++h) {
      size_t target = size_t((b * k.kvHeads + h) * maxPages) * row;
      size_t source = size_t(h * capacity) * row;
      std::memcpy(step.summaries.data() + target,
                  static_cast<const char *>(keyMin) + source, pages * row);
      std::memcpy(step.summaries.data() + perSide + target,
                  static_cast<const char *>(keyMax) + source, pages * row);
    }
  }
  kv.keyMin = step.summaries.data();
  kv.keyMax = step.summaries.data() + perSide;
  kv.maxSummaries = int32_t(maxPages);
  return HGC_OK;
}
} // namespace

extern "C" {

hgc_status hgc_decode(hgc_kernel *kernel, hgc_kv_cache *cache, int32_t layer,
                      int32_t batch, const int64_t *seqs, const float *queries,
                      float *outputs, hgc_step_stats *stats) {
  auto start = std::chrono::steady_clock::now();
  if (!kernel || !cache || !seqs || !queries || !outputs)
    return nullArgument("kernel, cache, seqs, queries or outputs");
  if (batch <= 0)
    return fail(HGC_INVALID_ARGUMENT,
                "batch must be positive, got " + std::to_string(batch));
  const AttentionConfig &k = kernel->config, &c = cache->config;
  if (k.kvBlockSize > 0)
    return fail(HGC_INVALID_ARGUMENT,
                "the kernel was compiled for paged KV (kv_block_size " +
                    std::to_string(k.kvBlockSize) +
                    "): run it with hgc_decode_paged");
  bool full = !mhgc::getPlacementPolicy(k.placement).splits(),
       cacheFull = !mhgc::getPlacementPolicy(c.placement).splits();
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

  std::shared_ptr<Kernel> sibling;
  if (Failure failure = inPlaceKernel(*kernel, cache->pageTokens, sibling);
      failure.failed())
    return report(failure);
  RuntimeStep step;
  PagedOperands kv;
  if (hgc_status status = runtimeOperands(*cache, sibling->config, layer, batch,
                                          seqs, lengths, step, kv))
    return status;
  return runPaged(*sibling, *kernel->context, kv, batch, queries, outputs,
                  stats, start);
}

hgc_status hgc_decode_paged(hgc_kernel *kernel, const hgc_paged_kv *kv,
                            int32_t batch, const float *queries, float *outputs,
                            hgc_step_stats *stats) {
  auto start = std::chrono::steady_clock::now();
  if (!kernel || !kv || !queries || !outputs)
    return nullArgument("kernel, kv, queries or outputs");
  const AttentionConfig &k = kernel->config;
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

  PagedOperands operands;
  operands.keys = kv->k_cache;
  operands.values = kv->v_cache;
  operands.keyBlocks = operands.valueBlocks = kv->num_blocks;
  operands.tables = kv->block_tables;
  operands.maxBlocks = kv->max_blocks;
  operands.lengths = kv->seq_lens;
  operands.keyMin = kv->key_min;
  operands.keyMax = kv->key_max;
  operands.maxSummaries = kv->max_summaries;
  return runPaged(*kernel->kernel, *kernel->context, operands, batch, queries,
                  outputs, stats, start);
}

} // extern "C"
