//===- HeadStreamTest.cpp - head-wise residency, streamed and exact -------===//
//
// HeadInfer's head-wise residency in the runtime: resident heads' pages all
// on the device, streamed groups' pages (each holding only its group's
// heads) on host, far memory and storage; steps equal exact attention in
// double precision (tolerance 2e-5), double-buffered, serial and prefetched
// steps give the same bits; a prefetch survives appends into the window and
// is redone when an append changed what it copied; tokens
// read back bit-exactly; bad configurations and arguments are errors.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "hgc-rt/head_stream.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using namespace hgc_rt_test;

namespace {
constexpr int32_t kHeads = 6, kDim = 16, kQPerKv = 2;

float toFloat(hgc_rt_dtype dtype, const uint8_t *element) {
  if (dtype == HGC_RT_F32) {
    float x;
    std::memcpy(&x, element, 4);
    return x;
  }
  uint16_t bits;
  std::memcpy(&bits, element, 2);
  uint32_t wide = uint32_t(bits) << 16; // bf16 (f16 is not used here)
  float x;
  std::memcpy(&x, &wide, 4);
  return x;
}

struct Stream {
  std::string dir = temporaryDirectory();
  hgc_rt_head_stream_config c{};
  std::vector<int32_t> resident;
  hgc_rt_head_stream *stream = nullptr;
  // Every appended token per layer, [heads][tokens][dim] once gathered.
  std::vector<std::vector<uint8_t>> keys, values;
  std::vector<int64_t> lengths;

  explicit Stream(std::vector<int32_t> residentHeads, int32_t groupHeads = 2,
                  hgc_rt_dtype dtype = HGC_RT_F32, int32_t doubleBuffer = 1)
      : resident(std::move(residentHeads)) {
    c.kv.layers = 2;
    c.kv.kv_heads = kHeads;
    c.kv.head_dim = kDim;
    c.kv.dtype = dtype;
    c.kv.page_tokens = 8;
    c.kv.sink = 4;
    c.kv.window = 16;
    c.kv.host_pages = 6; // per group: spills to far, then storage
    c.kv.far_pages = 4;
    c.kv.storage_dir = dir.c_str();
    c.resident_heads = resident.data();
    c.resident_count = int32_t(resident.size());
    c.group_heads = groupHeads;
    c.double_buffer = doubleBuffer;
    keys.resize(2);
    values.resize(2);
    lengths.resize(2, 0);
  }
  ~Stream() { hgc_rt_head_stream_destroy(stream); }

