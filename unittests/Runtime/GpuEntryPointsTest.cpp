//===- GpuEntryPointsTest.cpp - the emulated mgpu* back end --------------===//
//
// What a compiled nvptx program calls, on a machine without a GPU (forced
// with HGC_RT_GPU=emulate, so the test means the same where one exists).
//
//===----------------------------------------------------------------------===//

#include "hgc-rt/gpu.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
int64_t hgc_emu_thread_id(int32_t);
int64_t hgc_emu_block_id(int32_t);
void *mgpuModuleLoadJIT(void *, int);
void mgpuModuleUnload(void *);
void *mgpuModuleGetFunction(void *, const char *);
void mgpuLaunchKernel(void *, intptr_t, intptr_t, intptr_t, intptr_t, intptr_t,
                      intptr_t, int32_t, void *, void **, void **, size_t);
void *mgpuStreamCreate();
void mgpuStreamSynchronize(void *);
void mgpuStreamDestroy(void *);
void *mgpuMemAlloc(uint64_t, void *, bool);
void mgpuMemFree(void *, void *);
void mgpuMemcpy(void *, void *, size_t, void *);
void mgpuMemset32(void *, unsigned, size_t, void *);
}

namespace {

// The twin of a kernel "scale": x[i] *= 2 for i = block * 32 + thread.
void twinOfScale(float *x, int64_t n) {
  int64_t i = hgc_emu_block_id(0) * 32 + hgc_emu_thread_id(0);
  if (i < n)
    x[i] *= 2;
}

void *resolve(void *context, const char *name) {
  ++*static_cast<int *>(context);
  return std::strcmp(name, "__hgc_emu_scale") == 0
             ? reinterpret_cast<void *>(&twinOfScale)
             : nullptr;
}

class EmulatedGpu : public ::testing::Test {
protected:
  static void SetUpTestSuite() { setenv("HGC_RT_GPU", "emulate", 1); }
};

TEST_F(EmulatedGpu, CopiesLaunchesAndFrees) {
  EXPECT_STREQ(hgc_rt_gpu_backend(), "emulated");
  int lookups = 0;
  hgc_rt_gpu_set_kernel_resolver(&resolve, &lookups);
  hgc_rt_gpu_take_error();
  void *stream = mgpuStreamCreate();
  ASSERT_NE(stream, nullptr);
  const int64_t n = 100;
  std::vector<float> host(n);
  for (int64_t i = 0; i < n; ++i)
    host[i] = float(i) + 0.5f;
  auto *device = static_cast<float *>(mgpuMemAlloc(n * 4, stream, false));
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(device) % 256, 0u);
  mgpuMemcpy(device, host.data(), n * 4, stream);
  char ptx[] = "// PTX is not read by the emulator";
  void *module = mgpuModuleLoadJIT(ptx, 3);
  void *function = mgpuModuleGetFunction(module, "scale");
  ASSERT_NE(function, nullptr);
  EXPECT_EQ(lookups, 1);
  // The launch parameters as gpu-to-llvm packs them: pointers to words.
  int64_t count = n;
  void *params[] = {&device, &count};
  mgpuLaunchKernel(function, 4, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 2);
  std::vector<float> back(n, 0);
  mgpuMemcpy(back.data(), device, n * 4, stream);
  mgpuStreamSynchronize(stream);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_EQ(back[i], 2 * host[i]) << i;
  mgpuMemset32(device, 0x3f800000u, n, stream);
  mgpuMemcpy(back.data(), device, n * 4, stream);
  EXPECT_EQ(back[n - 1], 1.0f);
  mgpuMemFree(device, stream);
  mgpuStreamDestroy(stream);
  mgpuModuleUnload(module);
  EXPECT_EQ(hgc_rt_gpu_take_error(), nullptr);
}

TEST_F(EmulatedGpu, MissingTwinAndBadLaunchAreErrors) {
  int lookups = 0;
  hgc_rt_gpu_set_kernel_resolver(&resolve, &lookups);
  hgc_rt_gpu_take_error();
  char ptx[] = "";
  void *module = mgpuModuleLoadJIT(ptx, 3);
  EXPECT_EQ(mgpuModuleGetFunction(module, "absent"), nullptr);
  const char *error = hgc_rt_gpu_take_error();
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("__hgc_emu_absent"), std::string::npos);
  EXPECT_EQ(hgc_rt_gpu_take_error(), nullptr) << "an error is taken once";
  void *function = mgpuModuleGetFunction(module, "scale");
  mgpuLaunchKernel(function, 1, 1, 1, 4096, 1, 1, 0, nullptr, nullptr, nullptr,
                   0);
  error = hgc_rt_gpu_take_error();
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("4096 threads"), std::string::npos)
      << error;
  mgpuModuleUnload(module);
}

} // namespace
