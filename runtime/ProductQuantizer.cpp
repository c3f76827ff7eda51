//===- ProductQuantizer.cpp - product-quantized keys (HCAttention) --------===//
//
// HCAttention's product quantization: a key's head_dim splits into
// `subspaces` sub-vectors of `head_dim / subspaces`, each coded as its
// nearest of `centroids` centroids. The codebook is fitted per sub-space by
// k-means (Lloyd's steps from distinct sampled keys) on the prefill keys;
// selection then scores a token as the sum over sub-spaces of q . centroid,
// looked up from a per-query table, reading `subspaces` code bytes instead of
// the key. Deterministic for a given seed: the engine, the bench and the
// tests fit the same codebook from the same keys.
//
//===----------------------------------------------------------------------===//

#include "Element.h"

#include "hgc-rt/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using namespace hgc::rt;

namespace {
/// The keys of sub-space `g` as floats: [tokens][width].
std::vector<float> subspaceOf(hgc_rt_dtype dtype, int32_t headDim,
                              int64_t tokens, const char *keys, int32_t g,
                              int32_t width) {
  size_t bytes = dtypeBytes(dtype), row = size_t(headDim) * bytes;
  std::vector<float> out(size_t(tokens) * width);
  for (int64_t t = 0; t < tokens; ++t)
    for (int32_t j = 0; j < width; ++j)
      out[size_t(t) * width + j] = loadElement(
          dtype, keys + size_t(t) * row + size_t(g * width + j) * bytes);
  return out;
}

/// The nearest of `count` centroids [count][width] to `x` (ties to the
/// lower index).
int32_t nearest(const float *x, const float *centroids, int32_t count,
                int32_t width) {
  int32_t best = 0;
  float bestDistance = std::numeric_limits<float>::infinity();
  for (int32_t c = 0; c < count; ++c) {
    const float *center = centroids + size_t(c) * width;
    float distance = 0;
    for (int32_t j = 0; j < width; ++j) {
      float delta = x[j] - center[j];
      distance += delta * delta;
    }
    if (distance < bestDistance) {
      bestDistance = distance;
      best = c;
    }
  }
  return best;
}

/// k-means of `points` [n][width] into `centroids` [count][width]: the
/// first centroids are distinct points drawn with `rng` (repeated when there
/// are fewer points than centroids), then `iterations` Lloyd steps; a
/// centroid left without points keeps its place.
void fitSubspace(const std::vector<float> &points, int64_t n, int32_t width,
                 int32_t count, int32_t iterations, std::mt19937_64 &rng,
                 float *centroids) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int32_t c = 0; c < count; ++c)
    std::copy_n(points.data() + size_t(order[c % n]) * width, width,
                centroids + size_t(c) * width);
  std::vector<double> sums(size_t(count) * width);
  std::vector<int64_t> members(count);
  for (int32_t step = 0; step < iterations; ++step) {
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(members.begin(), members.end(), 0);
    for (int64_t t = 0; t < n; ++t) {
      const float *x = points.data() + size_t(t) * width;
      int32_t c = nearest(x, centroids, count, width);
      ++members[c];
      for (int32_t j = 0; j < width; ++j)
        sums[size_t(c) * width + j] += x[j];
    }
    for (int32_t c = 0; c < count; ++c)
      if (members[c] > 0)
        for (int32_t j = 0; j < width; ++j)
          centroids[size_t(c) * width + j] =
              float(sums[size_t(c) * width + j] / double(members[c]));
  }
}

} // namespace

bool hgc::rt::isValidProductQuantizer(int32_t headDim, int32_t subspaces,
                                      int32_t centroids) {
  return headDim > 0 && subspaces > 0 && headDim % subspaces == 0 &&
         centroids >= 2 && centroids <= 65536 &&
         (centroids & (centroids - 1)) == 0;
}

void hgc::rt::fitProductQuantizer(hgc_rt_dtype dtype, int32_t headDim,
                                  int64_t tokens, const char *keys,
                                  int32_t subspaces, int32_t centroids,
                                  int32_t iterations, uint64_t seed,
                                  float *codebook) {
  int32_t width = headDim / subspaces;
  // Sub-spaces are independent: each draws from its own seeded stream, so
  // the result does not depend on how they are scheduled.
#pragma omp parallel for schedule(dynamic)
  for (int32_t g = 0; g < subspaces; ++g) {
    std::mt19937_64 rng(seed * 1000003u + uint64_t(g));
    std::vector<float> points =
        subspaceOf(dtype, headDim, tokens, keys, g, width);
    fitSubspace(points, tokens, width, centroids, iterations, rng,
                codebook + size_t(g) * centroids * width);
  }
}

void hgc::rt::encodeProductQuantized(hgc_rt_dtype dtype, int32_t headDim,
                                     int64_t tokens, const char *keys,
                                     int32_t subspaces, int32_t centroids,
                                     const float *codebook, void *codes) {
  int32_t width = headDim / subspaces;
  size_t bytes = dtypeBytes(dtype), row = size_t(headDim) * bytes;
  bool wide = centroids > 256;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> x(width);
    for (int32_t g = 0; g < subspaces; ++g) {
      for (int32_t j = 0; j < width; ++j)
        x[j] = loadElement(dtype, keys + size_t(t) * row +
                                      size_t(g * width + j) * bytes);
      int32_t code = nearest(x.data(), codebook + size_t(g) * centroids * width,
                             centroids, width);
      size_t at = size_t(t) * subspaces + g;
      if (wide)
        static_cast<uint16_t *>(codes)[at] = uint16_t(code);
      else
        static_cast<uint8_t *>(codes)[at] = uint8_t(code);
    }
  }
}
