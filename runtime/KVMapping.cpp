//===- KVMapping.cpp - cold pages placed by attention mass ----------------===//
//
// HybridGen's semantic-aware mapping: which cold pages deserve the faster
// cold tiers is decided by measured importance, not by age. The caller
// reports each step's attention mass per page (hgc_rt_kv_add_page_mass); a
// page keeps it with exponential decay. A remap (on the copy engine) then
// trades places between cold pages of the host, far and storage tiers:
// while the hottest page of a slower tier holds more than (1 + margin) times
// the mass of the coldest page of a faster one (and more by margin times the
// pages' mean mass), the two swap slots (pages
// sorted by mass and matched to the tiers' current page counts, tier by
// tier, O(n log n)), each page copied bit-exactly and no tier holding more
// pages than before.
// Sinks, window and recalled pages stay where placement and recall put
// them.
//
//===----------------------------------------------------------------------===//

#include "KVCache.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace hgc::rt;

namespace {
/// Writes that put a page back after a failed swap, tried this many times.
constexpr int kRestoreAttempts = 8;

bool isColdTier(hgc_rt_tier tier) {
  return tier == HGC_RT_TIER_HOST || tier == HGC_RT_TIER_FAR ||
         tier == HGC_RT_TIER_STORAGE;
}
} // namespace

Result KVCache::addPageMass(int64_t seq, int32_t layerIndex,
                            const float *masses, int64_t pages, float decay) {
  if (!(decay >= 0.0f && decay <= 1.0f))
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "decay must be in [0, 1], got " +
                             std::to_string(decay));
  if (pages < 0 || (pages > 0 && !masses))
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null or negative masses");
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  Layer &layer = sequence->layers[layerIndex];
  if (pages > int64_t(layer.pages.size()))
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         std::to_string(pages) + " masses for " +
                             std::to_string(layer.pages.size()) + " pages");
  for (int64_t p = 0; p < pages; ++p)
    if (!(masses[p] >= 0.0f) || std::isinf(masses[p]))
      return Result::error(HGC_RT_INVALID_ARGUMENT,
                           "page " + std::to_string(p) +
                               "'s mass must be finite and >= 0");
  for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
    Page &page = layer.pages[p];
    page.mass = decay * page.mass + (p < pages ? double(masses[p]) : 0.0);
  }
  return Result::ok();
}

Result KVCache::pageMass(int64_t seq, int32_t layerIndex, int64_t page,
                         double &mass) {
  return withPage(seq, layerIndex, page, [&](Page &p) {
    mass = p.mass;
    return Result::ok();
  });
}

Result KVCache::swapPages(Page &a, Page &b) {
  size_t bytes = 2 * halfPageBytes;
  std::vector<char> first(bytes), second(bytes);
  std::string error;
  PageStore *storeA = store(a.tier), *storeB = store(b.tier);
  if (hgc_rt_status status =
          storeA->read(a.slot, 0, first.data(), bytes, error))
    return Result::error(status, error);
  if (hgc_rt_status status =
          storeB->read(b.slot, 0, second.data(), bytes, error))
    return Result::error(status, error);
  // Written one way, then the other. A failed write may have landed in
  // part, so whatever was written is put back from the copies read above,
  // retried as transient copy errors are: both pages stay what they were.
  auto restore = [&](PageStore *tier, const Slot &slot,
                     const std::vector<char> &bytesOf) {
    std::string ignored;
    for (int attempt = 0; attempt < kRestoreAttempts; ++attempt)
      if (tier->write(slot, 0, bytesOf.data(), bytes, ignored) == HGC_RT_OK)
        return true;
    return false;
  };
  auto failed = [&](hgc_rt_status status, bool restored) {
    return Result::error(status, restored ? error
                                          : error + "; a page could not be "
                                                    "restored after it");
  };
  if (hgc_rt_status status =
          storeA->write(a.slot, 0, second.data(), bytes, error))
    return failed(status, restore(storeA, a.slot, first));
  if (hgc_rt_status status =
          storeB->write(b.slot, 0, first.data(), bytes, error))
    return failed(status, restore(storeB, b.slot, second) &&
                              restore(storeA, a.slot, first));
  std::swap(a.tier, b.tier);
  std::swap(a.slot, b.slot);
  movedPages += 2;
  return Result::ok();
}

Result KVCache::remap(int64_t seq, int32_t layerIndex, float margin,
                      uint64_t &ticket) {
  if (!(margin >= 0.0f) || std::isinf(margin))
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "margin must be finite and >= 0");
  std::shared_ptr<Sequence> sequence;
  {
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
      return r;
  }
  ticket = copies.submit(
      [this, sequence, seq, layerIndex, margin]() {
        std::lock_guard<std::mutex> lock(sequence->mutex);
        if (sequence->released)
          return Result::error(HGC_RT_UNKNOWN_SEQUENCE,
                               "sequence " + std::to_string(seq) +
                                   " was released before its remap ran");
        Layer &layer = sequence->layers[layerIndex];
        // The cold pages free to move, in page order.
        std::vector<Page *> cold;
        for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
          Page &page = layer.pages[p];
          if (isColdTier(page.tier) && !page.recalled &&
              !isHot(p, layer.tokens))
            cold.push_back(&page);
        }
        // Where mass says they belong: as many pages on each tier as now, the
        // hottest on the fastest. Then, fastest tier first, the pages that
        // belong there (hottest first) trade with the pages there that do not
        // (coldest first), when the mass gap beats the margin (hysteresis:
        // near-equal pages stay put).
        std::vector<Page *> byMass = cold;
        // Ties in page order (the pages are one vector), so the result is
        // deterministic.
        std::sort(byMass.begin(), byMass.end(), [](Page *a, Page *b) {
          return a->mass > b->mass || (a->mass == b->mass && a < b);
        });
        std::vector<hgc_rt_tier> places;
        double total = 0;
        for (Page *page : cold) {
          places.push_back(page->tier);
          total += page->mass;
        }
        // The gap must also beat the margin's share of the mean mass: pages
        // next to nothing (no query looked there) do not churn between tiers.
        double minGap =
            cold.empty() ? 0.0 : double(margin) * total / double(cold.size());
        std::sort(places.begin(), places.end());
        for (hgc_rt_tier tier : {HGC_RT_TIER_HOST, HGC_RT_TIER_FAR}) {
          std::vector<Page *> in, out;
          for (size_t i = 0; i < byMass.size(); ++i) {
            if (places[i] == tier && byMass[i]->tier != tier)
              in.push_back(byMass[i]);
            else if (places[i] != tier && byMass[i]->tier == tier)
              out.push_back(byMass[i]);
          }
          std::reverse(out.begin(), out.end());
          for (size_t i = 0; i < std::min(in.size(), out.size()); ++i)
            if (in[i]->mass > (1.0 + double(margin)) * out[i]->mass &&
                in[i]->mass - out[i]->mass > minGap)
              if (Result r = swapPages(*in[i], *out[i]); r.failed())
                return r;
        }
        return Result::ok();
      },
      CopyEngine::Priority::Background);
  return Result::ok();
}
