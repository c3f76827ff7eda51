//===- KVCache.h - the multi-tier KV cache ----------------------*- C++ -*-===//
//
// Pages of `page_tokens` tokens per (sequence, layer). A page's bytes are
// keys then values, each [kv_heads][page_tokens][head_dim], in the slot of
// whichever tier holds it; its key metadata (KVMetadata.h) stays in host
// memory, where selection reads it. Host-addressable slots share one
// SlotSpace, so compiled kernels read pages in place (KVPages.cpp). Each
// sequence has its own lock, so threads working on different sequences never
// wait for each other.
//
// The class is implemented by concern: KVCache.cpp (creation, sequences,
// appending and reading tokens), KVMovement.cpp (placing pages on tiers,
// moving and recalling them), KVMetadata.cpp (key summaries and int8 codes),
// KVViews.cpp (tier views gathered for compiled code), KVPages.cpp (pages
// read in place), KVAttend.cpp (attention over one tier's pages) and
// KVMapping.cpp (cold pages placed by their attention mass).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_KVCACHE_H
#define HGC_RUNTIME_KVCACHE_H

#include "CopyEngine.h"
#include "KVMetadata.h"
#include "PageStore.h"
#include "Result.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hgc::rt {

/// An error unless `block` has the dtype and shape of a cache of `config`,
/// and data.
Result checkBlockShape(const hgc_rt_kv_config &config,
                       const hgc_rt_kv_block &block);

class KVCache {
public:
  static Result create(const hgc_rt_kv_config &config,
                       std::unique_ptr<KVCache> &cache);
  ~KVCache();

  Result addSequence(int64_t seq);
  Result releaseSequence(int64_t seq);
  Result append(int64_t seq, int32_t layer, const hgc_rt_kv_block &block);
  Result read(int64_t seq, int32_t layer, int64_t first, int64_t count,
              void *keys, void *values);
  Result length(int64_t seq, int32_t layer, int64_t &tokens);
  Result pageTier(int64_t seq, int32_t layer, int64_t page, hgc_rt_tier &tier);
  // Key metadata (KVMetadata.cpp).
  Result pageSummary(int64_t seq, int32_t layer, int64_t page, int32_t head,
                     float *keyMin, float *keyMax);
  Result pageQuantized(int64_t seq, int32_t layer, int64_t page, int32_t head,
                       int8_t *codes, float *scales);
  // Gathered views (KVViews.cpp).
  Result viewTokens(const int64_t *seqs, int32_t batch, int32_t layer,
                    hgc_rt_tier tier, int64_t &maxTokens);
  Result view(const int64_t *seqs, int32_t batch, int32_t layer,
              hgc_rt_tier tier, int64_t capacity, void *keys, void *values,
              int32_t *lengths);
  // In place (KVPages.cpp).
  Result slots(hgc_rt_kv_slots &slots) const;
  Result pageTable(int64_t seq, int32_t layer, int32_t *ids, int64_t capacity,
                   int64_t &pages, int64_t &tokens);
  Result summaries(int64_t seq, int32_t layer, const void *&keyMin,
                   const void *&keyMax, int64_t &capacity);
  Result pqCodes(int64_t seq, int32_t layer, const void *&codes,
                 const float *&codebooks, int64_t &capacity);
  Result keyCodes(int64_t seq, int32_t layer, const int8_t *&codes,
                  const float *&scales, int64_t &capacity);
  Result channelKeys(int64_t seq, int32_t layer, const void *&keys,
                     const float *&valueSums, int64_t &capacity,
                     int64_t &pageCapacity);
  // Attention (KVAttend.cpp).
  Result attend(int64_t seq, int32_t layer, hgc_rt_tier tier, int32_t qHeads,
                const float *query, float scale, float *output, float *lse);
  // Movement (KVMovement.cpp).
  Result recall(int64_t seq, int32_t layer, int64_t page, uint64_t &ticket);
  Result settle(int64_t seq, int32_t layer, int64_t page);
  Result evict(int64_t seq, int32_t layer, int64_t page);
  Result wait(uint64_t ticket);
  // Semantic mapping (KVMapping.cpp).
  Result addPageMass(int64_t seq, int32_t layer, const float *masses,
                     int64_t pages, float decay);
  Result pageMass(int64_t seq, int32_t layer, int64_t page, double &mass);
  Result remap(int64_t seq, int32_t layer, float margin, uint64_t &ticket);
  hgc_rt_kv_stats stats() const;
  /// The configuration, strings left out (the caller's may be gone).
  hgc_rt_kv_config getConfig() const {
    hgc_rt_kv_config copy = config;
    copy.storage_dir = nullptr;
    copy.host_numa_nodes = nullptr;
    copy.far_numa_nodes = nullptr;
    return copy;
  }

private:
  struct Page {
    hgc_rt_tier tier;
    Slot slot;
    /// With device_mirror, a device page's host copy (a host-tier slot).
    Slot mirror;
    bool mirrored = false;
    bool recalled = false;
    double mass = 0; // attention mass reported for it, decayed (mapping)
    PageKeyMetadata metadata;
  };
  struct Layer {
    std::vector<Page> pages;
    int64_t tokens = 0;
    SummaryTable summaries;
    CodeTable codes;
    ChannelTable channels;
    PqTable pq;
  };
  struct Sequence {
    std::mutex mutex;
    bool released = false;
    std::vector<Layer> layers;
  };

