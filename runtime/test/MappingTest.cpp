//===- MappingTest.cpp - cold pages placed by attention mass --------------===//
//
// HybridGen's semantic mapping in the runtime: constructed mass patterns
// move the hottest cold pages to the fastest cold tiers and the coldest
// down, within each tier's page count, bit-exactly; a margin keeps
// near-equal pages where they are; hot and recalled pages stay; the kept
// mass decays and travels with its page; bad arguments are errors.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <unistd.h>
#include <vector>

using namespace hgc_rt_test;

namespace {
/// 40 f32 tokens in 4-token pages: pages 0 (sinks) and 9 (window) on the
/// device, cold pages 1-3 on the host, 4-6 on far memory, 7-8 in storage.
struct FourTierCache {
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  hgc_rt_kv_cache *cache = nullptr;
  std::vector<uint8_t> k, v;

  FourTierCache() {
    c.layers = 1;
    c.kv_heads = 2;
    c.head_dim = 8;
    c.dtype = HGC_RT_F32;
    c.page_tokens = 4;
    c.sink = 4;
    c.window = 4;
    c.host_pages = 3;
    c.far_pages = 3;
    c.storage_dir = dir.c_str();
    EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
    EXPECT_EQ(hgc_rt_kv_add_sequence(cache, 5), HGC_RT_OK);
    std::mt19937_64 rng(17);
    k = randomKV(rng, c, 40);
    v = randomKV(rng, c, 40);
    hgc_rt_kv_block block{c.dtype, 2, 8, 40, k.data(), v.data()};
    EXPECT_EQ(hgc_rt_kv_append(cache, 5, 0, &block), HGC_RT_OK);
  }
  ~FourTierCache() {
    hgc_rt_kv_destroy(cache);
    rmdir(dir.c_str());
  }
  std::vector<hgc_rt_tier> tiers() {
    std::vector<hgc_rt_tier> all;
    for (int64_t p = 0; p < 10; ++p) {
      hgc_rt_tier tier;
      EXPECT_EQ(hgc_rt_kv_page_tier(cache, 5, 0, p, &tier), HGC_RT_OK);
      all.push_back(tier);
    }
    return all;
  }
  void remap(float margin) {
    uint64_t ticket = 0;
    ASSERT_EQ(hgc_rt_kv_remap(cache, 5, 0, margin, &ticket), HGC_RT_OK)
        << hgc_rt_last_error();
    ASSERT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK) << hgc_rt_last_error();
  }
  void readsBack() {
    std::vector<uint8_t> rk(k.size()), rv(v.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, 5, 0, 0, 40, rk.data(), rv.data()),
              HGC_RT_OK);
    EXPECT_EQ(rk, k);
    EXPECT_EQ(rv, v);
  }
  hgc_rt_kv_stats stats() {
    hgc_rt_kv_stats s{};
    EXPECT_EQ(hgc_rt_kv_get_stats(cache, &s), HGC_RT_OK);
    return s;
  }
};

constexpr hgc_rt_tier D = HGC_RT_TIER_DEVICE, H = HGC_RT_TIER_HOST,
                      F = HGC_RT_TIER_FAR, S = HGC_RT_TIER_STORAGE;
} // namespace

TEST(Mapping, HotPagesMoveUpColdPagesDown) {
  FourTierCache t;
  ASSERT_EQ(t.tiers(),
            (std::vector<hgc_rt_tier>{D, H, H, H, F, F, F, S, S, D}));
  // Storage's pages 7 and 8 and far's page 5 are the hottest; the host's
  // pages 1 and 2 the coldest.
  std::vector<float> mass = {9, 0.1f, 0.2f, 3, 1, 6, 2, 8, 7, 9};
  ASSERT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, mass.data(), 10, 1.0f),
            HGC_RT_OK);
  hgc_rt_kv_stats before = t.stats();
  t.remap(0.1f);
  // The three hottest cold pages (7, 8, 5) on the host, the next three
  // (3, 6, 4) on far memory, the two coldest (1, 2) in storage.
  EXPECT_EQ(t.tiers(),
            (std::vector<hgc_rt_tier>{D, S, S, F, F, H, F, H, H, D}));
  hgc_rt_kv_stats after = t.stats();
  for (int tier = 0; tier < HGC_RT_TIERS; ++tier)
    EXPECT_EQ(after.pages[tier], before.pages[tier]) << "tier " << tier;
  EXPECT_GT(after.moved_pages, before.moved_pages);
  t.readsBack();
  // The mass moved with its page.
  double kept = 0;
  ASSERT_EQ(hgc_rt_kv_page_mass(t.cache, 5, 0, 7, &kept), HGC_RT_OK);
  EXPECT_EQ(kept, 8.0);
  // Placed: a second remap moves nothing.
  int64_t moved = t.stats().moved_pages;
  t.remap(0.1f);
  EXPECT_EQ(t.stats().moved_pages, moved);
}

