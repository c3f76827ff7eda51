//===- GpuEntryPoints.cpp - the mgpu* ABI of compiled GPU programs -------===//
//
// The functions MLIR's gpu-to-llvm lowering calls, with the signatures of
// MLIR's CUDA runtime wrappers. The CUDA back end forwards to the driver;
// the emulated one keeps "device" memory on the host, runs streams eagerly
// (a copy or launch is complete when its call returns) and launches a
// kernel's host twin on the SIMT emulator. Errors are kept per thread for
// hgc_rt_gpu_take_error, since these calls return no status.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "SimtEmulator.h"
#include "hgc-rt/gpu.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>

using namespace hgc::rt;

namespace {

/// The first failure on this thread since its last take. A compiled
/// program makes its mgpu calls on the thread that runs it (its OpenMP
/// regions make none), so a run or compile sees its own errors only, never
/// another thread's.
struct ThreadError {
  std::string error, taken;
};
ThreadError &threadError() {
  thread_local ThreadError slot;
  return slot;
}

struct Backend {
  std::shared_ptr<CudaDriver> driver; // null: emulated
  const CudaDriver::KernelApi *api = nullptr;
  std::mutex mutex; // guards the launch timing
  hgc_rt_kernel_resolver resolver = nullptr;
  void *resolverContext = nullptr;
  bool timing = false;
  double kernelSeconds = 0;
  long long launches = 0;

  static Backend &get() {
    static Backend backend;
    return backend;
  }
  void fail(const std::string &what) {
    ThreadError &slot = threadError();
    if (slot.error.empty())
      slot.error = what;
  }
  bool check(CudaDriver::Status status, const char *call) {
    if (status == 0)
      return true;
    fail(std::string(call) + " failed with CUDA error " +
         std::to_string(status));
    return false;
  }

  /// Set when HGC_RT_GPU=cuda found no usable device: every call fails.
  std::string unavailable;

private:
  Backend() {
    const char *timed = std::getenv("HGC_RT_GPU_TIMING");
    timing = timed && std::strcmp(timed, "1") == 0;
    const char *mode = std::getenv("HGC_RT_GPU");
    if (mode && std::strcmp(mode, "emulate") == 0)
      return;
    std::string why;
    driver = CudaDriver::open(why);
    if (driver && !driver->kernelApi())
      why = "the CUDA driver lacks the module and launch entry points";
    if (driver && driver->kernelApi())
      api = driver->kernelApi();
    else
      driver.reset();
    if (!api && mode && std::strcmp(mode, "cuda") == 0)
      unavailable = "HGC_RT_GPU=cuda, but " + why;
  }
};

/// Stand-ins of the emulated back end (an emulated function is its twin).
struct EmulatedModule {};
char emulatedStream, emulatedEvent;

bool current(Backend &backend) {
  return backend.driver->makeCurrent() ||
         (backend.fail("cannot make the CUDA context current"), false);
}

/// False (and the reason kept) when CUDA was required but is not there.
bool usable(Backend &backend) {
  if (backend.unavailable.empty())
    return true;
  backend.fail(backend.unavailable);
  return false;
}

/// True once a call of this run failed: a later launch or copy would read
/// what a failed allocation or copy never provided (on a GPU, an illegal
/// address that poisons the context), and the run reports the first error.
bool failedEarlier() { return !threadError().error.empty(); }

void addKernelTime(Backend &backend, double seconds) {
  std::lock_guard<std::mutex> lock(backend.mutex);
  backend.kernelSeconds += seconds;
  ++backend.launches;
}

/// The host twin of kernel `name`, through the resolver a JIT set, else
/// the process's global symbols.
void *findTwin(Backend &backend, const char *name) {
  std::string twinName = std::string("__hgc_emu_") + name;
  std::lock_guard<std::mutex> lock(backend.mutex);
  return backend.resolver
             ? backend.resolver(backend.resolverContext, twinName.c_str())
             : dlsym(RTLD_DEFAULT, twinName.c_str());
}

bool runTwin(void *twin, const LaunchShape &shape, void **params, size_t count,
             std::string &error) {
  // Workgroup memory of twins is module-global: one block at a time in the
  // whole process.
  static std::mutex launches;
  std::lock_guard<std::mutex> lock(launches);
  return emulateLaunch(twin, shape, params, count, error);
}

} // namespace