  explicit KVCache(const hgc_rt_kv_config &config);

  // Argument checks and locking (KVCache.cpp).
  /// The sequence, locked, or an error for an unknown or released one.
  Result lockSequence(int64_t seq, int32_t layer,
                      std::shared_ptr<Sequence> &sequence,
                      std::unique_lock<std::mutex> &lock);
  /// Runs `use` on layer `layer` of `seq` under the sequence lock: what the
  /// accessors of a layer's tables share (the pointers they hand out stay
  /// valid until the sequence is next appended to or released).
  template <typename Use>
  Result readLayer(int64_t seq, int32_t layer, Use use) {
    std::shared_ptr<Sequence> sequence;
    std::unique_lock<std::mutex> lock;
    if (Result r = lockSequence(seq, layer, sequence, lock); r.failed())
      return r;
    use(sequence->layers[layer]);
    return Result::ok();
  }
  /// Runs `use` on page `page` of (seq, layer) under the sequence lock, after
  /// checking that the sequence, layer and page exist.
  Result withPage(int64_t seq, int32_t layer, int64_t page,
                  const std::function<Result(Page &)> &use);
  /// withPage, with the page's layer.
  Result withLayerPage(int64_t seq, int32_t layer, int64_t page,
                       const std::function<Result(Layer &, Page &)> &use);
  /// An error unless `page` indexes one of `pages` pages.
  static Result checkPage(int64_t page, size_t pages);
  /// An error unless `tier` is one of the tiers.
  static Result checkTier(hgc_rt_tier tier);
  /// An error unless `block` has the cache's dtype and shape, and data.
  Result checkBlock(const hgc_rt_kv_block &block) const;
  PageStore *store(hgc_rt_tier tier) const { return stores[tier].get(); }

  // Page bytes (KVCache.cpp).
  /// Copies `bytes` of keys from `keys` to `offset` in the keys of `page`,
  /// and as many values to the same offset in its values.
  Result writeKeysValues(const Page &page, size_t offset, const char *keys,
                         const char *values, size_t bytes) const;
  /// The converse of writeKeysValues.
  Result readKeysValues(const Page &page, size_t offset, char *keys,
                        char *values, size_t bytes) const;
  /// Calls `copy(page, inPage, inBuffer, bytes)` for each run of tokens
  /// [first, first + count) of `layer` on one page and head: `inPage` is the
  /// run's offset in the page's keys (or values), `inBuffer` its offset in a
  /// buffer laid out [kv_heads][count][head_dim]. A head's tokens within one
  /// page are contiguous on both sides: one copy per run, which matters when
  /// the page is on a GPU.
  Result forEachRun(const Layer &layer, int64_t first, int64_t count,
                    const std::function<Result(const Page &, size_t, size_t,
                                               size_t)> &copy) const;

