//===- KVAttend.cpp - attention over the pages one tier holds -------------===//
//
// hgc_rt_kv_attend: a decode step's partial attention computed where the
// data lives, on the host, over a tier's pages in place. Online softmax in
// floats; the log-sum-exp lets the caller merge partials of several tiers.
//
//===----------------------------------------------------------------------===//

#include "KVCache.h"
#include "OnlineSoftmax.h"

#include <algorithm>

using namespace hgc::rt;

Result KVCache::attend(int64_t seq, int32_t layerIndex, hgc_rt_tier tier,
                       int32_t qHeads, const float *query, float scale,
                       float *output, float *lse) {
  if (Result r = checkTier(tier); r.failed())
    return r;
  if (qHeads <= 0 || qHeads % config.kv_heads != 0)
    return Result::error(HGC_RT_SHAPE_MISMATCH,
                         "q_heads (" + std::to_string(qHeads) +
                             ") must be a multiple of kv_heads (" +
                             std::to_string(config.kv_heads) + ")");
  if (!query || !output || !lse)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null query or output");
  if (store(tier) && store(tier)->isCuda())
    return Result::error(HGC_RT_DEVICE,
                         "pages in CUDA memory are attended by the compiled "
                         "device kernels");
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  const Layer &layer = sequence->layers[layerIndex];
  int32_t dim = config.head_dim, group = qHeads / config.kv_heads;
  // Query heads are independent: one per OpenMP thread (the pool the
  // generated host kernels use).
#pragma omp parallel for schedule(static)
  for (int32_t h = 0; h < qHeads; ++h)
    attendHead(layer, tier, h / group, query + size_t(h) * dim, scale,
               output + size_t(h) * dim, lse[h]);
  // Read in place: a paced far tier charges the keys and values it read.
  if (PageStore *pages = store(tier)) {
    int64_t tokens = 0, pt = config.page_tokens;
    for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p)
      if (layer.pages[p].tier == tier)
        tokens += std::min<int64_t>(pt, layer.tokens - p * pt);
    pages->charge(size_t(tokens) * config.kv_heads * 2 * dim * elementBytes);
  }
  return Result::ok();
}

void KVCache::attendHead(const Layer &layer, hgc_rt_tier tier, int32_t kvHead,
                         const float *q, float scale, float *out,
                         float &lse) const {
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  OnlineSoftmax softmax(out, config.head_dim);
  for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
    const Page &page = layer.pages[p];
    if (page.tier != tier)
      continue;
    // A head's tokens within a page are contiguous rows.
    const char *keys = page.slot.data + size_t(kvHead) * pt * rowBytes;
    softmax.addRows(config.dtype, q, scale, keys, keys + halfPageBytes,
                    std::min<int64_t>(pt, layer.tokens - p * pt), rowBytes);
  }
  softmax.finish(lse);
}
