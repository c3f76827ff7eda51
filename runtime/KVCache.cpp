//===- KVCache.cpp - the multi-tier KV cache -----------------------------===//

#include "KVCache.h"
#include "Numa.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

using namespace hgc::rt;

namespace {
const char *tierName(hgc_rt_tier tier) {
  switch (tier) {
  case HGC_RT_TIER_DEVICE:
    return "device";
  case HGC_RT_TIER_HOST:
    return "host";
  case HGC_RT_TIER_STORAGE:
    return "storage";
  }
  return "?";
}

const char *dtypeName(hgc_rt_dtype dtype) {
  switch (dtype) {
  case HGC_RT_F32:
    return "f32";
  case HGC_RT_F16:
    return "f16";
  case HGC_RT_BF16:
    return "bf16";
  }
  return "?";
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else { // subnormal: normalize
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
} // namespace

KVCache::KVCache(const hgc_rt_kv_config &config)
    : config(config), storageDir(config.storage_dir ? config.storage_dir : ""),
      elementBytes(config.dtype == HGC_RT_F32 ? 4 : 2),
      halfPageBytes(size_t(config.kv_heads) * config.page_tokens *
                    config.head_dim * elementBytes) {}

KVCache::~KVCache() = default;

Result KVCache::create(const hgc_rt_kv_config &c,
                       std::unique_ptr<KVCache> &cache) {
  auto invalid = [](const std::string &why) {
    return Result::error(HGC_RT_INVALID_ARGUMENT, "invalid KV config: " + why);
  };
  if (c.layers <= 0 || c.kv_heads <= 0 || c.head_dim <= 0)
    return invalid("layers, kv_heads and head_dim must be positive");
  if (c.dtype != HGC_RT_F32 && c.dtype != HGC_RT_F16 && c.dtype != HGC_RT_BF16)
    return invalid("dtype must be f32, f16 or bf16");
  if (c.page_tokens <= 0 || (c.page_tokens & (c.page_tokens - 1)))
    return invalid("page_tokens must be a positive power of two, got " +
                   std::to_string(c.page_tokens));
  if (c.sink < 0 || c.window < 0 || c.device_pages < 0 || c.host_pages < 0)
    return invalid("sink, window and capacities must be >= 0");
  std::unique_ptr<KVCache> built(new KVCache(c));
  size_t slot = 2 * built->halfPageBytes;
  // CUDA device memory when a driver and a GPU exist (and
  // HGC_RT_DEVICE=emulated does not ask otherwise), else host-emulated.
  const char *device = std::getenv("HGC_RT_DEVICE");
  std::shared_ptr<CudaDriver> driver;
  std::string why;
  if (!device || std::string(device) != "emulated")
    driver = CudaDriver::open(why);
  HostPlacement host;
  host.driver = driver;
  if (c.host_numa_nodes && *c.host_numa_nodes) {
    std::string error;
    if (!numa::parseNodeList(c.host_numa_nodes, host.numaNodes, error))
      return invalid(error);
    std::vector<int> online = numa::onlineNodes();
    for (int node : host.numaNodes)
      if (std::find(online.begin(), online.end(), node) == online.end())
        return invalid("NUMA node " + std::to_string(node) +
                       " is not online (" + std::to_string(online.size()) +
                       " online)");
  } else if (std::vector<int> online = numa::onlineNodes(); online.size() > 1) {
    host.numaNodes = online;
  }
  built->numaNodes = int32_t(host.numaNodes.size());
  // One slot space for the host-addressable tiers: [device,] host.
  std::vector<int64_t> regions;
  if (!driver)
    regions.push_back(c.device_pages);
  regions.push_back(c.host_pages);
  std::string spaceError;
  built->space = SlotSpace::reserve(slot, regions, spaceError);
  if (!built->space)
    return Result::error(HGC_RT_CAPACITY, spaceError);
  const SlotSpace &space = *built->space;
  built->stores[HGC_RT_TIER_DEVICE] =
      driver ? createCudaStore(driver, slot, c.device_pages)
             : createHostStore(HGC_RT_TIER_DEVICE, c.device_pages,
                               space.region(0), {});
  built->stores[HGC_RT_TIER_HOST] =
      createHostStore(HGC_RT_TIER_HOST, c.host_pages,
                      space.region(regions.size() - 1), std::move(host));
  if (!built->storageDir.empty()) {
    std::string error;
    built->stores[HGC_RT_TIER_STORAGE] =
        createFileStore(built->storageDir, slot, 0, error);
    if (!built->stores[HGC_RT_TIER_STORAGE])
      return Result::error(HGC_RT_IO, error);
  }
  cache = std::move(built);
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Sequences
//===----------------------------------------------------------------------===//

Result KVCache::addSequence(int64_t seq) {
  std::lock_guard<std::mutex> lock(sequencesMutex);
  auto sequence = std::make_shared<Sequence>();
  sequence->layers.resize(config.layers);
  if (!sequences.emplace(seq, std::move(sequence)).second)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "sequence " + std::to_string(seq) + " already exists");
  return Result::ok();
}

Result KVCache::releaseSequence(int64_t seq) {
  std::shared_ptr<Sequence> sequence;
  {
    std::lock_guard<std::mutex> lock(sequencesMutex);
    auto it = sequences.find(seq);
    if (it == sequences.end())
      return Result::error(HGC_RT_UNKNOWN_SEQUENCE,
                           "unknown sequence " + std::to_string(seq));
    sequence = std::move(it->second);
    sequences.erase(it);
  }
  std::lock_guard<std::mutex> lock(sequence->mutex);
  sequence->released = true;
  for (Layer &layer : sequence->layers) {
    for (Page &page : layer.pages)
      store(page.tier)->release(page.slot);
    totalTokens -= layer.tokens;
    layer = Layer();
  }
  return Result::ok();
}

Result KVCache::lockSequence(int64_t seq, int32_t layer,
                             std::shared_ptr<Sequence> &sequence,
                             std::unique_lock<std::mutex> &lock) {
  if (layer < 0 || layer >= config.layers)
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "layer " + std::to_string(layer) + " of " +
                             std::to_string(config.layers));
  {
    std::lock_guard<std::mutex> mapLock(sequencesMutex);
    auto it = sequences.find(seq);
    if (it != sequences.end())
      sequence = it->second;
  }
  if (sequence) {
    lock = std::unique_lock<std::mutex>(sequence->mutex);
    if (!sequence->released)
      return Result::ok();
  }
  return Result::error(HGC_RT_UNKNOWN_SEQUENCE,
                       "unknown sequence " + std::to_string(seq));
}

//===----------------------------------------------------------------------===//
// Placement
//===----------------------------------------------------------------------===//

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

Result KVCache::copyPage(PageStore *from, const Slot &source, PageStore *to,
                         const Slot &target) {
  size_t bytes = 2 * halfPageBytes;
  std::string error;
  hgc_rt_status status = HGC_RT_OK;
  // One side is always host-addressable (only the device tier may not be):
  // one copy, straight from or into pinned host pages when CUDA is there.
  if (source.data && target.data)
    std::memcpy(target.data, source.data, bytes);
  else if (source.data)
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
  hgc_rt_tier tier;
  Slot slot;
  if (Result r = allocate(target, tier, slot); r.failed())
    return r;
  return relocate(page, tier, slot);
}

Result KVCache::relocate(Page &page, hgc_rt_tier tier, const Slot &slot) {
  if (Result r = copyPage(store(page.tier), page.slot, store(tier), slot);
      r.failed()) {
    store(tier)->release(slot);
    return r;
  }
  store(page.tier)->release(page.slot);
  page.tier = tier;
  page.slot = slot;
  ++movedPages;
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Data
//===----------------------------------------------------------------------===//

float KVCache::toFloat(const char *element) const {
  if (config.dtype == HGC_RT_F32) {
    float f;
    std::memcpy(&f, element, sizeof(f));
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, element, sizeof(bits));
  if (config.dtype == HGC_RT_F16)
    return halfToFloat(bits);
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

void KVCache::updateMetadata(Page &page, int64_t offset, const char *key,
                             int32_t head) {
  int32_t dim = config.head_dim;
  float *lo = page.keyMin.data() + size_t(head) * dim;
  float *hi = page.keyMax.data() + size_t(head) * dim;
  float largest = 0.0f;
  for (int32_t d = 0; d < dim; ++d) {
    float x = toFloat(key + size_t(d) * elementBytes);
    lo[d] = std::min(lo[d], x);
    hi[d] = std::max(hi[d], x);
    largest = std::max(largest, std::fabs(x));
  }
  if (!config.quantize_keys)
    return;
  size_t row = size_t(head) * config.page_tokens + offset;
  float scale = largest > 0.0f ? largest / 127.0f : 0.0f;
  page.scales[row] = scale;
  int8_t *codes = page.codes.data() + row * dim;
  for (int32_t d = 0; d < dim; ++d) {
    float x = toFloat(key + size_t(d) * elementBytes);
    float q = scale > 0.0f ? std::nearbyint(x / scale) : 0.0f;
    codes[d] = int8_t(std::clamp(q, -127.0f, 127.0f));
  }
}

Result KVCache::append(int64_t seq, int32_t layerIndex,
                       const hgc_rt_kv_block &block) {
  if (block.dtype != config.dtype || block.kv_heads != config.kv_heads ||
      block.head_dim != config.head_dim)
    return Result::error(HGC_RT_SHAPE_MISMATCH,
                         std::string("block is ") + dtypeName(block.dtype) +
                             " " + std::to_string(block.kv_heads) + "x" +
                             std::to_string(block.head_dim) +
                             " (KV heads x head dim), cache holds " +
                             dtypeName(config.dtype) + " " +
                             std::to_string(config.kv_heads) + "x" +
                             std::to_string(config.head_dim));
  if (block.tokens < 0 || (block.tokens > 0 && (!block.keys || !block.values)))
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "block needs tokens >= 0 and key/value data");
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  Layer &layer = sequence->layers[layerIndex];
  int64_t pt = config.page_tokens;
  int64_t tokens = layer.tokens + block.tokens;
  int64_t pagesNeeded = (tokens + pt - 1) / pt;

  // Slide the window first: pages leaving it free device slots for new ones.
  // A page no lower tier has room for stays where it is, intact.
  for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
    Page &page = layer.pages[p];
    if (page.tier == HGC_RT_TIER_DEVICE && !page.recalled && !isHot(p, tokens))
      (void)move(page, HGC_RT_TIER_HOST);
  }

  // All new pages get slots before any byte is written: all or nothing.
  std::vector<Page> fresh;
  for (int64_t p = int64_t(layer.pages.size()); p < pagesNeeded; ++p) {
    Page page;
    hgc_rt_tier preferred =
        isHot(p, tokens) ? HGC_RT_TIER_DEVICE : HGC_RT_TIER_HOST;
    if (Result r = allocate(preferred, page.tier, page.slot); r.failed()) {
      for (Page &undo : fresh)
        store(undo.tier)->release(undo.slot);
      return r;
    }
    size_t summary = size_t(config.kv_heads) * config.head_dim;
    page.keyMin.assign(summary, std::numeric_limits<float>::infinity());
    page.keyMax.assign(summary, -std::numeric_limits<float>::infinity());
    if (config.quantize_keys) {
      page.codes.assign(summary * pt, 0);
      page.scales.assign(size_t(config.kv_heads) * pt, 0.0f);
    }
    fresh.push_back(std::move(page));
  }
  for (Page &page : fresh)
    layer.pages.push_back(std::move(page));

  // The length changes only once every byte is in place: a failed device
  // copy leaves the sequence as it was.
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  const char *keys = static_cast<const char *>(block.keys);
  const char *values = static_cast<const char *>(block.values);
  std::string error;
  // Tokens of one head within one page are contiguous on both sides: one
  // copy per (page, head) run, which matters when the page is on a GPU.
  for (int64_t i = 0; i < block.tokens;) {
    int64_t global = layer.tokens + i;
    Page &page = layer.pages[global / pt];
    int64_t offset = global % pt;
    int64_t run = std::min(pt - offset, block.tokens - i);
    PageStore *tier = store(page.tier);
    for (int32_t h = 0; h < config.kv_heads; ++h) {
      size_t source = (size_t(h) * block.tokens + i) * rowBytes;
      size_t target = (size_t(h) * pt + offset) * rowBytes;
      size_t bytes = size_t(run) * rowBytes;
      hgc_rt_status status =
          tier->write(page.slot, target, keys + source, bytes, error);
      if (status == HGC_RT_OK)
        status = tier->write(page.slot, halfPageBytes + target, values + source,
                             bytes, error);
      if (status != HGC_RT_OK)
        return Result::error(status, error);
    }
    i += run;
  }
  for (int64_t i = 0; i < block.tokens; ++i) {
    int64_t global = layer.tokens + i;
    for (int32_t h = 0; h < config.kv_heads; ++h)
      updateMetadata(layer.pages[global / pt], global % pt,
                     keys + (size_t(h) * block.tokens + i) * rowBytes, h);
  }
  if (block.tokens > 0)
    storeSummaries(layer, layer.tokens / pt, pagesNeeded);
  layer.tokens = tokens;
  totalTokens += block.tokens;
  return Result::ok();
}

Result KVCache::read(int64_t seq, int32_t layerIndex, int64_t first,
                     int64_t count, void *keys, void *values) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  Layer &layer = sequence->layers[layerIndex];
  if (first < 0 || count < 0 || first + count > layer.tokens)
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "tokens [" + std::to_string(first) + ", " +
                             std::to_string(first + count) + ") of " +
                             std::to_string(layer.tokens));
  if (count > 0 && (!keys || !values))
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null output buffer");
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  std::string error;
  for (int64_t i = 0; i < count;) {
    const Page &page = layer.pages[(first + i) / pt];
    int64_t offset = (first + i) % pt;
    int64_t run = std::min(pt - offset, count - i);
    PageStore *tier = store(page.tier);
    for (int32_t h = 0; h < config.kv_heads; ++h) {
      size_t target = (size_t(h) * count + i) * rowBytes;
      size_t source = (size_t(h) * pt + offset) * rowBytes;
      size_t bytes = size_t(run) * rowBytes;
      hgc_rt_status status = tier->read(
          page.slot, source, static_cast<char *>(keys) + target, bytes, error);
      if (status == HGC_RT_OK)
        status = tier->read(page.slot, halfPageBytes + source,
                            static_cast<char *>(values) + target, bytes, error);
      if (status != HGC_RT_OK)
        return Result::error(status, error);
    }
    i += run;
  }
  return Result::ok();
}

