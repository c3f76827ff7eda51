//===- RuntimePages.cpp - a paged kernel's operands over runtime pages ----===//

#include "jit/RuntimePages.h"

#include "passes/policies/PlacementPolicy.h"

#include "hgc-rt/kv_cache.h"

#include <algorithm>
#include <chrono>
#include <cstring>

using namespace hgc::jit;

int64_t hgc::jit::getElementBytes(const AttentionConfig &config) {
  return config.kvDtype == HGC_F32 ? 4 : 2;
}

namespace {
/// Table rows over the runtime's slot space: true when every page of the
/// batch is in it. A slot holds a page's keys then its values, so slot `id`
/// is key block 2 id, and value block 2 id of a base one block further.
bool slotTables(hgc_kv_cache &cache, const AttentionConfig &k, int32_t layer,
                int32_t batch, const int64_t *seqs, int64_t maxPages,
                RuntimeStep &step, PagedOperands &kv) {
  hgc_rt_kv_slots slots;
  int64_t halfSlot =
      int64_t(k.kvHeads) * k.kvBlockSize * k.headDim * getElementBytes(k);
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
Failure copiedTables(hgc_kv_cache &cache, const AttentionConfig &k,
                     int32_t layer, int32_t batch, const int64_t *seqs,
                     const std::vector<int64_t> &tokens, int64_t maxPages,
                     RuntimeStep &step, PagedOperands &kv) {
  int64_t page = k.kvBlockSize;
  size_t blockBytes = size_t(k.kvHeads) * page * k.headDim * getElementBytes(k);
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
      size_t rowBytes = size_t(count) * k.headDim * getElementBytes(k);
      char *runValues = run.data() + k.kvHeads * rowBytes;
      if (Failure failure = fromRuntimeStatus(
              hgc_rt_kv_read(cache.runtime, seqs[b], layer, first, count,
                             run.data(), runValues));
          failure.failed())
        return failure;
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
  return Failure::ok();
}

/// The summaries of the step's pages: one sequence reads the runtime's
/// summaries where they are; a batch has them copied into one
/// [batch][kv_heads][pages][head_dim] buffer.
Failure summaryOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                        int32_t layer, int32_t batch, const int64_t *seqs,
                        const std::vector<int64_t> &tokens, RuntimeStep &step,
                        PagedOperands &kv) {
  int64_t page = k.kvBlockSize, maxPages = kv.maxBlocks, capacity = 0;
  if (batch == 1) {
    if (Failure failure = fromRuntimeStatus(hgc_rt_kv_summaries(
            cache.runtime, seqs[0], layer, &kv.keyMin, &kv.keyMax, &capacity));
        failure.failed())
      return failure;
    kv.maxSummaries = int32_t(capacity);
    return Failure::ok();
  }
  size_t row = size_t(k.headDim) * getElementBytes(k);
  size_t perSide = size_t(batch) * k.kvHeads * maxPages * row;
  step.summaries.assign(2 * perSide, 0);
  for (int32_t b = 0; b < batch; ++b) {
    const void *keyMin = nullptr, *keyMax = nullptr;
    if (Failure failure = fromRuntimeStatus(hgc_rt_kv_summaries(
            cache.runtime, seqs[b], layer, &keyMin, &keyMax, &capacity));
        failure.failed())
      return failure;
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
  return Failure::ok();
}

/// The int8 key codes of the step's tokens: one sequence reads the runtime's
/// table where it is; a batch has its codes copied into one
/// [batch][kv_heads][longest][head_dim] buffer (scales alike).
Failure codeOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                     int32_t layer, int32_t batch, const int64_t *seqs,
                     const std::vector<int64_t> &tokens, RuntimeStep &step,
                     PagedOperands &kv) {
  int64_t capacity = 0;
  if (batch == 1)
    return fromRuntimeStatus(hgc_rt_kv_codes(
        cache.runtime, seqs[0], layer, &kv.codes, &kv.scales, &kv.codeTokens));
  int64_t longest = *std::max_element(tokens.begin(), tokens.end());
  size_t dim = size_t(k.headDim);
  step.codes.assign(size_t(batch) * k.kvHeads * longest * dim, 0);
  step.scales.assign(size_t(batch) * k.kvHeads * longest, 0.0f);
  for (int32_t b = 0; b < batch; ++b) {
    const int8_t *codes = nullptr;
    const float *scales = nullptr;
    if (Failure failure = fromRuntimeStatus(hgc_rt_kv_codes(
            cache.runtime, seqs[b], layer, &codes, &scales, &capacity));
        failure.failed())
      return failure;
    for (int32_t h = 0; h < k.kvHeads; ++h) {
      size_t target = size_t(b * k.kvHeads + h) * longest;
      size_t source = size_t(h) * capacity;
      std::copy_n(codes + source * dim, size_t(tokens[b]) * dim,
                  step.codes.data() + target * dim);
      std::copy_n(scales + source, size_t(tokens[b]),
                  step.scales.data() + target);
    }
  }
  kv.codes = step.codes.data();
  kv.scales = step.scales.data();
  kv.codeTokens = longest;
  return Failure::ok();
}
/// The channel-major keys and per-page value sums of the step's sequences:
/// one sequence reads the runtime's tables where they are; a batch has them
/// copied into [batch][kv_heads][head_dim][longest] and
/// [batch][kv_heads][pages][head_dim] buffers.
Failure channelOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                        int32_t layer, int32_t batch, const int64_t *seqs,
                        const std::vector<int64_t> &tokens, RuntimeStep &step,
                        PagedOperands &kv) {
  if (batch == 1)
    return fromRuntimeStatus(
        hgc_rt_kv_channel_keys(cache.runtime, seqs[0], layer, &kv.channelKeys,
                               &kv.valueSums, &kv.channelTokens, &kv.sumPages));
  int64_t longest = *std::max_element(tokens.begin(), tokens.end());
  int64_t pages = (longest + k.kvBlockSize - 1) / k.kvBlockSize;
  size_t dim = size_t(k.headDim), width = size_t(getElementBytes(k));
  step.channelKeys.assign(size_t(batch) * k.kvHeads * dim * longest * width, 0);
  step.valueSums.assign(size_t(batch) * k.kvHeads * pages * dim, 0.0f);
  for (int32_t b = 0; b < batch; ++b) {
    const void *keys = nullptr;
    const float *sums = nullptr;
    int64_t capacity = 0, pageCapacity = 0;
    if (Failure failure = fromRuntimeStatus(
            hgc_rt_kv_channel_keys(cache.runtime, seqs[b], layer, &keys, &sums,
                                   &capacity, &pageCapacity));
        failure.failed())
      return failure;
    int64_t ownPages = (tokens[b] + k.kvBlockSize - 1) / k.kvBlockSize;
    for (int32_t h = 0; h < k.kvHeads; ++h) {
      for (size_t d = 0; d < dim; ++d)
        std::memcpy(step.channelKeys.data() +
                        ((size_t(b * k.kvHeads + h) * dim + d) * longest) *
                            width,
                    static_cast<const char *>(keys) +
                        ((size_t(h) * dim + d) * capacity) * width,
                    size_t(tokens[b]) * width);
      std::copy_n(sums + size_t(h) * pageCapacity * dim, size_t(ownPages) * dim,
                  step.valueSums.data() +
                      size_t(b * k.kvHeads + h) * pages * dim);
    }
  }
  kv.channelKeys = step.channelKeys.data();
  kv.valueSums = step.valueSums.data();
  kv.channelTokens = longest;
  kv.sumPages = pages;
  return Failure::ok();
}
/// The product-quantized keys of the step's sequences: one sequence reads
/// the runtime's codes and codebooks where they are; a batch has them
/// copied into [batch][kv_heads][longest][subspaces] and [batch][kv_heads]
/// [subspaces][centroids][head_dim / subspaces] buffers.
Failure pqOperands(hgc_kv_cache &cache, const AttentionConfig &k, int32_t layer,
                   int32_t batch, const int64_t *seqs,
                   const std::vector<int64_t> &tokens, RuntimeStep &step,
                   PagedOperands &kv) {
  if (batch == 1)
    return fromRuntimeStatus(hgc_rt_kv_pq_codes(cache.runtime, seqs[0], layer,
                                                &kv.pqCodes, &kv.pqCodebooks,
                                                &kv.pqTokens));
  auto [subspaces, centroids] = mlir::hgc::getPlacementPolicy(k.placement)
                                    .getProductQuantizer(k.placement);
  int64_t longest = *std::max_element(tokens.begin(), tokens.end());
  size_t width = size_t(subspaces) * (centroids > 256 ? 2 : 1);
  size_t book = size_t(subspaces) * centroids * (k.headDim / subspaces);
  step.pqCodes.assign(size_t(batch) * k.kvHeads * longest * width, 0);
  step.pqCodebooks.assign(size_t(batch) * k.kvHeads * book, 0.0f);
  for (int32_t b = 0; b < batch; ++b) {
    const void *codes = nullptr;
    const float *books = nullptr;
    int64_t capacity = 0;
    if (Failure failure = fromRuntimeStatus(hgc_rt_kv_pq_codes(
            cache.runtime, seqs[b], layer, &codes, &books, &capacity));
        failure.failed())
      return failure;
    for (int32_t h = 0; h < k.kvHeads; ++h)
      std::memcpy(
          step.pqCodes.data() + size_t(b * k.kvHeads + h) * longest * width,
          static_cast<const char *>(codes) + size_t(h) * capacity * width,
          size_t(tokens[b]) * width);
    std::copy_n(books, size_t(k.kvHeads) * book,
                step.pqCodebooks.data() + size_t(b) * k.kvHeads * book);
  }
  kv.pqCodes = step.pqCodes.data();
  kv.pqCodebooks = step.pqCodebooks.data();
  kv.pqTokens = longest;
  return Failure::ok();
}
/// The key summaries, codes, product-quantized codes and channel-major keys
/// the kernel reads, as the configuration asks.
Failure metadataOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                         int32_t layer, int32_t batch, const int64_t *seqs,
                         const std::vector<int64_t> &tokens, RuntimeStep &step,
                         PagedOperands &kv);
} // namespace

