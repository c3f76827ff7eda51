//===- ErrorsTest.cpp - every error path returns a status and a message --===//

#include "TestSupport.h"

#include "hgc-rt/compiled.h"

#include "gtest/gtest.h"

#include <string>

using namespace hgc_rt_test;

namespace {

hgc_rt_kv_config smallConfig() {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_F16;
  c.page_tokens = 4;
  c.window = 4;
  return c;
}

std::string lastError() { return hgc_rt_last_error(); }

TEST(Errors, InvalidConfigs) {
  hgc_rt_kv_cache *cache = nullptr;
  hgc_rt_kv_config c = smallConfig();
  c.page_tokens = 6;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("page_tokens must be a positive power of two"),
            std::string::npos);
  c = smallConfig();
  c.kv_heads = 0;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_kv_create(nullptr, &cache), HGC_RT_INVALID_ARGUMENT);
  c = smallConfig();
  c.pq_subspaces = 3; // does not divide head_dim
  c.pq_centroids = 16;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(lastError().find("pq_subspaces 3 must divide head_dim"),
            std::string::npos)
      << lastError();
  c.pq_subspaces = 4;
  c.pq_centroids = 12;
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_INVALID_ARGUMENT);
  c = smallConfig();
  c.storage_dir = "/nonexistent/hgc";
  EXPECT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_IO);
  EXPECT_NE(lastError().find("/nonexistent/hgc"), std::string::npos);
}

TEST(Errors, SequencesShapesAndRanges) {
  hgc_rt_kv_config c = smallConfig();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  std::vector<uint16_t> data(2 * 3 * 8, 0x3c00);
  hgc_rt_kv_block block{HGC_RT_F16, 2, 8, 3, data.data(), data.data()};
  EXPECT_EQ(hgc_rt_kv_append(cache, 5, 0, &block), HGC_RT_UNKNOWN_SEQUENCE);
  EXPECT_EQ(lastError(), "unknown sequence 5");
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 5), HGC_RT_OK);
  EXPECT_EQ(lastError(), "");
  EXPECT_EQ(hgc_rt_kv_add_sequence(cache, 5), HGC_RT_INVALID_ARGUMENT);
  hgc_rt_kv_block wrong{HGC_RT_BF16, 2, 8, 3, data.data(), data.data()};
  EXPECT_EQ(hgc_rt_kv_append(cache, 5, 0, &wrong), HGC_RT_SHAPE_MISMATCH);
  EXPECT_NE(lastError().find("block is bf16 2x8"), std::string::npos);
  EXPECT_EQ(hgc_rt_kv_append(cache, 5, 3, &block), HGC_RT_OUT_OF_RANGE);
  hgc_rt_kv_block empty{HGC_RT_F16, 2, 8, 3, nullptr, nullptr};
  EXPECT_EQ(hgc_rt_kv_append(cache, 5, 0, &empty), HGC_RT_INVALID_ARGUMENT);
  ASSERT_EQ(hgc_rt_kv_append(cache, 5, 0, &block), HGC_RT_OK);
  std::vector<uint16_t> out(2 * 4 * 8);
  EXPECT_EQ(hgc_rt_kv_read(cache, 5, 0, 1, 4, out.data(), out.data()),
            HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(lastError(), "tokens [1, 5) of 3");
  hgc_rt_tier tier;
  EXPECT_EQ(hgc_rt_kv_page_tier(cache, 5, 0, 1, &tier), HGC_RT_OUT_OF_RANGE);
  int8_t codes[32];
  float scales[4];
  EXPECT_EQ(hgc_rt_kv_page_quantized(cache, 5, 0, 0, 0, codes, scales),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_kv_wait(cache, 99), HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_kv_release_sequence(cache, 5), HGC_RT_OK);
  EXPECT_EQ(hgc_rt_kv_read(cache, 5, 0, 0, 1, out.data(), out.data()),
            HGC_RT_UNKNOWN_SEQUENCE);
  EXPECT_EQ(hgc_rt_kv_release_sequence(cache, 5), HGC_RT_UNKNOWN_SEQUENCE);
  hgc_rt_kv_destroy(cache);
}

TEST(Errors, ExhaustedCapacityWritesNothing) {
  hgc_rt_kv_config c = smallConfig();
  c.device_pages = 1;
  c.host_pages = 1; // no storage tier: 2 pages = 8 tokens in all
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 0), HGC_RT_OK);
  std::vector<uint16_t> a(2 * 6 * 8, 0x3c00), b(2 * 5 * 8, 0x4000);
  hgc_rt_kv_block first{HGC_RT_F16, 2, 8, 6, a.data(), a.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 0, 0, &first), HGC_RT_OK);
  hgc_rt_kv_block second{HGC_RT_F16, 2, 8, 5, b.data(), b.data()};
  EXPECT_EQ(hgc_rt_kv_append(cache, 0, 0, &second), HGC_RT_CAPACITY);
  EXPECT_NE(lastError().find("no tier has room for a page"), std::string::npos)
      << lastError();
  int64_t tokens = 0;
  ASSERT_EQ(hgc_rt_kv_length(cache, 0, 0, &tokens), HGC_RT_OK);
  EXPECT_EQ(tokens, 6);
  std::vector<uint16_t> k(2 * 6 * 8), v(k.size());
  ASSERT_EQ(hgc_rt_kv_read(cache, 0, 0, 0, 6, k.data(), v.data()), HGC_RT_OK);
  EXPECT_EQ(k, a);
  hgc_rt_kv_destroy(cache);
}

} // namespace

namespace {
TEST(Device, EmulatedOnRequestOrWithoutADriver) {
  // HGC_RT_DEVICE=emulated forces the host-emulated device tier; without it
  // the runtime uses CUDA when libcuda.so.1 and a GPU exist.
  setenv("HGC_RT_DEVICE", "emulated", 1);
  hgc_rt_kv_config c = smallConfig();
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK);
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  EXPECT_EQ(stats.device_is_cuda, 0);
  hgc_rt_kv_destroy(cache);
  unsetenv("HGC_RT_DEVICE");
}
} // namespace

namespace {
/// Stands in for compiled code: a check that holds, then `arguments[0]`'s
/// pair of sizes.
void checkedProgram(void **arguments) {
  auto *sizes = static_cast<int64_t *>(arguments[0]);
  hgc_rt_compiled_check_size(4, 4, "holds");
  hgc_rt_compiled_check_size(sizes[0], sizes[1], "node 'add' (Add): dims");
  sizes[2] = 1; // reached only when the check held
}
} // namespace

TEST(Errors, FailedSizeCheckEndsTheProgram) {
  hgc_rt_compiled_reset();
  int64_t sizes[3] = {7, 7, 0};
  void *arguments[] = {sizes};
  EXPECT_EQ(hgc_rt_compiled_call(checkedProgram, arguments), 0);
  EXPECT_EQ(sizes[2], 1);
  EXPECT_EQ(hgc_rt_compiled_take_error(), nullptr);

  int64_t bad[3] = {5, 3, 0};
  arguments[0] = bad;
  EXPECT_EQ(hgc_rt_compiled_call(checkedProgram, arguments), 1);
  EXPECT_EQ(bad[2], 0);
  const char *error = hgc_rt_compiled_take_error();
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(std::string(error), "node 'add' (Add): dims (5 vs 3 at run time)");
  // The thread runs compiled code again afterwards.
  arguments[0] = sizes;
  sizes[2] = 0;
  EXPECT_EQ(hgc_rt_compiled_call(checkedProgram, arguments), 0);
  EXPECT_EQ(sizes[2], 1);
}