  void create() {
    ASSERT_EQ(hgc_rt_head_stream_create(&c, &stream), HGC_RT_OK)
        << hgc_rt_last_error();
    ASSERT_EQ(hgc_rt_head_stream_add_sequence(stream, 3), HGC_RT_OK);
  }
  /// Appends `tokens` random tokens to `layer` and keeps them.
  void append(std::mt19937_64 &rng, int32_t layer, int64_t tokens) {
    std::vector<uint8_t> k = randomKV(rng, c.kv, tokens),
                         v = randomKV(rng, c.kv, tokens);
    hgc_rt_kv_block block{c.kv.dtype, kHeads, kDim, tokens, k.data(), v.data()};
    ASSERT_EQ(hgc_rt_head_stream_append(stream, 3, layer, &block), HGC_RT_OK)
        << hgc_rt_last_error();
    // Re-lay the kept tokens as [heads][all tokens][dim].
    size_t row = kDim * elementBytes(c.kv.dtype);
    int64_t old = lengths[layer], total = old + tokens;
    for (auto *kept : {&keys[layer], &values[layer]}) {
      const std::vector<uint8_t> &fresh = kept == &keys[layer] ? k : v;
      std::vector<uint8_t> merged(size_t(kHeads) * total * row);
      for (int32_t h = 0; h < kHeads; ++h) {
        if (old > 0)
          std::memcpy(merged.data() + size_t(h) * total * row,
                      kept->data() + size_t(h) * old * row, old * row);
        std::memcpy(merged.data() + (size_t(h) * total + old) * row,
                    fresh.data() + size_t(h) * tokens * row, tokens * row);
      }
      *kept = std::move(merged);
    }
    lengths[layer] = total;
  }
  std::vector<float> query(std::mt19937_64 &rng) {
    std::normal_distribution<float> normal;
    std::vector<float> q(kHeads * kQPerKv * kDim);
    for (float &x : q)
      x = normal(rng);
    return q;
  }
  /// Exact attention of `q` over every kept token of `layer`, in double.
  void expectExact(int32_t layer, const std::vector<float> &q,
                   const std::vector<float> &out, const std::vector<float> &lse,
                   float scale) {
    size_t element = elementBytes(c.kv.dtype);
    int64_t tokens = lengths[layer];
    for (int32_t h = 0; h < kHeads * kQPerKv; ++h) {
      int32_t hk = h / kQPerKv;
      std::vector<double> s(tokens);
      double m = -INFINITY;
      for (int64_t t = 0; t < tokens; ++t) {
        double dot = 0;
        for (int d = 0; d < kDim; ++d)
          dot +=
              double(q[h * kDim + d]) *
              toFloat(c.kv.dtype, keys[layer].data() +
                                      ((hk * tokens + t) * kDim + d) * element);
        s[t] = dot * scale;
        m = std::max(m, s[t]);
      }
      double sum = 0;
      std::vector<double> want(kDim, 0.0);
      for (int64_t t = 0; t < tokens; ++t) {
        double p = std::exp(s[t] - m);
        sum += p;
        for (int d = 0; d < kDim; ++d)
          want[d] += p * toFloat(c.kv.dtype,
                                 values[layer].data() +
                                     ((hk * tokens + t) * kDim + d) * element);
      }
      EXPECT_NEAR(lse[h], m + std::log(sum), 2e-5) << "query head " << h;
      for (int d = 0; d < kDim; ++d)
        EXPECT_NEAR(out[h * kDim + d], want[d] / sum, 2e-5)
            << "query head " << h << " channel " << d;
    }
  }
  hgc_rt_head_step attend(int32_t layer, const std::vector<float> &q,
                          std::vector<float> &out, std::vector<float> &lse,
                          int32_t nextLayer = -1) {
    out.assign(q.size(), 0.0f);
    lse.assign(kHeads * kQPerKv, 0.0f);
    hgc_rt_head_step step{};
    EXPECT_EQ(hgc_rt_head_stream_attend(stream, 3, layer, kHeads * kQPerKv,
                                        q.data(), 0.25f, out.data(), lse.data(),
                                        nextLayer, &step),
              HGC_RT_OK)
        << hgc_rt_last_error();
    return step;
  }
};
} // namespace

TEST(HeadStream, StepsAreExactAcrossGroupsAndTiers) {
  for (hgc_rt_dtype dtype : {HGC_RT_F32, HGC_RT_BF16}) {
    Stream s({4, 1}, 2, dtype);
    s.create();
    std::mt19937_64 rng(31);
    s.append(rng, 0, 100);
    s.append(rng, 0, 50); // 150 tokens: 19 pages of 8
    std::vector<float> q = s.query(rng), out, lse;
    hgc_rt_head_step step = s.attend(0, q, out, lse);
    s.expectExact(0, q, out, lse, 0.25f);

    // Groups: the resident heads {1, 4}, then {0, 2} and {3, 5}.
    int32_t groups = 0;
    ASSERT_EQ(hgc_rt_head_stream_groups(s.stream, &groups), HGC_RT_OK);
    ASSERT_EQ(groups, 3);
    int32_t heads[4], count = 0, resident = 0;
    hgc_rt_kv_stats stats{};
    ASSERT_EQ(hgc_rt_head_stream_group(s.stream, 0, heads, 4, &count, &resident,
                                       &stats),
              HGC_RT_OK);
    EXPECT_EQ(count, 2);
    EXPECT_EQ(heads[0], 1);
    EXPECT_EQ(heads[1], 4);
    EXPECT_EQ(resident, 1);
    EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 19);
    EXPECT_EQ(stats.pages[HGC_RT_TIER_HOST] + stats.pages[HGC_RT_TIER_FAR] +
                  stats.pages[HGC_RT_TIER_STORAGE],
              0);
    for (int32_t g = 1; g < 3; ++g) {
      ASSERT_EQ(hgc_rt_head_stream_group(s.stream, g, heads, 4, &count,
                                         &resident, &stats),
                HGC_RT_OK);
      EXPECT_EQ(count, 2);
      EXPECT_EQ(resident, 0);
      // Sink page 0 and window pages 16-18 on the device; 15 cold pages
      // over host (6), far (4) and storage (5).
      EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 4);
      EXPECT_EQ(stats.pages[HGC_RT_TIER_HOST], 6);
      EXPECT_EQ(stats.pages[HGC_RT_TIER_FAR], 4);
      EXPECT_EQ(stats.pages[HGC_RT_TIER_STORAGE], 5);
    }
    EXPECT_EQ(heads[0], 3);
    EXPECT_EQ(heads[1], 5);
    // Two streamed groups of 2 heads, 120 cold tokens each, keys and values.
    EXPECT_EQ(step.streamed_groups, 2);
    EXPECT_EQ(step.streamed_bytes,
              2 * 120 * 2 * kDim * int64_t(elementBytes(dtype)) * 2);
    EXPECT_EQ(step.prefetched, 0);
  }
}

