//===- CApi.cpp - the C ABI over KVCache ---------------------------------===//
//
// Every entry point validates its pointers, runs the C++ operation, records
// the message of a failure for hgc_rt_last_error(), and returns the status.
//
//===----------------------------------------------------------------------===//

#include "hgc-rt/faults.h"
#include "hgc-rt/head_stream.h"
#include "hgc-rt/kv_cache.h"

#include "Element.h"
#include "Faults.h"
#include "HeadStream.h"
#include "KVCache.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace hgc::rt;

struct hgc_rt_kv_cache {
  std::unique_ptr<KVCache> impl;
};

struct hgc_rt_head_stream {
  std::unique_ptr<HeadStream> impl;
};

namespace {
thread_local std::string lastError;

hgc_rt_status report(const Result &result) {
  lastError = result.message;
  return result.status;
}

hgc_rt_status nullArgument(const char *what) {
  return report(
      Result::error(HGC_RT_INVALID_ARGUMENT, std::string(what) + " is null"));
}
} // namespace

extern "C" {

hgc_rt_status hgc_rt_kv_create(const hgc_rt_kv_config *config,
                               hgc_rt_kv_cache **cache) {
  if (!config || !cache)
    return nullArgument("config or cache");
  auto handle = std::make_unique<hgc_rt_kv_cache>();
  if (hgc_rt_status status = report(KVCache::create(*config, handle->impl)))
    return status;
  *cache = handle.release();
  return HGC_RT_OK;
}

void hgc_rt_kv_destroy(hgc_rt_kv_cache *cache) { delete cache; }

hgc_rt_status hgc_rt_kv_add_sequence(hgc_rt_kv_cache *cache, int64_t seq) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->addSequence(seq));
}

hgc_rt_status hgc_rt_kv_release_sequence(hgc_rt_kv_cache *cache, int64_t seq) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->releaseSequence(seq));
}

hgc_rt_status hgc_rt_kv_append(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, const hgc_rt_kv_block *block) {
  if (!cache || !block)
    return nullArgument("cache or block");
  return report(cache->impl->append(seq, layer, *block));
}

hgc_rt_status hgc_rt_kv_read(hgc_rt_kv_cache *cache, int64_t seq, int32_t layer,
                             int64_t first, int64_t count, void *keys,
                             void *values) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->read(seq, layer, first, count, keys, values));
}

hgc_rt_status hgc_rt_kv_length(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, int64_t *tokens) {
  if (!cache || !tokens)
    return nullArgument("cache or tokens");
  return report(cache->impl->length(seq, layer, *tokens));
}

hgc_rt_status hgc_rt_kv_page_tier(hgc_rt_kv_cache *cache, int64_t seq,
                                  int32_t layer, int64_t page,
                                  hgc_rt_tier *tier) {
  if (!cache || !tier)
    return nullArgument("cache or tier");
  return report(cache->impl->pageTier(seq, layer, page, *tier));
}

hgc_rt_status hgc_rt_kv_page_summary(hgc_rt_kv_cache *cache, int64_t seq,
                                     int32_t layer, int64_t page, int32_t head,
                                     float *key_min, float *key_max) {
  if (!cache)
    return nullArgument("cache");
  return report(
      cache->impl->pageSummary(seq, layer, page, head, key_min, key_max));
}

hgc_rt_status hgc_rt_kv_page_quantized(hgc_rt_kv_cache *cache, int64_t seq,
                                       int32_t layer, int64_t page,
                                       int32_t head, int8_t *codes,
                                       float *scales) {
  if (!cache)
    return nullArgument("cache");
  return report(
      cache->impl->pageQuantized(seq, layer, page, head, codes, scales));
}

hgc_rt_status hgc_rt_quantize_keys(hgc_rt_dtype dtype, int32_t head_dim,
                                   int64_t tokens, const void *keys,
                                   int8_t *codes, float *scales) {
  if (tokens > 0 && (!keys || !codes || !scales))
    return nullArgument("keys, codes or scales");
  if (head_dim <= 0 || tokens < 0 || !isKnownDtype(dtype))
    return report(Result::error(HGC_RT_INVALID_ARGUMENT,
                                "quantize_keys needs a known dtype, head_dim > "
                                "0 and tokens >= 0"));
  size_t row = size_t(head_dim) * dtypeBytes(dtype);
  for (int64_t t = 0; t < tokens; ++t)
    scales[t] = quantizeKey(dtype, head_dim,
                            static_cast<const char *>(keys) + size_t(t) * row,
                            codes + size_t(t) * head_dim);
  return HGC_RT_OK;
}

