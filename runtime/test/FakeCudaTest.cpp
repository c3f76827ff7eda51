//===- FakeCudaTest.cpp - the CUDA code paths, on a host-memory driver ---===//
//
// Runs with HGC_RT_CUDA_LIBRARY pointing at the fake driver (see
// CMakeLists.txt): the device tier is "CUDA" memory the host cannot address,
// host pages are registered (pinned), copies go through streams.
//
//===----------------------------------------------------------------------===//

#include "FakeCudaDriver.h"
#include "TestSupport.h"

#include "gtest/gtest.h"

#include <dlfcn.h>

using namespace hgc_rt_test;

namespace {

/// The fake driver's hooks, from the very library the runtime opened.
struct FakeDriver {
  decltype(&hgc_fake_cuda_get_stats) getStats = nullptr;
  decltype(&hgc_fake_cuda_fail_copies) failCopies = nullptr;

  FakeDriver() {
    const char *path = std::getenv("HGC_RT_CUDA_LIBRARY");
    void *library = path ? dlopen(path, RTLD_NOW) : nullptr;
    if (!library)
      return;
    getStats = reinterpret_cast<decltype(getStats)>(
        dlsym(library, "hgc_fake_cuda_get_stats"));
    failCopies = reinterpret_cast<decltype(failCopies)>(
        dlsym(library, "hgc_fake_cuda_fail_copies"));
  }
  hgc_fake_cuda_stats stats() const {
    hgc_fake_cuda_stats s{};
    getStats(&s);
    return s;
  }
};

hgc_rt_kv_config config() {
  hgc_rt_kv_config c{};
  c.layers = 2;
  c.kv_heads = 2;
  c.head_dim = 16;
  c.dtype = HGC_RT_BF16;
  c.page_tokens = 8;
  c.sink = 4;
  c.window = 16;
  return c;
}

class FakeCuda : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_NE(fake.getStats, nullptr)
        << "HGC_RT_CUDA_LIBRARY must name the fake driver";
  }
  FakeDriver fake;
};

TEST_F(FakeCuda, PinnedHostStreamCopiesAndBitExactRoundTrip) {
  hgc_rt_kv_config c = config();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  std::mt19937_64 rng(7);
  std::vector<std::vector<uint8_t>> keys, values;
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 1), HGC_RT_OK);
  // Appends of odd sizes slide the window across many pages.
  std::vector<uint8_t> allKeys, allValues;
  int64_t total = 0;
  for (int64_t tokens : {3, 9, 1, 17, 30, 5}) {
    std::vector<uint8_t> k = randomKV(rng, c, tokens);
    std::vector<uint8_t> v = randomKV(rng, c, tokens);
    hgc_rt_kv_block block{c.dtype, c.kv_heads, c.head_dim,
                          tokens,  k.data(),   v.data()};
    ASSERT_EQ(hgc_rt_kv_append(cache, 1, 1, &block), HGC_RT_OK)
        << hgc_rt_last_error();
    keys.push_back(k);
    values.push_back(v);
    total += tokens;
  }
  // Recall a host page to the device through the copy engine.
  hgc_rt_tier tier;
  ASSERT_EQ(hgc_rt_kv_page_tier(cache, 1, 1, 2, &tier), HGC_RT_OK);
  ASSERT_EQ(tier, HGC_RT_TIER_HOST);
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache, 1, 1, 2, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK) << hgc_rt_last_error();
  ASSERT_EQ(hgc_rt_kv_page_tier(cache, 1, 1, 2, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_DEVICE);

  hgc_rt_kv_stats stats;
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  EXPECT_EQ(stats.device_is_cuda, 1);
  EXPECT_EQ(stats.host_is_pinned, 1);
  EXPECT_GT(stats.pages[HGC_RT_TIER_DEVICE], 0);
  EXPECT_GT(stats.pages[HGC_RT_TIER_HOST], 0);
  hgc_fake_cuda_stats fakeStats = fake.stats();
  EXPECT_GT(fakeStats.registered_bytes, 0);
  // Window slides (device -> host) and the recall copy straight between
  // device memory and pinned host pages.
  EXPECT_GT(fakeStats.pinned_copies, 0);
  EXPECT_GT(fakeStats.copies_to_host, 0);

  // Every token, wherever it is now, reads back bit-exactly.
  size_t row = size_t(c.head_dim) * 2;
  std::vector<uint8_t> readKeys(size_t(c.kv_heads) * total * row);
  std::vector<uint8_t> readValues(readKeys.size());
  ASSERT_EQ(
      hgc_rt_kv_read(cache, 1, 1, 0, total, readKeys.data(), readValues.data()),
      HGC_RT_OK);
  int64_t first = 0;
  for (size_t b = 0; b < keys.size(); ++b) {
    int64_t tokens = int64_t(keys[b].size() / (c.kv_heads * row));
    for (int32_t h = 0; h < c.kv_heads; ++h)
      for (int64_t t = 0; t < tokens; ++t) {
        size_t got = (size_t(h) * total + first + t) * row;
        size_t want = (size_t(h) * tokens + t) * row;
        ASSERT_EQ(
            std::memcmp(readKeys.data() + got, keys[b].data() + want, row), 0);
        ASSERT_EQ(
            std::memcmp(readValues.data() + got, values[b].data() + want, row),
            0);
      }
    first += tokens;
  }

  // The device tier's partials are computed by device kernels, not here.
  std::vector<float> query(4 * c.head_dim, 1.0f), out(4 * c.head_dim), lse(4);
  EXPECT_EQ(hgc_rt_kv_attend(cache, 1, 1, HGC_RT_TIER_DEVICE, 4, query.data(),
                             0.25f, out.data(), lse.data()),
            HGC_RT_DEVICE);
  hgc_rt_kv_destroy(cache);

  // Nothing leaks: device memory, registrations and streams are returned.
  fakeStats = fake.stats();
  EXPECT_EQ(fakeStats.allocations, 0);
  EXPECT_EQ(fakeStats.registered_bytes, 0);
  EXPECT_EQ(fakeStats.streams, 0);
}

TEST_F(FakeCuda, FailedDeviceCopyLeavesTheSequenceAsItWas) {
  hgc_rt_kv_config c = config();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 3), HGC_RT_OK);
  std::mt19937_64 rng(11);
  std::vector<uint8_t> k = randomKV(rng, c, 6), v = randomKV(rng, c, 6);
  hgc_rt_kv_block block{c.dtype, c.kv_heads, c.head_dim, 6, k.data(), v.data()};
  fake.failCopies(1);
  EXPECT_EQ(hgc_rt_kv_append(cache, 3, 0, &block), HGC_RT_DEVICE);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("host-to-device"),
            std::string::npos);
  int64_t tokens = -1;
  ASSERT_EQ(hgc_rt_kv_length(cache, 3, 0, &tokens), HGC_RT_OK);
  EXPECT_EQ(tokens, 0);
  // The same append then succeeds and reads back exactly.
  ASSERT_EQ(hgc_rt_kv_append(cache, 3, 0, &block), HGC_RT_OK);
  std::vector<uint8_t> rk(k.size()), rv(v.size());
  ASSERT_EQ(hgc_rt_kv_read(cache, 3, 0, 0, 6, rk.data(), rv.data()), HGC_RT_OK);
  EXPECT_EQ(rk, k);
  EXPECT_EQ(rv, v);
  hgc_rt_kv_destroy(cache);
}

} // namespace
