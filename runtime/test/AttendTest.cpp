//===- AttendTest.cpp - attention computed where the data lives ----------===//
//
// Pages spread over device, host and storage; each tier's partial attention,
// merged by log-sum-exp, equals exact attention over every token (double
// precision reference from the read-back data; tolerance 2e-5).
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "gtest/gtest.h"

#include <cmath>
#include <unistd.h>

using namespace hgc_rt_test;

TEST(Attend, TierPartialsMergeToExactAttention) {
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 16;
  c.dtype = HGC_RT_F32;
  c.page_tokens = 8;
  c.sink = 4;
  c.window = 16;
  c.device_pages = 4;
  c.host_pages = 6;
  c.far_pages = 4;
  c.far_bandwidth_gbs = 50; // paced: the same tokens, only slower
  c.storage_dir = dir.c_str();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 0), HGC_RT_OK);
  std::mt19937_64 rng(9);
  const int64_t tokens = 150; // 19 pages: every tier of the four holds some
  std::vector<uint8_t> k = randomKV(rng, c, tokens),
                       v = randomKV(rng, c, tokens);
  hgc_rt_kv_block block{c.dtype, 2, 16, tokens, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 0, 0, &block), HGC_RT_OK);
  hgc_rt_kv_stats stats{};
  hgc_rt_kv_get_stats(cache, &stats);
  ASSERT_GT(stats.pages[0], 0);
  ASSERT_GT(stats.pages[1], 0);
  ASSERT_GT(stats.pages[2], 0);
  ASSERT_GT(stats.pages[3], 0);

  const int32_t qHeads = 8;
  std::normal_distribution<float> normal;
  std::vector<float> q(qHeads * 16);
  for (float &x : q)
    x = normal(rng);
  float scale = 0.25f;
  std::vector<float> outs[HGC_RT_TIERS], lses[HGC_RT_TIERS];
  for (int t = 0; t < HGC_RT_TIERS; ++t) {
    outs[t].resize(qHeads * 16);
    lses[t].resize(qHeads);
    ASSERT_EQ(hgc_rt_kv_attend(cache, 0, 0, hgc_rt_tier(t), qHeads, q.data(),
                               scale, outs[t].data(), lses[t].data()),
              HGC_RT_OK)
        << hgc_rt_last_error();
  }
  const float *keys = reinterpret_cast<const float *>(k.data());
  const float *values = reinterpret_cast<const float *>(v.data());
  for (int32_t h = 0; h < qHeads; ++h) {
    int32_t hk = h / 4;
    // Exact attention in double.
    std::vector<double> s(tokens);
    double m = -INFINITY;
    for (int64_t t = 0; t < tokens; ++t) {
      double dot = 0;
      for (int d = 0; d < 16; ++d)
        dot += double(q[h * 16 + d]) * keys[(hk * tokens + t) * 16 + d];
      s[t] = dot * scale;
      m = std::max(m, s[t]);
    }
    double sum = 0;
    std::vector<double> want(16, 0.0);
    for (int64_t t = 0; t < tokens; ++t) {
      double p = std::exp(s[t] - m);
      sum += p;
      for (int d = 0; d < 16; ++d)
        want[d] += p * values[(hk * tokens + t) * 16 + d];
    }
    // LSE merge of the four tier partials.
    double top = -INFINITY;
    for (int t = 0; t < HGC_RT_TIERS; ++t)
      top = std::max(top, double(lses[t][h]));
    double total = 0;
    for (int t = 0; t < HGC_RT_TIERS; ++t)
      total += std::exp(lses[t][h] - top);
    EXPECT_NEAR(top + std::log(total), m + std::log(sum), 2e-5);
    for (int d = 0; d < 16; ++d) {
      double merged = 0;
      for (int t = 0; t < HGC_RT_TIERS; ++t)
        merged += std::exp(lses[t][h] - top) / total * outs[t][h * 16 + d];
      EXPECT_NEAR(merged, want[d] / sum, 2e-5);
    }
  }
  // A tier holding none of the tokens: output 0, LSE -inf.
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 1), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_attend(cache, 1, 0, HGC_RT_TIER_STORAGE, qHeads, q.data(),
                             scale, outs[0].data(), lses[0].data()),
            HGC_RT_OK);
  EXPECT_TRUE(std::isinf(lses[0][0]) && lses[0][0] < 0);
  EXPECT_EQ(outs[0][0], 0.0f);
  EXPECT_EQ(hgc_rt_kv_attend(cache, 0, 0, HGC_RT_TIER_HOST, 3, q.data(), scale,
                             outs[0].data(), lses[0].data()),
            HGC_RT_SHAPE_MISMATCH);
  hgc_rt_kv_destroy(cache);
  rmdir(dir.c_str());
}
