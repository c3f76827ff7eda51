//===- KVMetadata.h - what selection reads about a page's keys --*- C++ -*-===//
//
// Every page keeps, in host memory whichever tier holds its bytes, per-head
// minimum and maximum keys (Quest's bounds) and, when the cache quantizes
// keys, int8 codes with one scale per token. Each layer also keeps its pages'
// summaries in the cache's dtype and, quantizing, its tokens' codes in token
// order: what compiled selection reads in place.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_KVMETADATA_H
#define HGC_RUNTIME_KVMETADATA_H

#include "hgc-rt/kv_cache.h"

#include <cstdint>
#include <vector>

namespace hgc::rt {

/// The key metadata of one page, in floats.
struct PageKeyMetadata {
  std::vector<float> keyMin, keyMax; // [kv_heads][head_dim]
  std::vector<int8_t> codes;         // [kv_heads][page_tokens][head_dim]
  std::vector<float> scales;         // [kv_heads][page_tokens]

  /// Metadata of a page without tokens: empty bounds, zero codes.
  static PageKeyMetadata empty(const hgc_rt_kv_config &config);
  /// Folds `key`, the key of token `offset` and head `head` in the cache's
  /// dtype, into the bounds (and quantizes it).
  void add(const hgc_rt_kv_config &config, int64_t offset, int32_t head,
           const char *key);
};

/// A layer's page summaries in the cache's dtype:
/// [kv_heads][capacity][head_dim] each.
struct SummaryTable {
  std::vector<char> keyMin, keyMax;
  int64_t capacity = 0;

  /// Makes room for summaries of `pages` pages.
  void reserve(const hgc_rt_kv_config &config, int64_t pages);
  /// Stores the bounds of page `page` (within capacity).
  void store(const hgc_rt_kv_config &config, int64_t page,
             const PageKeyMetadata &metadata);
};

/// A layer's int8 key codes and scales in token order: codes
/// [kv_heads][capacity][head_dim], scales [kv_heads][capacity].
struct CodeTable {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  int64_t capacity = 0; // tokens

  /// Makes room for codes of `tokens` tokens.
  void reserve(const hgc_rt_kv_config &config, int64_t tokens);
  /// Stores token `token`'s codes of `head` from its page's metadata, where
  /// it is token `offset` of the page.
  void store(const hgc_rt_kv_config &config, int64_t token, int32_t head,
             const PageKeyMetadata &metadata, int64_t offset);
};

/// A layer's product-quantized keys: per KV head a codebook fitted to the
/// keys of the layer's first append, [kv_heads][subspaces][centroids][head_dim
/// / subspaces], and every token's codes, [kv_heads][capacity][subspaces] of
/// one byte (centroids <= 256) or two.
struct PqTable {
  std::vector<float> codebooks;
  std::vector<char> codes;
  int64_t capacity = 0; // tokens

  /// Bytes of one code.
  static size_t codeBytes(const hgc_rt_kv_config &config) {
    return config.pq_centroids > 256 ? 2 : 1;
  }
  /// Codes `block`'s keys as tokens [first, first + block.tokens), fitting
  /// the codebooks first when there are none.
  void add(const hgc_rt_kv_config &config, int64_t first,
           const hgc_rt_kv_block &block);
};

/// A layer's keys channel-major in the cache's dtype,
/// [kv_heads][head_dim][capacity] (token order), and the f32 sums of its
/// pages' values, [kv_heads][pageCapacity][head_dim].
struct ChannelTable {
  std::vector<char> keys;
  std::vector<float> valueSums;
  int64_t capacity = 0, pageCapacity = 0; // tokens, pages

  /// Makes room for `tokens` tokens.
  void reserve(const hgc_rt_kv_config &config, int64_t tokens);
  /// Adds token `token` of `head` (`key` and `value`: head_dim elements of
  /// the cache's dtype).
  void add(const hgc_rt_kv_config &config, int64_t token, int32_t head,
           const char *key, const char *value);
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_KVMETADATA_H
