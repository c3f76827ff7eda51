//===- CudaDriver.cpp - the CUDA driver API, opened at run time ----------===//

#include "CudaDriver.h"

#include <cstdlib>
#include <dlfcn.h>

using namespace hgc::rt;

namespace {
constexpr unsigned kStreamNonBlocking = 0x1;    // CU_STREAM_NON_BLOCKING
constexpr unsigned kHostRegisterPortable = 0x1; // CU_MEMHOSTREGISTER_PORTABLE
} // namespace

template <typename T> bool CudaDriver::resolve(T &entry, const char *name) {
  entry = reinterpret_cast<T>(dlsym(library, name));
  return entry != nullptr;
}

std::shared_ptr<CudaDriver> CudaDriver::open(std::string &error) {
  const char *path = std::getenv("HGC_RT_CUDA_LIBRARY");
  if (!path || !*path)
    path = "libcuda.so.1";
  std::shared_ptr<CudaDriver> driver(new CudaDriver());
  driver->library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!driver->library) {
    error = std::string("no CUDA driver (") + path + ")";
    return nullptr;
  }
  Status (*init)(unsigned) = nullptr;
  Status (*deviceGetCount)(int *) = nullptr;
  Status (*deviceGet)(int *, int) = nullptr;
  Status (*primaryCtxRetain)(void **, int) = nullptr;
  CudaDriver &d = *driver;
  // The _v2 names are what cuda.h's macros bind the unsuffixed API to.
  bool complete = d.resolve(init, "cuInit") &&
                  d.resolve(deviceGetCount, "cuDeviceGetCount") &&
                  d.resolve(deviceGet, "cuDeviceGet") &&
                  d.resolve(primaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
                  d.resolve(d.ctxSetCurrent, "cuCtxSetCurrent") &&
                  d.resolve(d.memAlloc, "cuMemAlloc_v2") &&
                  d.resolve(d.memFree, "cuMemFree_v2") &&
                  d.resolve(d.memHostRegister, "cuMemHostRegister_v2") &&
                  d.resolve(d.memHostUnregister, "cuMemHostUnregister") &&
                  d.resolve(d.streamCreate, "cuStreamCreate") &&
                  d.resolve(d.streamDestroy, "cuStreamDestroy_v2") &&
                  d.resolve(d.streamSynchronize, "cuStreamSynchronize") &&
                  d.resolve(d.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2") &&
                  d.resolve(d.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  int devices = 0, device = 0;
  if (!complete) {
    error = std::string(path) + " lacks a driver entry point";
    return nullptr;
  }
  if (init(0) != 0 || deviceGetCount(&devices) != 0 || devices == 0) {
    error = "no CUDA device";
    return nullptr;
  }
  if (deviceGet(&device, 0) != 0 || primaryCtxRetain(&d.context, device) != 0) {
    error = "cannot create a CUDA context";
    return nullptr;
  }
  KernelApi &k = d.kernels;
  d.hasKernelApi = d.resolve(k.moduleLoadData, "cuModuleLoadData") &&
                   d.resolve(k.moduleUnload, "cuModuleUnload") &&
                   d.resolve(k.moduleGetFunction, "cuModuleGetFunction") &&
                   d.resolve(k.launchKernel, "cuLaunchKernel") &&
                   d.resolve(k.streamCreate, "cuStreamCreate") &&
                   d.resolve(k.streamDestroy, "cuStreamDestroy_v2") &&
                   d.resolve(k.streamSynchronize, "cuStreamSynchronize") &&
                   d.resolve(k.streamWaitEvent, "cuStreamWaitEvent") &&
                   d.resolve(k.eventCreate, "cuEventCreate") &&
                   d.resolve(k.eventDestroy, "cuEventDestroy_v2") &&
                   d.resolve(k.eventRecord, "cuEventRecord") &&
                   d.resolve(k.eventSynchronize, "cuEventSynchronize") &&
                   d.resolve(k.memcpyAsync, "cuMemcpyAsync") &&
                   d.resolve(k.memsetD32Async, "cuMemsetD32Async") &&
                   d.resolve(k.memsetD16Async, "cuMemsetD16Async") &&
                   d.resolve(k.eventElapsedTime, "cuEventElapsedTime") &&
                   d.resolve(k.deviceGetAttribute, "cuDeviceGetAttribute");
  k.device = device;
  return driver;
}

CudaDriver::~CudaDriver() {
  if (context && current())
    for (void *stream : allStreams)
      streamDestroy(stream);
  if (library)
    dlclose(library);
}

bool CudaDriver::current() const { return ctxSetCurrent(context) == 0; }

bool CudaDriver::allocate(uint64_t &pointer, size_t bytes) {
  return current() && memAlloc(&pointer, bytes) == 0;
}

void CudaDriver::free(uint64_t pointer) {
  if (current())
    memFree(pointer);
}

bool CudaDriver::registerHost(void *memory, size_t bytes) {
  return current() &&
         memHostRegister(memory, bytes, kHostRegisterPortable) == 0;
}

void CudaDriver::unregisterHost(void *memory) {
  if (current())
    memHostUnregister(memory);
}

void *CudaDriver::acquireStream() {
  {
    std::lock_guard<std::mutex> lock(streamMutex);
    if (!idleStreams.empty()) {
      void *stream = idleStreams.back();
      idleStreams.pop_back();
      return stream;
    }
  }
  void *stream = nullptr;
  if (streamCreate(&stream, kStreamNonBlocking) != 0)
    return nullptr;
  std::lock_guard<std::mutex> lock(streamMutex);
  allStreams.push_back(stream);
  return stream;
}

void CudaDriver::releaseStream(void *stream) {
  std::lock_guard<std::mutex> lock(streamMutex);
  idleStreams.push_back(stream);
}

template <typename Enqueue> bool CudaDriver::copyOnStream(Enqueue enqueue) {
  if (!current())
    return false;
  void *stream = acquireStream();
  if (!stream)
    return false;
  bool copied = enqueue(stream) == 0 && streamSynchronize(stream) == 0;
  releaseStream(stream);
  return copied;
}

bool CudaDriver::copyToDevice(uint64_t target, const void *source,
                              size_t bytes) {
  return copyOnStream([&](void *stream) {
    return memcpyHtoDAsync(target, source, bytes, stream);
  });
}

bool CudaDriver::copyToHost(void *target, uint64_t source, size_t bytes) {
  return copyOnStream([&](void *stream) {
    return memcpyDtoHAsync(target, source, bytes, stream);
  });
}
