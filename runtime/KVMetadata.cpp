//===- KVMetadata.cpp - what selection reads about a page's keys ----------===//

#include "KVMetadata.h"
#include "Element.h"
#include "KVCache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace hgc::rt;

PageKeyMetadata PageKeyMetadata::empty(const hgc_rt_kv_config &config) {
  PageKeyMetadata metadata;
  size_t summary = size_t(config.kv_heads) * config.head_dim;
  metadata.keyMin.assign(summary, std::numeric_limits<float>::infinity());
  metadata.keyMax.assign(summary, -std::numeric_limits<float>::infinity());
  if (config.quantize_keys) {
    metadata.codes.assign(summary * config.page_tokens, 0);
    metadata.scales.assign(size_t(config.kv_heads) * config.page_tokens, 0.0f);
  }
  return metadata;
}

void PageKeyMetadata::add(const hgc_rt_kv_config &config, int64_t offset,
                          int32_t head, const char *key) {
  int32_t dim = config.head_dim;
  size_t elementBytes = dtypeBytes(config.dtype);
  float *lo = keyMin.data() + size_t(head) * dim;
  float *hi = keyMax.data() + size_t(head) * dim;
  for (int32_t d = 0; d < dim; ++d) {
    float x = loadElement(config.dtype, key + size_t(d) * elementBytes);
    lo[d] = std::min(lo[d], x);
    hi[d] = std::max(hi[d], x);
  }
  if (!config.quantize_keys)
    return;
  size_t row = size_t(head) * config.page_tokens + offset;
  scales[row] = quantizeKey(config.dtype, dim, key, codes.data() + row * dim);
}

void SummaryTable::reserve(const hgc_rt_kv_config &config, int64_t pages) {
  if (pages <= capacity)
    return;
  size_t row = size_t(config.head_dim) * dtypeBytes(config.dtype);
  int64_t heads = config.kv_heads;
  // Doubling keeps the copies amortized; heads move apart on growth.
  int64_t grownCapacity = std::max<int64_t>(pages, 2 * capacity);
  for (std::vector<char> *summary : {&keyMin, &keyMax}) {
    std::vector<char> grown(size_t(heads * grownCapacity) * row);
    for (int64_t h = 0; h < heads && capacity > 0; ++h)
      std::memcpy(grown.data() + size_t(h * grownCapacity) * row,
                  summary->data() + size_t(h * capacity) * row,
                  size_t(capacity) * row);
    summary->swap(grown);
  }
  capacity = grownCapacity;
}

void SummaryTable::store(const hgc_rt_kv_config &config, int64_t page,
                         const PageKeyMetadata &metadata) {
  size_t elementBytes = dtypeBytes(config.dtype);
  size_t row = size_t(config.head_dim) * elementBytes;
  for (int64_t h = 0; h < config.kv_heads; ++h) {
    size_t at = size_t(h * capacity + page) * row;
    for (int32_t d = 0; d < config.head_dim; ++d) {
      size_t element = size_t(h) * config.head_dim + d;
      storeElement(config.dtype, metadata.keyMin[element],
                   keyMin.data() + at + d * elementBytes);
      storeElement(config.dtype, metadata.keyMax[element],
                   keyMax.data() + at + d * elementBytes);
    }
  }
}

void CodeTable::reserve(const hgc_rt_kv_config &config, int64_t tokens) {
  if (tokens <= capacity)
    return;
  size_t dim = size_t(config.head_dim);
  int64_t heads = config.kv_heads;
  // Doubling keeps the copies amortized; heads move apart on growth.
  int64_t grown = std::max<int64_t>(tokens, 2 * capacity);
  std::vector<int8_t> grownCodes(size_t(heads * grown) * dim);
  std::vector<float> grownScales(size_t(heads * grown));
  for (int64_t h = 0; h < heads && capacity > 0; ++h) {
    std::copy_n(codes.data() + size_t(h * capacity) * dim,
                size_t(capacity) * dim,
                grownCodes.data() + size_t(h * grown) * dim);
    std::copy_n(scales.data() + size_t(h * capacity), size_t(capacity),
                grownScales.data() + size_t(h * grown));
  }
  codes.swap(grownCodes);
  scales.swap(grownScales);
  capacity = grown;
}