TEST(Mapping, MarginKeepsNearEqualPagesAndHotPagesStay) {
  FourTierCache t;
  // Storage's pages are hotter than the host's, but by less than 20%; the
  // device's pages are the coldest of all, yet placement keeps them.
  std::vector<float> mass = {0, 1, 1, 1, 1, 1, 1, 1.1f, 1.1f, 0};
  ASSERT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, mass.data(), 10, 1.0f),
            HGC_RT_OK);
  int64_t moved = t.stats().moved_pages;
  t.remap(0.2f);
  EXPECT_EQ(t.stats().moved_pages, moved);
  EXPECT_EQ(t.tiers(),
            (std::vector<hgc_rt_tier>{D, H, H, H, F, F, F, S, S, D}));
  // Without the margin they trade.
  t.remap(0.0f);
  EXPECT_EQ(t.tiers()[7], H);
  EXPECT_EQ(t.tiers()[8], H);
  t.readsBack();
}

TEST(Mapping, RecalledPagesStayAndMassDecays) {
  FourTierCache t;
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(t.cache, 5, 0, 1, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(t.cache, ticket), HGC_RT_OK);
  std::vector<float> first = {0, 0, 0, 0, 0, 0, 0, 4, 0, 0};
  std::vector<float> second = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, first.data(), 10, 0.5f),
            HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, second.data(), 10, 0.5f),
            HGC_RT_OK);
  double kept = 0;
  ASSERT_EQ(hgc_rt_kv_page_mass(t.cache, 5, 0, 7, &kept), HGC_RT_OK);
  EXPECT_EQ(kept, 2.0);
  t.remap(0.0f);
  std::vector<hgc_rt_tier> tiers = t.tiers();
  EXPECT_EQ(tiers[1], D); // recalled: not the mapping's to move
  EXPECT_EQ(tiers[7], H);
  t.readsBack();
}

TEST(Mapping, BadArgumentsAreErrors) {
  FourTierCache t;
  std::vector<float> mass(10, 1.0f);
  EXPECT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, mass.data(), 10, 1.5f),
            HGC_RT_INVALID_ARGUMENT);
  std::vector<float> tooMany(11, 1.0f);
  EXPECT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, tooMany.data(), 11, 1.0f),
            HGC_RT_OUT_OF_RANGE);
  mass[3] = NAN;
  EXPECT_EQ(hgc_rt_kv_add_page_mass(t.cache, 5, 0, mass.data(), 10, 1.0f),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_STREQ(hgc_rt_last_error(), "page 3's mass must be finite and >= 0");
  EXPECT_EQ(hgc_rt_kv_add_page_mass(t.cache, 9, 0, mass.data(), 1, 1.0f),
            HGC_RT_UNKNOWN_SEQUENCE);
  uint64_t ticket = 0;
  EXPECT_EQ(hgc_rt_kv_remap(t.cache, 5, 0, -1.0f, &ticket),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_kv_remap(t.cache, 5, 3, 0.0f, &ticket), HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(hgc_rt_kv_remap(t.cache, 5, 0, 0.0f, nullptr),
            HGC_RT_INVALID_ARGUMENT);
  double kept = 0;
  EXPECT_EQ(hgc_rt_kv_page_mass(t.cache, 5, 0, 10, &kept), HGC_RT_OUT_OF_RANGE);
}
