//===- Element.cpp - KV elements of each dtype as floats ------------------===//

#include "Element.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using namespace hgc::rt;

namespace {
/// `value` as IEEE half, rounded to nearest even (summaries of f16 keys are
/// f16 values: exact).
uint16_t floatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  int32_t exponent = int32_t((bits >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = bits & 0x7fffff;
  if (((bits >> 23) & 0xff) == 0xff) // inf, nan
    return uint16_t(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  if (exponent >= 0x1f)
    return uint16_t(sign | 0x7c00);
  if (exponent <= 0) {
    if (exponent < -10)
      return sign;
    mantissa |= 0x800000;
    uint32_t shift = uint32_t(14 - exponent);
    uint32_t half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = (uint32_t(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent: still correct
  return uint16_t(sign | half);
}
#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void
loadHalfRowF16C(const char *row, float *target, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(target + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(
                         reinterpret_cast<const __m128i *>(row + 2 * i))));
  for (; i < count; ++i)
    target[i] = loadElement(HGC_RT_F16, row + 2 * i);
}

bool hasF16C() {
  static const bool has = __builtin_cpu_supports("f16c");
  return has;
}
#endif
} // namespace

void hgc::rt::loadRow(hgc_rt_dtype dtype, const char *row, float *target,
                      int64_t count) {
  if (dtype == HGC_RT_F32) {
    std::memcpy(target, row, size_t(count) * sizeof(float));
    return;
  }
#if defined(__x86_64__)
  if (dtype == HGC_RT_F16 && hasF16C())
    return loadHalfRowF16C(row, target, count);
#endif
  size_t element = dtypeBytes(dtype);
  for (int64_t i = 0; i < count; ++i)
    target[i] = loadElement(dtype, row + size_t(i) * element);
}

const char *hgc::rt::dtypeName(hgc_rt_dtype dtype) {
  switch (dtype) {
  case HGC_RT_F32:
    return "f32";
  case HGC_RT_F16:
    return "f16";
  case HGC_RT_BF16:
    return "bf16";
  }
  return "?";
}

void hgc::rt::storeElement(hgc_rt_dtype dtype, float value, char *out) {
  if (dtype == HGC_RT_F32) {
    std::memcpy(out, &value, 4);
    return;
  }
  uint16_t element;
  if (dtype == HGC_RT_F16) {
    element = floatToHalf(value);
  } else { // bf16 keys give bf16-exact summaries: truncation is exact
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    element = uint16_t(bits >> 16);
  }
  std::memcpy(out, &element, 2);
}

float hgc::rt::quantizeKey(hgc_rt_dtype dtype, int32_t dim, const char *key,
                           int8_t *codes) {
  size_t elementBytes = dtypeBytes(dtype);
  float largest = 0.0f;
  for (int32_t d = 0; d < dim; ++d)
    largest = std::max(
        largest, std::fabs(loadElement(dtype, key + size_t(d) * elementBytes)));
  float scale = largest > 0.0f ? largest / 127.0f : 0.0f;
  for (int32_t d = 0; d < dim; ++d) {
    float x = loadElement(dtype, key + size_t(d) * elementBytes);
    float q = scale > 0.0f ? std::nearbyint(x / scale) : 0.0f;
    codes[d] = int8_t(std::clamp(q, -127.0f, 127.0f));
  }
  return scale;
}
