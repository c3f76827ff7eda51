//===- FaultTest.cpp - faults injected into the runtime -------------------===//
//
// Each fault of hgc-rt/faults.h against the operations it can hit: a full
// disk, an I/O error and a short reservation in the storage tier, host
// memory running out, a copy failing partway (an append's write, a window
// slide, a recall on the copy engine, a mapping swap's either write). Every
// operation returns an error or degrades as documented, and every token
// reads back bit-exactly afterwards; then a random mix of operations under
// every fault at once.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "hgc-rt/faults.h"

#include "gtest/gtest.h"

#include <cstring>
#include <string>

using namespace hgc_rt_test;

namespace {
class Faults : public ::testing::Test {
protected:
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  hgc_rt_kv_cache *cache = nullptr;
  std::mt19937_64 rng{21};
  std::vector<uint8_t> keys, values; // every appended token, layer 0
  int64_t tokens = 0;

  void SetUp() override {
    c.layers = 1;
    c.kv_heads = 2;
    c.head_dim = 8;
    c.dtype = HGC_RT_F32;
    c.page_tokens = 4;
    c.sink = 4;
    c.window = 4;
    c.device_pages = 4;
    c.host_pages = 3;
    c.far_pages = 2;
    c.storage_dir = dir.c_str();
  }
  void TearDown() override {
    hgc_rt_fault_clear();
    hgc_rt_kv_destroy(cache);
  }
  void create() {
    ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
    ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 1), HGC_RT_OK);
  }
  /// Appends `count` random tokens; on success they join the mirror.
  hgc_rt_status append(int64_t count) {
    std::vector<uint8_t> k = randomKV(rng, c, count),
                         v = randomKV(rng, c, count);
    hgc_rt_kv_block block{c.dtype, c.kv_heads, c.head_dim,
                          count,   k.data(),   v.data()};
    hgc_rt_status status = hgc_rt_kv_append(cache, 1, 0, &block);
    if (status == HGC_RT_OK) {
      keys = merge(keys, k, count);
      values = merge(values, v, count);
      tokens += count;
    }
    return status;
  }
  std::vector<uint8_t> merge(const std::vector<uint8_t> &kept,
                             const std::vector<uint8_t> &fresh, int64_t count) {
    size_t row = size_t(c.head_dim) * 4;
    std::vector<uint8_t> merged(size_t(c.kv_heads) * (tokens + count) * row);
    for (int32_t h = 0; h < c.kv_heads; ++h) {
      if (tokens > 0)
        std::memcpy(merged.data() + h * (tokens + count) * row,
                    kept.data() + h * tokens * row, tokens * row);
      std::memcpy(merged.data() + (h * (tokens + count) + tokens) * row,
                  fresh.data() + h * count * row, count * row);
    }
    return merged;
  }
  /// Every token back, bit-exact, and the length what the mirror says.
  void expectIntact() {
    int64_t length = -1;
    ASSERT_EQ(hgc_rt_kv_length(cache, 1, 0, &length), HGC_RT_OK);
    ASSERT_EQ(length, tokens);
    std::vector<uint8_t> k(keys.size()), v(values.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, 1, 0, 0, tokens, k.data(), v.data()),
              HGC_RT_OK)
        << hgc_rt_last_error();
    EXPECT_EQ(k, keys);
    EXPECT_EQ(v, values);
  }
  hgc_rt_tier tierOf(int64_t page) {
    hgc_rt_tier tier;
    EXPECT_EQ(hgc_rt_kv_page_tier(cache, 1, 0, page, &tier), HGC_RT_OK);
    return tier;
  }
  void expectInjected(const char *what) {
    EXPECT_NE(std::string(hgc_rt_last_error()).find(what), std::string::npos)
        << hgc_rt_last_error();
    EXPECT_NE(std::string(hgc_rt_last_error()).find("injected fault"),
              std::string::npos);
  }
};
} // namespace

