//===- DecodeSession.h - one decode step behind hgc_decode ------*- C++ -*-===//
//
// hgc_decode and hgc_decode_paged are a thin C layer over this class: it
// checks that the kernel, the KV and the arguments fit, gathers the
// operands the paged kernel reads (RuntimePages.h for an hgc_kv_cache),
// runs the kernel through the packed calling convention and fills the
// step's statistics.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_DECODESESSION_H
#define HGC_JIT_DECODESESSION_H

#include "jit/Jit.h"
#include "jit/RuntimePages.h"

#include <chrono>
#include <cstdint>
#include <vector>

namespace hgc::jit {

/// One decode step of `kernel` for `batch` sequences: queries and outputs
/// [batch][q_heads][head_dim] f32, statistics into `stats` when not null.
class DecodeSession {
public:
  DecodeSession(hgc_kernel &kernel, int32_t batch, const float *queries,
                float *outputs, hgc_step_stats *stats);

  /// hgc_decode: sequences `seqs` of layer `layer` of `cache`, whose pages
  /// a paged kernel of the cache's page size reads.
  Failure runOnCache(hgc_kv_cache &cache, int32_t layer, const int64_t *seqs);
  /// hgc_decode_paged: KV the engine owns and pages.
  Failure runOnPagedKV(const hgc_paged_kv &kv);
  /// hgc_select_ahead: the second tier's candidates of a later step for the
  /// (predicted) queries, into `selection`.
  Failure selectAhead(hgc_kv_cache &cache, int32_t layer, const int64_t *seqs,
                      hgc_selection &selection);
  /// hgc_decode_selected: the step over `selection`'s candidates.
  Failure runOnSelection(hgc_kv_cache &cache, const hgc_selection &selection);
  /// hgc_calibrate: the per-head budgets of `layer` from the queries.
  Failure calibrate(hgc_kv_cache &cache, int32_t layer, const int64_t *seqs);

private:
  using Ahead = mlir::hgc::DecodeModuleSpec::Ahead;
  /// What a step over a runtime cache reads: the sequences' lengths, the
  /// paged kernel of `ahead`'s role over the cache's pages and their
  /// operands. A batch's copied operands go to buffers the calling thread
  /// keeps between steps (taken here, given back on destruction): a step
  /// reuses the last one's memory instead of faulting in fresh pages.
  struct CacheStep {
    CacheStep();
    ~CacheStep();
    CacheStep(const CacheStep &) = delete;
    CacheStep &operator=(const CacheStep &) = delete;
    std::vector<int64_t> lengths;
    std::shared_ptr<Kernel> kernel;
    RuntimeStep runtime;
    PagedOperands kv;
  };
  Failure prepareCacheStep(hgc_kv_cache &cache, int32_t layer,
                           const int64_t *seqs, Ahead ahead, CacheStep &step);
  /// Fails unless the kernel's placement can choose candidates ahead.
  Failure checkSelectsAhead() const;
  Failure checkBatch() const;
  Failure checkCacheFits(const hgc_kv_cache &cache, int32_t layer) const;
  /// Every sequence's tokens in `layer`, none empty.
  Failure readLengths(hgc_kv_cache &cache, int32_t layer, const int64_t *seqs,
                      std::vector<int64_t> &lengths) const;
  /// The paged kernel reading a runtime cache of `pageTokens`-token pages,
  /// compiled on first use.
  Failure getInPlaceKernel(int32_t pageTokens, Ahead ahead,
                           std::shared_ptr<Kernel> &paged) const;
  /// For a calibrating policy, the paged kernel of `layer`'s per-head
  /// budgets (calibrated first when the cache says so); else
  /// getInPlaceKernel's.
  Failure getStepKernel(hgc_kv_cache &cache, int32_t layer, const int64_t *seqs,
                        Ahead ahead, std::shared_ptr<Kernel> &paged);
  Failure checkPagedKV(const hgc_paged_kv &kv) const;
  /// Every block sequence `b`'s tokens are in is a block of the caches:
  /// the kernels read them unchecked.
  Failure checkPagedSequence(const hgc_paged_kv &kv, int32_t b) const;
  /// Runs paged kernel `paged` over checked operands; a selection ahead
  /// fills `selection`'s candidates, a step over one reads them.
  Failure run(const Kernel &paged, const PagedOperands &kv,
              hgc_selection *selection = nullptr);
  void recordStats(const AttentionConfig &k, const PagedOperands &kv,
                   double computeSeconds) const;

  hgc_kernel &kernel;
  int32_t batch;
  const float *queries;
  float *outputs;
  hgc_step_stats *stats;
  std::chrono::steady_clock::time_point start;
};

} // namespace hgc::jit

#endif // HGC_JIT_DECODESESSION_H