Result KVCache::length(int64_t seq, int32_t layer, int64_t &tokens) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layer, sequence, lock); r.failed())
    return r;
  tokens = sequence->layers[layer].tokens;
  return Result::ok();
}

namespace {
Result pageOutOfRange(int64_t page, size_t pages) {
  return Result::error(HGC_RT_OUT_OF_RANGE, "page " + std::to_string(page) +
                                                " of " + std::to_string(pages));
}
} // namespace

Result KVCache::withPage(int64_t seq, int32_t layerIndex, int64_t page,
                         const std::function<Result(Page &)> &use) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  std::vector<Page> &pages = sequence->layers[layerIndex].pages;
  if (page < 0 || page >= int64_t(pages.size()))
    return pageOutOfRange(page, pages.size());
  return use(pages[page]);
}

Result KVCache::pageTier(int64_t seq, int32_t layer, int64_t page,
                         hgc_rt_tier &tier) {
  return withPage(seq, layer, page, [&](Page &p) {
    tier = p.tier;
    return Result::ok();
  });
}

Result KVCache::pageSummary(int64_t seq, int32_t layer, int64_t page,
                            int32_t head, float *keyMin, float *keyMax) {
  if (head < 0 || head >= config.kv_heads || !keyMin || !keyMax)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "head out of range or null output");
  return withPage(seq, layer, page, [&](Page &p) {
    size_t at = size_t(head) * config.head_dim;
    std::copy_n(p.keyMin.data() + at, config.head_dim, keyMin);
    std::copy_n(p.keyMax.data() + at, config.head_dim, keyMax);
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
    std::copy_n(p.codes.data() + size_t(head) * rows * config.head_dim,
                rows * config.head_dim, codes);
    std::copy_n(p.scales.data() + size_t(head) * rows, rows, scales);
    return Result::ok();
  });
}

