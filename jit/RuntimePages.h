//===- RuntimePages.h - what a paged decode kernel reads --------*- C++ -*-===//
//
// A paged kernel reads KV blocks, block tables, lengths and, when it takes
// them, per-block key summaries. Over an hgc_kv_cache these are the
// runtime's pages, read in place where they share the runtime's slot space
// (block = page, heads-major, keys and values of a page in one slot), else
// copied into one buffer the same kernel reads.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_RUNTIMEPAGES_H
#define HGC_JIT_RUNTIMEPAGES_H

#include "jit/Jit.h"

#include <cstdint>
#include <vector>

namespace hgc::jit {

/// What a paged kernel reads: KV blocks in the kernel's layout, block
/// tables [batch][max_blocks], lengths [batch] and, when the kernel takes
/// them, summaries [batch][kv_heads][max_summaries][head_dim].
struct PagedOperands {
  const void *keys = nullptr, *values = nullptr;
  int64_t keyBlocks = 0, valueBlocks = 0;
  const int32_t *tables = nullptr;
  int32_t maxBlocks = 0;
  const int32_t *lengths = nullptr;
  const void *keyMin = nullptr, *keyMax = nullptr;
  int32_t maxSummaries = 0;
  // With kvCodes: int8 key codes [batch][kv_heads][codeTokens][head_dim]
  // and scales [batch][kv_heads][codeTokens], in token order.
  const int8_t *codes = nullptr;
  const float *scales = nullptr;
  int64_t codeTokens = 0;
  // With kvChannels: channel-major keys [batch][kv_heads][head_dim]
  // [channelTokens] and value sums [batch][kv_heads][sumPages][head_dim].
  const void *channelKeys = nullptr;
  const float *valueSums = nullptr;
  int64_t channelTokens = 0, sumPages = 0;
  // With kvPq: codes [batch][kv_heads][pqTokens][subspaces] (1 or 2 bytes)
  // in token order and codebooks [batch][kv_heads][subspaces][centroids]
  // [head_dim / subspaces].
  const void *pqCodes = nullptr;
  const float *pqCodebooks = nullptr;
  int64_t pqTokens = 0;
  // Pages copied for the step (those only copies reach), and how long.
  int64_t copiedBytes = 0;
  double copySeconds = 0;
};

/// Buffers behind a step's PagedOperands over a runtime cache.
struct RuntimeStep {
  std::vector<int32_t> tables, lengths;
  std::vector<char> pages;     // copied pages, when not read in place
  std::vector<char> summaries; // a batch's summaries, copied together
  std::vector<int8_t> codes;   // a batch's key codes, copied together
  std::vector<float> scales;
  std::vector<char> channelKeys; // a batch's channel-major keys, together
  std::vector<float> valueSums;
  std::vector<char> pqCodes; // a batch's product-quantized codes, together
  std::vector<float> pqCodebooks;
};

/// The operands of paged kernel configuration `k` (block = the cache's page)
/// over `cache`'s pages of layer `layer` for sequences `seqs` of `tokens`
/// tokens: in place when they all are in the slot space, else copies.
Failure getRuntimeOperands(hgc_kv_cache &cache, const AttentionConfig &k,
                           int32_t layer, int32_t batch, const int64_t *seqs,
                           const std::vector<int64_t> &tokens,
                           RuntimeStep &step, PagedOperands &kv);

/// Bytes of one KV element of `config`.
int64_t getElementBytes(const AttentionConfig &config);

} // namespace hgc::jit

#endif // HGC_JIT_RUNTIMEPAGES_H