TEST_F(Faults, StorageFailuresFailTheAppendAndKeepEveryToken) {
  c.window = 0; // nothing slides: an append's new page is its only move
  create();
  // 36 tokens: page 0 (sinks) on the device, 1-3 host, 4-5 far, 6-8
  // storage. The next page needs a new storage slot.
  ASSERT_EQ(append(36), HGC_RT_OK);
  ASSERT_EQ(tierOf(8), HGC_RT_TIER_STORAGE);
  struct Case {
    hgc_rt_fault fault;
    hgc_rt_status status;
    const char *message;
  } cases[] = {
      {HGC_RT_FAULT_STORAGE_NO_SPACE, HGC_RT_CAPACITY, "No space left"},
      {HGC_RT_FAULT_STORAGE_IO, HGC_RT_IO, "Input/output error"},
      {HGC_RT_FAULT_STORAGE_SHORT, HGC_RT_CAPACITY, "No space left"}};
  for (const Case &fault : cases) {
    int64_t before = hgc_rt_fault_count(fault.fault);
    ASSERT_EQ(hgc_rt_fault_inject(fault.fault, 0, 1), HGC_RT_OK);
    EXPECT_EQ(append(4), fault.status);
    expectInjected(fault.message);
    EXPECT_EQ(hgc_rt_fault_count(fault.fault), before + 1);
    expectIntact();
  }
  // The disk has room again: the same append works, the file intact.
  ASSERT_EQ(append(4), HGC_RT_OK) << hgc_rt_last_error();
  expectIntact();
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_STORAGE], 4);
}

TEST_F(Faults, EvictionToAFullDiskLeavesThePageWhereItWas) {
  create();
  ASSERT_EQ(append(24), HGC_RT_OK); // host pages 1-3, nothing in storage
  ASSERT_EQ(tierOf(2), HGC_RT_TIER_HOST);
  ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_STORAGE_NO_SPACE, 0, 1),
            HGC_RT_OK);
  EXPECT_EQ(hgc_rt_kv_evict(cache, 1, 0, 2), HGC_RT_CAPACITY);
  expectInjected("No space left");
  EXPECT_EQ(tierOf(2), HGC_RT_TIER_HOST);
  expectIntact();
  EXPECT_EQ(hgc_rt_kv_evict(cache, 1, 0, 2), HGC_RT_OK);
  EXPECT_EQ(tierOf(2), HGC_RT_TIER_STORAGE);
  expectIntact();
}

TEST_F(Faults, HostMemoryRunningOutSpillsOrFailsWithNothingChanged) {
  create();
  ASSERT_EQ(append(8), HGC_RT_OK); // sinks and window: device pages only
  // The first host chunk cannot be committed: the page leaving the window
  // goes to far memory instead.
  ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_HOST_MEMORY, 0, 1), HGC_RT_OK);
  ASSERT_EQ(append(16), HGC_RT_OK) << hgc_rt_last_error();
  EXPECT_EQ(tierOf(1), HGC_RT_TIER_FAR);
  EXPECT_EQ(tierOf(2), HGC_RT_TIER_HOST);
  expectIntact();
  // Without far memory or storage there is nowhere to go.
  hgc_rt_kv_destroy(cache);
  cache = nullptr;
  c.far_pages = 0;
  c.storage_dir = nullptr;
  keys.clear();
  values.clear();
  tokens = 0;
  create();
  ASSERT_EQ(append(8), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_HOST_MEMORY, 0, 100), HGC_RT_OK);
  EXPECT_EQ(append(8), HGC_RT_CAPACITY);
  expectInjected("out of host memory");
  expectIntact();
  hgc_rt_fault_clear();
  ASSERT_EQ(append(8), HGC_RT_OK);
  expectIntact();
}

TEST_F(Faults, CopiesFailingPartwayLoseNothing) {
  create();
  ASSERT_EQ(append(36), HGC_RT_OK);
  // An append's own write: the tokens are not added, the rest intact.
  ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_COPY, 0, 1), HGC_RT_OK);
  EXPECT_EQ(append(1), HGC_RT_IO);
  expectInjected("failed partway");
  expectIntact();
  // A recall on the copy engine: the ticket reports it, the page stays.
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_COPY, 0, 1), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_recall(cache, 1, 0, 6, &ticket), HGC_RT_OK);
  EXPECT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_IO);
  expectInjected("failed partway");
  EXPECT_EQ(tierOf(6), HGC_RT_TIER_STORAGE);
  expectIntact();
  ASSERT_EQ(hgc_rt_kv_recall(cache, 1, 0, 6, &ticket), HGC_RT_OK);
  EXPECT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK);
  EXPECT_EQ(tierOf(6), HGC_RT_TIER_DEVICE);
  expectIntact();
  ASSERT_EQ(hgc_rt_kv_settle(cache, 1, 0, 6), HGC_RT_OK);
  // A window slide whose move fails keeps the page where it was; the
  // append itself goes on.
  ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_COPY, 0, 1), HGC_RT_OK);
  EXPECT_EQ(append(4), HGC_RT_OK) << hgc_rt_last_error();
  expectIntact();
}

