//===- KVMovement.cpp - placing pages on tiers and moving them ------------===//
//
// Hot pages (sinks and the recent window) go to the device, the rest to the
// host; a full tier spills to the next one down (host, far, storage). Appends
// slide the window, moving pages that left it down; recalls move a page up on
// the copy engine.
//
//===----------------------------------------------------------------------===//

#include "Faults.h"
#include "KVCache.h"

#include <algorithm>
#include <cstring>

using namespace hgc::rt;

bool KVCache::isHot(int64_t page, int64_t tokens) const {
  int64_t begin = page * config.page_tokens;
  int64_t end = std::min<int64_t>(begin + config.page_tokens, tokens);
  return begin < config.sink ||
         (config.window > 0 && end > tokens - config.window);
}

Result KVCache::allocate(hgc_rt_tier preferred, hgc_rt_tier &tier, Slot &slot) {
  std::string reasons;
  for (int t = preferred; t <= HGC_RT_TIER_STORAGE; ++t) {
    PageStore *candidate = store(hgc_rt_tier(t));
    std::string error = "disabled";
    if (candidate) {
      hgc_rt_status status = candidate->allocate(slot, error);
      if (status == HGC_RT_OK) {
        tier = hgc_rt_tier(t);
        return Result::ok();
      }
      if (status != HGC_RT_CAPACITY)
        return Result::error(status, error);
    }
    reasons += std::string(reasons.empty() ? "" : ", ") +
               tierName(hgc_rt_tier(t)) + ": " + error;
  }
  return Result::error(HGC_RT_CAPACITY,
                       "no tier has room for a page (" + reasons + ")");
}

void KVCache::releasePage(Page &page) {
  store(page.tier)->release(page.slot);
  if (page.mirrored) {
    store(HGC_RT_TIER_HOST)->release(page.mirror);
    page.mirrored = false;
    --mirroredPages;
  }
}

void KVCache::failOver(Layer &layer) {
  for (Page &page : layer.pages) {
    if (!page.mirrored)
      continue;
    store(HGC_RT_TIER_DEVICE)->release(page.slot);
    page.tier = HGC_RT_TIER_HOST;
    page.slot = page.mirror;
    page.mirrored = false;
    page.recalled = false;
    --mirroredPages;
    ++failedOverPages;
  }
}

void KVCache::slideWindow(Layer &layer, int64_t tokens) {
  for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
    Page &page = layer.pages[p];
    if (page.tier == HGC_RT_TIER_DEVICE && !page.recalled && !isHot(p, tokens))
      (void)move(page, HGC_RT_TIER_HOST);
  }
}

Result KVCache::addPages(Layer &layer, int64_t pages, int64_t tokens) {
  // Every page gets its slot before any joins the layer: all or nothing.
  std::vector<Page> fresh;
  for (int64_t p = int64_t(layer.pages.size()); p < pages; ++p) {
    Page page;
    hgc_rt_tier preferred =
        isHot(p, tokens) ? HGC_RT_TIER_DEVICE : HGC_RT_TIER_HOST;
    // A mirrored cache has no device page without its host copy: without
    // host room for one, the page starts on the host.
    if (preferred == HGC_RT_TIER_DEVICE && mirrorDevice) {
      std::string ignored;
      page.mirrored =
          store(HGC_RT_TIER_HOST)->allocate(page.mirror, ignored) == HGC_RT_OK;
      if (page.mirrored)
        ++mirroredPages;
      else
        preferred = HGC_RT_TIER_HOST;
    }
    Result placed = allocate(preferred, page.tier, page.slot);
    if (page.mirrored && (placed.failed() || page.tier != HGC_RT_TIER_DEVICE)) {
      store(HGC_RT_TIER_HOST)->release(page.mirror); // the device was full
      page.mirrored = false;
      --mirroredPages;
    }
    if (placed.failed()) {
      for (Page &undo : fresh)
        releasePage(undo);
      return placed;
    }
    page.metadata = PageKeyMetadata::empty(config);
    fresh.push_back(std::move(page));
  }
  for (Page &page : fresh)
    layer.pages.push_back(std::move(page));
  return Result::ok();
}

Result KVCache::copyPage(PageStore *from, const Slot &source, PageStore *to,
                         const Slot &target) {
  size_t bytes = 2 * halfPageBytes;
  std::string error;
  hgc_rt_status status = HGC_RT_OK;
  // One side is always host-addressable (only the device tier may not be):
  // one copy, straight from or into pinned host pages when CUDA is there.
  if (source.data && target.data) {
    if (faults::shouldFail(HGC_RT_FAULT_COPY)) {
      // As a failing copy engine would: part of the page landed.
      std::memcpy(target.data, source.data, bytes / 2);
      return Result::error(HGC_RT_IO, std::string("a page copy from ") +
                                          tierName(from->tier()) + " to " +
                                          tierName(to->tier()) +
                                          " failed partway (injected fault)");
    }
    std::memcpy(target.data, source.data, bytes);
    from->charge(bytes); // a paced far tier's link carries the move
    to->charge(bytes);
  } else if (source.data)
    status = to->write(target, 0, source.data, bytes, error);
  else if (target.data)
    status = from->read(source, 0, target.data, bytes, error);
  else
    return Result::error(HGC_RT_DEVICE, "device-to-device page copy");
  return status == HGC_RT_OK ? Result::ok() : Result::error(status, error);
}

