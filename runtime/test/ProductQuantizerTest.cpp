//===- ProductQuantizerTest.cpp - hgc_rt_pq_fit and hgc_rt_pq_encode ------===//

#include "hgc-rt/kv_cache.h"

#include "gtest/gtest.h"

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {
constexpr int32_t kDim = 16, kSubspaces = 4, kWidth = kDim / kSubspaces;

/// Clustered keys: `clusters` centers per sub-space plus small noise.
std::vector<float> clusteredKeys(int64_t tokens, int clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> centers(size_t(clusters) * kDim);
  for (float &x : centers)
    x = 4 * normal(rng);
  std::vector<float> keys(size_t(tokens) * kDim);
  for (int64_t t = 0; t < tokens; ++t) {
    int c = int(rng() % clusters);
    for (int32_t d = 0; d < kDim; ++d)
      keys[t * kDim + d] = centers[c * kDim + d] + 0.1f * normal(rng);
  }
  return keys;
}

/// Squared distance of `key` to its coded reconstruction.
double distortion(const std::vector<float> &keys,
                  const std::vector<float> &codebook,
                  const std::vector<uint8_t> &codes, int32_t centroids) {
  double total = 0;
  for (size_t t = 0; t < keys.size() / kDim; ++t)
    for (int32_t g = 0; g < kSubspaces; ++g)
      for (int32_t j = 0; j < kWidth; ++j) {
        float center =
            codebook[(size_t(g) * centroids + codes[t * kSubspaces + g]) *
                         kWidth +
                     j];
        double delta = keys[t * kDim + g * kWidth + j] - center;
        total += delta * delta;
      }
  return total;
}

TEST(ProductQuantizer, CodesAreTheNearestCentroids) {
  std::vector<float> keys = clusteredKeys(500, 8, 1);
  int32_t centroids = 16;
  std::vector<float> codebook(size_t(kSubspaces) * centroids * kWidth);
  ASSERT_EQ(hgc_rt_pq_fit(HGC_RT_F32, kDim, 500, keys.data(), kSubspaces,
                          centroids, 8, 7, codebook.data()),
            HGC_RT_OK);
  std::vector<uint8_t> codes(500 * kSubspaces);
  ASSERT_EQ(hgc_rt_pq_encode(HGC_RT_F32, kDim, 500, keys.data(), kSubspaces,
                             centroids, codebook.data(), codes.data()),
            HGC_RT_OK);
  for (int64_t t = 0; t < 500; ++t)
    for (int32_t g = 0; g < kSubspaces; ++g) {
      double best = std::numeric_limits<double>::infinity();
      int bestCode = -1;
      for (int32_t c = 0; c < centroids; ++c) {
        double d = 0;
        for (int32_t j = 0; j < kWidth; ++j) {
          double delta = keys[t * kDim + g * kWidth + j] -
                         codebook[(size_t(g) * centroids + c) * kWidth + j];
          d += delta * delta;
        }
        if (d < best) {
          best = d;
          bestCode = c;
        }
      }
      ASSERT_EQ(codes[t * kSubspaces + g], bestCode) << "token " << t;
    }
}

TEST(ProductQuantizer, FittingIsDeterministicAndReducesDistortion) {
  std::vector<float> keys = clusteredKeys(800, 12, 2);
  int32_t centroids = 16;
  auto fit = [&](int32_t iterations, uint64_t seed) {
    std::vector<float> codebook(size_t(kSubspaces) * centroids * kWidth);
    EXPECT_EQ(hgc_rt_pq_fit(HGC_RT_F32, kDim, 800, keys.data(), kSubspaces,
                            centroids, iterations, seed, codebook.data()),
              HGC_RT_OK);
    return codebook;
  };
  auto distortionOf = [&](const std::vector<float> &codebook) {
    std::vector<uint8_t> codes(800 * kSubspaces);
    EXPECT_EQ(hgc_rt_pq_encode(HGC_RT_F32, kDim, 800, keys.data(), kSubspaces,
                               centroids, codebook.data(), codes.data()),
              HGC_RT_OK);
    return distortion(keys, codebook, codes, centroids);
  };
  std::vector<float> once = fit(10, 3), again = fit(10, 3);
  EXPECT_EQ(
      0, std::memcmp(once.data(), again.data(), once.size() * sizeof(float)));
  // Lloyd's steps never increase the distortion from the drawn centroids.
  double drawn = distortionOf(fit(0, 3)), fitted = distortionOf(once);
  EXPECT_LE(fitted, drawn);
  EXPECT_LT(fitted, 0.5 * drawn);
}

TEST(ProductQuantizer, WideCodebooksCodeInSixteenBits) {
  std::vector<float> keys = clusteredKeys(600, 20, 4);
  int32_t centroids = 512;
  std::vector<float> codebook(size_t(kSubspaces) * centroids * kWidth);
  ASSERT_EQ(hgc_rt_pq_fit(HGC_RT_F32, kDim, 600, keys.data(), kSubspaces,
                          centroids, 2, 5, codebook.data()),
            HGC_RT_OK);
  std::vector<uint16_t> codes(600 * kSubspaces, 0xffff);
  ASSERT_EQ(hgc_rt_pq_encode(HGC_RT_F32, kDim, 600, keys.data(), kSubspaces,
                             centroids, codebook.data(), codes.data()),
            HGC_RT_OK);
  for (uint16_t code : codes)
    ASSERT_LT(code, centroids);
}

TEST(ProductQuantizer, BadShapesAreErrors) {
  std::vector<float> keys = clusteredKeys(10, 2, 6);
  std::vector<float> codebook(4096);
  std::vector<uint8_t> codes(64);
  EXPECT_EQ(hgc_rt_pq_fit(HGC_RT_F32, kDim, 10, keys.data(), 3, 16, 1, 0,
                          codebook.data()),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("subspaces dividing"),
            std::string::npos);
  EXPECT_EQ(hgc_rt_pq_fit(HGC_RT_F32, kDim, 10, keys.data(), 4, 300, 1, 0,
                          codebook.data()),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_pq_fit(HGC_RT_F32, kDim, 0, keys.data(), 4, 16, 1, 0,
                          codebook.data()),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_EQ(hgc_rt_pq_encode(HGC_RT_F32, kDim, 10, nullptr, 4, 16,
                             codebook.data(), codes.data()),
            HGC_RT_INVALID_ARGUMENT);
}
} // namespace