//===----------------------------------------------------------------------===//
// Views for compiled code
//===----------------------------------------------------------------------===//

Result KVCache::gatherTier(const Layer &layer, hgc_rt_tier tier,
                           int64_t capacity, char *keys, char *values,
                           int64_t &count) {
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  std::string error;
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
      PageStore *from = store(tier);
      for (int32_t h = 0; h < config.kv_heads; ++h) {
        // A head's tokens are contiguous in the page: one copy per page.
        size_t source = size_t(h) * pt * rowBytes;
        size_t target = (size_t(h) * capacity + count) * rowBytes;
        hgc_rt_status status = from->read(page.slot, source, keys + target,
                                          tokens * rowBytes, error);
        if (status == HGC_RT_OK)
          status = from->read(page.slot, halfPageBytes + source,
                              values + target, tokens * rowBytes, error);
        if (status != HGC_RT_OK)
          return Result::error(status, error);
      }
    }
    count += tokens;
  }
  return Result::ok();
}

Result KVCache::viewTokens(const int64_t *seqs, int32_t batch, int32_t layer,
                           hgc_rt_tier tier, int64_t &maxTokens) {
  if (batch < 0 || (batch > 0 && !seqs))
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null or negative batch");
  if (tier < HGC_RT_TIER_DEVICE || tier > HGC_RT_TIER_STORAGE)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "unknown tier");
  maxTokens = 0;
  for (int32_t b = 0; b < batch; ++b) {
    std::shared_ptr<Sequence> sequence;
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seqs[b], layer, sequence, lock); r.failed())
      return r;
    int64_t count = 0;
    if (Result r = gatherTier(sequence->layers[layer], tier, 0, nullptr,
                              nullptr, count);
        r.failed())
      return r;
    maxTokens = std::max(maxTokens, count);
  }
  return Result::ok();
}

