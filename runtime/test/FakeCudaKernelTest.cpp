//===- FakeCudaKernelTest.cpp - compiled programs' CUDA path, on a fake ---===//
//
// The mgpu* entry points of runtime/GpuEntryPoints.cpp take their CUDA
// branch when a driver with the kernel API is there; here it is the
// host-memory fake (HGC_RT_CUDA_LIBRARY, HGC_RT_GPU_TIMING=1 from ctest):
// a program's sequence of calls (stream, allocation, copies, module load,
// function lookup, timed launch, memsets, events, frees) computes the right
// bytes only once its stream is synchronized, and leaks nothing; a bad
// image, an unknown function, a failed launch, an out-of-memory and a lost
// device each become an error hgc_rt_gpu_take_error reports, never a crash;
// a KV cache whose device is lost puts new pages on the host, fails reads of
// the pages left on the device with a status, and keeps every host page
// readable.
//
//===----------------------------------------------------------------------===//

#include "FakeCudaDriver.h"
#include "TestSupport.h"

#include "hgc-rt/gpu.h"

#include "gtest/gtest.h"

#include <dlfcn.h>
#include <string>
#include <thread>
#include <vector>

extern "C" {
void *mgpuModuleLoadJIT(void *, int);
void mgpuModuleUnload(void *);
void *mgpuModuleGetFunction(void *, const char *);
void mgpuLaunchKernel(void *, intptr_t, intptr_t, intptr_t, intptr_t, intptr_t,
                      intptr_t, int32_t, void *, void **, void **, size_t);
void *mgpuStreamCreate();
void mgpuStreamSynchronize(void *);
void mgpuStreamDestroy(void *);
void mgpuStreamWaitEvent(void *, void *);
void *mgpuEventCreate();
void mgpuEventRecord(void *, void *);
void mgpuEventSynchronize(void *);
void mgpuEventDestroy(void *);
void *mgpuMemAlloc(uint64_t, void *, bool);
void mgpuMemFree(void *, void *);
void mgpuMemcpy(void *, void *, size_t, void *);
void mgpuMemset32(void *, unsigned, size_t, void *);
void mgpuMemset16(void *, unsigned short, size_t, void *);
}

namespace {
/// The fake driver's hooks, from the very library the runtime opened.
struct Hooks {
  void *library = nullptr;
  template <typename T> T get(const char *name) {
    return reinterpret_cast<T>(dlsym(library, name));
  }
  Hooks() {
    const char *path = std::getenv("HGC_RT_CUDA_LIBRARY");
    library = path ? dlopen(path, RTLD_NOW) : nullptr;
  }
};

Hooks &hooks() {
  static Hooks instance;
  return instance;
}

/// The kernel "scale": x[i] *= factor for i = block * blockDim + thread.
void scaleKernel(void **params, const unsigned grid[3],
                 const unsigned block[3]) {
  auto deviceMemory =
      hooks().get<void *(*)(uint64_t, size_t)>("hgc_fake_cuda_device_memory");
  uint64_t pointer = *static_cast<uint64_t *>(params[0]);
  int64_t n = *static_cast<int64_t *>(params[1]);
  float factor = *static_cast<float *>(params[2]);
  auto *x = static_cast<float *>(deviceMemory(pointer, n * sizeof(float)));
  for (unsigned b = 0; b < grid[0]; ++b)
    for (unsigned t = 0; t < block[0]; ++t) {
      int64_t i = int64_t(b) * block[0] + t;
      if (x && i < n)
        x[i] *= factor;
    }
}

const char *kPtx = "//\n.version 8.0\n.target sm_90\n.address_size 64\n"
                   ".visible .entry scale(\n.param .u64 x, .param .u64 n, "
                   ".param .f32 factor)\n{ ret; }\n";

std::string takeError() {
  const char *error = hgc_rt_gpu_take_error();
  return error ? error : "";
}

class FakeCudaKernels : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_NE(hooks().library, nullptr)
        << "HGC_RT_CUDA_LIBRARY must name the fake driver";
    size_t sizes[] = {8, 8, 4};
    hooks().get<decltype(&hgc_fake_cuda_register_kernel)>(
        "hgc_fake_cuda_register_kernel")("scale", &scaleKernel, 3, sizes);
    takeError();
  }
  void TearDown() override {
    hooks().get<decltype(&hgc_fake_cuda_lose_device)>(
        "hgc_fake_cuda_lose_device")(0);
  }
  hgc_fake_cuda_stats stats() {
    hgc_fake_cuda_stats s{};
    hooks().get<decltype(&hgc_fake_cuda_get_stats)>("hgc_fake_cuda_get_stats")(
        &s);
    return s;
  }
};
} // namespace

