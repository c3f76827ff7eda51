//===- MirrorTest.cpp - device pages with host copies ---------------------===//
//
// device_mirror: every device page keeps a host copy, written with it and
// read instead of it; a page leaving the device adopts its copy (nothing
// read back), a page coming up from a lower tier is staged through a new
// one, and a device page never exists without its copy (no host room: the
// page starts on the host). The emulated device here; a lost CUDA device
// is in FakeCudaKernelTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "gtest/gtest.h"

#include <memory>

namespace {

using hgc_rt_test::randomKV;

struct CacheDeleter {
  void operator()(hgc_rt_kv_cache *cache) const { hgc_rt_kv_destroy(cache); }
};
using Cache = std::unique_ptr<hgc_rt_kv_cache, CacheDeleter>;

hgc_rt_kv_config mirroredConfig() {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_BF16;
  c.page_tokens = 4;
  c.sink = 4;
  c.window = 8;
  c.device_mirror = 1;
  return c;
}

Cache create(const hgc_rt_kv_config &c) {
  hgc_rt_kv_cache *cache = nullptr;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  return Cache(cache);
}

hgc_rt_kv_stats statsOf(hgc_rt_kv_cache *cache) {
  hgc_rt_kv_stats stats{};
  EXPECT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  return stats;
}

/// Appends `tokens` random tokens to sequence 0, layer 0, and adds them to
/// `keys`/`values` ([heads][all tokens][dim], rebuilt).
void append(hgc_rt_kv_cache *cache, const hgc_rt_kv_config &c,
            std::mt19937_64 &rng, int64_t tokens, std::vector<uint8_t> &keys,
            std::vector<uint8_t> &values, int64_t &total) {
  std::vector<uint8_t> k = randomKV(rng, c, tokens),
                       v = randomKV(rng, c, tokens);
  hgc_rt_kv_block block{c.dtype, c.kv_heads, c.head_dim,
                        tokens,  k.data(),   v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 0, 0, &block), HGC_RT_OK)
      << hgc_rt_last_error();
  size_t row = size_t(c.head_dim) * 2;
  std::vector<uint8_t> newKeys, newValues;
  for (int h = 0; h < c.kv_heads; ++h) {
    auto at = [&](const std::vector<uint8_t> &b, int64_t n, int64_t i) {
      return b.begin() + (h * n + i) * row;
    };
    newKeys.insert(newKeys.end(), at(keys, total, 0), at(keys, total, total));
    newKeys.insert(newKeys.end(), at(k, tokens, 0), at(k, tokens, tokens));
    newValues.insert(newValues.end(), at(values, total, 0),
                     at(values, total, total));
    newValues.insert(newValues.end(), at(v, tokens, 0), at(v, tokens, tokens));
  }
  keys = std::move(newKeys);
  values = std::move(newValues);
  total += tokens;
}

void expectAll(hgc_rt_kv_cache *cache, int64_t total,
               const std::vector<uint8_t> &keys,
               const std::vector<uint8_t> &values) {
  std::vector<uint8_t> k(keys.size()), v(values.size());
  ASSERT_EQ(hgc_rt_kv_read(cache, 0, 0, 0, total, k.data(), v.data()),
            HGC_RT_OK)
      << hgc_rt_last_error();
  EXPECT_EQ(k, keys);
  EXPECT_EQ(v, values);
}

TEST(Mirror, DevicePagesKeepHostCopiesAndAdoptThemGoingDown) {
  hgc_rt_kv_config c = mirroredConfig();
  Cache cache = create(c);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache.get(), 0), HGC_RT_OK);
  std::mt19937_64 rng(5);
  std::vector<uint8_t> keys, values;
  int64_t total = 0;
  append(cache.get(), c, rng, 10, keys, values, total);
  hgc_rt_kv_stats stats = statsOf(cache.get());
  EXPECT_EQ(stats.device_mirror, 1);
  // 10 tokens: pages 0-2, all hot (sink 4, window 8), each with a copy.
  EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 3);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_HOST], 0);
  EXPECT_EQ(stats.mirrored_pages, 3);
  expectAll(cache.get(), total, keys, values);
  // 30 tokens: pages 1-4 leave the window; each adopts its copy.
  for (int step = 0; step < 20; ++step)
    append(cache.get(), c, rng, 1, keys, values, total);
  stats = statsOf(cache.get());
  EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 4); // sink page + 3 of window
  EXPECT_EQ(stats.pages[HGC_RT_TIER_HOST], 4);
  EXPECT_EQ(stats.mirrored_pages, 4);
  expectAll(cache.get(), total, keys, values);
  // A recalled host page keeps its slot as the copy; settling it adopts it
  // back.
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache.get(), 0, 0, 2, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(cache.get(), ticket), HGC_RT_OK);
  EXPECT_EQ(statsOf(cache.get()).mirrored_pages, 5);
  expectAll(cache.get(), total, keys, values);
  ASSERT_EQ(hgc_rt_kv_settle(cache.get(), 0, 0, 2), HGC_RT_OK);
  stats = statsOf(cache.get());
  EXPECT_EQ(stats.mirrored_pages, 4);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_HOST], 4);
  expectAll(cache.get(), total, keys, values);
  EXPECT_EQ(stats.failed_over_pages, 0);
  ASSERT_EQ(hgc_rt_kv_release_sequence(cache.get(), 0), HGC_RT_OK);
  stats = statsOf(cache.get());
  EXPECT_EQ(stats.mirrored_pages, 0);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE] + stats.pages[HGC_RT_TIER_HOST], 0);
}

