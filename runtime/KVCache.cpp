//===- KVCache.cpp - creation, sequences, appending and reading tokens ----===//

#include "KVCache.h"
#include "Element.h"
#include "Numa.h"

#include <algorithm>
#include <cstdlib>

using namespace hgc::rt;

namespace {
Result invalidConfig(const std::string &why) {
  return Result::error(HGC_RT_INVALID_ARGUMENT, "invalid KV config: " + why);
}

Result validateConfig(const hgc_rt_kv_config &c) {
  if (c.layers <= 0 || c.kv_heads <= 0 || c.head_dim <= 0)
    return invalidConfig("layers, kv_heads and head_dim must be positive");
  if (c.dtype != HGC_RT_F32 && c.dtype != HGC_RT_F16 && c.dtype != HGC_RT_BF16)
    return invalidConfig("dtype must be f32, f16 or bf16");
  if (c.page_tokens <= 0 || (c.page_tokens & (c.page_tokens - 1)))
    return invalidConfig("page_tokens must be a positive power of two, got " +
                         std::to_string(c.page_tokens));
  if (c.sink < 0 || c.window < 0 || c.device_pages < 0 || c.host_pages < 0)
    return invalidConfig("sink, window and capacities must be >= 0");
  if (c.far_pages < 0 || !(c.far_bandwidth_gbs >= 0))
    return invalidConfig("far_pages and far_bandwidth_gbs must be >= 0");
  if (c.far_pages == 0 &&
      ((c.far_numa_nodes && *c.far_numa_nodes) || c.far_bandwidth_gbs > 0))
    return invalidConfig("far_numa_nodes and far_bandwidth_gbs describe a far "
                         "tier; set far_pages to have one");
  if ((c.pq_subspaces != 0 || c.pq_centroids != 0) &&
      !isValidProductQuantizer(c.head_dim, c.pq_subspaces, c.pq_centroids))
    return invalidConfig("pq_subspaces " + std::to_string(c.pq_subspaces) +
                         " must divide head_dim " + std::to_string(c.head_dim) +
                         " and pq_centroids " + std::to_string(c.pq_centroids) +
                         " be a power of two in [2, 65536]");
  return Result::ok();
}

/// The NUMA nodes of node list `list` (each online) in `nodes`; an empty
/// list leaves `nodes` as it is.
Result namedNumaNodes(const char *list, const std::vector<int> &online,
                      std::vector<int> &nodes) {
  if (!list || !*list)
    return Result::ok();
  std::string error;
  if (!numa::parseNodeList(list, nodes, error))
    return invalidConfig(error);
  for (int node : nodes)
    if (std::find(online.begin(), online.end(), node) == online.end())
      return invalidConfig("NUMA node " + std::to_string(node) +
                           " is not online (" + std::to_string(online.size()) +
                           " online)");
  return Result::ok();
}

/// The NUMA nodes host pages interleave over: those `config` names, else
/// every online node when there are several, else none.
Result hostNumaNodes(const hgc_rt_kv_config &config, std::vector<int> &nodes) {
  std::vector<int> online = numa::onlineNodes();
  if (!config.host_numa_nodes || !*config.host_numa_nodes) {
    if (online.size() > 1)
      nodes = online;
    return Result::ok();
  }
  return namedNumaNodes(config.host_numa_nodes, online, nodes);
}
} // namespace

KVCache::KVCache(const hgc_rt_kv_config &config)
    : config(config), storageDir(config.storage_dir ? config.storage_dir : ""),
      elementBytes(dtypeBytes(config.dtype)),
      halfPageBytes(size_t(config.kv_heads) * config.page_tokens *
                    config.head_dim * elementBytes) {}

KVCache::~KVCache() = default;

Result KVCache::create(const hgc_rt_kv_config &c,
                       std::unique_ptr<KVCache> &cache) {
  if (Result r = validateConfig(c); r.failed())
    return r;
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
  if (Result r = hostNumaNodes(c, host.numaNodes); r.failed())
    return r;
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
  if (c.far_pages > 0) {
    HostPlacement far;
    far.driver = driver;
    if (Result r = namedNumaNodes(c.far_numa_nodes, numa::onlineNodes(),
                                  far.numaNodes);
        r.failed())
      return r;
    built->farIsEmulated = far.numaNodes.empty();
    built->farSpace = SlotSpace::reserve(slot, {c.far_pages}, spaceError);
    if (!built->farSpace)
      return Result::error(HGC_RT_CAPACITY, spaceError);
    built->stores[HGC_RT_TIER_FAR] =
        createFarStore(c.far_pages, built->farSpace->region(0), std::move(far),
                       c.far_bandwidth_gbs * 1e9);
  }
  if (!built->storageDir.empty()) {
    std::string error;
    built->stores[HGC_RT_TIER_STORAGE] =
        createFileStore(built->storageDir, slot, 0, error);
    if (!built->stores[HGC_RT_TIER_STORAGE])
      return Result::error(HGC_RT_IO, error);
  }
  const char *mirror = std::getenv("HGC_RT_DEVICE_MIRROR");
  built->mirrorDevice =
      c.device_mirror != 0 || (mirror && std::string(mirror) == "1");
  cache = std::move(built);
  return Result::ok();
}

