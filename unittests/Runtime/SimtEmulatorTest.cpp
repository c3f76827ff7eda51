//===- SimtEmulatorTest.cpp - barriers, shuffles, ids on fibers ----------===//
//
// Twins written by hand in C++ against the hgc_emu_* ABI, each checking one
// GPU semantic the generated kernels rely on.
//
//===----------------------------------------------------------------------===//

#include "SimtEmulator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace hgc::rt;

namespace {

/// Launches `twin` over `shape` with pointer arguments `words`.
bool launch(void *twin, LaunchShape shape, std::vector<void *> words,
            std::string &error) {
  std::vector<uint64_t> values;
  for (void *w : words)
    values.push_back(reinterpret_cast<uint64_t>(w));
  std::vector<void *> params;
  for (uint64_t &v : values)
    params.push_back(&v);
  return emulateLaunch(twin, shape, params.data(), params.size(), error);
}

int64_t linearThread() {
  return hgc_emu_thread_id(0) +
         hgc_emu_block_dim(0) * (hgc_emu_thread_id(1) +
                                 hgc_emu_block_dim(1) * hgc_emu_thread_id(2));
}

// Block-wide barrier: every thread sees every other thread's write.
float sharedWords[1024];
void rotateThroughShared(float *out) {
  int64_t t = linearThread();
  int64_t n =
      hgc_emu_block_dim(0) * hgc_emu_block_dim(1) * hgc_emu_block_dim(2);
  sharedWords[t] = float(t);
  hgc_emu_barrier();
  float next = sharedWords[(t + 1) % n];
  hgc_emu_barrier(); // before anyone rewrites the tile
  sharedWords[t] = next * 2;
  hgc_emu_barrier();
  out[t] = sharedWords[(t + n - 1) % n];
}

TEST(SimtEmulator, BarrierOrdersSharedMemory) {
  std::vector<float> out(96, -1);
  std::string error;
  ASSERT_TRUE(launch(reinterpret_cast<void *>(&rotateThroughShared),
                     {{1, 1, 1}, {32, 3, 1}}, {out.data()}, error))
      << error;
  for (int t = 0; t < 96; ++t)
    EXPECT_EQ(out[t], float(2 * t)) << t;
}

int32_t asWord(float f) {
  int32_t w;
  std::memcpy(&w, &f, 4);
  return w;
}

// Shuffles in every mode, full warps and 8-lane segments; lanes of the
// second warp shuffle among themselves.
void shuffleAll(int32_t *out) {
  int64_t t = linearThread();
  int32_t lane = int32_t(t % 32), value = int32_t(100 * (t / 32) + lane);
  int32_t *row = out + t * 6;
  row[0] = hgc_emu_shuffle(value, 5, 32, 0); // xor
  row[1] = hgc_emu_shuffle(value, 3, 32, 1); // down
  row[2] = hgc_emu_shuffle(value, 3, 32, 2); // up
  row[3] = hgc_emu_shuffle(value, 7, 32, 3); // idx
  row[4] = hgc_emu_shuffle(value, 2, 8, 1);  // down within 8 lanes
  row[5] = hgc_emu_shuffle(value, 4, 8, 0);  // xor within 8 lanes
}

TEST(SimtEmulator, ShuffleModesAndSegments) {
  std::vector<int32_t> out(64 * 6);
  std::string error;
  ASSERT_TRUE(launch(reinterpret_cast<void *>(&shuffleAll),
                     {{1, 1, 1}, {64, 1, 1}}, {out.data()}, error))
      << error;
  for (int t = 0; t < 64; ++t) {
    int warp = t / 32, lane = t % 32, base = 100 * warp;
    const int32_t *row = out.data() + t * 6;
    EXPECT_EQ(row[0], base + (lane ^ 5));
    EXPECT_EQ(row[1], lane + 3 < 32 ? base + lane + 3 : base + lane);
    EXPECT_EQ(row[2], lane >= 3 ? base + lane - 3 : base + lane);
    EXPECT_EQ(row[3], base + 7);
    int segment = lane / 8 * 8;
    EXPECT_EQ(row[4], lane + 2 < segment + 8 ? base + lane + 2 : base + lane);
    EXPECT_EQ(row[5], base + (lane ^ 4));
  }
  (void)asWord;
}

// Ids over a 3-D grid and block: every (block, thread) runs exactly once.
void countIds(int32_t *seen) {
  int64_t block =
      hgc_emu_block_id(0) +
      hgc_emu_grid_dim(0) *
          (hgc_emu_block_id(1) + hgc_emu_grid_dim(1) * hgc_emu_block_id(2));
  int64_t threads =
      hgc_emu_block_dim(0) * hgc_emu_block_dim(1) * hgc_emu_block_dim(2);
  ++seen[block * threads + linearThread()];
}

TEST(SimtEmulator, EveryThreadOfEveryBlockOnce) {
  LaunchShape shape{{3, 2, 2}, {4, 2, 3}};
  std::vector<int32_t> seen(12 * 24, 0);
  std::string error;
  ASSERT_TRUE(
      launch(reinterpret_cast<void *>(&countIds), shape, {seen.data()}, error))
      << error;
  for (int32_t count : seen)
    EXPECT_EQ(count, 1);
}

// Threads that exit early leave the barrier count: the rest still pass.
void exitEarly(int32_t *out) {
  int64_t t = linearThread();
  if (t % 3 == 0)
    return;
  hgc_emu_barrier();
  out[t] = hgc_emu_shuffle(int32_t(t), 1, 32, 0);
}

TEST(SimtEmulator, EarlyExitsLeaveBarriers) {
  std::vector<int32_t> out(40, -1);
  std::string error;
  ASSERT_TRUE(launch(reinterpret_cast<void *>(&exitEarly),
                     {{1, 1, 1}, {40, 1, 1}}, {out.data()}, error))
      << error;
  // Lanes that left are undefined sources, as on a GPU; the others read
  // their partner's word.
  for (int t = 0; t < 40; ++t) {
    if (t % 3 == 0)
      EXPECT_EQ(out[t], -1) << t;
    else if ((t ^ 1) % 3 != 0)
      EXPECT_EQ(out[t], t ^ 1) << t;
  }
}

// A block whose threads wait at different barriers would hang a GPU: the
// emulator reports it instead of spinning.
void divergentBarrier(int32_t *) {
  if (linearThread() == 0)
    hgc_emu_barrier();
  else
    hgc_emu_shuffle(0, 1, 32, 0);
}

TEST(SimtEmulator, DivergentBarriersAreReported) {
  std::string error;
  EXPECT_FALSE(launch(reinterpret_cast<void *>(&divergentBarrier),
                      {{1, 1, 1}, {2, 1, 1}}, {nullptr}, error));
  EXPECT_NE(error.find("different barriers"), std::string::npos) << error;
}

void nothing() {}

TEST(SimtEmulator, BadShapesAreReported) {
  std::string error;
  EXPECT_FALSE(launch(reinterpret_cast<void *>(&nothing),
                      {{1, 1, 1}, {2048, 1, 1}}, {}, error));
  EXPECT_NE(error.find("2048 threads"), std::string::npos) << error;
  EXPECT_FALSE(launch(reinterpret_cast<void *>(&nothing),
                      {{1, 1, 1}, {0, 1, 1}}, {}, error));
  std::vector<void *> many(kMaxEmulatedParams + 1, nullptr);
  EXPECT_FALSE(launch(reinterpret_cast<void *>(&nothing),
                      {{1, 1, 1}, {1, 1, 1}}, many, error));
  EXPECT_NE(error.find("parameter words"), std::string::npos) << error;
  // An empty grid runs nothing.
  EXPECT_TRUE(launch(reinterpret_cast<void *>(&nothing), {{0, 1, 1}, {1, 1, 1}},
                     {}, error));
}

} // namespace