TEST_F(Faults, AFailedMappingSwapRestoresBothPages) {
  create();
  ASSERT_EQ(append(36), HGC_RT_OK);
  // Storage page 7 the hottest: it should trade places with a host page.
  std::vector<float> masses(9, 0.0f);
  masses[7] = 10.0f;
  masses[1] = 0.5f;
  masses[2] = 0.5f;
  ASSERT_EQ(hgc_rt_kv_add_page_mass(cache, 1, 0, masses.data(), 9, 1.0f),
            HGC_RT_OK);
  std::vector<hgc_rt_tier> before;
  for (int64_t p = 0; p < 9; ++p)
    before.push_back(tierOf(p));
  for (int64_t skip : {0, 1}) { // the first write fails, then the second
    ASSERT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_COPY, skip, 1), HGC_RT_OK);
    uint64_t ticket = 0;
    ASSERT_EQ(hgc_rt_kv_remap(cache, 1, 0, 0.25f, &ticket), HGC_RT_OK);
    EXPECT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_IO);
    expectInjected("failed partway");
    for (int64_t p = 0; p < 9; ++p)
      EXPECT_EQ(tierOf(p), before[p]) << "page " << p;
    expectIntact();
  }
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_remap(cache, 1, 0, 0.25f, &ticket), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK);
  EXPECT_EQ(tierOf(7), HGC_RT_TIER_HOST);
  expectIntact();
}

TEST_F(Faults, EveryFaultAtOnceOverRandomOperations) {
  create();
  for (int fault = 0; fault < HGC_RT_FAULTS; ++fault)
    ASSERT_EQ(hgc_rt_fault_inject_rate(hgc_rt_fault(fault), 0.05, fault),
              HGC_RT_OK);
  int64_t failures = 0;
  for (int op = 0; op < 400; ++op) {
    int64_t pages = (tokens + c.page_tokens - 1) / c.page_tokens;
    int64_t page = pages ? int64_t(rng() % pages) : 0;
    hgc_rt_status status = HGC_RT_OK;
    uint64_t ticket = 0;
    switch (rng() % 5) {
    case 0:
    case 1:
      status = append(1 + int64_t(rng() % 6));
      break;
    case 2:
      if (pages &&
          (status = hgc_rt_kv_recall(cache, 1, 0, page, &ticket)) == HGC_RT_OK)
        status = hgc_rt_kv_wait(cache, ticket);
      break;
    case 3:
      if (pages)
        status = hgc_rt_kv_settle(cache, 1, 0, page);
      break;
    case 4:
      if (pages)
        status = hgc_rt_kv_evict(cache, 1, 0, page);
      break;
    }
    failures += status != HGC_RT_OK;
    // Whatever failed, every token is still there.
    hgc_rt_fault_clear();
    expectIntact();
    for (int fault = 0; fault < HGC_RT_FAULTS; ++fault)
      hgc_rt_fault_inject_rate(hgc_rt_fault(fault), 0.05, op * 7 + fault);
    if (HasFatalFailure() || HasFailure())
      break;
  }
  EXPECT_GT(failures, 0);
  EXPECT_GT(hgc_rt_fault_count(HGC_RT_FAULT_COPY), 0);
}

TEST_F(Faults, BadPlansAreErrors) {
  // An unknown fault number (any int a C caller may pass): c_api_test.c.
  EXPECT_EQ(hgc_rt_fault_inject(HGC_RT_FAULT_COPY, -1, 1),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_fault_inject_rate(HGC_RT_FAULT_COPY, 1.5, 0),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("rate must be in [0, 1]"),
            std::string::npos);
}