extern "C" {

const char *hgc_rt_gpu_backend(void) {
  return Backend::get().api ? "cuda" : "emulated";
}

void hgc_rt_gpu_set_kernel_resolver(hgc_rt_kernel_resolver resolver,
                                    void *context) {
  Backend &backend = Backend::get();
  std::lock_guard<std::mutex> lock(backend.mutex);
  backend.resolver = resolver;
  backend.resolverContext = context;
}

void hgc_rt_gpu_kernel_time(double *seconds, long long *launches) {
  Backend &backend = Backend::get();
  std::lock_guard<std::mutex> lock(backend.mutex);
  if (seconds)
    *seconds = backend.kernelSeconds;
  if (launches)
    *launches = backend.launches;
}

void hgc_rt_gpu_reset_kernel_time(void) {
  Backend &backend = Backend::get();
  std::lock_guard<std::mutex> lock(backend.mutex);
  backend.kernelSeconds = 0;
  backend.launches = 0;
}

double hgc_rt_gpu_peak_bandwidth(void) {
  Backend &backend = Backend::get();
  if (!backend.api || !current(backend))
    return 0;
  // CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE (kHz), ..._GLOBAL_MEMORY_BUS_WIDTH
  // (bits); double data rate.
  int clockKHz = 0, busBits = 0;
  if (backend.api->deviceGetAttribute(&clockKHz, 36, backend.api->device) ||
      backend.api->deviceGetAttribute(&busBits, 37, backend.api->device))
    return 0;
  return 2.0 * clockKHz * 1e3 * busBits / 8;
}

void *hgc_rt_gpu_host_twin(const char *kernel) {
  return kernel ? findTwin(Backend::get(), kernel) : nullptr;
}

int hgc_rt_gpu_emulate_launch(void *twin, const long long grid[3],
                              const long long block[3], void **params,
                              size_t count, char *error, size_t errorSize) {
  std::string why;
  if (!twin || !grid || !block || (count && !params))
    why = "no twin, grid, block or parameters";
  else if (runTwin(
               twin,
               {{grid[0], grid[1], grid[2]}, {block[0], block[1], block[2]}},
               params, count, why))
    return 0;
  if (error && errorSize)
    std::snprintf(error, errorSize, "%s", why.c_str());
  return 1;
}

const char *hgc_rt_gpu_take_error(void) {
  ThreadError &slot = threadError();
  if (slot.error.empty())
    return nullptr;
  slot.taken = std::move(slot.error);
  slot.error.clear();
  return slot.taken.c_str();
}

void mgpuSetDefaultDevice(int32_t) {}

void *mgpuModuleLoad(void *data, size_t) {
  Backend &backend = Backend::get();
  if (!usable(backend))
    return nullptr;
  if (!backend.api)
    return new EmulatedModule();
  void *module = nullptr;
  if (current(backend))
    backend.check(backend.api->moduleLoadData(&module, data),
                  "cuModuleLoadData");
  return module;
}

// PTX text: the driver JIT-compiles it for the device it runs on.
void *mgpuModuleLoadJIT(void *data, int) { return mgpuModuleLoad(data, 0); }

void mgpuModuleUnload(void *module) {
  Backend &backend = Backend::get();
  if (!module)
    return;
  if (!backend.api) {
    delete static_cast<EmulatedModule *>(module);
    return;
  }
  if (module && current(backend))
    backend.check(backend.api->moduleUnload(module), "cuModuleUnload");
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  Backend &backend = Backend::get();
  if (!usable(backend))
    return nullptr;
  if (backend.api) {
    void *function = nullptr;
    if (!module)
      backend.fail("kernel " + std::string(name) + ": its module did not load");
    else if (current(backend))
      backend.check(backend.api->moduleGetFunction(&function, module, name),
                    "cuModuleGetFunction");
    return function;
  }
  void *twin = findTwin(backend, name);
  if (!twin)
    backend.fail("kernel " + std::string(name) +
                 " has no host twin to emulate (__hgc_emu_" + name + ")");
  return twin;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t sharedBytes, void *stream,
                      void **params, void **extra, size_t paramsCount) {
  Backend &backend = Backend::get();
  if (failedEarlier())
    return;
  if (!function) {
    // Its lookup failed and said why, unless that error was taken already.
    backend.fail("launch of a kernel that was not found");
    return;
  }
  if (backend.api) {
    if (!current(backend))
      return;
    void *start = nullptr, *end = nullptr;
    const CudaDriver::KernelApi &api = *backend.api;
    bool timed = backend.timing && api.eventCreate(&start, 0) == 0 &&
                 api.eventCreate(&end, 0) == 0 &&
                 api.eventRecord(start, stream) == 0;
    backend.check(api.launchKernel(function, gridX, gridY, gridZ, blockX,
                                   blockY, blockZ, sharedBytes, stream, params,
                                   extra),
                  "cuLaunchKernel");
    float milliseconds = 0;
    if (timed && api.eventRecord(end, stream) == 0 &&
        api.eventSynchronize(end) == 0 &&
        api.eventElapsedTime(&milliseconds, start, end) == 0)
      addKernelTime(backend, milliseconds * 1e-3);
    for (void *event : {start, end})
      if (event)
        api.eventDestroy(event);
    return;
  }
  LaunchShape shape{{gridX, gridY, gridZ}, {blockX, blockY, blockZ}};
  std::string error;
  auto begin = std::chrono::steady_clock::now();
  if (!runTwin(function, shape, params, paramsCount, error))
    backend.fail("emulated kernel launch: " + error);
  if (backend.timing)
    addKernelTime(backend, std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - begin)
                               .count());
}