  // Placement and movement (KVMovement.cpp).
  /// True when page `page` of a layer of `tokens` tokens holds a sink or
  /// window token: such pages belong on the device.
  bool isHot(int64_t page, int64_t tokens) const;
  /// A slot on `preferred` or, when full, the next tier down.
  Result allocate(hgc_rt_tier preferred, hgc_rt_tier &tier, Slot &slot);
  /// Moves the device pages of `layer` that are no longer hot once it holds
  /// `tokens` tokens down to the host. A page no lower tier has room for
  /// stays where it is, intact.
  void slideWindow(Layer &layer, int64_t tokens);
  /// Gives `layer` pages, each on the tier its hotness asks for, until it
  /// has `pages`: all of them or, with an error, none.
  Result addPages(Layer &layer, int64_t pages, int64_t tokens);
  /// Moves `page` to a slot on `target` (or lower). Keeps it where it is,
  /// with an error, when no tier has room.
  Result move(Page &page, hgc_rt_tier target);
  /// Copies `page` into `slot`, an allocated slot of `tier`, and makes that
  /// its place (its old slot released); on failure `slot` is released and
  /// the page stays where it was. What move and recall share.
  Result relocate(Page &page, hgc_rt_tier tier, const Slot &slot);
  /// Trades the slots (and tiers) of two pages, each copied bit-exactly;
  /// on failure both stay as they were.
  Result swapPages(Page &a, Page &b);
  /// Releases the slots of `page` (its host copy too).
  void releasePage(Page &page);
  /// With device_mirror: turns every mirrored device page of `layer` into
  /// its host copy (after a device failure); the device slots are dropped.
  void failOver(Layer &layer);
  /// Copies a whole page between slots of any two tiers.
  Result copyPage(PageStore *from, const Slot &source, PageStore *to,
                  const Slot &target);

  // Key metadata (KVMetadata.cpp).
  /// Folds the keys of `block`, appended behind the `layer.tokens` tokens of
  /// `layer`, into their pages' metadata, and stores the summaries of every
  /// page from the first it touches to `endPage`.
  void addKeyMetadata(Layer &layer, const hgc_rt_kv_block &block,
                      int64_t endPage);

  // Views (KVViews.cpp).
  /// Copies the tokens of `layer` on `tier` into `keys`/`values` laid out
  /// [kv_heads][capacity][head_dim]; their count in `count`. With null
  /// outputs only counts.
  Result gatherTier(const Layer &layer, hgc_rt_tier tier, int64_t capacity,
                    char *keys, char *values, int64_t &count);
  /// Runs gatherTier for each sequence of a batch under its lock, sequence
  /// `b` into `keys`/`values` + b * `perSequence` (null: only counts), and
  /// hands each count to `counted`.
  Result gatherBatch(const int64_t *seqs, int32_t batch, int32_t layer,
                     hgc_rt_tier tier, int64_t capacity, char *keys,
                     char *values, size_t perSequence,
                     const std::function<void(int32_t, int64_t)> &counted);

  // Attention (KVAttend.cpp).
  /// Attention of one query head's `q` over KV head `kvHead` of the pages of
  /// `layer` on `tier`: the normalized output in `out`, the log-sum-exp of
  /// the scaled scores in `lse` (-inf without tokens).
  void attendHead(const Layer &layer, hgc_rt_tier tier, int32_t kvHead,
                  const float *q, float scale, float *out, float &lse) const;

  hgc_rt_kv_config config;
  std::string storageDir;
  int32_t numaNodes = 0; // host-tier NUMA nodes pages interleave over
  size_t elementBytes;
  size_t halfPageBytes;                // keys (or values) of one page
  std::unique_ptr<SlotSpace> space;    // null without host-addressable tiers
  std::unique_ptr<SlotSpace> farSpace; // the far tier's, apart: not in place
  bool farIsEmulated = true;
  std::unique_ptr<PageStore> stores[HGC_RT_TIERS];
  mutable std::mutex sequencesMutex;
  std::unordered_map<int64_t, std::shared_ptr<Sequence>> sequences;
  std::atomic<int64_t> totalTokens{0};
  std::atomic<int64_t> movedPages{0};
  bool mirrorDevice = false; // device_mirror or HGC_RT_DEVICE_MIRROR=1
  std::atomic<int64_t> mirroredPages{0};
  std::atomic<int64_t> failedOverPages{0};
  CopyEngine copies;
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_KVCACHE_H