hgc_rt_kv_stats KVCache::stats() const {
  hgc_rt_kv_stats s{};
  for (int t = 0; t < HGC_RT_TIERS; ++t)
    s.pages[t] = stores[t] ? stores[t]->used() : 0;
  // Each page counts once, where it lives; host copies are counted apart.
  s.pages[HGC_RT_TIER_HOST] -= mirroredPages;
  s.tokens = totalTokens;
  s.moved_pages = movedPages;
  // f32 summaries per page, and their copy in the cache's dtype.
  double summaries = 2.0 * config.kv_heads * config.head_dim *
                     (sizeof(float) + elementBytes) / config.page_tokens;
  double quantized =
      config.quantize_keys
          ? double(config.kv_heads) * (config.head_dim + sizeof(float))
          : 0.0;
  // A channel-major key copy, and f32 value sums per page.
  double channels = config.channel_keys
                        ? double(config.kv_heads) * config.head_dim *
                              (double(elementBytes) +
                               double(sizeof(float)) / config.page_tokens)
                        : 0.0;
  // Product-quantized codes (the codebooks are per sequence, not per token).
  double pq = config.pq_subspaces > 0
                  ? double(config.kv_heads) * config.pq_subspaces *
                        PqTable::codeBytes(config)
                  : 0.0;
  s.metadata_bytes_per_token = summaries + quantized + channels + pq;
  s.device_is_cuda = stores[HGC_RT_TIER_DEVICE]->isCuda() ? 1 : 0;
  s.host_is_pinned = stores[HGC_RT_TIER_HOST]->isPinned() ? 1 : 0;
  s.host_numa_nodes = numaNodes;
  s.far_is_emulated = stores[HGC_RT_TIER_FAR] && farIsEmulated ? 1 : 0;
  s.device_mirror = mirrorDevice ? 1 : 0;
  s.mirrored_pages = mirroredPages;
  s.failed_over_pages = failedOverPages;
  return s;
}

//===----------------------------------------------------------------------===//
// Sequences and argument checks
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
      releasePage(page);
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

Result KVCache::withPage(int64_t seq, int32_t layerIndex, int64_t page,
                         const std::function<Result(Page &)> &use) {
  return withLayerPage(seq, layerIndex, page,
                       [&](Layer &, Page &p) { return use(p); });
}

Result
KVCache::withLayerPage(int64_t seq, int32_t layerIndex, int64_t page,
                       const std::function<Result(Layer &, Page &)> &use) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  Layer &layer = sequence->layers[layerIndex];
  if (Result r = checkPage(page, layer.pages.size()); r.failed())
    return r;
  return use(layer, layer.pages[page]);
}

Result KVCache::checkPage(int64_t page, size_t pages) {
  if (page >= 0 && page < int64_t(pages))
    return Result::ok();
  return Result::error(HGC_RT_OUT_OF_RANGE, "page " + std::to_string(page) +
                                                " of " + std::to_string(pages));
}

Result KVCache::checkTier(hgc_rt_tier tier) {
  if (tier < HGC_RT_TIER_DEVICE || tier > HGC_RT_TIER_STORAGE)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "unknown tier");
  return Result::ok();
}

Result KVCache::checkBlock(const hgc_rt_kv_block &block) const {
  return checkBlockShape(config, block);
}