Result KVCache::move(Page &page, hgc_rt_tier target) {
  if (page.tier == target)
    return Result::ok();
  // Down from the device to the host: the host copy becomes the page.
  if (page.mirrored && target == HGC_RT_TIER_HOST) {
    store(HGC_RT_TIER_DEVICE)->release(page.slot);
    page.tier = HGC_RT_TIER_HOST;
    page.slot = page.mirror;
    page.mirrored = false;
    --mirroredPages;
    ++movedPages;
    return Result::ok();
  }
  hgc_rt_tier tier;
  Slot slot;
  if (Result r = allocate(target, tier, slot); r.failed())
    return r;
  return relocate(page, tier, slot);
}

Result KVCache::relocate(Page &page, hgc_rt_tier tier, const Slot &slot) {
  PageStore *host = store(HGC_RT_TIER_HOST);
  // Onto a mirrored device, a page keeps a host copy: its host slot, or one
  // it is staged through from a lower tier.
  bool mirrorIt = tier == HGC_RT_TIER_DEVICE && mirrorDevice;
  Slot staged;
  if (mirrorIt && page.tier != HGC_RT_TIER_HOST) {
    std::string error;
    if (hgc_rt_status status = host->allocate(staged, error);
        status != HGC_RT_OK) {
      store(tier)->release(slot);
      return Result::error(status, "no host room for the copy of a page on "
                                   "the mirrored device: " +
                                       error);
    }
    if (Result r = copyPage(store(page.tier), page.slot, host, staged);
        r.failed()) {
      host->release(staged);
      store(tier)->release(slot);
      return r;
    }
  }
  // A mirrored page is read from its host copy, never from the device.
  PageStore *from =
      page.mirrored || staged.index >= 0 ? host : store(page.tier);
  const Slot &source = page.mirrored       ? page.mirror
                       : staged.index >= 0 ? staged
                                           : page.slot;
  if (Result r = copyPage(from, source, store(tier), slot); r.failed()) {
    if (staged.index >= 0)
      host->release(staged);
    store(tier)->release(slot);
    return r;
  }
  if (mirrorIt) {
    if (staged.index >= 0)
      store(page.tier)->release(page.slot);
    page.mirror = staged.index >= 0 ? staged : page.slot;
    page.mirrored = true;
    ++mirroredPages;
  } else {
    releasePage(page);
  }
  page.tier = tier;
  page.slot = slot;
  ++movedPages;
  return Result::ok();
}

Result KVCache::recall(int64_t seq, int32_t layerIndex, int64_t page,
                       uint64_t &ticket) {
  std::shared_ptr<Sequence> sequence;
  {
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
      return r;
    if (Result r = checkPage(page, sequence->layers[layerIndex].pages.size());
        r.failed())
      return r;
  }
  ticket = copies.submit([this, sequence, seq, layerIndex, page]() -> Result {
    std::lock_guard<std::mutex> lock(sequence->mutex);
    if (sequence->released)
      return Result::error(HGC_RT_UNKNOWN_SEQUENCE,
                           "sequence " + std::to_string(seq) +
                               " was released before its recall ran");
    Page &p = sequence->layers[layerIndex].pages[page];
    if (p.tier != HGC_RT_TIER_DEVICE) {
      Slot slot;
      std::string error;
      if (store(HGC_RT_TIER_DEVICE)->allocate(slot, error) != HGC_RT_OK)
        return Result::error(HGC_RT_CAPACITY, "cannot recall page " +
                                                  std::to_string(page) +
                                                  " to the device: " + error);
      if (Result r = relocate(p, HGC_RT_TIER_DEVICE, slot); r.failed())
        return r;
    }
    p.recalled = true;
    return Result::ok();
  });
  return Result::ok();
}

Result KVCache::settle(int64_t seq, int32_t layerIndex, int64_t page) {
  return withLayerPage(seq, layerIndex, page, [&](Layer &layer, Page &p) {
    p.recalled = false;
    hgc_rt_tier placed =
        isHot(page, layer.tokens) ? HGC_RT_TIER_DEVICE : HGC_RT_TIER_HOST;
    // Above its place (recalled): down, as the window's pages go.
    if (p.tier < placed)
      return move(p, placed);
    // Below it (evicted, or spilled by a full tier): up into room only.
    for (int t = placed; t < p.tier; ++t) {
      PageStore *above = store(hgc_rt_tier(t));
      Slot slot;
      std::string error;
      if (!above || above->allocate(slot, error) != HGC_RT_OK)
        continue;
      // No host room for a mirrored device page's copy is no room either.
      Result moved = relocate(p, hgc_rt_tier(t), slot);
      if (moved.status != HGC_RT_CAPACITY)
        return moved;
    }
    return Result::ok();
  });
}

Result KVCache::evict(int64_t seq, int32_t layerIndex, int64_t page) {
  PageStore *storage = store(HGC_RT_TIER_STORAGE);
  if (!storage)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "the cache has no storage tier (storage_dir) to "
                         "evict pages to");
  return withLayerPage(seq, layerIndex, page, [&](Layer &layer, Page &p) {
    if (isHot(page, layer.tokens))
      return Result::error(HGC_RT_OUT_OF_RANGE,
                           "page " + std::to_string(page) +
                               " holds sink or window tokens; placement "
                               "keeps it on the device tier");
    p.recalled = false;
    if (p.tier == HGC_RT_TIER_STORAGE)
      return Result::ok();
    Slot slot;
    std::string error;
    if (hgc_rt_status status = storage->allocate(slot, error);
        status != HGC_RT_OK)
      return Result::error(status, error);
    return relocate(p, HGC_RT_TIER_STORAGE, slot);
  });
}

Result KVCache::wait(uint64_t ticket) { return copies.wait(ticket); }