/// The checks both product-quantization entry points share.
static hgc_rt_status checkProductQuantizer(hgc_rt_dtype dtype, int32_t head_dim,
                                           int64_t tokens, int32_t subspaces,
                                           int32_t centroids) {
  if (!isKnownDtype(dtype) || tokens < 0)
    return report(Result::error(HGC_RT_INVALID_ARGUMENT,
                                "pq needs a known dtype and tokens >= 0"));
  if (!isValidProductQuantizer(head_dim, subspaces, centroids))
    return report(Result::error(
        HGC_RT_INVALID_ARGUMENT,
        "pq needs subspaces dividing head_dim " + std::to_string(head_dim) +
            " and centroids a power of two in [2, 65536], got " +
            std::to_string(subspaces) + " subspaces of " +
            std::to_string(centroids) + " centroids"));
  return HGC_RT_OK;
}

hgc_rt_status hgc_rt_pq_fit(hgc_rt_dtype dtype, int32_t head_dim,
                            int64_t tokens, const void *keys, int32_t subspaces,
                            int32_t centroids, int32_t iterations,
                            uint64_t seed, float *codebook) {
  if (hgc_rt_status status =
          checkProductQuantizer(dtype, head_dim, tokens, subspaces, centroids))
    return status;
  if (tokens == 0 || iterations < 0)
    return report(Result::error(HGC_RT_INVALID_ARGUMENT,
                                "pq_fit needs keys and iterations >= 0"));
  if (!keys || !codebook)
    return nullArgument("keys or codebook");
  fitProductQuantizer(dtype, head_dim, tokens, static_cast<const char *>(keys),
                      subspaces, centroids, iterations, seed, codebook);
  return HGC_RT_OK;
}

hgc_rt_status hgc_rt_pq_encode(hgc_rt_dtype dtype, int32_t head_dim,
                               int64_t tokens, const void *keys,
                               int32_t subspaces, int32_t centroids,
                               const float *codebook, void *codes) {
  if (hgc_rt_status status =
          checkProductQuantizer(dtype, head_dim, tokens, subspaces, centroids))
    return status;
  if (tokens > 0 && (!keys || !codebook || !codes))
    return nullArgument("keys, codebook or codes");
  encodeProductQuantized(dtype, head_dim, tokens,
                         static_cast<const char *>(keys), subspaces, centroids,
                         codebook, codes);
  return HGC_RT_OK;
}

hgc_rt_status hgc_rt_kv_recall(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, int64_t page, uint64_t *ticket) {
  if (!cache || !ticket)
    return nullArgument("cache or ticket");
  return report(cache->impl->recall(seq, layer, page, *ticket));
}

hgc_rt_status hgc_rt_kv_settle(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, int64_t page) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->settle(seq, layer, page));
}

hgc_rt_status hgc_rt_kv_evict(hgc_rt_kv_cache *cache, int64_t seq,
                              int32_t layer, int64_t page) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->evict(seq, layer, page));
}

hgc_rt_status hgc_rt_kv_add_page_mass(hgc_rt_kv_cache *cache, int64_t seq,
                                      int32_t layer, const float *masses,
                                      int64_t pages, float decay) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->addPageMass(seq, layer, masses, pages, decay));
}

hgc_rt_status hgc_rt_kv_page_mass(hgc_rt_kv_cache *cache, int64_t seq,
                                  int32_t layer, int64_t page, double *mass) {
  if (!cache || !mass)
    return nullArgument("cache or mass");
  return report(cache->impl->pageMass(seq, layer, page, *mass));
}

hgc_rt_status hgc_rt_kv_remap(hgc_rt_kv_cache *cache, int64_t seq,
                              int32_t layer, float margin, uint64_t *ticket) {
  if (!cache || !ticket)
    return nullArgument("cache or ticket");
  return report(cache->impl->remap(seq, layer, margin, *ticket));
}

hgc_rt_status hgc_rt_kv_view_tokens(hgc_rt_kv_cache *cache, const int64_t *seqs,
                                    int32_t batch, int32_t layer,
                                    hgc_rt_tier tier, int64_t *max_tokens) {
  if (!cache || !max_tokens)
    return nullArgument("cache or max_tokens");
  return report(cache->impl->viewTokens(seqs, batch, layer, tier, *max_tokens));
}