Failure hgc::jit::getRuntimeOperands(hgc_kv_cache &cache,
                                     const AttentionConfig &k, int32_t layer,
                                     int32_t batch, const int64_t *seqs,
                                     const std::vector<int64_t> &tokens,
                                     RuntimeStep &step, PagedOperands &kv) {
  int64_t page = k.kvBlockSize, maxPages = 0;
  for (int64_t n : tokens)
    maxPages = std::max(maxPages, (n + page - 1) / page);
  step.tables.assign(size_t(batch * maxPages), 0);
  step.lengths.assign(tokens.begin(), tokens.end());
  if (!slotTables(cache, k, layer, batch, seqs, maxPages, step, kv)) {
    auto copyStart = std::chrono::steady_clock::now();
    if (Failure failure = copiedTables(cache, k, layer, batch, seqs, tokens,
                                       maxPages, step, kv);
        failure.failed())
      return failure;
    kv.copiedBytes = int64_t(step.pages.size());
    kv.copySeconds = secondsSince(copyStart);
  }
  kv.tables = step.tables.data();
  kv.maxBlocks = int32_t(maxPages);
  kv.lengths = step.lengths.data();
  // A batch's key metadata is copied together: part of the gather.
  auto metadataStart = std::chrono::steady_clock::now();
  if (Failure failure =
          metadataOperands(cache, k, layer, batch, seqs, tokens, step, kv);
      failure.failed())
    return failure;
  if (batch > 1 && (k.kvSummaries || k.kvCodes || k.kvPq || k.kvChannels))
    kv.copySeconds += secondsSince(metadataStart);
  return Failure::ok();
}

namespace {
Failure metadataOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                         int32_t layer, int32_t batch, const int64_t *seqs,
                         const std::vector<int64_t> &tokens, RuntimeStep &step,
                         PagedOperands &kv) {
  if (k.kvSummaries)
    if (Failure failure =
            summaryOperands(cache, k, layer, batch, seqs, tokens, step, kv);
        failure.failed())
      return failure;
  if (k.kvCodes)
    if (Failure failure =
            codeOperands(cache, k, layer, batch, seqs, tokens, step, kv);
        failure.failed())
      return failure;
  if (k.kvPq)
    if (Failure failure =
            pqOperands(cache, k, layer, batch, seqs, tokens, step, kv);
        failure.failed())
      return failure;
  if (k.kvChannels)
    return channelOperands(cache, k, layer, batch, seqs, tokens, step, kv);
  return Failure::ok();
}
} // namespace