Result KVCache::view(const int64_t *seqs, int32_t batch, int32_t layer,
                     hgc_rt_tier tier, int64_t capacity, void *keys,
                     void *values, int32_t *lengths) {
  if (batch < 0 || (batch > 0 && (!seqs || !keys || !values || !lengths)) ||
      capacity < 0)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "null output, negative batch or capacity");
  if (tier < HGC_RT_TIER_DEVICE || tier > HGC_RT_TIER_STORAGE)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "unknown tier");
  size_t perSequence =
      size_t(config.kv_heads) * capacity * config.head_dim * elementBytes;
  std::memset(keys, 0, perSequence * batch);
  std::memset(values, 0, perSequence * batch);
  for (int32_t b = 0; b < batch; ++b) {
    std::shared_ptr<Sequence> sequence;
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seqs[b], layer, sequence, lock); r.failed())
      return r;
    int64_t count = 0;
    if (Result r =
            gatherTier(sequence->layers[layer], tier, capacity,
                       static_cast<char *>(keys) + b * perSequence,
                       static_cast<char *>(values) + b * perSequence, count);
        r.failed())
      return r;
    lengths[b] = int32_t(count);
  }
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Attention where the data lives
//===----------------------------------------------------------------------===//

Result KVCache::attend(int64_t seq, int32_t layerIndex, hgc_rt_tier tier,
                       int32_t qHeads, const float *query, float scale,
                       float *output, float *lse) {
  if (tier < HGC_RT_TIER_DEVICE || tier > HGC_RT_TIER_STORAGE)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "unknown tier");
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
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(dim) * elementBytes;
  // Query heads are independent: one per OpenMP thread (the pool the
  // generated host kernels use).
