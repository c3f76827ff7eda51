//===- HeadStream.h - head-wise KV residency (HeadInfer) --------*- C++ -*-===//
//
// A KV cache split by KV head into groups, each a KVCache of its own whose
// pages carry only its heads: the resident heads' cache keeps every page on
// the device tier; each streamed group's keeps its sinks and window there
// and the rest on the host (then far memory, storage). A step attends each
// group's device pages in place and copies its other tokens into one of two
// staging buffers on the stream's copy engine, the next group's copy running
// while this one is attended; the partials merge by log-sum-exp, so the
// result is exact attention over every token. See hgc-rt/head_stream.h.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_HEADSTREAM_H
#define HGC_RUNTIME_HEADSTREAM_H

#include "hgc-rt/head_stream.h"

#include "CopyEngine.h"
#include "KVCache.h"
#include "PacedLink.h"

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace hgc::rt {

class HeadStream {
public:
  static Result create(const hgc_rt_head_stream_config &config,
                       std::unique_ptr<HeadStream> &stream);

  Result addSequence(int64_t seq);
  Result releaseSequence(int64_t seq);
  Result append(int64_t seq, int32_t layer, const hgc_rt_kv_block &block);
  Result read(int64_t seq, int32_t layer, int64_t first, int64_t count,
              void *keys, void *values);
  Result attend(int64_t seq, int32_t layer, int32_t qHeads, const float *query,
                float scale, float *output, float *lse, int32_t nextLayer,
                hgc_rt_head_step &step);
  int32_t groupCount() const { return int32_t(groups.size()); }
  Result group(int32_t index, std::vector<int32_t> &heads, bool &resident,
               hgc_rt_kv_stats &stats) const;

private:
  struct Group {
    std::vector<int32_t> heads; // KV heads of the whole cache, ascending
    bool resident;
    std::unique_ptr<KVCache> cache;
  };
  /// One staging buffer: the tokens of one group of (seq, layer) that are
  /// not on the device, per slower tier [heads][count][head_dim].
  struct Staging {
    int64_t seq = 0;
    int32_t layer = -1;
    size_t group = 0;
    uint64_t generation = 0; // the sequence's when the copy started
    uint64_t ticket = 0;     // the copy's, while it may be running
    Result copied;           // the copy's result, once waited on
    std::vector<char> keys, values;
    int64_t counts[HGC_RT_TIERS] = {}; // tokens per tier (device: 0)
    size_t bytes = 0;
    double seconds = 0;
  };

  HeadStream(const hgc_rt_head_stream_config &config, double linkBytesPerSecond)
      : config(config), link(linkBytesPerSecond) {}

  /// An error for an unknown or broken sequence or a layer out of range.
  Result checkSequence(int64_t seq, int32_t layer) const;
  /// The generation of `seq`: new with every addSequence (0: unknown).
  uint64_t generation(int64_t seq) const;
  /// True when `buffer` holds what its group of its (seq, layer) has off
  /// the device now. Appends only ever add tokens to a tier's set (pages
  /// move down, never up, here), so equal counts mean equal tokens.
  bool isCurrent(const Staging &buffer);
  /// Starts copying the off-device tokens of `group` of (seq, layer) into
  /// `buffer` (waiting first for a copy it may still be receiving).
  void stage(Staging &buffer, int64_t seq, int32_t layer, size_t group,
             CopyEngine::Priority priority);
  /// Waits for the copy into `buffer`, if one may still run.
  void settle(Staging &buffer);
  /// The copy job: fills `buffer` from the group caches' views.
  Result fill(Staging &buffer);
  /// Merges the attention over `buffer`'s tokens into the outputs of the
  /// query heads of its group.
  void attendStaged(const Staging &buffer, int32_t qPerKv, const float *query,
                    float scale, float *output, float *lse) const;
  /// The device-tier partial of every group into output and lse.
  Result attendDevice(int64_t seq, int32_t layer, int32_t qPerKv,
                      const float *query, float scale, float *output,
                      float *lse);

  hgc_rt_head_stream_config config;
  std::vector<Group> groups;
  std::vector<size_t> copyOrder; // streamed groups, then the resident one
  PacedLink link;
  mutable std::mutex sequencesMutex;
  std::map<int64_t, uint64_t> generations; // of the sequences there are
  std::set<int64_t> broken; // sequences an append failed partway for
  uint64_t nextGeneration = 1;
  std::mutex attendMutex; // one step at a time: the staging buffers
  Staging buffers[2];
  CopyEngine copies; // last: its worker stops before the buffers go
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_HEADSTREAM_H
