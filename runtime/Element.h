//===- Element.h - KV elements of each dtype as floats ----------*- C++ -*-===//
//
// The cache stores keys and values in its dtype (f32, f16 or bf16); the
// runtime computes on floats. Loads are inline: attention and key metadata
// convert every element they touch.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_ELEMENT_H
#define HGC_RUNTIME_ELEMENT_H

#include "hgc-rt/kv_cache.h"

#include <cstdint>
#include <cstring>

namespace hgc::rt {

/// Bytes of one element of `dtype`.
inline size_t dtypeBytes(hgc_rt_dtype dtype) {
  return dtype == HGC_RT_F32 ? 4 : 2;
}

const char *dtypeName(hgc_rt_dtype dtype);

/// IEEE half `bits` as a float (exact).
inline float halfToFloat(uint16_t bits) {
  uint32_t sign = uint32_t(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  uint32_t wide;
  if (exponent == 0x1f) {
    wide = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent != 0) {
    wide = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    wide = sign;
  } else { // subnormal: normalize
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    wide = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

/// The element of `dtype` at `element` as a float (exact).
inline float loadElement(hgc_rt_dtype dtype, const char *element) {
  if (dtype == HGC_RT_F32) {
    float f;
    std::memcpy(&f, element, sizeof(f));
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, element, sizeof(bits));
  if (dtype == HGC_RT_F16)
    return halfToFloat(bits);
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

/// `count` elements of `dtype` at `row` as floats into `target` (exact);
/// f16 rows convert with F16C where the CPU has it.
void loadRow(hgc_rt_dtype dtype, const char *row, float *target, int64_t count);

/// Whether `dtype` is one the runtime stores (f32, f16, bf16).
inline bool isKnownDtype(hgc_rt_dtype dtype) {
  return dtype == HGC_RT_F32 || dtype == HGC_RT_F16 || dtype == HGC_RT_BF16;
}

/// Symmetric per-token int8 codes of one key of `dim` elements of `dtype`
/// into `codes` (the largest magnitude maps to 127, round half to even);
/// returns the scale (0 for an all-zero key, whose codes are 0).
float quantizeKey(hgc_rt_dtype dtype, int32_t dim, const char *key,
                  int8_t *codes);

/// Whether keys of `headDim` split into `subspaces` equal sub-vectors coded
/// by a power-of-two number of `centroids` in [2, 65536].
bool isValidProductQuantizer(int32_t headDim, int32_t subspaces,
                             int32_t centroids);
/// Fits a product-quantization codebook [subspaces][centroids][headDim /
/// subspaces] to `tokens` keys of `dtype` (ProductQuantizer.cpp).
void fitProductQuantizer(hgc_rt_dtype dtype, int32_t headDim, int64_t tokens,
                         const char *keys, int32_t subspaces, int32_t centroids,
                         int32_t iterations, uint64_t seed, float *codebook);
/// Each key's nearest centroid per sub-space: codes [tokens][subspaces] as
/// uint8 (centroids <= 256) or uint16.
void encodeProductQuantized(hgc_rt_dtype dtype, int32_t headDim, int64_t tokens,
                            const char *keys, int32_t subspaces,
                            int32_t centroids, const float *codebook,
                            void *codes);

/// Writes `value` as one element of `dtype` at `out`: f16 rounds to nearest
/// even, bf16 truncates (exact for the bf16 values key summaries hold).
void storeElement(hgc_rt_dtype dtype, float value, char *out);

} // namespace hgc::rt

#endif // HGC_RUNTIME_ELEMENT_H
