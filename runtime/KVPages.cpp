//===- KVPages.cpp - pages and summaries read in place by compiled code ---===//
//
// Instead of gathering a tier into fresh buffers (KVCache::view), compiled
// kernels may read the pages where they are: the cache hands out the slot
// space's base, a page table of slot ids per (sequence, layer), and the
// page summaries it keeps in the cache's dtype. Nothing is copied.
//
//===----------------------------------------------------------------------===//

#include "KVCache.h"

using namespace hgc::rt;

Result KVCache::slots(hgc_rt_kv_slots &slots) const {
  slots.base = space->base();
  slots.slot_bytes = int64_t(space->slotBytes());
  slots.slots = space->slots();
  return Result::ok();
}

Result KVCache::pageTable(int64_t seq, int32_t layerIndex, int32_t *ids,
                          int64_t capacity, int64_t &pages, int64_t &tokens) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  const Layer &layer = sequence->layers[layerIndex];
  pages = int64_t(layer.pages.size());
  tokens = layer.tokens;
  if (capacity < pages)
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "page table capacity " + std::to_string(capacity) +
                             " is below the " + std::to_string(pages) +
                             " pages of sequence " + std::to_string(seq));
  for (int64_t p = 0; p < pages; ++p) {
    const Page &page = layer.pages[p];
    if (!store(page.tier)->inSlotSpace())
      return Result::error(HGC_RT_OUT_OF_RANGE,
                           "page " + std::to_string(p) + " of sequence " +
                               std::to_string(seq) +
                               " is on a tier read by copies only (far "
                               "memory, storage or CUDA memory)");
    ids[p] = int32_t(space->slotId(page.slot.data));
  }
  return Result::ok();
}

Result KVCache::summaries(int64_t seq, int32_t layerIndex, const void *&keyMin,
                          const void *&keyMax, int64_t &capacity) {
  return readLayer(seq, layerIndex, [&](const Layer &layer) {
    keyMin = layer.summaries.keyMin.data();
    keyMax = layer.summaries.keyMax.data();
    capacity = layer.summaries.capacity;
  });
}

Result KVCache::keyCodes(int64_t seq, int32_t layerIndex, const int8_t *&codes,
                         const float *&scales, int64_t &capacity) {
  if (!config.quantize_keys)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "the cache does not quantize keys");
  return readLayer(seq, layerIndex, [&](const Layer &layer) {
    codes = layer.codes.codes.data();
    scales = layer.codes.scales.data();
    capacity = layer.codes.capacity;
  });
}

Result KVCache::pqCodes(int64_t seq, int32_t layerIndex, const void *&codes,
                        const float *&codebooks, int64_t &capacity) {
  if (config.pq_subspaces == 0)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "the cache keeps no product-quantized keys");
  return readLayer(seq, layerIndex, [&](const Layer &layer) {
    codes = layer.pq.codes.data();
    codebooks = layer.pq.codebooks.data();
    capacity = layer.pq.capacity;
  });
}

Result KVCache::channelKeys(int64_t seq, int32_t layerIndex, const void *&keys,
                            const float *&valueSums, int64_t &capacity,
                            int64_t &pageCapacity) {
  if (!config.channel_keys)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "the cache keeps no channel-major keys");
  return readLayer(seq, layerIndex, [&](const Layer &layer) {
    keys = layer.channels.keys.data();
    valueSums = layer.channels.valueSums.data();
    capacity = layer.channels.capacity;
    pageCapacity = layer.channels.pageCapacity;
  });
}
