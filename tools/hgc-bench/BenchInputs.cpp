//===- BenchInputs.cpp - random KV and its block summaries ----------------===//

#include "BenchInputs.h"

#include "hgc-rt/kv_cache.h"

#include "llvm/ADT/APFloat.h"

#include <algorithm>
#include <cstring>

using namespace mlir;

int64_t getElementBytes(const std::string &dtype) {
  return dtype == "f32" ? 4 : 2;
}

namespace {
std::string getNpyDescr(const std::string &dtype) {
  return dtype == "f32" ? "<f4" : dtype == "f16" ? "<f2" : "<u2";
}
} // namespace

/// Random normal values as `dtype` bits.
hgc::NpyArray getRandomArray(std::mt19937 &rng, llvm::ArrayRef<int64_t> shape,
                             const std::string &dtype) {
  hgc::NpyArray array;
  array.descr = getNpyDescr(dtype);
  array.shape.assign(shape.begin(), shape.end());
  int64_t count = array.getNumElements();
  array.data.resize(size_t(count) * getElementBytes(dtype));
  std::normal_distribution<float> normal;
  // A table of values makes multi-GB inputs quick to fill.
  std::vector<uint32_t> table(4096);
  for (uint32_t &bits : table) {
    float x = normal(rng);
    if (dtype == "f32") {
      std::memcpy(&bits, &x, 4);
    } else if (dtype == "bf16") {
      uint32_t wide;
      std::memcpy(&wide, &x, 4);
      bits = wide >> 16;
    } else {
      llvm::APFloat f(x);
      bool lost;
      f.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
      bits = uint32_t(f.bitcastToAPInt().getZExtValue());
    }
  }
  std::uniform_int_distribution<size_t> pick(0, table.size() - 1);
  size_t width = size_t(getElementBytes(dtype));
  for (int64_t i = 0; i < count; ++i)
    std::memcpy(array.data.data() + size_t(i) * width, &table[pick(rng) & 4095],
                width);
  return array;
}