TEST(HeadStream, DoubleBufferedSerialAndPrefetchedStepsAgree) {
  Stream overlapped({0}, 1), serial({0}, 1, HGC_RT_F32, /*doubleBuffer=*/0);
  overlapped.c.link_bandwidth_gbs = 20; // paced: the same bits, only slower
  overlapped.create();
  serial.create();
  for (Stream *s : {&overlapped, &serial}) {
    std::mt19937_64 rng(5);
    s->append(rng, 0, 90);
    s->append(rng, 1, 90);
  }
  std::mt19937_64 rng(6);
  std::vector<float> q0 = overlapped.query(rng), q1 = overlapped.query(rng);
  std::vector<float> out[4], lse[4];
  hgc_rt_head_step first = overlapped.attend(0, q0, out[0], lse[0], 1);
  hgc_rt_head_step second = overlapped.attend(1, q1, out[1], lse[1]);
  serial.attend(0, q0, out[2], lse[2], 1);
  hgc_rt_head_step plain = serial.attend(1, q1, out[3], lse[3]);
  EXPECT_EQ(first.prefetched, 0);
  EXPECT_EQ(second.prefetched, 1); // staged while layer 0 was attended
  EXPECT_EQ(plain.prefetched, 0);  // serial steps never prefetch
  EXPECT_EQ(first.streamed_groups, 5);
  EXPECT_EQ(out[0], out[2]);
  EXPECT_EQ(lse[0], lse[2]);
  EXPECT_EQ(out[1], out[3]);
  EXPECT_EQ(lse[1], lse[3]);
  overlapped.expectExact(1, q1, out[1], lse[1], 0.25f);
}

TEST(HeadStream, PrefetchOfAnAppendedLayerIsRedone) {
  Stream s({}, 3);
  s.create();
  std::mt19937_64 rng(8);
  s.append(rng, 0, 70);
  s.append(rng, 1, 70);
  std::vector<float> q = s.query(rng), out, lse;
  // A decode step's token lands in the window: the prefetch still holds.
  s.attend(0, q, out, lse, 1);
  s.append(rng, 1, 1);
  hgc_rt_head_step step = s.attend(1, q, out, lse, 0);
  EXPECT_EQ(step.prefetched, 1);
  s.expectExact(1, q, out, lse, 0.25f);
  // 40 tokens push pages out of the window: the prefetch is stale.
  s.append(rng, 0, 40);
  step = s.attend(0, q, out, lse);
  EXPECT_EQ(step.prefetched, 0);
  s.expectExact(0, q, out, lse, 0.25f);
  // Every head streams when none is resident; all resident streams nothing.
  Stream all({0, 1, 2, 3, 4, 5}, 0);
  all.create();
  all.append(rng, 0, 60);
  step = all.attend(0, q, out, lse);
  EXPECT_EQ(step.streamed_bytes, 0);
  all.expectExact(0, q, out, lse, 0.25f);
}

TEST(HeadStream, TokensReadBackBitExact) {
  Stream s({2, 5}, 2, HGC_RT_BF16);
  s.create();
  std::mt19937_64 rng(12);
  s.append(rng, 1, 77);
  s.append(rng, 1, 64);
  size_t bytes = s.keys[1].size();
  std::vector<uint8_t> k(bytes), v(bytes);
  ASSERT_EQ(hgc_rt_head_stream_read(s.stream, 3, 1, 0, 141, k.data(), v.data()),
            HGC_RT_OK)
      << hgc_rt_last_error();
  EXPECT_EQ(k, s.keys[1]);
  EXPECT_EQ(v, s.values[1]);
}

