//===- Residency.h - pages moved by what the steps attend -------*- C++ -*-===//
//
// Where an hgc_kv_cache's cold pages live, decided from the steps over
// selections made ahead (hgc_decode_selected), per sequence and layer:
//
// - ScoutAttention's periodic recall: the attention mass of the cold pages
//   the host tier attended is measured every `recallPeriod` steps (with the
//   step's real queries, over the tokens it attended) and accumulated with
//   decay; the `recallBlocks` pages with the most are recalled to the device
//   tier through the runtime's copy engine, pages that fall out of that set
//   go back down. Every step attends the recalled pages whole beside its
//   candidates, so they need no selection.
// - HCAttention's eviction: a cold page none of whose tokens a selection
//   kept for `evictAfter` steps (its mass under the selection's scores stayed
//   below the keep rule's cut) moves to the storage tier; it comes back to
//   the host when a selection keeps one of its tokens again. Reads reach
//   evicted pages through copies; nothing is dropped.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_RESIDENCY_H
#define HGC_JIT_RESIDENCY_H

#include "jit/Jit.h"
#include "jit/RuntimePages.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace hgc::jit {

/// `selection` with the units holding the host tokens that entered the host
/// tier since it was made (sequences now of `lengths` tokens: the window
/// moved on) added to every row: the step over it attends every host token
/// a selection made now could keep, so a keep-all selection stays exact.
void addTokensSinceSelection(const hgc_selection &selection,
                             const AttentionConfig &k,
                             const std::vector<int64_t> &lengths,
                             hgc_selection &attended);

/// Tokens of recalled pages a step attended, how many of its selection's
/// tokens were among them, and the pages it evicted and brought back.
struct RecallCounts {
  int64_t recalledTokens = 0, hits = 0;
  int64_t evicted = 0, restored = 0;
};

/// What moves a cache's pages: 0 turns recall (period, blocks) or eviction
/// (steps) off.
struct ResidencyOptions {
  int32_t recallPeriod = 0, recallBlocks = 0, evictAfter = 0;
};

/// Recalled and evicted pages, accumulated page masses and the steps since
/// each page was last kept, per (sequence, layer).
class PageResidency {
public:
  PageResidency(ResidencyOptions options, int32_t pageTokens)
      : options(options), pageTokens(pageTokens) {}

  /// The pages of `layer` of `seq` recalled now, ascending.
  std::vector<int64_t> getRecalled(int64_t seq, int32_t layer);
  /// Drops a released sequence's state.
  void forget(int64_t seq);

  /// What the step over `selection` attends on the host tier with
  /// sequences of `lengths` tokens now (kernel configuration `k`): the
  /// selection's candidates outside the recalled pages, then the recalled
  /// pages' units (the selection's tokens or blocks), -1 padded to the
  /// longest row.
  Failure merge(const hgc_selection &selection, const AttentionConfig &k,
                const std::vector<int64_t> &lengths, hgc_selection &attended,
                RecallCounts &counts);

  /// After the step over `attended` with `queries`, read through `kv`: on
  /// every period-th step of a sequence's layer, measures the pages' masses
  /// and moves the recalled set to the hottest pages; evicts the pages left
  /// unkept too long and brings back those kept again (into `counts`).
  void update(hgc_rt_kv_cache *runtime, const hgc_selection &attended,
              const AttentionConfig &k, const std::vector<int64_t> &lengths,
              const PagedOperands &kv, const float *queries,
              RecallCounts &counts);

private:
  struct State {
    int64_t steps = 0;
    std::vector<double> mass; // per page, decayed
    std::vector<int64_t> recalled;
    std::vector<int64_t> lastKept; // per page, the step it was last kept
    std::vector<bool> evicted;
  };
  void recall(hgc_rt_kv_cache *runtime, const hgc_selection &attended,
              int32_t b, State &state, const AttentionConfig &k, int64_t length,
              const PagedOperands &kv, const float *queries);
  void evict(hgc_rt_kv_cache *runtime, const hgc_selection &attended, int32_t b,
             State &state, const AttentionConfig &k, int64_t length,
             RecallCounts &counts);

  ResidencyOptions options;
  int32_t pageTokens;
  std::mutex mutex;
  std::map<std::pair<int64_t, int32_t>, State> states;
};

} // namespace hgc::jit

#endif // HGC_JIT_RESIDENCY_H