hgc_rt_status hgc_rt_kv_view(hgc_rt_kv_cache *cache, const int64_t *seqs,
                             int32_t batch, int32_t layer, hgc_rt_tier tier,
                             int64_t capacity, void *keys, void *values,
                             int32_t *lengths) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->view(seqs, batch, layer, tier, capacity, keys,
                                  values, lengths));
}

hgc_rt_status hgc_rt_kv_get_slots(hgc_rt_kv_cache *cache,
                                  hgc_rt_kv_slots *slots) {
  if (!cache || !slots)
    return nullArgument("cache or slots");
  return report(cache->impl->slots(*slots));
}

hgc_rt_status hgc_rt_kv_page_table(hgc_rt_kv_cache *cache, int64_t seq,
                                   int32_t layer, int32_t *ids,
                                   int64_t capacity, int64_t *pages,
                                   int64_t *tokens) {
  if (!cache || !pages || !tokens || (capacity > 0 && !ids))
    return nullArgument("cache, ids, pages or tokens");
  return report(
      cache->impl->pageTable(seq, layer, ids, capacity, *pages, *tokens));
}

hgc_rt_status hgc_rt_kv_summaries(hgc_rt_kv_cache *cache, int64_t seq,
                                  int32_t layer, const void **key_min,
                                  const void **key_max, int64_t *capacity) {
  if (!cache || !key_min || !key_max || !capacity)
    return nullArgument("cache, key_min, key_max or capacity");
  return report(
      cache->impl->summaries(seq, layer, *key_min, *key_max, *capacity));
}

hgc_rt_status hgc_rt_kv_codes(hgc_rt_kv_cache *cache, int64_t seq,
                              int32_t layer, const int8_t **codes,
                              const float **scales, int64_t *capacity) {
  if (!cache || !codes || !scales || !capacity)
    return nullArgument("cache, codes, scales or capacity");
  return report(cache->impl->keyCodes(seq, layer, *codes, *scales, *capacity));
}

hgc_rt_status hgc_rt_kv_pq_codes(hgc_rt_kv_cache *cache, int64_t seq,
                                 int32_t layer, const void **codes,
                                 const float **codebooks, int64_t *capacity) {
  if (!cache || !codes || !codebooks || !capacity)
    return nullArgument("cache, codes, codebooks or capacity");
  return report(
      cache->impl->pqCodes(seq, layer, *codes, *codebooks, *capacity));
}

hgc_rt_status hgc_rt_kv_channel_keys(hgc_rt_kv_cache *cache, int64_t seq,
                                     int32_t layer, const void **keys,
                                     const float **value_sums,
                                     int64_t *capacity,
                                     int64_t *page_capacity) {
  if (!cache || !keys || !value_sums || !capacity || !page_capacity)
    return nullArgument("cache, keys, value_sums, capacity or page_capacity");
  return report(cache->impl->channelKeys(seq, layer, *keys, *value_sums,
                                         *capacity, *page_capacity));
}

hgc_rt_status hgc_rt_kv_attend(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, hgc_rt_tier tier, int32_t q_heads,
                               const float *query, float scale, float *output,
                               float *lse) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->attend(seq, layer, tier, q_heads, query, scale,
                                    output, lse));
}

hgc_rt_status hgc_rt_kv_wait(hgc_rt_kv_cache *cache, uint64_t ticket) {
  if (!cache)
    return nullArgument("cache");
  return report(cache->impl->wait(ticket));
}

hgc_rt_status hgc_rt_kv_get_config(hgc_rt_kv_cache *cache,
                                   hgc_rt_kv_config *config) {
  if (!cache || !config)
    return nullArgument("cache or config");
  *config = cache->impl->getConfig();
  return report(Result::ok());
}

hgc_rt_status hgc_rt_kv_get_stats(hgc_rt_kv_cache *cache,
                                  hgc_rt_kv_stats *stats) {
  if (!cache || !stats)
    return nullArgument("cache or stats");
  *stats = cache->impl->stats();
  return report(Result::ok());
}

//===----------------------------------------------------------------------===//
// Head streams (hgc-rt/head_stream.h)
//===----------------------------------------------------------------------===//

hgc_rt_status hgc_rt_head_stream_create(const hgc_rt_head_stream_config *config,
                                        hgc_rt_head_stream **stream) {
  if (!config || !stream)
    return nullArgument("config or stream");
  auto handle = std::make_unique<hgc_rt_head_stream>();
  if (hgc_rt_status status = report(HeadStream::create(*config, handle->impl)))
    return status;
  *stream = handle.release();
  return HGC_RT_OK;
}