void *mgpuStreamCreate() {
  Backend &backend = Backend::get();
  if (!backend.api)
    return &emulatedStream;
  void *stream = nullptr;
  if (current(backend))
    backend.check(backend.api->streamCreate(&stream, /*non-blocking=*/1),
                  "cuStreamCreate");
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  Backend &backend = Backend::get();
  if (backend.api && stream && current(backend))
    backend.check(backend.api->streamDestroy(stream), "cuStreamDestroy");
}

void mgpuStreamSynchronize(void *stream) {
  Backend &backend = Backend::get();
  if (backend.api && stream && current(backend))
    backend.check(backend.api->streamSynchronize(stream),
                  "cuStreamSynchronize");
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  Backend &backend = Backend::get();
  if (backend.api && stream && event && current(backend))
    backend.check(backend.api->streamWaitEvent(stream, event, 0),
                  "cuStreamWaitEvent");
}

void *mgpuEventCreate() {
  Backend &backend = Backend::get();
  if (!backend.api)
    return &emulatedEvent;
  void *event = nullptr;
  if (current(backend))
    backend.check(backend.api->eventCreate(&event, /*disable timing=*/2),
                  "cuEventCreate");
  return event;
}

void mgpuEventDestroy(void *event) {
  Backend &backend = Backend::get();
  if (backend.api && event && current(backend))
    backend.check(backend.api->eventDestroy(event), "cuEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  Backend &backend = Backend::get();
  if (backend.api && event && current(backend))
    backend.check(backend.api->eventSynchronize(event), "cuEventSynchronize");
}

void mgpuEventRecord(void *event, void *stream) {
  Backend &backend = Backend::get();
  if (backend.api && event && current(backend))
    backend.check(backend.api->eventRecord(event, stream), "cuEventRecord");
}

void *mgpuMemAlloc(uint64_t bytes, void *stream, bool) {
  Backend &backend = Backend::get();
  if (!usable(backend))
    return nullptr;
  size_t size = bytes ? bytes : 1;
  if (!backend.api) {
    // 256-byte aligned like cuMemAlloc: kernels assume 16-byte vectors.
    void *memory = std::aligned_alloc(256, (size + 255) / 256 * 256);
    if (!memory)
      backend.fail("cannot allocate " + std::to_string(bytes) +
                   " bytes of emulated device memory");
    return memory;
  }
  uint64_t pointer = 0;
  if (!current(backend) ||
      (stream && !backend.check(backend.api->streamSynchronize(stream),
                                "cuStreamSynchronize")))
    return nullptr;
  if (!backend.driver->allocate(pointer, size))
    backend.fail("cannot allocate " + std::to_string(bytes) +
                 " bytes of device memory");
  return reinterpret_cast<void *>(pointer);
}

void mgpuMemFree(void *pointer, void *stream) {
  Backend &backend = Backend::get();
  if (!backend.api) {
    std::free(pointer);
    return;
  }
  if (!pointer || !current(backend))
    return;
  // Work queued on the stream may still read the buffer.
  if (stream)
    backend.check(backend.api->streamSynchronize(stream),
                  "cuStreamSynchronize");
  backend.driver->free(reinterpret_cast<uint64_t>(pointer));
}

void mgpuMemcpy(void *target, void *source, size_t bytes, void *stream) {
  Backend &backend = Backend::get();
  // A failed allocation or copy (already reported) leaves nothing to touch.
  if (!usable(backend) || !target || failedEarlier())
    return;
  if (!backend.api) {
    if (bytes && source)
      std::memmove(target, source, bytes);
    return;
  }
  if (current(backend))
    backend.check(backend.api->memcpyAsync(reinterpret_cast<uint64_t>(target),
                                           reinterpret_cast<uint64_t>(source),
                                           bytes, stream),
                  "cuMemcpyAsync");
}

void mgpuMemset32(void *target, unsigned value, size_t count, void *stream) {
  Backend &backend = Backend::get();
  // A failed allocation or copy (already reported) leaves nothing to touch.
  if (!usable(backend) || !target || failedEarlier())
    return;
  if (!backend.api) {
    auto *words = static_cast<unsigned *>(target);
    for (size_t i = 0; i < count; ++i)
      words[i] = value;
    return;
  }
  if (current(backend))
    backend.check(backend.api->memsetD32Async(
                      reinterpret_cast<uint64_t>(target), value, count, stream),
                  "cuMemsetD32Async");
}

void mgpuMemset16(void *target, unsigned short value, size_t count,
                  void *stream) {
  Backend &backend = Backend::get();
  // A failed allocation or copy (already reported) leaves nothing to touch.
  if (!usable(backend) || !target || failedEarlier())
    return;
  if (!backend.api) {
    auto *halves = static_cast<unsigned short *>(target);
    for (size_t i = 0; i < count; ++i)
      halves[i] = value;
    return;
  }
  if (current(backend))
    backend.check(backend.api->memsetD16Async(
                      reinterpret_cast<uint64_t>(target), value, count, stream),
                  "cuMemsetD16Async");
}

} // extern "C"