void CodeTable::store(const hgc_rt_kv_config &config, int64_t token,
                      int32_t head, const PageKeyMetadata &metadata,
                      int64_t offset) {
  size_t dim = size_t(config.head_dim);
  size_t row = size_t(head) * config.page_tokens + offset;
  std::copy_n(metadata.codes.data() + row * dim, dim,
              codes.data() + size_t(head * capacity + token) * dim);
  scales[size_t(head * capacity + token)] = metadata.scales[row];
}

void ChannelTable::reserve(const hgc_rt_kv_config &config, int64_t tokens) {
  if (tokens <= capacity)
    return;
  size_t elementBytes = dtypeBytes(config.dtype);
  int64_t rows = int64_t(config.kv_heads) * config.head_dim;
  int64_t pt = config.page_tokens;
  // Doubling keeps the copies amortized; rows move apart on growth.
  int64_t grown = std::max<int64_t>(tokens, 2 * capacity);
  std::vector<char> grownKeys(size_t(rows * grown) * elementBytes);
  for (int64_t r = 0; r < rows && capacity > 0; ++r)
    std::memcpy(grownKeys.data() + size_t(r * grown) * elementBytes,
                keys.data() + size_t(r * capacity) * elementBytes,
                size_t(capacity) * elementBytes);
  keys.swap(grownKeys);
  capacity = grown;
  int64_t pages = (grown + pt - 1) / pt;
  size_t dim = size_t(config.head_dim);
  std::vector<float> grownSums(size_t(config.kv_heads * pages) * dim, 0.0f);
  for (int64_t h = 0; h < config.kv_heads && pageCapacity > 0; ++h)
    std::copy_n(valueSums.data() + size_t(h * pageCapacity) * dim,
                size_t(pageCapacity) * dim,
                grownSums.data() + size_t(h * pages) * dim);
  valueSums.swap(grownSums);
  pageCapacity = pages;
}

void ChannelTable::add(const hgc_rt_kv_config &config, int64_t token,
                       int32_t head, const char *key, const char *value) {
  size_t elementBytes = dtypeBytes(config.dtype);
  int32_t dim = config.head_dim;
  float *sum = valueSums.data() +
               size_t(head * pageCapacity + token / config.page_tokens) * dim;
  for (int32_t d = 0; d < dim; ++d) {
    std::memcpy(keys.data() +
                    size_t((int64_t(head) * dim + d) * capacity + token) *
                        elementBytes,
                key + size_t(d) * elementBytes, elementBytes);
    sum[d] += loadElement(config.dtype, value + size_t(d) * elementBytes);
  }
}

void PqTable::add(const hgc_rt_kv_config &config, int64_t first,
                  const hgc_rt_kv_block &block) {
  int32_t dim = config.head_dim, subspaces = config.pq_subspaces,
          centroids = config.pq_centroids;
  size_t rowBytes = size_t(dim) * dtypeBytes(config.dtype);
  size_t perHead = size_t(subspaces) * centroids * (dim / subspaces);
  const char *keys = static_cast<const char *>(block.keys);
  // The first append is the prefill: its keys fit the codebooks.
  if (codebooks.empty()) {
    codebooks.resize(perHead * config.kv_heads);
    for (int32_t h = 0; h < config.kv_heads; ++h)
      fitProductQuantizer(config.dtype, dim, block.tokens,
                          keys + size_t(h) * block.tokens * rowBytes, subspaces,
                          centroids, /*iterations=*/4, /*seed=*/0,
                          codebooks.data() + h * perHead);
  }
  size_t width = size_t(subspaces) * codeBytes(config);
  int64_t tokens = first + block.tokens;
  if (tokens > capacity) {
    // Doubling keeps the copies amortized; heads move apart on growth.
    int64_t grown = std::max<int64_t>(tokens, 2 * capacity);
    std::vector<char> grownCodes(size_t(config.kv_heads) * grown * width);
    for (int32_t h = 0; h < config.kv_heads && capacity > 0; ++h)
      std::memcpy(grownCodes.data() + size_t(h) * grown * width,
                  codes.data() + size_t(h) * capacity * width,
                  size_t(capacity) * width);
    codes.swap(grownCodes);
    capacity = grown;
  }
  for (int32_t h = 0; h < config.kv_heads; ++h)
    encodeProductQuantized(config.dtype, dim, block.tokens,
                           keys + size_t(h) * block.tokens * rowBytes,
                           subspaces, centroids, codebooks.data() + h * perHead,
                           codes.data() +
                               (size_t(h) * capacity + first) * width);
}

