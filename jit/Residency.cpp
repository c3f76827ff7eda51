//===- Residency.cpp - pages moved by what the steps attend ---------------===//
//
// Page masses are measured on the host from the pages the step read (the
// paged operands its kernel got) once per period, not every step: the
// measurement reads the attended keys again.
//
//===----------------------------------------------------------------------===//

#include "jit/Residency.h"

#include "runtime/Element.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

using namespace hgc::jit;

namespace {
/// Share of the decayed mass a page keeps per period.
constexpr double kMassDecay = 0.5;
/// How much hotter a slower tier's page must be than a faster one's to
/// trade places with it (hgc_rt_kv_remap): near-equal pages stay put.
constexpr float kRemapMargin = 0.25f;

/// The host tier's tokens [begin, end) of a sequence of `n` tokens: past the
/// sinks, before the window.
struct HostRange {
  int64_t begin, end;
};

HostRange getHostRange(const AttentionConfig &k, int64_t n) {
  int64_t begin = std::min<int64_t>(k.placement.sink, n);
  return {begin, std::max<int64_t>(begin, n - k.placement.window)};
}

/// Tokens of unit `unit` (of `block` tokens from the host tier's start).
std::pair<int64_t, int64_t> getUnitTokens(HostRange host, int64_t block,
                                          int64_t unit) {
  int64_t first = host.begin + unit * block;
  return {first, std::min(first + block, host.end)};
}

/// The host tier's units (of `block` tokens) page `page` covers.
std::vector<int32_t> getPageUnits(HostRange host, int64_t block,
                                  int64_t pageTokens, int64_t page) {
  std::vector<int32_t> units;
  int64_t first = std::max(page * pageTokens, host.begin);
  int64_t end = std::min((page + 1) * pageTokens, host.end);
  for (int64_t t = first; t < end; t += block)
    units.push_back(int32_t((t - host.begin) / block));
  return units;
}

/// `selection` with its candidates replaced by `rows` ([batch * kv_heads]
/// rows of units), -1 padded to the longest.
void setCandidateRows(const hgc_selection &selection,
                      const std::vector<std::vector<int32_t>> &rows,
                      hgc_selection &attended) {
  attended = selection;
  attended.count = 0;
  for (const std::vector<int32_t> &row : rows)
    attended.count = std::max<int64_t>(attended.count, row.size());
  attended.candidates.assign(rows.size() * attended.count, -1);
  for (size_t r = 0; r < rows.size(); ++r)
    std::copy(rows[r].begin(), rows[r].end(),
              attended.candidates.begin() + r * attended.count);
}

/// Per page of sequence `b`, the host partial's softmax mass (averaged over
/// query heads) the tokens of `attended` hold under `queries`.
std::vector<double> measurePageMass(const hgc_selection &attended, int32_t b,
                                    const AttentionConfig &k, HostRange host,
                                    int64_t pages, const PagedOperands &kv,
                                    const float *queries) {
  int64_t pageTokens = k.kvBlockSize, dim = k.headDim;
  int64_t group = k.qHeads / k.kvHeads;
  int64_t elementBytes = getElementBytes(k);
  auto dtype = hgc_rt_dtype(k.kvDtype);
  float scale = k.scale > 0 ? k.scale : 1.0f / std::sqrt(float(dim));
  std::vector<double> mass(pages, 0.0);
  std::vector<float> key(dim);
  for (int32_t hk = 0; hk < k.kvHeads; ++hk) {
    const int32_t *row =
        attended.candidates.data() + (b * k.kvHeads + hk) * attended.count;
    std::vector<int64_t> tokens;
    for (int64_t i = 0; i < attended.count; ++i) {
      if (row[i] < 0)
        continue;
      auto [first, end] = getUnitTokens(host, attended.blockSize, row[i]);
      for (int64_t t = first; t < end; ++t)
        tokens.push_back(t);
    }
    if (tokens.empty())
      continue;
    // Scores [group][tokens].
    std::vector<double> scores(group * tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      int64_t t = tokens[i];
      int64_t slot = kv.tables[int64_t(b) * kv.maxBlocks + t / pageTokens];
      const char *base =
          static_cast<const char *>(kv.keys) +
          ((slot * k.kvHeads + hk) * pageTokens + t % pageTokens) * dim *
              elementBytes;
      for (int64_t d = 0; d < dim; ++d)
        key[d] = hgc::rt::loadElement(dtype, base + d * elementBytes);
      for (int64_t g = 0; g < group; ++g) {
        const float *q = queries + ((b * k.qHeads) + hk * group + g) * dim;
        float dot = 0;
        for (int64_t d = 0; d < dim; ++d)
          dot += q[d] * key[d];
        double score = double(dot) * scale;
        if (k.softcap > 0)
          score = k.softcap * std::tanh(score / k.softcap);
        scores[g * tokens.size() + i] = score;
      }
    }
    for (int64_t g = 0; g < group; ++g) {
      double *s = scores.data() + g * tokens.size();
      double top = *std::max_element(s, s + tokens.size());
      double total = 0;
      for (size_t i = 0; i < tokens.size(); ++i)
        total += (s[i] = std::exp(s[i] - top));
      for (size_t i = 0; i < tokens.size(); ++i)
        mass[tokens[i] / pageTokens] += s[i] / total / k.qHeads;
    }
  }
  return mass;
}
} // namespace

