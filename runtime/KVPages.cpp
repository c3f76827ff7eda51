//===- KVPages.cpp - pages and summaries read in place by compiled code ---===//
//
// Instead of gathering a tier into fresh buffers (KVCache::view), compiled
// kernels may read the pages where they are: the cache hands out the slot
// space's base, a page table of slot ids per (sequence, layer), and the
// page summaries it keeps in the cache's dtype. Nothing is copied.
//
//===----------------------------------------------------------------------===//

#include "KVCache.h"

#include <cstring>

using namespace hgc::rt;

namespace {
/// `value` as IEEE half, rounded to nearest even (summaries of f16 keys are
/// f16 values: exact).
uint16_t floatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  int32_t exponent = int32_t((bits >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = bits & 0x7fffff;
  if (((bits >> 23) & 0xff) == 0xff) // inf, nan
    return uint16_t(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  if (exponent >= 0x1f)
    return uint16_t(sign | 0x7c00);
  if (exponent <= 0) {
    if (exponent < -10)
      return sign;
    mantissa |= 0x800000;
    uint32_t shift = uint32_t(14 - exponent);
    uint32_t half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = (uint32_t(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent: still correct
  return uint16_t(sign | half);
}

/// Writes `value` as one element of `dtype` at `out`.
void storeElement(hgc_rt_dtype dtype, float value, char *out) {
  if (dtype == HGC_RT_F32) {
    std::memcpy(out, &value, 4);
    return;
  }
  uint16_t element;
  if (dtype == HGC_RT_F16) {
    element = floatToHalf(value);
  } else { // bf16 keys give bf16-exact summaries: truncation is exact
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    element = uint16_t(bits >> 16);
  }
  std::memcpy(out, &element, 2);
}
} // namespace

void KVCache::storeSummaries(Layer &layer, int64_t first, int64_t end) {
  size_t row = size_t(config.head_dim) * elementBytes;
  int64_t heads = config.kv_heads;
  if (end > layer.summaryCapacity) {
    // Doubling keeps the copies amortized; heads move apart on growth.
    int64_t capacity = std::max<int64_t>(end, 2 * layer.summaryCapacity);
    for (std::vector<char> *summary : {&layer.summaryMin, &layer.summaryMax}) {
      std::vector<char> grown(size_t(heads * capacity) * row);
      for (int64_t h = 0; h < heads && layer.summaryCapacity > 0; ++h)
        std::memcpy(grown.data() + size_t(h * capacity) * row,
                    summary->data() + size_t(h * layer.summaryCapacity) * row,
                    size_t(layer.summaryCapacity) * row);
      summary->swap(grown);
    }
    layer.summaryCapacity = capacity;
  }
  for (int64_t p = first; p < end; ++p) {
    const Page &page = layer.pages[p];
    for (int64_t h = 0; h < heads; ++h) {
      size_t at = size_t(h * layer.summaryCapacity + p) * row;
      for (int32_t d = 0; d < config.head_dim; ++d) {
        size_t element = size_t(h) * config.head_dim + d;
        storeElement(config.dtype, page.keyMin[element],
                     layer.summaryMin.data() + at + d * elementBytes);
        storeElement(config.dtype, page.keyMax[element],
                     layer.summaryMax.data() + at + d * elementBytes);
      }
    }
  }
}

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
                               " is on a tier read by "
                               "copies only (storage or CUDA memory)");
    ids[p] = int32_t(space->slotId(page.slot.data));
  }
  return Result::ok();
}

Result KVCache::summaries(int64_t seq, int32_t layerIndex, const void *&keyMin,
                          const void *&keyMax, int64_t &capacity) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  const Layer &layer = sequence->layers[layerIndex];
  keyMin = layer.summaryMin.data();
  keyMax = layer.summaryMax.data();
  capacity = layer.summaryCapacity;
  return Result::ok();
}
