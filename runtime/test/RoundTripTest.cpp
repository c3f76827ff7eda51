//===- RoundTripTest.cpp - nothing lost, nothing corrupted ---------------===//
//
// Randomized property test: appends of random sizes to random sequences and
// layers, window slides, spills under small tier capacities, recalls; after
// every operation each appended token reads back bit-exactly from whatever
// tier holds it, and the page summaries match the keys. Many seeds.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <unistd.h>

using namespace hgc_rt_test;

namespace {

struct Shadow {
  std::vector<uint8_t> keys, values; // per head, concatenated by token later
};

float toFloat(const hgc_rt_kv_config &c, const uint8_t *p) {
  if (c.dtype == HGC_RT_F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  if (c.dtype == HGC_RT_BF16) {
    uint32_t w = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &w, 4);
    return f;
  }
  // f16 values in the tests are normal numbers.
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t bits =
      sign | ((((h >> 10) & 0x1f) + 112) << 23) | (uint32_t(h & 0x3ff) << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Pages read in place: every page of (s, layer) in the slot space reads
/// back bit-exactly from base + id * slot_bytes through the page table; a
/// page on the far or storage tier or in CUDA memory makes the table an
/// error.
void verifyInPlace(hgc_rt_kv_cache *cache, const hgc_rt_kv_config &c, int64_t s,
                   int32_t layer, int64_t tokens,
                   const std::vector<std::vector<uint8_t>> &keys,
                   const std::vector<std::vector<uint8_t>> &values) {
  int64_t pt = c.page_tokens, pages = (tokens + pt - 1) / pt;
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  bool spilled = false; // a page only copies reach: far, storage, CUDA
  for (int64_t p = 0; p < pages; ++p) {
    hgc_rt_tier tier;
    ASSERT_EQ(hgc_rt_kv_page_tier(cache, s, layer, p, &tier), HGC_RT_OK);
    spilled |= tier == HGC_RT_TIER_STORAGE || tier == HGC_RT_TIER_FAR ||
               (tier == HGC_RT_TIER_DEVICE && stats.device_is_cuda);
  }
  hgc_rt_kv_slots slots{};
  ASSERT_EQ(hgc_rt_kv_get_slots(cache, &slots), HGC_RT_OK);
  std::vector<int32_t> ids(pages + 1, -1);
  int64_t tablePages = 0, tableTokens = 0;
  hgc_rt_status status = hgc_rt_kv_page_table(cache, s, layer, ids.data(),
                                              pages, &tablePages, &tableTokens);
  if (spilled) {
    EXPECT_EQ(status, HGC_RT_OUT_OF_RANGE);
    EXPECT_NE(std::string(hgc_rt_last_error()).find("storage"),
              std::string::npos);
    return;
  }
  ASSERT_EQ(status, HGC_RT_OK) << hgc_rt_last_error();
  ASSERT_EQ(tablePages, pages);
  ASSERT_EQ(tableTokens, tokens);
  EXPECT_EQ(ids[pages], -1) << "the table wrote past its pages";
  size_t row = size_t(c.head_dim) * elementBytes(c.dtype);
  size_t half = size_t(c.kv_heads) * pt * row;
  ASSERT_EQ(size_t(slots.slot_bytes), 2 * half);
  for (int64_t p = 0; p < pages; ++p) {
    ASSERT_GE(ids[p], 0);
    ASSERT_LT(ids[p], slots.slots);
    const uint8_t *slot = static_cast<const uint8_t *>(slots.base) +
                          size_t(ids[p]) * slots.slot_bytes;
    size_t count = size_t(std::min(pt, tokens - p * pt)) * row;
    for (int32_t h = 0; h < c.kv_heads; ++h) {
      ASSERT_EQ(0, std::memcmp(slot + h * pt * row,
                               keys[h].data() + p * pt * row, count))
          << "keys of page " << p << " head " << h << " in slot " << ids[p];
      ASSERT_EQ(0, std::memcmp(slot + half + h * pt * row,
                               values[h].data() + p * pt * row, count));
    }
  }
}

/// A page's int8 codes and scales equal the keys' quantization recomputed
/// from the shadow copy (hgc_rt_quantize_keys, which the cache's append
/// uses), whatever moved the page: appends, recalls, spills.
void verifyCodes(hgc_rt_kv_cache *cache, const hgc_rt_kv_config &c, int64_t s,
                 int32_t layer, int64_t page, int32_t head, int64_t tokens,
                 const std::vector<uint8_t> &shadow) {
  size_t row = size_t(c.head_dim) * elementBytes(c.dtype);
  std::vector<int8_t> codes(size_t(c.page_tokens) * c.head_dim);
  std::vector<float> scales(c.page_tokens);
  ASSERT_EQ(hgc_rt_kv_page_quantized(cache, s, layer, page, head, codes.data(),
                                     scales.data()),
            HGC_RT_OK)
      << hgc_rt_last_error();
  int64_t first = page * c.page_tokens;
  int64_t count = std::min<int64_t>(tokens - first, c.page_tokens);
  std::vector<int8_t> want(size_t(count) * c.head_dim);
  std::vector<float> wantScales(count);
  ASSERT_EQ(hgc_rt_quantize_keys(c.dtype, c.head_dim, count,
                                 shadow.data() + first * row, want.data(),
                                 wantScales.data()),
            HGC_RT_OK);
  // The layer's table in token order, which compiled selection reads.
  const int8_t *table = nullptr;
  const float *tableScales = nullptr;
  int64_t capacity = 0;
  ASSERT_EQ(hgc_rt_kv_codes(cache, s, layer, &table, &tableScales, &capacity),
            HGC_RT_OK);
  ASSERT_GE(capacity, tokens);
  for (int64_t t = 0; t < count; ++t) {
    // Bit-exact: the same arithmetic on the same keys.
    ASSERT_EQ(std::memcmp(&scales[t], &wantScales[t], sizeof(float)), 0)
        << "scale of token " << first + t << " head " << head;
    ASSERT_EQ(std::memcmp(codes.data() + t * c.head_dim,
                          want.data() + t * c.head_dim, c.head_dim),
              0)
        << "codes of token " << first + t << " head " << head;
    size_t at = size_t(head) * capacity + first + t;
    ASSERT_EQ(std::memcmp(&tableScales[at], &wantScales[t], sizeof(float)), 0)
        << "table scale of token " << first + t << " head " << head;
    ASSERT_EQ(std::memcmp(table + at * c.head_dim, want.data() + t * c.head_dim,
                          c.head_dim),
              0)
        << "table codes of token " << first + t << " head " << head;
  }
}

/// The layer's channel-major keys equal the shadow keys bit for bit, and
/// its per-page value sums the f32 sums of the shadow values in token order
/// (the order appends add them), whatever moved the pages.
void verifyChannels(hgc_rt_kv_cache *cache, const hgc_rt_kv_config &c,
                    int64_t s, int32_t layer, int64_t tokens,
                    const std::vector<std::vector<uint8_t>> &keys,
                    const std::vector<std::vector<uint8_t>> &values) {
  const void *table = nullptr;
  const float *sums = nullptr;
  int64_t capacity = 0, pageCapacity = 0;
  ASSERT_EQ(hgc_rt_kv_channel_keys(cache, s, layer, &table, &sums, &capacity,
                                   &pageCapacity),
            HGC_RT_OK)
      << hgc_rt_last_error();
  int64_t pages = (tokens + c.page_tokens - 1) / c.page_tokens;
  ASSERT_GE(capacity, tokens);
  ASSERT_GE(pageCapacity, pages);
  size_t width = elementBytes(c.dtype), row = size_t(c.head_dim) * width;
  const auto *copy = static_cast<const uint8_t *>(table);
  for (int32_t h = 0; h < c.kv_heads; ++h)
    for (int32_t d = 0; d < c.head_dim; ++d) {
      for (int64_t t = 0; t < tokens; ++t)
        ASSERT_EQ(
            std::memcmp(copy +
                            (size_t(h * c.head_dim + d) * capacity + t) * width,
                        keys[h].data() + t * row + d * width, width),
            0)
            << "channel " << d << " of token " << t << " head " << h;
      for (int64_t p = 0; p < pages; ++p) {
        float want = 0.0f;
        for (int64_t t = p * c.page_tokens;
             t < std::min<int64_t>(tokens, (p + 1) * c.page_tokens); ++t)
          want += toFloat(c, values[h].data() + t * row + d * width);
        ASSERT_EQ(sums[size_t(h * pageCapacity + p) * c.head_dim + d], want)
            << "value sum of page " << p << " channel " << d << " head " << h;
      }
    }
}

/// The layer's product-quantized keys equal their recomputation from the
/// shadow keys: codebooks fitted to the first `fitted` tokens (the first
/// append), every token's codes under them, bit for bit.
void verifyPq(hgc_rt_kv_cache *cache, const hgc_rt_kv_config &c, int64_t s,
              int32_t layer, int64_t tokens, int64_t fitted,
              const std::vector<std::vector<uint8_t>> &keys) {
  const void *table = nullptr;
  const float *books = nullptr;
  int64_t capacity = 0;
  ASSERT_EQ(hgc_rt_kv_pq_codes(cache, s, layer, &table, &books, &capacity),
            HGC_RT_OK)
      << hgc_rt_last_error();
  ASSERT_GE(capacity, tokens);
  size_t perHead =
      size_t(c.pq_subspaces) * c.pq_centroids * (c.head_dim / c.pq_subspaces);
  size_t width = size_t(c.pq_subspaces) * (c.pq_centroids > 256 ? 2 : 1);
  for (int32_t h = 0; h < c.kv_heads; ++h) {
    std::vector<float> book(perHead);
    ASSERT_EQ(hgc_rt_pq_fit(c.dtype, c.head_dim, fitted, keys[h].data(),
                            c.pq_subspaces, c.pq_centroids, 4, 0, book.data()),
              HGC_RT_OK);
    ASSERT_EQ(
        std::memcmp(books + h * perHead, book.data(), perHead * sizeof(float)),
        0)
        << "codebook of head " << h;
    std::vector<uint8_t> codes(size_t(tokens) * width);
    ASSERT_EQ(hgc_rt_pq_encode(c.dtype, c.head_dim, tokens, keys[h].data(),
                               c.pq_subspaces, c.pq_centroids, book.data(),
                               codes.data()),
              HGC_RT_OK);
    ASSERT_EQ(std::memcmp(static_cast<const uint8_t *>(table) +
                              size_t(h) * capacity * width,
                          codes.data(), codes.size()),
              0)
        << "pq codes of head " << h;
  }
}

class RoundTrip : public ::testing::TestWithParam<int> {};

TEST_P(RoundTrip, EveryTokenReadsBackBitExactly) {
  const int seed = GetParam();
  std::mt19937_64 rng(seed);
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  c.layers = 2;
  c.kv_heads = 1 + int32_t(rng() % 3);
  c.head_dim = 8 * (1 + int32_t(rng() % 4));
  c.dtype = hgc_rt_dtype(rng() % 3);
  c.page_tokens = 1 << (rng() % 4);
  c.sink = int64_t(rng() % 5);
  c.window = int64_t(rng() % 24);
  c.device_pages = 2 + int64_t(rng() % 8);
  c.host_pages = 4 + int64_t(rng() % 16);
  c.storage_dir = dir.c_str();
  // Half the seeds have a far tier between host and storage, some of it
  // paced (an emulated link): pages spill host -> far -> storage.
  if (seed % 2) {
    c.far_pages = 2 + int64_t(seed % 7);
    c.far_bandwidth_gbs = seed % 4 == 1 ? 20.0 : 0.0;
  }
  c.quantize_keys = int32_t(rng() % 2);
  c.channel_keys = int32_t(rng() % 2);
  if (rng() % 2) {
    c.pq_subspaces = 2 << (rng() % 3);          // divides head_dim
    c.pq_centroids = rng() % 3 == 0 ? 512 : 16; // u16 or u8 codes
  }
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  size_t row = size_t(c.head_dim) * elementBytes(c.dtype);

  // shadow[seq][layer][head] = bytes of all tokens of that head, in order.
  std::map<int64_t, std::vector<std::vector<std::vector<uint8_t>>>> keys,
      values;
  // Tokens of each (sequence, layer)'s first append: its pq codebooks' fit.
  std::map<std::pair<int64_t, int32_t>, int64_t> fitted;
  for (int64_t s = 0; s < 3; ++s) {
    ASSERT_EQ(hgc_rt_kv_add_sequence(cache, s), HGC_RT_OK);
    keys[s].assign(c.layers, std::vector<std::vector<uint8_t>>(c.kv_heads));
    values[s] = keys[s];
  }

  auto verify = [&](int64_t s, int32_t layer) {
    int64_t tokens = 0;
    ASSERT_EQ(hgc_rt_kv_length(cache, s, layer, &tokens), HGC_RT_OK);
    ASSERT_EQ(size_t(tokens) * row, keys[s][layer][0].size());
    if (tokens == 0)
      return;
    std::vector<uint8_t> k(size_t(c.kv_heads) * tokens * row), v(k.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, s, layer, 0, tokens, k.data(), v.data()),
              HGC_RT_OK)
        << hgc_rt_last_error();
    for (int32_t h = 0; h < c.kv_heads; ++h) {
      ASSERT_EQ(0, std::memcmp(k.data() + h * tokens * row,
                               keys[s][layer][h].data(), tokens * row))
          << "keys of sequence " << s << " layer " << layer << " head " << h;
      ASSERT_EQ(0, std::memcmp(v.data() + h * tokens * row,
                               values[s][layer][h].data(), tokens * row));
    }
    // Summaries: per-channel min/max of each page's keys.
    int64_t pages = (tokens + c.page_tokens - 1) / c.page_tokens;
    verifyInPlace(cache, c, s, layer, tokens, keys[s][layer], values[s][layer]);
    if (c.channel_keys)
      verifyChannels(cache, c, s, layer, tokens, keys[s][layer],
                     values[s][layer]);
    if (c.pq_subspaces > 0)
      verifyPq(cache, c, s, layer, tokens, fitted.at({s, layer}),
               keys[s][layer]);
    const void *denseMin = nullptr, *denseMax = nullptr;
    int64_t capacity = 0;
    ASSERT_EQ(
        hgc_rt_kv_summaries(cache, s, layer, &denseMin, &denseMax, &capacity),
        HGC_RT_OK);
    ASSERT_GE(capacity, pages);
    std::vector<float> lo(c.head_dim), hi(c.head_dim);
    for (int64_t p = 0; p < pages; ++p)
      for (int32_t h = 0; h < c.kv_heads; ++h) {
        ASSERT_EQ(
            hgc_rt_kv_page_summary(cache, s, layer, p, h, lo.data(), hi.data()),
            HGC_RT_OK);
        for (int32_t d = 0; d < c.head_dim; ++d) {
          float want_lo = INFINITY, want_hi = -INFINITY;
          for (int64_t t = p * c.page_tokens;
               t < std::min<int64_t>(tokens, (p + 1) * c.page_tokens); ++t) {
            float x = toFloat(c, keys[s][layer][h].data() + t * row +
                                     d * elementBytes(c.dtype));
            want_lo = std::min(want_lo, x);
            want_hi = std::max(want_hi, x);
          }
          ASSERT_EQ(lo[d], want_lo);
          ASSERT_EQ(hi[d], want_hi);
          // The copy kept in the cache's dtype for compiled selection.
          size_t at = (size_t(h * capacity + p) * c.head_dim + d) *
                      elementBytes(c.dtype);
          ASSERT_EQ(toFloat(c, static_cast<const uint8_t *>(denseMin) + at),
                    want_lo)
              << "dense summary of page " << p << " head " << h;
          ASSERT_EQ(toFloat(c, static_cast<const uint8_t *>(denseMax) + at),
                    want_hi);
        }
        if (c.quantize_keys)
          verifyCodes(cache, c, s, layer, p, h, tokens, keys[s][layer][h]);
      }
  };

  for (int op = 0; op < 60; ++op) {
    int64_t s = int64_t(rng() % 3);
    int32_t layer = int32_t(rng() % c.layers);
    if (rng() % 5 == 0) {
      int64_t tokens = 0;
      hgc_rt_kv_length(cache, s, layer, &tokens);
      if (tokens > 0) {
        uint64_t ticket = 0;
        int64_t page =
            int64_t(rng() % ((tokens + c.page_tokens - 1) / c.page_tokens));
        ASSERT_EQ(hgc_rt_kv_recall(cache, s, layer, page, &ticket), HGC_RT_OK);
        hgc_rt_status status = hgc_rt_kv_wait(cache, ticket);
        ASSERT_TRUE(status == HGC_RT_OK || status == HGC_RT_CAPACITY)
            << hgc_rt_last_error();
        // Some recalls end again: the page goes back down; some pages are
        // evicted to storage, and some of those settle back.
        if (rng() % 2 == 0) {
          status = hgc_rt_kv_settle(cache, s, layer, page);
          ASSERT_TRUE(status == HGC_RT_OK || status == HGC_RT_CAPACITY)
              << hgc_rt_last_error();
        }
        if (rng() % 3 == 0) {
          status = hgc_rt_kv_evict(cache, s, layer, page);
          ASSERT_TRUE(status == HGC_RT_OK || status == HGC_RT_OUT_OF_RANGE)
              << hgc_rt_last_error();
          if (rng() % 2 == 0)
            ASSERT_EQ(hgc_rt_kv_settle(cache, s, layer, page), HGC_RT_OK)
                << hgc_rt_last_error();
        }
      }
    } else {
      int64_t n = int64_t(rng() % 17);
      std::vector<uint8_t> k = randomKV(rng, c, n), v = randomKV(rng, c, n);
      hgc_rt_kv_block block{c.dtype, c.kv_heads, c.head_dim,
                            n,       k.data(),   v.data()};
      ASSERT_EQ(hgc_rt_kv_append(cache, s, layer, &block), HGC_RT_OK)
          << hgc_rt_last_error();
      if (n > 0)
        fitted.insert({{s, layer}, n});
      for (int32_t h = 0; h < c.kv_heads; ++h) {
        auto &kk = keys[s][layer][h];
        auto &vv = values[s][layer][h];
        kk.insert(kk.end(), k.begin() + h * n * row,
                  k.begin() + (h + 1) * n * row);
        vv.insert(vv.end(), v.begin() + h * n * row,
                  v.begin() + (h + 1) * n * row);
      }
    }
    verify(s, layer);
  }
  // Every page sits on exactly one tier and the tiers account for all.
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  int64_t pages = 0, tokens = 0;
  for (int64_t s = 0; s < 3; ++s)
    for (int32_t layer = 0; layer < c.layers; ++layer) {
      int64_t n = 0;
      hgc_rt_kv_length(cache, s, layer, &n);
      tokens += n;
      pages += (n + c.page_tokens - 1) / c.page_tokens;
      verify(s, layer);
    }
  EXPECT_EQ(stats.tokens, tokens);
  EXPECT_EQ(stats.pages[0] + stats.pages[1] + stats.pages[2] + stats.pages[3],
            pages);
  EXPECT_LE(stats.pages[0], c.device_pages);
  EXPECT_LE(stats.pages[1], c.host_pages);
  EXPECT_LE(stats.pages[2], c.far_pages);
  EXPECT_EQ(stats.far_is_emulated, c.far_pages > 0 ? 1 : 0);
  hgc_rt_kv_destroy(cache);
  rmdir(dir.c_str());
}

INSTANTIATE_TEST_SUITE_P(Seeds, RoundTrip, ::testing::Range(0, 40));

TEST(Placement, HotSetOnDeviceColdPagesMoveDown) {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_F32;
  c.page_tokens = 4;
  c.sink = 4;
  c.window = 8;
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 7), HGC_RT_OK);
  std::mt19937_64 rng(1);
  for (int step = 0; step < 40; ++step) {
    std::vector<uint8_t> k = randomKV(rng, c, 1), v = randomKV(rng, c, 1);
    hgc_rt_kv_block block{c.dtype, 2, 8, 1, k.data(), v.data()};
    ASSERT_EQ(hgc_rt_kv_append(cache, 7, 0, &block), HGC_RT_OK);
  }
  // 40 tokens, pages of 4: page 0 holds the sinks, pages 8 and 9 the last 8
  // tokens (window), pages 1..7 moved to the host as the window slid.
  for (int64_t p = 0; p < 10; ++p) {
    hgc_rt_tier tier;
    ASSERT_EQ(hgc_rt_kv_page_tier(cache, 7, 0, p, &tier), HGC_RT_OK);
    bool hot = p == 0 || p >= 8;
    EXPECT_EQ(tier, hot ? HGC_RT_TIER_DEVICE : HGC_RT_TIER_HOST)
        << "page " << p;
  }
  // Recall brings a cold page up; it stays until released.
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache, 7, 0, 3, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK);
  hgc_rt_tier tier;
  ASSERT_EQ(hgc_rt_kv_page_tier(cache, 7, 0, 3, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_DEVICE);
  // Settling it sends it back to the host; a hot page stays.
  ASSERT_EQ(hgc_rt_kv_settle(cache, 7, 0, 3), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_page_tier(cache, 7, 0, 3, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_HOST);
  ASSERT_EQ(hgc_rt_kv_settle(cache, 7, 0, 9), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_page_tier(cache, 7, 0, 9, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_DEVICE);
  EXPECT_EQ(hgc_rt_kv_settle(cache, 7, 0, 10), HGC_RT_OUT_OF_RANGE);
  // This cache has no storage tier to evict to.
  EXPECT_EQ(hgc_rt_kv_evict(cache, 7, 0, 3), HGC_RT_INVALID_ARGUMENT);
  hgc_rt_kv_stats stats{};
  hgc_rt_kv_get_stats(cache, &stats);
  EXPECT_EQ(stats.moved_pages, 7 + 2);
  // Summaries: 2 x (2 heads x 8 channels x (4 + 4) bytes) per 4-token
  // page = 64 (f32, and the copy in the cache's dtype, here f32 too).
  EXPECT_DOUBLE_EQ(stats.metadata_bytes_per_token, 64.0);
  hgc_rt_kv_destroy(cache);
}

TEST(Placement, EvictedPagesGoToStorageAndSettleBack) {
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_F16;
  c.page_tokens = 4;
  c.sink = 4;
  c.window = 8;
  c.storage_dir = dir.c_str();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 7), HGC_RT_OK);
  std::mt19937_64 rng(2);
  std::vector<uint8_t> k = randomKV(rng, c, 40), v = randomKV(rng, c, 40);
  hgc_rt_kv_block block{c.dtype, 2, 8, 40, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 7, 0, &block), HGC_RT_OK);
  auto tierOf = [&](int64_t page) {
    hgc_rt_tier tier = HGC_RT_TIER_DEVICE;
    EXPECT_EQ(hgc_rt_kv_page_tier(cache, 7, 0, page, &tier), HGC_RT_OK);
    return tier;
  };
  auto readsBack = [&] {
    std::vector<uint8_t> rk(k.size()), rv(v.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, 7, 0, 0, 40, rk.data(), rv.data()),
              HGC_RT_OK);
    EXPECT_EQ(rk, k);
    EXPECT_EQ(rv, v);
  };
  // A cold page goes to storage and back; a recalled one loses its recall.
  ASSERT_EQ(hgc_rt_kv_evict(cache, 7, 0, 3), HGC_RT_OK);
  EXPECT_EQ(tierOf(3), HGC_RT_TIER_STORAGE);
  readsBack();
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache, 7, 0, 5, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_evict(cache, 7, 0, 5), HGC_RT_OK);
  EXPECT_EQ(tierOf(5), HGC_RT_TIER_STORAGE);
  readsBack();
  ASSERT_EQ(hgc_rt_kv_settle(cache, 7, 0, 3), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_settle(cache, 7, 0, 5), HGC_RT_OK);
  EXPECT_EQ(tierOf(3), HGC_RT_TIER_HOST);
  EXPECT_EQ(tierOf(5), HGC_RT_TIER_HOST);
  readsBack();
  // Pages of sinks or window stay with placement.
  EXPECT_EQ(hgc_rt_kv_evict(cache, 7, 0, 0), HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(hgc_rt_kv_evict(cache, 7, 0, 9), HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(tierOf(9), HGC_RT_TIER_DEVICE);
  hgc_rt_kv_destroy(cache);
}

TEST(Quantization, CodesReconstructKeysWithinHalfAStep) {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 16;
  c.dtype = HGC_RT_F32;
  c.page_tokens = 8;
  c.quantize_keys = 1;
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 0), HGC_RT_OK);
  std::mt19937_64 rng(3);
  std::vector<uint8_t> k = randomKV(rng, c, 8), v = randomKV(rng, c, 8);
  hgc_rt_kv_block block{c.dtype, 2, 16, 8, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 0, 0, &block), HGC_RT_OK);
  std::vector<int8_t> codes(8 * 16);
  std::vector<float> scales(8);
  for (int32_t h = 0; h < 2; ++h) {
    ASSERT_EQ(hgc_rt_kv_page_quantized(cache, 0, 0, 0, h, codes.data(),
                                       scales.data()),
              HGC_RT_OK);
    for (int t = 0; t < 8; ++t)
      for (int d = 0; d < 16; ++d) {
        float x;
        std::memcpy(&x, k.data() + 4 * ((h * 8 + t) * 16 + d), 4);
        EXPECT_NEAR(codes[t * 16 + d] * scales[t], x, scales[t] * 0.5001f);
        // The largest magnitude of a token maps to the top code.
      }
    for (int t = 0; t < 8; ++t) {
      int largest = 0;
      for (int d = 0; d < 16; ++d)
        largest = std::max(largest, std::abs(int(codes[t * 16 + d])));
      EXPECT_EQ(largest, 127) << "token " << t;
    }
  }
  // A zero key: scale 0, codes 0; bad arguments are errors.
  std::vector<float> zeros(16, 0.0f);
  float scale = -1;
  ASSERT_EQ(hgc_rt_quantize_keys(HGC_RT_F32, 16, 1, zeros.data(), codes.data(),
                                 &scale),
            HGC_RT_OK);
  EXPECT_EQ(scale, 0.0f);
  EXPECT_TRUE(std::all_of(codes.begin(), codes.begin() + 16,
                          [](int8_t x) { return x == 0; }));
  EXPECT_EQ(hgc_rt_quantize_keys(HGC_RT_F32, 0, 1, zeros.data(), codes.data(),
                                 &scale),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(
      hgc_rt_quantize_keys(HGC_RT_F32, 16, 1, nullptr, codes.data(), &scale),
      HGC_RT_INVALID_ARGUMENT);
  hgc_rt_kv_stats stats{};
  hgc_rt_kv_get_stats(cache, &stats);
  // Summaries 2*2*16*(4+4)/8 = 64, int8 keys + scale 2*(16+4) = 40.
  EXPECT_DOUBLE_EQ(stats.metadata_bytes_per_token, 104.0);
  hgc_rt_kv_destroy(cache);
}

} // namespace