TEST_F(FakeCudaKernels, AProgramsCallsComputeOnItsStream) {
  ASSERT_STREQ(hgc_rt_gpu_backend(), "cuda");
  hgc_rt_gpu_reset_kernel_time();
  const int64_t n = 100;
  std::vector<float> host(n), back(n, -1.0f);
  for (int64_t i = 0; i < n; ++i)
    host[i] = float(i) - 30.5f;
  void *stream = mgpuStreamCreate();
  auto *x = static_cast<float *>(mgpuMemAlloc(n * sizeof(float), stream, 0));
  mgpuMemcpy(x, host.data(), n * sizeof(float), stream);
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 0);
  void *scale = mgpuModuleGetFunction(module, "scale");
  ASSERT_NE(scale, nullptr) << takeError();
  uint64_t pointer = reinterpret_cast<uint64_t>(x);
  int64_t count = n;
  float factor = 2.0f;
  void *params[] = {&pointer, &count, &factor};
  mgpuLaunchKernel(scale, 4, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 3);
  factor = 100.0f; // the launch copied its arguments
  void *done = mgpuEventCreate();
  mgpuEventRecord(done, stream);
  mgpuMemcpy(back.data(), x, n * sizeof(float), stream);
  EXPECT_EQ(back[5], -1.0f); // queued, not run: nothing synchronized yet
  mgpuEventSynchronize(done);
  mgpuStreamSynchronize(stream);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(back[i], 2.0f * host[i]) << i;
  // Memsets, a second stream waiting on an event, frees.
  void *other = mgpuStreamCreate();
  mgpuMemset32(x, 0x3f800000u, n, stream); // 1.0f
  mgpuEventRecord(done, stream);
  mgpuStreamWaitEvent(other, done);
  mgpuMemcpy(back.data(), x, n * sizeof(float), other);
  mgpuStreamSynchronize(other);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[n - 1], 1.0f);
  mgpuMemset16(x, 0x3c00, 2 * n, stream); // f16 1.0 in every half word
  std::vector<uint16_t> halves(2 * n);
  mgpuMemcpy(halves.data(), x, n * sizeof(float), stream);
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(halves[7], 0x3c00);
  mgpuMemFree(x, stream);
  mgpuEventDestroy(done);
  mgpuModuleUnload(module);
  mgpuStreamDestroy(other);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(takeError(), "");
  // HGC_RT_GPU_TIMING=1: the launch was timed by events.
  double seconds = -1;
  long long launches = 0;
  hgc_rt_gpu_kernel_time(&seconds, &launches);
  EXPECT_EQ(launches, 1);
  EXPECT_GE(seconds, 0.0);
  EXPECT_GT(hgc_rt_gpu_peak_bandwidth(), 3e12); // the fake's H100 attributes
  hgc_fake_cuda_stats s = stats();
  EXPECT_EQ(s.allocations, 0);
  EXPECT_EQ(s.modules, 0);
  EXPECT_EQ(s.events, 0);
  EXPECT_EQ(s.streams, 0);
  EXPECT_EQ(s.launches, 1);
}

TEST_F(FakeCudaKernels, DriverFailuresAreReportedErrors) {
  void *stream = mgpuStreamCreate();
  // An image that is not PTX.
  EXPECT_EQ(mgpuModuleLoadJIT(const_cast<char *>("garbage"), 0), nullptr);
  EXPECT_EQ(takeError(), "cuModuleLoadData failed with CUDA error 200");
  // A function the module does not have.
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 0);
  EXPECT_EQ(mgpuModuleGetFunction(module, "missing"), nullptr);
  EXPECT_EQ(takeError(), "cuModuleGetFunction failed with CUDA error 500");
  // A launch that fails.
  void *scale = mgpuModuleGetFunction(module, "scale");
  uint64_t pointer = 0;
  int64_t count = 0;
  float factor = 1;
  void *params[] = {&pointer, &count, &factor};
  hooks().get<decltype(&hgc_fake_cuda_fail_launches)>(
      "hgc_fake_cuda_fail_launches")(1);
  mgpuLaunchKernel(scale, 1, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 3);
  EXPECT_EQ(takeError(), "cuLaunchKernel failed with CUDA error 719");
  // Out of device memory: a null buffer, and copies into it do nothing.
  hooks().get<decltype(&hgc_fake_cuda_fail_allocations)>(
      "hgc_fake_cuda_fail_allocations")(1);
  void *x = mgpuMemAlloc(64, stream, 0);
  EXPECT_EQ(x, nullptr);
  EXPECT_EQ(takeError(), "cannot allocate 64 bytes of device memory");
  float value = 3;
  mgpuMemcpy(x, &value, sizeof(value), stream);
  mgpuMemset32(x, 0, 16, stream);
  EXPECT_EQ(takeError(), "");
  // The device is lost mid-program: every call reports, none crashes.
  hooks().get<decltype(&hgc_fake_cuda_lose_device)>(
      "hgc_fake_cuda_lose_device")(1);
  mgpuLaunchKernel(scale, 1, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 3);
  EXPECT_EQ(takeError(), "cuLaunchKernel failed with CUDA error 46");
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(takeError(), "cuStreamSynchronize failed with CUDA error 46");
  hooks().get<decltype(&hgc_fake_cuda_lose_device)>(
      "hgc_fake_cuda_lose_device")(0);
  mgpuModuleUnload(module);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(takeError(), "");
}