#pragma omp parallel for schedule(static)
  for (int32_t h = 0; h < qHeads; ++h) {
    const float *q = query + size_t(h) * dim;
    float *acc = output + size_t(h) * dim;
    std::fill(acc, acc + dim, 0.0f);
    float m = -std::numeric_limits<float>::infinity(), l = 0.0f;
    int32_t hk = h / group;
    for (int64_t p = 0; p < int64_t(layer.pages.size()); ++p) {
      const Page &page = layer.pages[p];
      if (page.tier != tier)
        continue;
      int64_t count = std::min<int64_t>(pt, layer.tokens - p * pt);
      for (int64_t t = 0; t < count; ++t) {
        const char *k = page.slot.data + (size_t(hk) * pt + t) * rowBytes;
        const char *v = k + halfPageBytes;
        float dot = 0.0f;
        for (int32_t d = 0; d < dim; ++d)
          dot += q[d] * toFloat(k + size_t(d) * elementBytes);
        float s = dot * scale;
        float mNew = std::max(m, s);
        float correction = std::exp(m - mNew), weight = std::exp(s - mNew);
        l = l * correction + weight;
        for (int32_t d = 0; d < dim; ++d)
          acc[d] = acc[d] * correction +
                   weight * toFloat(v + size_t(d) * elementBytes);
        m = mNew;
      }
    }
    if (l > 0.0f) {
      for (int32_t d = 0; d < dim; ++d)
        acc[d] /= l;
      lse[h] = m + std::log(l);
    } else {
      lse[h] = -std::numeric_limits<float>::infinity();
    }
  }
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Recall
//===----------------------------------------------------------------------===//

