//===- KVViews.cpp - tier views gathered for compiled code ----------------===//
//
// A view holds the tokens one tier keeps of each sequence in a batch, copied
// out of their pages into [batch][kv_heads][capacity][head_dim] buffers and
// zero padded, with each sequence's count (hgc_rt_kv_view).
//
//===----------------------------------------------------------------------===//

#include "KVCache.h"

#include <algorithm>
#include <cstring>

using namespace hgc::rt;

Result KVCache::gatherTier(const Layer &layer, hgc_rt_tier tier,
                           int64_t capacity, char *keys, char *values,
                           int64_t &count) {
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  count = 0;
  for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
    const Page &page = layer.pages[p];
    if (page.tier != tier)
      continue;
    int64_t tokens = std::min<int64_t>(pt, layer.tokens - p * pt);
    if (keys) {
      if (count + tokens > capacity)
        return Result::error(HGC_RT_OUT_OF_RANGE, "view capacity " +
                                                      std::to_string(capacity) +
                                                      " is too small");
      // A head's tokens are contiguous in the page: one copy per page.
      for (int32_t h = 0; h < config.kv_heads; ++h) {
        size_t target = (size_t(h) * capacity + count) * rowBytes;
        if (Result r =
                readKeysValues(page, size_t(h) * pt * rowBytes, keys + target,
                               values + target, tokens * rowBytes);
            r.failed())
          return r;
      }
    }
    count += tokens;
  }
  return Result::ok();
}

Result
KVCache::gatherBatch(const int64_t *seqs, int32_t batch, int32_t layer,
                     hgc_rt_tier tier, int64_t capacity, char *keys,
                     char *values, size_t perSequence,
                     const std::function<void(int32_t, int64_t)> &counted) {
  for (int32_t b = 0; b < batch; ++b) {
    std::shared_ptr<Sequence> sequence;
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seqs[b], layer, sequence, lock); r.failed())
      return r;
    int64_t count = 0;
    if (Result r =
            gatherTier(sequence->layers[layer], tier, capacity,
                       keys ? keys + b * perSequence : nullptr,
                       values ? values + b * perSequence : nullptr, count);
        r.failed())
      return r;
    counted(b, count);
  }
  return Result::ok();
}

Result KVCache::viewTokens(const int64_t *seqs, int32_t batch, int32_t layer,
                           hgc_rt_tier tier, int64_t &maxTokens) {
  if (batch < 0 || (batch > 0 && !seqs))
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null or negative batch");
  if (Result r = checkTier(tier); r.failed())
    return r;
  maxTokens = 0;
  return gatherBatch(
      seqs, batch, layer, tier, 0, nullptr, nullptr, 0,
      [&](int32_t, int64_t count) { maxTokens = std::max(maxTokens, count); });
}

Result KVCache::view(const int64_t *seqs, int32_t batch, int32_t layer,
                     hgc_rt_tier tier, int64_t capacity, void *keys,
                     void *values, int32_t *lengths) {
  if (batch < 0 || (batch > 0 && (!seqs || !keys || !values || !lengths)) ||
      capacity < 0)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "null output, negative batch or capacity");
  if (Result r = checkTier(tier); r.failed())
    return r;
  size_t perSequence =
      size_t(config.kv_heads) * capacity * config.head_dim * elementBytes;
  std::memset(keys, 0, perSequence * batch);
  std::memset(values, 0, perSequence * batch);
  return gatherBatch(
      seqs, batch, layer, tier, capacity, static_cast<char *>(keys),
      static_cast<char *>(values), perSequence,
      [&](int32_t b, int64_t count) { lengths[b] = int32_t(count); });
}