/// Two threads, one failing: each takes only its own errors, and the one
/// that did not fail goes on launching (engines run programs on many
/// threads; a shared error slot made one thread's run fail with another's
/// error and stop launching).
TEST_F(FakeCudaKernels, ErrorsBelongToTheThreadThatMadeThem) {
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 0);
  std::string failingError, healthyError;
  std::vector<float> values(64, 2.0f);
  auto healthyRun = [&] {
    // Nothing failed on this thread: its launch runs.
    void *stream = mgpuStreamCreate();
    void *x = mgpuMemAlloc(values.size() * sizeof(float), stream, 0);
    mgpuMemcpy(x, values.data(), values.size() * sizeof(float), stream);
    uint64_t pointer = reinterpret_cast<uint64_t>(x);
    int64_t count = int64_t(values.size());
    float factor = 3;
    void *params[] = {&pointer, &count, &factor};
    mgpuLaunchKernel(mgpuModuleGetFunction(module, "scale"), 2, 1, 1, 32, 1, 1,
                     0, stream, params, nullptr, 3);
    mgpuMemcpy(values.data(), x, values.size() * sizeof(float), stream);
    mgpuStreamSynchronize(stream);
    mgpuMemFree(x, stream);
    mgpuStreamDestroy(stream);
    healthyError = takeError();
  };
  std::thread failing([&] {
    // This thread's error is pending while the other thread runs.
    EXPECT_EQ(mgpuModuleGetFunction(module, "missing"), nullptr);
    std::thread healthy(healthyRun);
    healthy.join();
    failingError = takeError();
  });
  failing.join();
  EXPECT_EQ(failingError, "cuModuleGetFunction failed with CUDA error 500");
  EXPECT_EQ(healthyError, "");
  for (float value : values)
    ASSERT_EQ(value, 6.0f);
  mgpuModuleUnload(module);
  EXPECT_EQ(takeError(), "");
}

/// One layer of 2 f32 KV heads of 8, pages of 4 tokens, 4 sink tokens.
static hgc_rt_kv_config smallCache(int64_t window, bool mirror) {
  hgc_rt_kv_config c{};
  c.layers = 1;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.dtype = HGC_RT_F32;
  c.page_tokens = 4;
  c.sink = 4;
  c.window = window;
  c.device_mirror = mirror;
  return c;
}

TEST_F(FakeCudaKernels, AKVCacheOnALostDeviceFailsWithAStatus) {
  hgc_rt_kv_config c = smallCache(/*window=*/4, /*mirror=*/false);
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 1), HGC_RT_OK);
  std::mt19937_64 rng(3);
  std::vector<uint8_t> k = hgc_rt_test::randomKV(rng, c, 24),
                       v = hgc_rt_test::randomKV(rng, c, 24);
  hgc_rt_kv_block block{c.dtype, 2, 8, 24, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 1, 0, &block), HGC_RT_OK);
  hooks().get<decltype(&hgc_fake_cuda_lose_device)>(
      "hgc_fake_cuda_lose_device")(1);
  // New pages find no device memory and go to the host: the append works.
  std::vector<uint8_t> k2 = hgc_rt_test::randomKV(rng, c, 24),
                       v2 = hgc_rt_test::randomKV(rng, c, 24);
  hgc_rt_kv_block more{c.dtype, 2, 8, 24, k2.data(), v2.data()};
  EXPECT_EQ(hgc_rt_kv_append(cache, 1, 0, &more), HGC_RT_OK)
      << hgc_rt_last_error();
  // Pages left on the lost device are unreachable: reading them is an error.
  std::vector<uint8_t> rk(2 * 48 * 32), rv(rk.size());
  EXPECT_EQ(hgc_rt_kv_read(cache, 1, 0, 0, 48, rk.data(), rv.data()),
            HGC_RT_DEVICE);
  EXPECT_NE(std::string(hgc_rt_last_error()).find("device-to-host"),
            std::string::npos)
      << hgc_rt_last_error();
  // Host pages, old (tokens 4-19) and new (24-47), read back bit-exactly.
  size_t row = 8 * 4;
  auto expectHost = [&](int64_t first, int64_t count,
                        const std::vector<uint8_t> &keys, int64_t keyTokens,
                        int64_t keyFirst) {
    std::vector<uint8_t> hk(2 * count * row), hv(hk.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, 1, 0, first, count, hk.data(), hv.data()),
              HGC_RT_OK)
        << hgc_rt_last_error();
    for (int h = 0; h < 2; ++h)
      EXPECT_EQ(std::memcmp(hk.data() + h * count * row,
                            keys.data() + (h * keyTokens + keyFirst) * row,
                            count * row),
                0);
  };
  expectHost(4, 16, k, 24, 4);
  expectHost(24, 24, k2, 24, 0);
  hooks().get<decltype(&hgc_fake_cuda_lose_device)>(
      "hgc_fake_cuda_lose_device")(0);
  hgc_rt_kv_destroy(cache);
}

