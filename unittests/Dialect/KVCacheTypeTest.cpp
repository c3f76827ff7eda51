//===- KVCacheTypeTest.cpp - !hgc.kv_cache ------------------------------===//

#include "DialectTestSupport.h"

using namespace mlir;
using namespace mlir::hgc;
using hgc_test::DialectTest;

namespace {

using KVCacheTypeTest = DialectTest;

TEST_F(KVCacheTypeTest, DefaultsAndBytesPerToken) {
  auto cache = parseType<KVCacheType>("!hgc.kv_cache<8x128xf16>");
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache.getKvHeads(), 8);
  EXPECT_EQ(cache.getHeadDim(), 128);
  EXPECT_EQ(cache.getPageSize(), 16);
  EXPECT_TRUE(cache.isUnbounded());
  // Keys and values: 2 x 8 heads x 128 x 2 bytes.
  EXPECT_EQ(cache.getBytesPerToken(), 4096);
  auto f32 = KVCacheType::get(8, 64, Float32Type::get(&context));
  EXPECT_EQ(f32.getBytesPerToken(), 2 * 8 * 64 * 4);
}

TEST_F(KVCacheTypeTest, ParametersRoundTrip) {
  auto cache = parseType<KVCacheType>(
      "!hgc.kv_cache<4x256xbf16, max_tokens = 65536, page_size = 64>");
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache.getPageSize(), 64);
  EXPECT_EQ(cache.getMaxTokens(), 65536);
  EXPECT_FALSE(cache.isUnbounded());
  std::string text;
  llvm::raw_string_ostream os(text);
  Type(cache).print(os);
  EXPECT_EQ(text,
            "!hgc.kv_cache<4x256xbf16, page_size = 64, max_tokens = 65536>");
}

TEST_F(KVCacheTypeTest, InvalidParametersAreDiagnosed) {
  EXPECT_FALSE(parseType<KVCacheType>("!hgc.kv_cache<8x128xf64>"));
  EXPECT_TRUE(diagnosed("element type must be f32, f16 or bf16"))
      << diagnostics;
  EXPECT_FALSE(
      parseType<KVCacheType>("!hgc.kv_cache<8x128xf16, page_size = 3>"));
  EXPECT_TRUE(diagnosed("page_size must be a positive power of two"))
      << diagnostics;
}

} // namespace