TEST(Mirror, PagesComingUpFromStorageAreStagedThroughACopy) {
  hgc_rt_kv_config c = mirroredConfig();
  std::string dir = hgc_rt_test::temporaryDirectory();
  c.storage_dir = dir.c_str();
  Cache cache = create(c);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache.get(), 0), HGC_RT_OK);
  std::mt19937_64 rng(6);
  std::vector<uint8_t> keys, values;
  int64_t total = 0;
  append(cache.get(), c, rng, 40, keys, values, total);
  ASSERT_EQ(hgc_rt_kv_evict(cache.get(), 0, 0, 3), HGC_RT_OK);
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache.get(), 0, 0, 3, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(cache.get(), ticket), HGC_RT_OK);
  hgc_rt_tier tier;
  ASSERT_EQ(hgc_rt_kv_page_tier(cache.get(), 0, 0, 3, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_DEVICE);
  hgc_rt_kv_stats stats = statsOf(cache.get());
  EXPECT_EQ(stats.pages[HGC_RT_TIER_STORAGE], 0);
  EXPECT_EQ(stats.mirrored_pages, stats.pages[HGC_RT_TIER_DEVICE]);
  expectAll(cache.get(), total, keys, values);
  // Evicting the recalled page drops its device slot and its copy.
  ASSERT_EQ(hgc_rt_kv_evict(cache.get(), 0, 0, 3), HGC_RT_OK);
  stats = statsOf(cache.get());
  EXPECT_EQ(stats.pages[HGC_RT_TIER_STORAGE], 1);
  EXPECT_EQ(stats.mirrored_pages, stats.pages[HGC_RT_TIER_DEVICE]);
  expectAll(cache.get(), total, keys, values);
}

TEST(Mirror, NoDevicePageWithoutItsCopy) {
  hgc_rt_kv_config c = mirroredConfig();
  c.host_pages = 2; // room for two copies, then nothing on the host
  std::string dir = hgc_rt_test::temporaryDirectory();
  c.storage_dir = dir.c_str();
  Cache cache = create(c);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache.get(), 0), HGC_RT_OK);
  std::mt19937_64 rng(7);
  std::vector<uint8_t> keys, values;
  int64_t total = 0;
  append(cache.get(), c, rng, 12, keys, values, total);
  hgc_rt_kv_stats stats = statsOf(cache.get());
  // Three hot pages, two copies: the third page spills below the host.
  EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 2);
  EXPECT_EQ(stats.mirrored_pages, 2);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_STORAGE], 1);
  expectAll(cache.get(), total, keys, values);
  // Settling the spilled page finds no room for a copy: it stays, intact.
  ASSERT_EQ(hgc_rt_kv_settle(cache.get(), 0, 0, 2), HGC_RT_OK)
      << hgc_rt_last_error();
  hgc_rt_tier tier;
  ASSERT_EQ(hgc_rt_kv_page_tier(cache.get(), 0, 0, 2, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_STORAGE);
  // A recall is an error naming the missing room; nothing moves.
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache.get(), 0, 0, 2, &ticket), HGC_RT_OK);
  EXPECT_EQ(hgc_rt_kv_wait(cache.get(), ticket), HGC_RT_CAPACITY);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("no host room"),
            std::string::npos)
      << hgc_rt_last_error();
  expectAll(cache.get(), total, keys, values);
}

} // namespace
