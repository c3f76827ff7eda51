//===- CudaDriver.h - the CUDA driver API, opened at run time ---*- C++ -*-===//
//
// The runtime builds and runs without CUDA: the few driver entry points it
// uses are resolved from libcuda.so.1 (or $HGC_RT_CUDA_LIBRARY, which tests
// point at a host-memory stand-in) with dlopen. One driver object is shared
// by the device tier (device memory, stream copies) and the host tier (page
// registration, so host pages are pinned and copies are DMA).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_CUDADRIVER_H
#define HGC_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hgc::rt {

class CudaDriver {
public:
  /// The driver with a context on device 0, or null with the reason in
  /// `error` when there is no driver library, entry point or device.
  static std::shared_ptr<CudaDriver> open(std::string &error);
  ~CudaDriver();
  CudaDriver(const CudaDriver &) = delete;
  CudaDriver &operator=(const CudaDriver &) = delete;

  using Status = int;
  /// What compiled GPU programs need beyond the KV tiers' copies: modules,
  /// launches, streams, events (the mgpu* wrappers' CUDA side).
  struct KernelApi {
    Status (*moduleLoadData)(void **, const void *) = nullptr;
    Status (*moduleUnload)(void *) = nullptr;
    Status (*moduleGetFunction)(void **, void *, const char *) = nullptr;
    Status (*launchKernel)(void *, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, void *, void **,
                           void **) = nullptr;
    Status (*streamCreate)(void **, unsigned) = nullptr;
    Status (*streamDestroy)(void *) = nullptr;
    Status (*streamSynchronize)(void *) = nullptr;
    Status (*streamWaitEvent)(void *, void *, unsigned) = nullptr;
    Status (*eventCreate)(void **, unsigned) = nullptr;
    Status (*eventDestroy)(void *) = nullptr;
    Status (*eventRecord)(void *, void *) = nullptr;
    Status (*eventSynchronize)(void *) = nullptr;
    Status (*memcpyAsync)(uint64_t, uint64_t, size_t, void *) = nullptr;
    Status (*memsetD32Async)(uint64_t, unsigned, size_t, void *) = nullptr;
    Status (*memsetD16Async)(uint64_t, unsigned short, size_t,
                             void *) = nullptr;
    Status (*eventElapsedTime)(float *, void *, void *) = nullptr;
    Status (*deviceGetAttribute)(int *, int, int) = nullptr;
    int device = 0;
  };
  /// The kernel entry points, or null when the library lacks one of them
  /// (a stand-in driver of the KV tier tests).
  const KernelApi *kernelApi() const {
    return hasKernelApi ? &kernels : nullptr;
  }
  /// Makes the driver's context current on the calling thread.
  bool makeCurrent() const { return current(); }

  bool allocate(uint64_t &pointer, size_t bytes);
  void free(uint64_t pointer);
  /// Page-locks host memory so the GPU copies it by DMA.
  bool registerHost(void *memory, size_t bytes);
  void unregisterHost(void *memory);
  /// Copies on a non-blocking stream of a pool, waiting for completion:
  /// copies from different threads overlap instead of queueing on the
  /// legacy default stream.
  bool copyToDevice(uint64_t target, const void *source, size_t bytes);
  bool copyToHost(void *target, uint64_t source, size_t bytes);

private:
  CudaDriver() = default;
  template <typename T> bool resolve(T &entry, const char *name);
  bool current() const;
  void *acquireStream();
  void releaseStream(void *stream);
  /// Runs `enqueue(stream)` on a pooled stream and waits for it.
  template <typename Enqueue> bool copyOnStream(Enqueue enqueue);

  void *library = nullptr;
  KernelApi kernels;
  bool hasKernelApi = false;
  void *context = nullptr;
  Status (*ctxSetCurrent)(void *) = nullptr;
  Status (*memAlloc)(uint64_t *, size_t) = nullptr;
  Status (*memFree)(uint64_t) = nullptr;
  Status (*memHostRegister)(void *, size_t, unsigned) = nullptr;
  Status (*memHostUnregister)(void *) = nullptr;
  Status (*streamCreate)(void **, unsigned) = nullptr;
  Status (*streamDestroy)(void *) = nullptr;
  Status (*streamSynchronize)(void *) = nullptr;
  Status (*memcpyHtoDAsync)(uint64_t, const void *, size_t, void *) = nullptr;
  Status (*memcpyDtoHAsync)(void *, uint64_t, size_t, void *) = nullptr;

  std::mutex streamMutex;
  std::vector<void *> idleStreams;
  std::vector<void *> allStreams;
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_CUDADRIVER_H