std::vector<int64_t> PageResidency::getRecalled(int64_t seq, int32_t layer) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = states.find({seq, layer});
  return it == states.end() ? std::vector<int64_t>{} : it->second.recalled;
}

void PageResidency::forget(int64_t seq) {
  std::lock_guard<std::mutex> lock(mutex);
  for (auto it = states.begin(); it != states.end();)
    it = it->first.first == seq ? states.erase(it) : std::next(it);
}

Failure PageResidency::merge(const hgc_selection &selection,
                             const AttentionConfig &k,
                             const std::vector<int64_t> &lengths,
                             hgc_selection &attended, RecallCounts &counts) {
  if (options.recallBlocks == 0) {
    attended = selection;
    return Failure::ok();
  }
  int64_t block = selection.blockSize;
  if (block != 1 && (block != pageTokens || k.placement.sink % block != 0))
    return {HGC_INVALID_ARGUMENT,
            "periodic recall of pages of " + std::to_string(pageTokens) +
                " tokens needs a selection of tokens, or of blocks of a "
                "page each after sinks of whole pages; this one selects "
                "blocks of " +
                std::to_string(block) + " after " +
                std::to_string(k.placement.sink) + " sinks"};
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<std::vector<int32_t>> rows;
  for (int32_t b = 0; b < selection.batch; ++b) {
    HostRange host = getHostRange(k, lengths[b]);
    auto state = states.find({selection.seqs[b], selection.layer});
    std::set<int32_t> recalled;
    if (state != states.end())
      for (int64_t page : state->second.recalled)
        for (int32_t unit : getPageUnits(host, block, pageTokens, page))
          recalled.insert(unit);
    auto tokensOf = [&](int32_t unit) {
      auto [first, end] = getUnitTokens(host, block, unit);
      return std::max<int64_t>(0, end - first);
    };
    for (int32_t hk = 0; hk < selection.kvHeads; ++hk) {
      const int32_t *row = selection.candidates.data() +
                           (b * selection.kvHeads + hk) * selection.count;
      std::vector<int32_t> units;
      for (int64_t i = 0; i < selection.count; ++i) {
        if (row[i] < 0)
          continue;
        if (recalled.count(row[i]))
          counts.hits += tokensOf(row[i]);
        else
          units.push_back(row[i]);
      }
      for (int32_t unit : recalled) {
        units.push_back(unit);
        counts.recalledTokens += tokensOf(unit);
      }
      rows.push_back(std::move(units));
    }
  }
  setCandidateRows(selection, rows, attended);
  return Failure::ok();
}

void hgc::jit::addTokensSinceSelection(const hgc_selection &selection,
                                       const AttentionConfig &k,
                                       const std::vector<int64_t> &lengths,
                                       hgc_selection &attended) {
  int64_t block = selection.blockSize;
  std::vector<std::vector<int32_t>> rows;
  for (int32_t b = 0; b < selection.batch; ++b) {
    HostRange then = getHostRange(k, selection.lengths[b]);
    HostRange now = getHostRange(k, lengths[b]);
    // The units holding the host tokens [then.end, now.end).
    int32_t first = int32_t((then.end - now.begin) / block);
    int32_t end = now.end > then.end
                      ? int32_t((now.end - now.begin + block - 1) / block)
                      : first;
    for (int32_t hk = 0; hk < selection.kvHeads; ++hk) {
      const int32_t *row = selection.candidates.data() +
                           (b * selection.kvHeads + hk) * selection.count;
      std::vector<int32_t> units;
      for (int64_t i = 0; i < selection.count; ++i)
        if (row[i] >= 0)
          units.push_back(row[i]);
      for (int32_t unit = first; unit < end; ++unit)
        if (!llvm::is_contained(units, unit))
          units.push_back(unit);
      rows.push_back(std::move(units));
    }
  }
  setCandidateRows(selection, rows, attended);
}

void PageResidency::update(hgc_rt_kv_cache *runtime,
                           const hgc_selection &attended,
                           const AttentionConfig &k,
                           const std::vector<int64_t> &lengths,
                           const PagedOperands &kv, const float *queries,
                           RecallCounts &counts) {
  std::lock_guard<std::mutex> lock(mutex);
  for (int32_t b = 0; b < attended.batch; ++b) {
    State &state = states[{attended.seqs[b], attended.layer}];
    ++state.steps;
    if (options.evictAfter > 0)
      evict(runtime, attended, b, state, k, lengths[b], counts);
    if (options.recallBlocks > 0 && state.steps % options.recallPeriod == 0)
      recall(runtime, attended, b, state, k, lengths[b], kv, queries);
  }
}

