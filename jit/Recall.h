//===- Recall.h - periodic recall of the hottest host pages -----*- C++ -*-===//
//
// ScoutAttention's periodic recall for an hgc_kv_cache whose steps run over
// selections made ahead (hgc_decode_selected). Per sequence and layer, the
// attention mass of the cold pages the host tier attended is measured every
// `period` steps (with the step's real queries, over the tokens it attended)
// and accumulated with decay; the `blocks` pages with the most accumulated
// mass are recalled to the device tier through the runtime's copy engine,
// pages that fall out of that set go back down. Every step attends the
// recalled pages whole beside its candidates, so they need no selection.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_RECALL_H
#define HGC_JIT_RECALL_H

#include "jit/Jit.h"
#include "jit/RuntimePages.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace hgc::jit {

/// Tokens of recalled pages a step attended, and how many of its
/// selection's tokens were among them.
struct RecallCounts {
  int64_t recalledTokens = 0, hits = 0;
};

/// A recalled-page set and accumulated page masses per (sequence, layer).
class RecallTracker {
public:
  RecallTracker(int32_t period, int32_t blocks, int32_t pageTokens)
      : period(period), blocks(blocks), pageTokens(pageTokens) {}

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
  /// and moves the recalled set to the hottest pages.
  void update(hgc_rt_kv_cache *runtime, const hgc_selection &attended,
              const AttentionConfig &k, const std::vector<int64_t> &lengths,
              const PagedOperands &kv, const float *queries);

private:
  struct State {
    int64_t steps = 0;
    std::vector<double> mass; // per page, decayed
    std::vector<int64_t> recalled;
  };

  int32_t period, blocks, pageTokens;
  std::mutex mutex;
  std::map<std::pair<int64_t, int32_t>, State> states;
};

} // namespace hgc::jit

#endif // HGC_JIT_RECALL_H
