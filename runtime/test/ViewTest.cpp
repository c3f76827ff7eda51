//===- ViewTest.cpp - the views compiled code reads ----------------------===//
//
// A batch of sequences of different lengths spread over all tiers: each
// tier's view holds exactly the tokens of the pages on that tier, in token
// order, zero-padded to the capacity, with the right lengths; the views of
// all tiers together hold every token once.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "gtest/gtest.h"

#include <unistd.h>

using namespace hgc_rt_test;

TEST(View, TierViewsPartitionEveryToken) {
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  c.layers = 2;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_BF16;
  c.page_tokens = 4;
  c.sink = 3;
  c.window = 6;
  c.device_pages = 8;
  c.host_pages = 5;
  c.far_pages = 3;
  c.storage_dir = dir.c_str();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  std::mt19937_64 rng(5);
  const int64_t seqs[3] = {10, 11, 12};
  const int64_t lengths[3] = {37, 5, 22};
  size_t row = size_t(c.head_dim) * 2;
  for (int b = 0; b < 3; ++b) {
    ASSERT_EQ(hgc_rt_kv_add_sequence(cache, seqs[b]), HGC_RT_OK);
    std::vector<uint8_t> k = randomKV(rng, c, lengths[b]),
                         v = randomKV(rng, c, lengths[b]);
    hgc_rt_kv_block block{c.dtype, 2, 8, lengths[b], k.data(), v.data()};
    ASSERT_EQ(hgc_rt_kv_append(cache, seqs[b], 1, &block), HGC_RT_OK);
  }
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  ASSERT_GT(stats.pages[HGC_RT_TIER_FAR], 0);
  ASSERT_GT(stats.pages[HGC_RT_TIER_STORAGE], 0);
  int64_t seen[3] = {0, 0, 0};
  for (int t = 0; t < HGC_RT_TIERS; ++t) {
    hgc_rt_tier tier = hgc_rt_tier(t);
    int64_t capacity = -1;
    ASSERT_EQ(hgc_rt_kv_view_tokens(cache, seqs, 3, 1, tier, &capacity),
              HGC_RT_OK);
    std::vector<uint8_t> keys(3 * 2 * capacity * row + 1), values(keys.size());
    std::vector<int32_t> counts(3, -1);
    ASSERT_EQ(hgc_rt_kv_view(cache, seqs, 3, 1, tier, capacity, keys.data(),
                             values.data(), counts.data()),
              HGC_RT_OK)
        << hgc_rt_last_error();
    int64_t widest = 0;
    for (int b = 0; b < 3; ++b) {
      // Expected: the pages on this tier, read back in token order.
      std::vector<uint8_t> want(2 * capacity * row, 0);
      int64_t count = 0;
      for (int64_t p = 0; p * c.page_tokens < lengths[b]; ++p) {
        hgc_rt_tier at;
        ASSERT_EQ(hgc_rt_kv_page_tier(cache, seqs[b], 1, p, &at), HGC_RT_OK);
        if (at != tier)
          continue;
        int64_t n =
            std::min<int64_t>(c.page_tokens, lengths[b] - p * c.page_tokens);
        std::vector<uint8_t> k(2 * n * row), v(k.size());
        ASSERT_EQ(hgc_rt_kv_read(cache, seqs[b], 1, p * c.page_tokens, n,
                                 k.data(), v.data()),
                  HGC_RT_OK);
        for (int h = 0; h < 2; ++h)
          std::memcpy(want.data() + (h * capacity + count) * row,
                      k.data() + h * n * row, n * row);
        count += n;
      }
      EXPECT_EQ(counts[b], count);
      widest = std::max(widest, count);
      seen[b] += count;
      EXPECT_EQ(0, std::memcmp(keys.data() + b * 2 * capacity * row,
                               want.data(), want.size()))
          << "tier " << t << " sequence " << b;
    }
    EXPECT_EQ(widest, capacity);
    if (capacity > 0) {
      EXPECT_EQ(hgc_rt_kv_view(cache, seqs, 3, 1, tier, capacity - 1,
                               keys.data(), values.data(), counts.data()),
                HGC_RT_OUT_OF_RANGE);
    }
  }
  for (int b = 0; b < 3; ++b)
    EXPECT_EQ(seen[b], lengths[b]);
  const int64_t unknown[1] = {99};
  int64_t capacity = 0;
  EXPECT_EQ(
      hgc_rt_kv_view_tokens(cache, unknown, 1, 1, HGC_RT_TIER_HOST, &capacity),
      HGC_RT_UNKNOWN_SEQUENCE);
  hgc_rt_kv_destroy(cache);
  rmdir(dir.c_str());
}