TEST(HeadStream, BadConfigurationsAndArgumentsAreErrors) {
  auto fails = [](std::vector<int32_t> resident, int32_t group,
                  int32_t doubleBuffer, double gbs, const char *message) {
    Stream s(std::move(resident), group, HGC_RT_F32, doubleBuffer);
    s.c.link_bandwidth_gbs = gbs;
    EXPECT_EQ(hgc_rt_head_stream_create(&s.c, &s.stream),
              HGC_RT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hgc_rt_last_error()).find(message), std::string::npos)
        << hgc_rt_last_error();
  };
  fails({6}, 2, 1, 0, "resident head 6 is not in [0, 6)");
  fails({1, 1}, 1, 1, 0, "resident head 1 is listed twice");
  fails({0}, 2, 1, 0, "group_heads (2) must divide the 5 streamed KV heads");
  fails({}, 4, 1, 0, "group_heads (4) must divide the 6 streamed KV heads");
  fails({}, 2, 2, 0, "double_buffer must be 0 or 1");
  fails({}, 2, 1, -1, "link_bandwidth_gbs must be finite and >= 0");

  Stream s({0, 1}, 2);
  s.create();
  std::mt19937_64 rng(2);
  s.append(rng, 0, 20);
  std::vector<float> q = s.query(rng), out(q.size()), lse(kHeads * kQPerKv);
  EXPECT_EQ(hgc_rt_head_stream_attend(s.stream, 3, 0, 5, q.data(), 0.25f,
                                      out.data(), lse.data(), -1, nullptr),
            HGC_RT_SHAPE_MISMATCH);
  EXPECT_EQ(hgc_rt_head_stream_attend(s.stream, 3, 0, 12, q.data(), 0.25f,
                                      out.data(), lse.data(), 2, nullptr),
            HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(hgc_rt_head_stream_attend(s.stream, 9, 0, 12, q.data(), 0.25f,
                                      out.data(), lse.data(), -1, nullptr),
            HGC_RT_UNKNOWN_SEQUENCE);
  EXPECT_EQ(hgc_rt_head_stream_attend(s.stream, 3, 2, 12, q.data(), 0.25f,
                                      out.data(), lse.data(), -1, nullptr),
            HGC_RT_OUT_OF_RANGE);
  int32_t heads[1], count = 0, resident = 0;
  hgc_rt_kv_stats stats{};
  EXPECT_EQ(hgc_rt_head_stream_group(s.stream, 3, heads, 1, &count, &resident,
                                     &stats),
            HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(hgc_rt_head_stream_group(s.stream, 0, heads, 1, &count, &resident,
                                     &stats),
            HGC_RT_OUT_OF_RANGE);
  EXPECT_EQ(count, 2); // what it needs
  EXPECT_EQ(hgc_rt_head_stream_add_sequence(s.stream, 3),
            HGC_RT_INVALID_ARGUMENT);
}

TEST(HeadStream, AnAppendFailingPartwayIsNeverAttended) {
  // The resident group takes the tokens; the streamed groups' host tier is
  // full and there is no storage: the sequence is refused until released.
  Stream s({0, 1}, 2);
  s.c.kv.host_pages = 1;
  s.c.kv.far_pages = 0;
  s.c.kv.storage_dir = nullptr;
  s.create();
  std::mt19937_64 rng(4);
  std::vector<uint8_t> k = randomKV(rng, s.c.kv, 60),
                       v = randomKV(rng, s.c.kv, 60);
  hgc_rt_kv_block block{HGC_RT_F32, kHeads, kDim, 60, k.data(), v.data()};
  EXPECT_EQ(hgc_rt_head_stream_append(s.stream, 3, 0, &block), HGC_RT_CAPACITY);
  std::vector<float> q = s.query(rng), out(q.size()), lse(kHeads * kQPerKv);
  EXPECT_EQ(hgc_rt_head_stream_attend(s.stream, 3, 0, 12, q.data(), 0.25f,
                                      out.data(), lse.data(), -1, nullptr),
            HGC_RT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("lost an append partway"),
            std::string::npos);
  ASSERT_EQ(hgc_rt_head_stream_release_sequence(s.stream, 3), HGC_RT_OK);
  ASSERT_EQ(hgc_rt_head_stream_add_sequence(s.stream, 3), HGC_RT_OK);
  s.lengths[0] = 0;
  s.keys[0].clear();
  s.values[0].clear();
  s.append(rng, 0, 20); // fits: sinks and window only
  hgc_rt_head_step step = s.attend(0, q, out, lse);
  (void)step;
  s.expectExact(0, q, out, lse, 0.25f);
}