void hgc_rt_head_stream_destroy(hgc_rt_head_stream *stream) { delete stream; }

hgc_rt_status hgc_rt_head_stream_add_sequence(hgc_rt_head_stream *stream,
                                              int64_t seq) {
  if (!stream)
    return nullArgument("stream");
  return report(stream->impl->addSequence(seq));
}

hgc_rt_status hgc_rt_head_stream_release_sequence(hgc_rt_head_stream *stream,
                                                  int64_t seq) {
  if (!stream)
    return nullArgument("stream");
  return report(stream->impl->releaseSequence(seq));
}

hgc_rt_status hgc_rt_head_stream_append(hgc_rt_head_stream *stream, int64_t seq,
                                        int32_t layer,
                                        const hgc_rt_kv_block *block) {
  if (!stream || !block)
    return nullArgument("stream or block");
  return report(stream->impl->append(seq, layer, *block));
}

hgc_rt_status hgc_rt_head_stream_read(hgc_rt_head_stream *stream, int64_t seq,
                                      int32_t layer, int64_t first,
                                      int64_t count, void *keys, void *values) {
  if (!stream)
    return nullArgument("stream");
  return report(stream->impl->read(seq, layer, first, count, keys, values));
}

hgc_rt_status hgc_rt_head_stream_attend(hgc_rt_head_stream *stream, int64_t seq,
                                        int32_t layer, int32_t q_heads,
                                        const float *query, float scale,
                                        float *output, float *lse,
                                        int32_t next_layer,
                                        hgc_rt_head_step *step) {
  if (!stream)
    return nullArgument("stream");
  hgc_rt_head_step ignored;
  return report(stream->impl->attend(seq, layer, q_heads, query, scale, output,
                                     lse, next_layer, step ? *step : ignored));
}

hgc_rt_status hgc_rt_head_stream_groups(hgc_rt_head_stream *stream,
                                        int32_t *groups) {
  if (!stream || !groups)
    return nullArgument("stream or groups");
  *groups = stream->impl->groupCount();
  return report(Result::ok());
}

hgc_rt_status hgc_rt_head_stream_group(hgc_rt_head_stream *stream,
                                       int32_t group, int32_t *heads,
                                       int32_t capacity, int32_t *count,
                                       int32_t *resident,
                                       hgc_rt_kv_stats *stats) {
  if (!stream || !count || !resident || !stats || (capacity > 0 && !heads))
    return nullArgument("stream, heads, count, resident or stats");
  std::vector<int32_t> members;
  bool isResident = false;
  if (hgc_rt_status status =
          report(stream->impl->group(group, members, isResident, *stats)))
    return status;
  *count = int32_t(members.size());
  if (capacity < *count)
    return report(Result::error(HGC_RT_OUT_OF_RANGE,
                                "head group " + std::to_string(group) +
                                    " has " + std::to_string(members.size()) +
                                    " heads, capacity " +
                                    std::to_string(capacity)));
  std::copy(members.begin(), members.end(), heads);
  *resident = isResident;
  return HGC_RT_OK;
}

//===----------------------------------------------------------------------===//
// Fault injection (hgc-rt/faults.h)
//===----------------------------------------------------------------------===//

namespace {
/// A C caller's enum as its integer, read without loading it as the enum
/// type (any int may arrive; the fault functions reject unknown ones).
int faultNumber(const hgc_rt_fault &fault) {
  int number;
  static_assert(sizeof(number) == sizeof(fault), "a C enum is an int");
  std::memcpy(&number, &fault, sizeof(number));
  return number;
}
} // namespace

hgc_rt_status hgc_rt_fault_inject(hgc_rt_fault fault, int64_t skip,
                                  int64_t count) {
  return report(faults::inject(faultNumber(fault), skip, count));
}

hgc_rt_status hgc_rt_fault_inject_rate(hgc_rt_fault fault, double rate,
                                       uint64_t seed) {
  return report(faults::injectRate(faultNumber(fault), rate, seed));
}

void hgc_rt_fault_clear(void) { faults::clear(); }

int64_t hgc_rt_fault_count(hgc_rt_fault fault) {
  return faults::count(faultNumber(fault));
}

const char *hgc_rt_last_error(void) { return lastError.c_str(); }

} // extern "C"
