//===- ConcurrencyTest.cpp - threads on different sequences --------------===//
//
// Several threads append to their own sequences while readers read them and
// recalls run on the copy engine; at the end every token is verified. Run
// under ThreadSanitizer by scripts/test.sh (build-tsan).
//
//===----------------------------------------------------------------------===//

#include "CopyEngine.h"
#include "TestSupport.h"

#include "gtest/gtest.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <unistd.h>

using namespace hgc_rt_test;

// Fluxion's critical path first: a critical copy queued behind background
// copies that have not started runs before them; each priority in order.
TEST(Concurrency, CriticalCopiesOvertakeQueuedBackgroundOnes) {
  using hgc::rt::CopyEngine;
  using hgc::rt::Result;
  CopyEngine engine;
  std::mutex orderMutex;
  std::vector<int> order;
  std::atomic<bool> release{false};
  auto record = [&](int id) {
    return [&, id] {
      std::lock_guard<std::mutex> lock(orderMutex);
      order.push_back(id);
      return Result::ok();
    };
  };
  // Occupies the worker until every other copy is queued.
  uint64_t busy = engine.submit([&] {
    while (!release)
      std::this_thread::yield();
    return Result::ok();
  });
  uint64_t tickets[] = {
      engine.submit(record(1), CopyEngine::Priority::Background),
      engine.submit(record(2), CopyEngine::Priority::Background),
      engine.submit(record(3), CopyEngine::Priority::Critical),
      engine.submit(record(4), CopyEngine::Priority::Critical)};
  release = true;
  EXPECT_FALSE(engine.wait(busy).failed());
  for (uint64_t ticket : tickets)
    EXPECT_FALSE(engine.wait(ticket).failed());
  EXPECT_EQ(order, (std::vector<int>{3, 4, 1, 2}));
}

TEST(Concurrency, AppendReadRecallFromManyThreads) {
  std::string dir = temporaryDirectory();
  hgc_rt_kv_config c{};
  c.layers = 2;
  c.kv_heads = 2;
  c.head_dim = 16;
  c.dtype = HGC_RT_BF16;
  c.page_tokens = 8;
  c.sink = 4;
  c.window = 32;
  c.device_pages = 24;
  c.host_pages = 48;
  c.storage_dir = dir.c_str();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  constexpr int writers = 4, steps = 120;
  size_t row = size_t(c.head_dim) * 2;
  std::vector<std::vector<std::vector<uint8_t>>> keys(writers);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    ASSERT_EQ(hgc_rt_kv_add_sequence(cache, w), HGC_RT_OK);
    keys[w].assign(c.kv_heads, {});
  }
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      for (int step = 0; step < steps && !failed; ++step) {
        int64_t n = 1 + int64_t(rng() % 4);
        std::vector<uint8_t> k = randomKV(rng, c, n), v = k;
        hgc_rt_kv_block block{c.dtype, c.kv_heads, c.head_dim,
                              n,       k.data(),   v.data()};
        if (hgc_rt_kv_append(cache, w, 0, &block) != HGC_RT_OK)
          failed = true;
        for (int32_t h = 0; h < c.kv_heads; ++h)
          keys[w][h].insert(keys[w][h].end(), k.begin() + h * n * row,
                            k.begin() + (h + 1) * n * row);
      }
    });
  // Readers and a recaller work on the same sequences meanwhile.
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      for (int i = 0; i < 200 && !failed; ++i) {
        int64_t s = int64_t(rng() % writers), tokens = 0;
        if (hgc_rt_kv_length(cache, s, 0, &tokens) != HGC_RT_OK)
          failed = true;
        if (tokens == 0)
          continue;
        std::vector<uint8_t> k(c.kv_heads * tokens * row), v(k.size());
        if (hgc_rt_kv_read(cache, s, 0, 0, tokens, k.data(), v.data()) !=
            HGC_RT_OK)
          failed = true;
        uint64_t ticket = 0;
        int64_t page = int64_t(rng() % ((tokens + 7) / 8));
        if (hgc_rt_kv_recall(cache, s, 0, page, &ticket) != HGC_RT_OK)
          failed = true;
        hgc_rt_status status = hgc_rt_kv_wait(cache, ticket);
        if (status != HGC_RT_OK && status != HGC_RT_CAPACITY)
          failed = true;
      }
    });
  for (std::thread &t : threads)
    t.join();
  ASSERT_FALSE(failed) << hgc_rt_last_error();
  for (int w = 0; w < writers; ++w) {
    int64_t tokens = 0;
    ASSERT_EQ(hgc_rt_kv_length(cache, w, 0, &tokens), HGC_RT_OK);
    std::vector<uint8_t> k(c.kv_heads * tokens * row), v(k.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, w, 0, 0, tokens, k.data(), v.data()),
              HGC_RT_OK);
    for (int32_t h = 0; h < c.kv_heads; ++h)
      ASSERT_EQ(0, std::memcmp(k.data() + h * tokens * row, keys[w][h].data(),
                               tokens * row));
  }
  hgc_rt_kv_destroy(cache);
  rmdir(dir.c_str());
}