void KVCache::addKeyMetadata(Layer &layer, const hgc_rt_kv_block &block,
                             int64_t endPage) {
  if (block.tokens == 0)
    return;
  if (config.pq_subspaces > 0)
    layer.pq.add(config, layer.tokens, block);
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  const char *keys = static_cast<const char *>(block.keys);
  if (config.channel_keys) {
    const char *values = static_cast<const char *>(block.values);
    layer.channels.reserve(config, layer.tokens + block.tokens);
    for (int32_t h = 0; h < config.kv_heads; ++h)
      for (int64_t i = 0; i < block.tokens; ++i) {
        size_t row = (size_t(h) * block.tokens + i) * rowBytes;
        layer.channels.add(config, layer.tokens + i, h, keys + row,
                           values + row);
      }
  }
  for (int64_t i = 0; i < block.tokens; ++i) {
    int64_t token = layer.tokens + i;
    for (int32_t h = 0; h < config.kv_heads; ++h)
      layer.pages[token / pt].metadata.add(
          config, token % pt, h,
          keys + (size_t(h) * block.tokens + i) * rowBytes);
  }
  layer.summaries.reserve(config, endPage);
  for (int64_t p = layer.tokens / pt; p < endPage; ++p)
    layer.summaries.store(config, p, layer.pages[p].metadata);
  if (!config.quantize_keys)
    return;
  layer.codes.reserve(config, layer.tokens + block.tokens);
  for (int64_t i = 0; i < block.tokens; ++i) {
    int64_t token = layer.tokens + i;
    for (int32_t h = 0; h < config.kv_heads; ++h)
      layer.codes.store(config, token, h, layer.pages[token / pt].metadata,
                        token % pt);
  }
}

Result KVCache::pageSummary(int64_t seq, int32_t layer, int64_t page,
                            int32_t head, float *keyMin, float *keyMax) {
  if (head < 0 || head >= config.kv_heads || !keyMin || !keyMax)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "head out of range or null output");
  return withPage(seq, layer, page, [&](Page &p) {
    size_t at = size_t(head) * config.head_dim;
    std::copy_n(p.metadata.keyMin.data() + at, config.head_dim, keyMin);
    std::copy_n(p.metadata.keyMax.data() + at, config.head_dim, keyMax);
    return Result::ok();
  });
}

Result KVCache::pageQuantized(int64_t seq, int32_t layer, int64_t page,
                              int32_t head, int8_t *codes, float *scales) {
  if (!config.quantize_keys)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "the cache does not quantize keys");
  if (head < 0 || head >= config.kv_heads || !codes || !scales)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "head out of range or null output");
  return withPage(seq, layer, page, [&](Page &p) {
    size_t rows = size_t(config.page_tokens);
    std::copy_n(p.metadata.codes.data() + size_t(head) * rows * config.head_dim,
                rows * config.head_dim, codes);
    std::copy_n(p.metadata.scales.data() + size_t(head) * rows, rows, scales);
    return Result::ok();
  });
}
