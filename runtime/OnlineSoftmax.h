//===- OnlineSoftmax.h - one query head's streaming attention ---*- C++ -*-===//
//
// Attention of one query head accumulated over runs of keys and values in
// any order (online softmax in floats), finished into the normalized output
// and the log-sum-exp of the scaled scores, and the exact merge of two such
// partials. What attention over a tier's pages in place (KVAttend.cpp) and
// over a head stream's staged groups (HeadStream.cpp) share.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_ONLINESOFTMAX_H
#define HGC_RUNTIME_ONLINESOFTMAX_H

#include "Element.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace hgc::rt {

class OnlineSoftmax {
public:
  /// Starts over `out`, `dim` floats the accumulator owns until finish.
  OnlineSoftmax(float *out, int32_t dim) : out(out), dim(dim) {
    std::fill(out, out + dim, 0.0f);
  }

  /// Adds `count` tokens whose keys and values are rows of `dim` elements
  /// of `dtype`, `rowBytes` apart, to the attention of query `q`.
  void addRows(hgc_rt_dtype dtype, const float *q, float scale,
               const char *keys, const char *values, int64_t count,
               size_t rowBytes) {
    // Rows convert to floats first: the dtype's branches stay out of the
    // channel loops, which then vectorize.
    key.resize(dim);
    value.resize(dim);
    for (int64_t t = 0; t < count; ++t) {
      loadRow(dtype, keys + size_t(t) * rowBytes, key.data(), dim);
      float dot = 0.0f;
      for (int32_t d = 0; d < dim; ++d)
        dot += q[d] * key[d];
      float s = dot * scale;
      float mNew = std::max(m, s);
      float correction = std::exp(m - mNew), weight = std::exp(s - mNew);
      l = l * correction + weight;
      loadRow(dtype, values + size_t(t) * rowBytes, value.data(), dim);
      for (int32_t d = 0; d < dim; ++d)
        out[d] = out[d] * correction + weight * value[d];
      m = mNew;
    }
  }

  /// Normalizes the output; the log-sum-exp into `lse` (-inf without
  /// tokens, the output then 0).
  void finish(float &lse) {
    if (l > 0.0f) {
      for (int32_t d = 0; d < dim; ++d)
        out[d] /= l;
      lse = m + std::log(l);
    } else {
      lse = -std::numeric_limits<float>::infinity();
    }
  }

private:
  float *out;
  int32_t dim;
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  std::vector<float> key, value; // the current token's rows as floats
};

/// Merges the partial (`other`, `otherLse`) over tokens disjoint from those
/// of (`out`, `lse`) into (`out`, `lse`): the attention over both sets.
inline void mergePartial(float *out, float &lse, const float *other,
                         float otherLse, int32_t dim) {
  if (otherLse == -std::numeric_limits<float>::infinity())
    return;
  if (lse == -std::numeric_limits<float>::infinity()) {
    std::copy(other, other + dim, out);
    lse = otherLse;
    return;
  }
  float m = std::max(lse, otherLse);
  float a = std::exp(lse - m), b = std::exp(otherLse - m), sum = a + b;
  for (int32_t d = 0; d < dim; ++d)
    out[d] = (out[d] * a + other[d] * b) / sum;
  lse = m + std::log(sum);
}

} // namespace hgc::rt

#endif // HGC_RUNTIME_ONLINESOFTMAX_H