Result hgc::rt::checkBlockShape(const hgc_rt_kv_config &config,
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
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Tokens
//===----------------------------------------------------------------------===//

Result KVCache::writeKeysValues(const Page &page, size_t offset,
                                const char *keys, const char *values,
                                size_t bytes) const {
  std::string error;
  PageStore *tier = store(page.tier);
  hgc_rt_status status = HGC_RT_OK;
  // The host copy first: a device write that fails then loses nothing.
  if (page.mirrored) {
    PageStore *host = store(HGC_RT_TIER_HOST);
    status = host->write(page.mirror, offset, keys, bytes, error);
    if (status == HGC_RT_OK)
      status = host->write(page.mirror, halfPageBytes + offset, values, bytes,
                           error);
    if (status != HGC_RT_OK)
      return Result::error(status, error);
  }
  status = tier->write(page.slot, offset, keys, bytes, error);
  if (status == HGC_RT_OK)
    status =
        tier->write(page.slot, halfPageBytes + offset, values, bytes, error);
  return status == HGC_RT_OK ? Result::ok() : Result::error(status, error);
}

Result KVCache::readKeysValues(const Page &page, size_t offset, char *keys,
                               char *values, size_t bytes) const {
  std::string error;
  // A device page's host copy holds the same bytes, nearer.
  PageStore *tier = store(page.mirrored ? HGC_RT_TIER_HOST : page.tier);
  const Slot &slot = page.mirrored ? page.mirror : page.slot;
  hgc_rt_status status = tier->read(slot, offset, keys, bytes, error);
  if (status == HGC_RT_OK)
    status = tier->read(slot, halfPageBytes + offset, values, bytes, error);
  return status == HGC_RT_OK ? Result::ok() : Result::error(status, error);
}

Result KVCache::forEachRun(
    const Layer &layer, int64_t first, int64_t count,
    const std::function<Result(const Page &, size_t, size_t, size_t)> &copy)
    const {
  int64_t pt = config.page_tokens;
  size_t rowBytes = size_t(config.head_dim) * elementBytes;
  for (int64_t i = 0; i < count;) {
    const Page &page = layer.pages[(first + i) / pt];
    int64_t offset = (first + i) % pt;
    int64_t run = std::min(pt - offset, count - i);
    for (int32_t h = 0; h < config.kv_heads; ++h)
      if (Result r =
              copy(page, (size_t(h) * pt + offset) * rowBytes,
                   (size_t(h) * count + i) * rowBytes, size_t(run) * rowBytes);
          r.failed())
        return r;
    i += run;
  }
  return Result::ok();
}

Result KVCache::append(int64_t seq, int32_t layerIndex,
                       const hgc_rt_kv_block &block) {
  if (Result r = checkBlock(block); r.failed())
    return r;
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layerIndex, sequence, lock); r.failed())
    return r;
  Layer &layer = sequence->layers[layerIndex];
  int64_t pt = config.page_tokens;
  int64_t tokens = layer.tokens + block.tokens;
  int64_t pagesNeeded = (tokens + pt - 1) / pt;
  // Slide the window first: pages leaving it free device slots for new ones.
  slideWindow(layer, tokens);
  if (Result r = addPages(layer, pagesNeeded, tokens); r.failed())
    return r;
  // The length changes only once every byte is in place: a failed device
  // copy leaves the sequence as it was.
  const char *keys = static_cast<const char *>(block.keys);
  const char *values = static_cast<const char *>(block.values);
  auto write = [&] {
    return forEachRun(
        layer, layer.tokens, block.tokens,
        [&](const Page &page, size_t inPage, size_t inBlock, size_t bytes) {
          return writeKeysValues(page, inPage, keys + inBlock, values + inBlock,
                                 bytes);
        });
  };
  Result written = write();
  // A failed device keeps no KV of a mirrored cache: its pages become their
  // host copies and the (idempotent) write runs again there.
  if (written.status == HGC_RT_DEVICE && mirrorDevice) {
    failOver(layer);
    written = write();
  }
  if (written.failed())
    return written;
  addKeyMetadata(layer, block, pagesNeeded);
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
  const Layer &layer = sequence->layers[layerIndex];
  if (first < 0 || count < 0 || first + count > layer.tokens)
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "tokens [" + std::to_string(first) + ", " +
                             std::to_string(first + count) + ") of " +
                             std::to_string(layer.tokens));
  if (count > 0 && (!keys || !values))
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null output buffer");
  return forEachRun(
      layer, first, count,
      [&](const Page &page, size_t inPage, size_t inBuffer, size_t bytes) {
        return readKeysValues(page, inPage,
                              static_cast<char *>(keys) + inBuffer,
                              static_cast<char *>(values) + inBuffer, bytes);
      });
}

Result KVCache::length(int64_t seq, int32_t layer, int64_t &tokens) {
  std::shared_ptr<Sequence> sequence;
  std::unique_lock<std::mutex> lock;
  if (Result r = lockSequence(seq, layer, sequence, lock); r.failed())
    return r;
  tokens = sequence->layers[layer].tokens;
  return Result::ok();
}

Result KVCache::pageTier(int64_t seq, int32_t layer, int64_t page,
                         hgc_rt_tier &tier) {
  return withPage(seq, layer, page, [&](Page &p) {
    tier = p.tier;
    return Result::ok();
  });
}
