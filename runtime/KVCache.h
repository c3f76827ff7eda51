//===- KVCache.h - the multi-tier KV cache ----------------------*- C++ -*-===//
//
// Pages of `page_tokens` tokens per (sequence, layer). A page's bytes are
// keys then values, each [kv_heads][page_tokens][head_dim], in the slot of
// whichever tier holds it; its key summaries (and int8 keys) stay in host
// memory, where selection reads them. Host-addressable slots share one
// SlotSpace, so compiled kernels read pages in place (KVPages.cpp). Each
// sequence has its own lock, so threads working on different sequences never
// wait for each other.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_KVCACHE_H
#define HGC_RUNTIME_KVCACHE_H

#include "CopyEngine.h"
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
  Result pageSummary(int64_t seq, int32_t layer, int64_t page, int32_t head,
                     float *keyMin, float *keyMax);
  Result pageQuantized(int64_t seq, int32_t layer, int64_t page, int32_t head,
                       int8_t *codes, float *scales);
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
  Result attend(int64_t seq, int32_t layer, hgc_rt_tier tier, int32_t qHeads,
                const float *query, float scale, float *output, float *lse);
  Result recall(int64_t seq, int32_t layer, int64_t page, uint64_t &ticket);
  Result wait(uint64_t ticket);
  hgc_rt_kv_stats stats() const;
  /// The configuration, strings left out (the caller's may be gone).
  hgc_rt_kv_config getConfig() const {
    hgc_rt_kv_config copy = config;
    copy.storage_dir = nullptr;
    copy.host_numa_nodes = nullptr;
    return copy;
  }

private:
  struct Page {
    hgc_rt_tier tier;
    Slot slot;
    bool recalled = false;
    std::vector<float> keyMin, keyMax; // [kv_heads][head_dim]
    std::vector<int8_t> codes;         // [kv_heads][page_tokens][head_dim]
    std::vector<float> scales;         // [kv_heads][page_tokens]
  };
  struct Layer {
    std::vector<Page> pages;
    int64_t tokens = 0;
    // The pages' summaries in the cache's dtype for compiled selection:
    // [kv_heads][summaryCapacity][head_dim] bytes each.
    std::vector<char> summaryMin, summaryMax;
    int64_t summaryCapacity = 0;
  };
  struct Sequence {
    std::mutex mutex;
    bool released = false;
    std::vector<Layer> layers;
  };

  explicit KVCache(const hgc_rt_kv_config &config);

  /// The sequence, locked, or an error for an unknown or released one.
  Result lockSequence(int64_t seq, int32_t layer,
                      std::shared_ptr<Sequence> &sequence,
                      std::unique_lock<std::mutex> &lock);
  /// Runs `use` on page `page` of (seq, layer) under the sequence lock, after
  /// checking that the sequence, layer and page exist.
  Result withPage(int64_t seq, int32_t layer, int64_t page,
                  const std::function<Result(Page &)> &use);
  /// A slot on `preferred` or, when full, the next tier down.
  Result allocate(hgc_rt_tier preferred, hgc_rt_tier &tier, Slot &slot);
  PageStore *store(hgc_rt_tier tier) const { return stores[tier].get(); }
  /// Moves `page` to a slot on `target` (or lower). Keeps it where it is,
  /// with an error, when no tier has room.
  Result move(Page &page, hgc_rt_tier target);
  /// Copies `page` into `slot`, an allocated slot of `tier`, and makes that
  /// its place (its old slot released); on failure `slot` is released and
  /// the page stays where it was. What move and recall share.
  Result relocate(Page &page, hgc_rt_tier tier, const Slot &slot);
  /// Copies the tokens of `layer` on `tier` into `keys`/`values` laid out
  /// [kv_heads][capacity][head_dim]; their count in `count`. With null
  /// outputs only counts.
  Result gatherTier(const Layer &layer, hgc_rt_tier tier, int64_t capacity,
                    char *keys, char *values, int64_t &count);
  /// Copies a whole page between slots of any two tiers.
  Result copyPage(PageStore *from, const Slot &source, PageStore *to,
                  const Slot &target);
  bool isHot(int64_t page, int64_t tokens) const;
  /// Folds the key of token `offset`, head `head` into the page summaries.
  void updateMetadata(Page &page, int64_t offset, const char *key,
                      int32_t head);
  float toFloat(const char *element) const;
  /// Copies the summaries of pages [first, end) of `layer` into its dtype
  /// arrays, growing them as needed.
  void storeSummaries(Layer &layer, int64_t first, int64_t end);

  hgc_rt_kv_config config;
  std::string storageDir;
  int32_t numaNodes = 0; // host-tier NUMA nodes pages interleave over
  size_t elementBytes;
  size_t halfPageBytes;             // keys (or values) of one page
  std::unique_ptr<SlotSpace> space; // null without host-addressable tiers
  std::unique_ptr<PageStore> stores[3];
  mutable std::mutex sequencesMutex;
  std::unordered_map<int64_t, std::shared_ptr<Sequence>> sequences;
  std::atomic<int64_t> totalTokens{0};
  std::atomic<int64_t> movedPages{0};
  CopyEngine copies;
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_KVCACHE_H