TEST(Placement, FarTierTakesWhatTheHostCannotAndIsPaced) {
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_F32;
  c.page_tokens = 4;
  c.sink = 4;
  c.window = 4;
  c.host_pages = 2;
  c.far_pages = 3;
  c.far_bandwidth_gbs = 1e-4; // 100 KB/s
  c.storage_dir = dir.c_str();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 1), HGC_RT_OK);
  std::mt19937_64 rng(3);
  std::vector<uint8_t> k = randomKV(rng, c, 40), v = randomKV(rng, c, 40);
  hgc_rt_kv_block block{c.dtype, 2, 8, 40, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 1, 0, &block), HGC_RT_OK);
  // Pages 0 and 9 are hot; of the eight cold ones the host takes 2, far
  // memory 3, storage the rest, in page order.
  std::vector<hgc_rt_tier> tiers;
  for (int64_t p = 0; p < 10; ++p) {
    hgc_rt_tier tier;
    ASSERT_EQ(hgc_rt_kv_page_tier(cache, 1, 0, p, &tier), HGC_RT_OK);
    tiers.push_back(tier);
  }
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), HGC_RT_TIER_DEVICE), 2);
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), HGC_RT_TIER_HOST), 2);
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), HGC_RT_TIER_FAR), 3);
  EXPECT_EQ(std::count(tiers.begin(), tiers.end(), HGC_RT_TIER_STORAGE), 3);
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_FAR], 3);
  EXPECT_EQ(stats.far_is_emulated, 1);
  // A far page reads back bit-exactly, no sooner than the link allows.
  int64_t far =
      std::find(tiers.begin(), tiers.end(), HGC_RT_TIER_FAR) - tiers.begin();
  std::vector<uint8_t> rk(2 * 4 * 8 * 4), rv(rk.size());
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(hgc_rt_kv_read(cache, 1, 0, far * 4, 4, rk.data(), rv.data()),
            HGC_RT_OK);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  // Keys and values of two heads: four runs of 128 bytes.
  EXPECT_GE(seconds, 4 * 128 / 1e5);
  for (int h = 0; h < 2; ++h) {
    EXPECT_EQ(0, std::memcmp(rk.data() + h * 128,
                             k.data() + (h * 40 + far * 4) * 32, 128));
    EXPECT_EQ(0, std::memcmp(rv.data() + h * 128,
                             v.data() + (h * 40 + far * 4) * 32, 128));
  }
  // A far page is not in the slot space: no page table.
  std::vector<int32_t> ids(10);
  int64_t pages = 0, tokens = 0;
  EXPECT_EQ(hgc_rt_kv_page_table(cache, 1, 0, ids.data(), 10, &pages, &tokens),
            HGC_RT_OUT_OF_RANGE);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("far memory"),
            std::string::npos);
  hgc_rt_kv_destroy(cache);
  rmdir(dir.c_str());
}

TEST(Placement, FarTierOptionsAreChecked) {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 1;
  c.head_dim = 8;
  c.page_tokens = 4;
  hgc_rt_kv_cache *cache = nullptr;
  c.far_bandwidth_gbs = 10;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  EXPECT_STREQ(hgc_rt_last_error(),
               "invalid KV config: far_numa_nodes and far_bandwidth_gbs "
               "describe a far tier; set far_pages to have one");
  c.far_pages = -1;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  c.far_pages = 4;
  c.far_numa_nodes = "1000"; // a node this machine does not have
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("not online"),
            std::string::npos);
}
