//===- NumaTest.cpp - NUMA node lists, binding and the host tier ---------===//

#include "Numa.h"
#include "TestSupport.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <sys/mman.h>

using namespace hgc::rt;

TEST(Numa, NodeLists) {
  std::vector<int> nodes;
  std::string error;
  ASSERT_TRUE(numa::parseNodeList("0", nodes, error));
  EXPECT_EQ(nodes, std::vector<int>({0}));
  ASSERT_TRUE(numa::parseNodeList("0-3,6", nodes, error));
  EXPECT_EQ(nodes, std::vector<int>({0, 1, 2, 3, 6}));
  for (const char *bad : {"", "x", "3-1", "0,", "-1", "1-", "0 1", "99999"}) {
    EXPECT_FALSE(numa::parseNodeList(bad, nodes, error)) << bad;
    EXPECT_NE(error.find("bad NUMA node list"), std::string::npos);
  }
}

TEST(Numa, BindPlacesPagesOnTheNode) {
  std::vector<int> online = numa::onlineNodes();
  ASSERT_FALSE(online.empty());
  size_t bytes = 1 << 20;
  void *memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  std::string error;
  int node = online.back();
  ASSERT_TRUE(numa::bind(memory, bytes, node, error)) << error;
  static_cast<char *>(memory)[bytes / 2] = 1; // fault the page in
  EXPECT_EQ(numa::nodeOf(static_cast<char *>(memory) + bytes / 2), node);
  munmap(memory, bytes);
}

TEST(Numa, CacheConfigNamesOnlineNodesOnly) {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 1;
  c.head_dim = 8;
  c.dtype = HGC_RT_F32;
  c.page_tokens = 4;
  c.host_numa_nodes = "0";
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  // Host pages (no device room) land in the bound arena and read back.
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 0), HGC_RT_OK);
  std::mt19937_64 rng(3);
  std::vector<uint8_t> k = hgc_rt_test::randomKV(rng, c, 9);
  std::vector<uint8_t> v = hgc_rt_test::randomKV(rng, c, 9);
  hgc_rt_kv_block block{c.dtype, 1, 8, 9, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 0, 0, &block), HGC_RT_OK);
  std::vector<uint8_t> rk(k.size()), rv(v.size());
  ASSERT_EQ(hgc_rt_kv_read(cache, 0, 0, 0, 9, rk.data(), rv.data()), HGC_RT_OK);
  EXPECT_EQ(rk, k);
  EXPECT_EQ(rv, v);
  hgc_rt_kv_stats stats;
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  EXPECT_EQ(stats.host_numa_nodes, 1);
  hgc_rt_kv_destroy(cache);

  c.host_numa_nodes = "1000";
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  std::vector<int> online = numa::onlineNodes();
  if (std::find(online.begin(), online.end(), 1000) == online.end())
    EXPECT_NE(std::string(hgc_rt_last_error()).find("not online"),
              std::string::npos);
  c.host_numa_nodes = "0-";
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("bad NUMA node list"),
            std::string::npos);
}