TEST_F(FakeCudaKernels, AMirroredKVCacheLosesNothingWithItsDevice) {
  hgc_rt_kv_config c = smallCache(/*window=*/8, /*mirror=*/true);
  hgc_rt_kv_cache *cache = nullptr;
  ASSERT_EQ(hgc_rt_kv_create(&c, &cache), HGC_RT_OK) << hgc_rt_last_error();
  ASSERT_EQ(hgc_rt_kv_add_sequence(cache, 1), HGC_RT_OK);
  std::mt19937_64 rng(4);
  std::vector<uint8_t> k = hgc_rt_test::randomKV(rng, c, 24),
                       v = hgc_rt_test::randomKV(rng, c, 24);
  hgc_rt_kv_block block{c.dtype, 2, 8, 24, k.data(), v.data()};
  ASSERT_EQ(hgc_rt_kv_append(cache, 1, 0, &block), HGC_RT_OK);
  hgc_rt_kv_stats stats{};
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  ASSERT_EQ(stats.device_is_cuda, 1);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 3); // the sink and window pages
  EXPECT_EQ(stats.mirrored_pages, 3);
  auto lose = hooks().get<decltype(&hgc_fake_cuda_lose_device)>(
      "hgc_fake_cuda_lose_device");
  lose(1);
  size_t row = 8 * 4;
  auto expectTokens = [&](int64_t count,
                          const std::vector<std::vector<uint8_t>> &parts) {
    std::vector<uint8_t> rk(2 * count * row), rv(rk.size());
    ASSERT_EQ(hgc_rt_kv_read(cache, 1, 0, 0, count, rk.data(), rv.data()),
              HGC_RT_OK)
        << hgc_rt_last_error();
    // parts: keys of 24-token appends, [heads][24][dim] each.
    for (int h = 0; h < 2; ++h)
      for (size_t part = 0; part < parts.size(); ++part)
        EXPECT_EQ(std::memcmp(rk.data() + (h * count + 24 * part) * row,
                              parts[part].data() + h * 24 * row, 24 * row),
                  0)
            << "head " << h << ", append " << part;
  };
  // Every token, the device pages' included, reads back from the copies.
  expectTokens(24, {k});
  // An append onto the lost device's pages turns them into their copies.
  std::vector<uint8_t> k2 = hgc_rt_test::randomKV(rng, c, 24),
                       v2 = hgc_rt_test::randomKV(rng, c, 24);
  hgc_rt_kv_block more{c.dtype, 2, 8, 24, k2.data(), v2.data()};
  EXPECT_EQ(hgc_rt_kv_append(cache, 1, 0, &more), HGC_RT_OK)
      << hgc_rt_last_error();
  ASSERT_EQ(hgc_rt_kv_get_stats(cache, &stats), HGC_RT_OK);
  EXPECT_GT(stats.failed_over_pages, 0);
  EXPECT_EQ(stats.mirrored_pages, 0);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_DEVICE], 0);
  EXPECT_EQ(stats.pages[HGC_RT_TIER_HOST], 12);
  expectTokens(48, {k, k2});
  // A recall to the lost device is a status; the page stays on the host.
  uint64_t ticket = 0;
  ASSERT_EQ(hgc_rt_kv_recall(cache, 1, 0, 5, &ticket), HGC_RT_OK);
  EXPECT_NE(hgc_rt_kv_wait(cache, ticket), HGC_RT_OK);
  hgc_rt_tier tier;
  ASSERT_EQ(hgc_rt_kv_page_tier(cache, 1, 0, 5, &tier), HGC_RT_OK);
  EXPECT_EQ(tier, HGC_RT_TIER_HOST);
  expectTokens(48, {k, k2});
  lose(0);
  hgc_rt_kv_destroy(cache);
}