Result KVCache::recall(int64_t seq, int32_t layerIndex, int64_t page,
                       uint64_t &ticket) {
  std::shared_ptr<Sequence> sequence;
  {
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
      return r;
    size_t pages = sequence->layers[layerIndex].pages.size();
    if (page < 0 || page >= int64_t(pages))
      return pageOutOfRange(page, pages);
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

Result KVCache::wait(uint64_t ticket) { return copies.wait(ticket); }

hgc_rt_kv_stats KVCache::stats() const {
  hgc_rt_kv_stats s{};
  for (int t = 0; t < 3; ++t)
    s.pages[t] = stores[t] ? stores[t]->used() : 0;
  s.tokens = totalTokens;
  s.moved_pages = movedPages;
  // f32 summaries per page, and their copy in the cache's dtype.
  double summaries = 2.0 * config.kv_heads * config.head_dim *
                     (sizeof(float) + elementBytes) / config.page_tokens;
  double quantized =
      config.quantize_keys
          ? double(config.kv_heads) * (config.head_dim + sizeof(float))
          : 0.0;
  s.metadata_bytes_per_token = summaries + quantized;
  s.device_is_cuda = stores[HGC_RT_TIER_DEVICE]->isCuda() ? 1 : 0;
  s.host_is_pinned = stores[HGC_RT_TIER_HOST]->isPinned() ? 1 : 0;
  s.host_numa_nodes = numaNodes;
  return s;
}