void PageResidency::recall(hgc_rt_kv_cache *runtime,
                           const hgc_selection &attended, int32_t b,
                           State &state, const AttentionConfig &k,
                           int64_t length, const PagedOperands &kv,
                           const float *queries) {
  int64_t seq = attended.seqs[b];
  HostRange host = getHostRange(k, length);
  int64_t pages = (length + pageTokens - 1) / pageTokens;
  std::vector<double> measured =
      measurePageMass(attended, b, k, host, pages, kv, queries);
  state.mass.resize(pages, 0.0);
  for (int64_t p = 0; p < pages; ++p)
    state.mass[p] = kMassDecay * state.mass[p] + measured[p];

  // The hottest cold pages (whole pages of the host tier).
  std::vector<int64_t> cold;
  for (int64_t p = 0; p < pages; ++p)
    if (p * pageTokens >= host.begin && (p + 1) * pageTokens <= host.end &&
        state.mass[p] > 0)
      cold.push_back(p);
  size_t keep = std::min<size_t>(options.recallBlocks, cold.size());
  std::partial_sort(cold.begin(), cold.begin() + keep, cold.end(),
                    [&](int64_t x, int64_t y) {
                      return state.mass[x] > state.mass[y] ||
                             (state.mass[x] == state.mass[y] && x < y);
                    });
  std::set<int64_t> hottest(cold.begin(), cold.begin() + keep);

  // Pages that cooled go back down; new ones come up on the copy engine.
  // A page the device tier has no room for stays where it is: recall moves
  // copies, it never drops one.
  std::vector<int64_t> recalled;
  for (int64_t page : state.recalled) {
    if (hottest.count(page))
      recalled.push_back(page);
    else
      (void)hgc_rt_kv_settle(runtime, seq, attended.layer, page);
  }
  std::vector<std::pair<int64_t, uint64_t>> tickets;
  for (int64_t page : hottest) {
    uint64_t ticket = 0;
    if (!std::binary_search(state.recalled.begin(), state.recalled.end(),
                            page) &&
        hgc_rt_kv_recall(runtime, seq, attended.layer, page, &ticket) ==
            HGC_RT_OK)
      tickets.push_back({page, ticket});
  }
  // Joined here: the next selection of this layer (maybe on another thread)
  // reads its pages in place.
  for (auto [page, ticket] : tickets)
    if (hgc_rt_kv_wait(runtime, ticket) == HGC_RT_OK)
      recalled.push_back(page);
  std::sort(recalled.begin(), recalled.end());
  state.recalled = std::move(recalled);

  // HybridGen's mapping below the device: the runtime keeps the same
  // decayed masses and places the cold pages across host, far memory and
  // storage by them (nothing moves with a single cold tier). Joined here
  // like the recalls.
  std::vector<float> masses(measured.begin(), measured.end());
  uint64_t ticket = 0;
  if (hgc_rt_kv_add_page_mass(runtime, seq, attended.layer, masses.data(),
                              pages, float(kMassDecay)) == HGC_RT_OK &&
      hgc_rt_kv_remap(runtime, seq, attended.layer, kRemapMargin, &ticket) ==
          HGC_RT_OK)
    (void)hgc_rt_kv_wait(runtime, ticket);
}

void PageResidency::evict(hgc_rt_kv_cache *runtime,
                          const hgc_selection &attended, int32_t b,
                          State &state, const AttentionConfig &k,
                          int64_t length, RecallCounts &counts) {
  int64_t seq = attended.seqs[b];
  HostRange host = getHostRange(k, length);
  int64_t pages = (length + pageTokens - 1) / pageTokens;
  // A page is watched from the step it is first seen.
  state.lastKept.resize(pages, state.steps);
  state.evicted.resize(pages, false);
  std::vector<bool> kept(pages, false);
  for (int32_t hk = 0; hk < attended.kvHeads; ++hk) {
    const int32_t *row = attended.candidates.data() +
                         (b * attended.kvHeads + hk) * attended.count;
    for (int64_t i = 0; i < attended.count; ++i) {
      if (row[i] < 0)
        continue;
      auto [first, end] = getUnitTokens(host, attended.blockSize, row[i]);
      for (int64_t t = first; t < end; t += pageTokens - t % pageTokens)
        kept[t / pageTokens] = true;
    }
  }
  for (int64_t p = 0; p < pages; ++p) {
    bool cold =
        p * pageTokens >= host.begin && (p + 1) * pageTokens <= host.end;
    if (kept[p] || !cold) {
      state.lastKept[p] = state.steps;
      // Kept again: back where placement puts it, when there is room.
      hgc_rt_tier tier = HGC_RT_TIER_STORAGE;
      if (state.evicted[p] &&
          hgc_rt_kv_settle(runtime, seq, attended.layer, p) == HGC_RT_OK &&
          hgc_rt_kv_page_tier(runtime, seq, attended.layer, p, &tier) ==
              HGC_RT_OK &&
          tier != HGC_RT_TIER_STORAGE) {
        state.evicted[p] = false;
        ++counts.restored;
      }
      continue;
    }
    if (!state.evicted[p] &&
        state.steps - state.lastKept[p] >= options.evictAfter &&
        hgc_rt_kv_evict(runtime, seq, attended.layer, p) == HGC_RT_OK) {
      state.evicted[p] = true;
      ++counts.evicted;
    }
  }
}