namespace {
/// The float value of one `dtype` element.
float elementValue(const char *at, const std::string &dtype) {
  if (dtype == "f32") {
    float x;
    std::memcpy(&x, at, 4);
    return x;
  }
  uint16_t bits;
  std::memcpy(&bits, at, 2);
  if (dtype == "bf16") {
    uint32_t wide = uint32_t(bits) << 16;
    float x;
    std::memcpy(&x, &wide, 4);
    return x;
  }
  llvm::APFloat half(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
  return half.convertToFloat();
}
} // namespace

/// Per-block key minimum and maximum of `keys` [B, H, T, D] over blocks of
/// `block` tokens from token 0: what an engine keeps as tokens are appended.
std::pair<hgc::NpyArray, hgc::NpyArray>
getBlockSummaries(const hgc::NpyArray &keys, const std::string &dtype,
                  int64_t block) {
  int64_t batch = keys.shape[0], heads = keys.shape[1], tokens = keys.shape[2],
          dim = keys.shape[3];
  int64_t blocks = (tokens + block - 1) / block;
  size_t width = size_t(getElementBytes(dtype));
  hgc::NpyArray lo = keys, hi;
  lo.shape = {batch, heads, blocks, dim};
  lo.data.assign(size_t(lo.getNumElements()) * width, 0);
  hi = lo;
  // f16 values decoded once: the table turns 2^16 bit patterns into floats.
  std::vector<float> halfTable;
  if (dtype == "f16")
    for (uint32_t bits = 0; bits < (1u << 16); ++bits) {
      uint16_t narrow = uint16_t(bits);
      halfTable.push_back(
          elementValue(reinterpret_cast<const char *>(&narrow), dtype));
    }
  auto value = [&](const char *at) {
    if (!halfTable.empty()) {
      uint16_t bits;
      std::memcpy(&bits, at, 2);
      return halfTable[bits];
    }
    return elementValue(at, dtype);
  };
  for (int64_t bh = 0; bh < batch * heads; ++bh)
    for (int64_t j = 0; j < blocks; ++j)
      for (int64_t d = 0; d < dim; ++d) {
        const char *lowest = nullptr, *highest = nullptr;
        for (int64_t t = j * block; t < std::min(tokens, (j + 1) * block);
             ++t) {
          const char *at =
              keys.data.data() + size_t((bh * tokens + t) * dim + d) * width;
          if (!lowest || value(at) < value(lowest))
            lowest = at;
          if (!highest || value(at) > value(highest))
            highest = at;
        }
        size_t out = size_t((bh * blocks + j) * dim + d) * width;
        std::memcpy(lo.data.data() + out, lowest, width);
        std::memcpy(hi.data.data() + out, highest, width);
      }
  return {std::move(lo), std::move(hi)};
}

std::pair<hgc::NpyArray, hgc::NpyArray> getKeyCodes(const hgc::NpyArray &keys,
                                                    const std::string &dtype) {
  int64_t rows = keys.shape[0] * keys.shape[1] * keys.shape[2];
  int32_t dim = int32_t(keys.shape[3]);
  hgc::NpyArray codes, scales;
  codes.descr = "|i1";
  codes.shape = keys.shape;
  codes.data.resize(size_t(rows) * dim);
  scales.descr = "<f4";
  scales.shape = {keys.shape[0], keys.shape[1], keys.shape[2]};
  scales.data.resize(size_t(rows) * 4);
  hgc_rt_dtype type = dtype == "f32"   ? HGC_RT_F32
                      : dtype == "f16" ? HGC_RT_F16
                                       : HGC_RT_BF16;
  hgc_rt_quantize_keys(type, dim, rows, keys.data.data(),
                       reinterpret_cast<int8_t *>(codes.data.data()),
                       reinterpret_cast<float *>(scales.data.data()));
  return {std::move(codes), std::move(scales)};
}

std::pair<hgc::NpyArray, hgc::NpyArray>
getProductQuantized(const hgc::NpyArray &keys, const std::string &dtype,
                    int64_t subspaces, int64_t centroids, int64_t prefill) {
  int64_t rows = keys.shape[0] * keys.shape[1], tokens = keys.shape[2];
  int32_t dim = int32_t(keys.shape[3]);
  size_t codeBytes = centroids > 256 ? 2 : 1;
  hgc::NpyArray codes, books;
  codes.descr = codeBytes == 2 ? "<i2" : "|i1";
  codes.shape = {keys.shape[0], keys.shape[1], tokens, subspaces};
  codes.data.resize(size_t(rows * tokens * subspaces) * codeBytes);
  books.descr = "<f4";
  books.shape = {keys.shape[0], keys.shape[1], subspaces, centroids,
                 dim / subspaces};
  size_t bookFloats = size_t(centroids) * dim;
  books.data.resize(size_t(rows) * bookFloats * 4);
  hgc_rt_dtype type = dtype == "f32"   ? HGC_RT_F32
                      : dtype == "f16" ? HGC_RT_F16
                                       : HGC_RT_BF16;
  size_t rowBytes = size_t(tokens) * dim * getElementBytes(dtype);
  for (int64_t r = 0; r < rows; ++r) {
    const char *rowKeys = keys.data.data() + size_t(r) * rowBytes;
    float *book =
        reinterpret_cast<float *>(books.data.data()) + size_t(r) * bookFloats;
    hgc_rt_pq_fit(type, dim, std::min(prefill, tokens), rowKeys,
                  int32_t(subspaces), int32_t(centroids), /*iterations=*/4,
                  /*seed=*/uint64_t(r), book);
    hgc_rt_pq_encode(
        type, dim, tokens, rowKeys, int32_t(subspaces), int32_t(centroids),
        book, codes.data.data() + size_t(r * tokens * subspaces) * codeBytes);
  }
  return {std::move(codes), std::move(books)};
}

hgc::NpyArray getChannelMajor(const hgc::NpyArray &keys,
                              const std::string &dtype) {
  int64_t rows = keys.shape[0] * keys.shape[1], tokens = keys.shape[2],
          dim = keys.shape[3];
  size_t width = size_t(getElementBytes(dtype));
  hgc::NpyArray out = keys;
  out.shape = {keys.shape[0], keys.shape[1], dim, tokens};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t d = 0; d < dim; ++d)
        std::memcpy(
            out.data.data() + size_t((r * dim + d) * tokens + t) * width,
            keys.data.data() + size_t((r * tokens + t) * dim + d) * width,
            width);
  return out;
}

hgc::NpyArray getValueSums(const hgc::NpyArray &values,
                           const std::string &dtype, int64_t block) {
  int64_t rows = values.shape[0] * values.shape[1], tokens = values.shape[2],
          dim = values.shape[3];
  int64_t blocks = (tokens + block - 1) / block;
  size_t width = size_t(getElementBytes(dtype));
  hgc::NpyArray sums;
  sums.descr = "<f4";
  sums.shape = {values.shape[0], values.shape[1], blocks, dim};
  std::vector<float> total(size_t(rows * blocks * dim), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t d = 0; d < dim; ++d)
        total[size_t((r * blocks + t / block) * dim + d)] += elementValue(
            values.data.data() + size_t((r * tokens + t) * dim + d) * width,
            dtype);
  sums.data.resize(total.size() * 4);
  std::memcpy(sums.data.data(), total.data(), sums.data.size());
  return sums;
}
