//===- FakeCudaDriver.cpp - a host-memory CUDA driver for tests ----------===//
//
// Exports the driver entry points the runtime resolves, backed by host
// memory, so the CUDA code paths run on machines without a GPU
// (HGC_RT_CUDA_LIBRARY points the runtime here): the KV tiers' memory,
// pinning and stream copies, and the kernel API compiled programs reach
// through runtime/GpuEntryPoints.cpp (modules, functions, launches, events,
// memsets, asynchronous copies either way). It is strict where a real
// driver would fail late or silently: device pointers are not host
// addresses, copies are bounds-checked, work queued on a stream (copies,
// memsets, launches, event records) happens only when the stream or an
// event recorded on it is synchronized (a missing synchronize shows up as
// stale data), a module must be PTX naming the function looked up, and a
// launch runs, on parameters copied at launch, a kernel the test registered
// or else the kernel's host twin from the compiled program (the runtime's
// SIMT emulator runs it on the device memory behind its pointers): so hgc's
// compiled programs run their whole CUDA path here. Copies, allocations and
// launches fail on demand (test hooks, or HGC_FAKE_CUDA_FAIL_COPIES /
// _ALLOCATIONS / _LAUNCHES=N for the next N in a process), and the device
// can be lost (HGC_FAKE_CUDA_LOSE_DEVICE_AT_LAUNCH=N: when the Nth launch
// runs): every later call fails.
//
//===----------------------------------------------------------------------===//

#include "FakeCudaDriver.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dlfcn.h>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {
// CUresult values the runtime may see.
constexpr int kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2,
              kInvalidImage = 200, kNotFound = 500, kLaunchFailed = 719,
              kDeviceUnavailable = 46;
constexpr uint64_t kDeviceBase = 0x7e00000000000000ull;

struct Kernel {
  hgc_fake_cuda_kernel body = nullptr; // a kernel the test registered
  std::vector<size_t> paramSizes;
  void *twin = nullptr; // else the compiled program's host twin
};

/// The runtime's emulator entry points (hgc-rt/gpu.h), found in the process
/// whether the runtime was loaded globally or (as ctypes does) locally.
struct TwinRunner {
  void *(*find)(const char *) = nullptr;
  int (*launch)(void *, const long long *, const long long *, void **, size_t,
                char *, size_t) = nullptr;

  static const TwinRunner &get() {
    static TwinRunner runner = [] {
      TwinRunner found;
      auto lookup = [](const char *name) {
        void *symbol = dlsym(RTLD_DEFAULT, name);
        if (void *runtime =
                symbol ? nullptr
                       : dlopen("libhgc_runtime.so", RTLD_LAZY | RTLD_NOLOAD)) {
          symbol = dlsym(runtime, name);
          dlclose(runtime);
        }
        return symbol;
      };
      found.find =
          reinterpret_cast<decltype(find)>(lookup("hgc_rt_gpu_host_twin"));
      found.launch = reinterpret_cast<decltype(launch)>(
          lookup("hgc_rt_gpu_emulate_launch"));
      return found;
    }();
    return runner;
  }
};

/// The bytes of each parameter of `.entry name(...)` in `ptx`; false when
/// the entry is absent or a parameter's type is not one PTX spells.
bool entryParams(const std::string &ptx, const std::string &name,
                 std::vector<size_t> &sizes) {
  size_t at = ptx.find(".entry " + name + "(");
  if (at == std::string::npos)
    return false;
  size_t end = ptx.find(')', at);
  if (end == std::string::npos)
    return false;
  std::string list = ptx.substr(at, end - at);
  for (size_t param = list.find(".param"); param != std::string::npos;
       param = list.find(".param", param + 6)) {
    size_t stop = list.find_first_of(",)", param);
    std::string declaration = list.substr(param, stop - param);
    size_t bytes = 0;
    for (auto [type, size] :
         {std::pair{"8 ", 1}, {"16 ", 2}, {"32 ", 4}, {"64 ", 8}})
      for (const char *kind : {".u", ".s", ".b", ".f"})
        if (declaration.find(std::string(kind) + type) != std::string::npos)
          bytes = size;
    if (!bytes)
      return false;
    if (size_t bracket = declaration.find('['); bracket != std::string::npos)
      bytes *= std::strtoull(declaration.c_str() + bracket + 1, nullptr, 10);
    sizes.push_back(bytes);
  }
  return true;
}

int countFromEnvironment(const char *name) {
  const char *text = std::getenv(name);
  return text ? std::atoi(text) : 0;
}

struct Event {
  bool recorded = false, done = true;
  std::chrono::steady_clock::time_point at;
};

using Work = std::function<int()>;

struct Driver {
  // Recursive: a kernel body run from a synchronize asks for its memory.
  std::recursive_mutex mutex;
  uint64_t next = kDeviceBase;
  std::map<uint64_t, std::vector<char>> allocations;
  std::map<const char *, size_t> registered; // start -> bytes
  std::map<void *, std::deque<Work>> streams;
  std::map<void *, std::string> modules; // handle -> PTX text
  std::map<std::string, Kernel> kernels;
  // Host twins per module: each compiled program resolves its own.
  std::map<std::pair<void *, std::string>, Kernel> twins;
  std::set<const Kernel *> functions; // handed out by cuModuleGetFunction
  std::map<void *, Event> events;
  hgc_fake_cuda_stats stats = {};
  int failCopies = countFromEnvironment("HGC_FAKE_CUDA_FAIL_COPIES");
  int failAllocations = countFromEnvironment("HGC_FAKE_CUDA_FAIL_ALLOCATIONS");
  int failLaunches = countFromEnvironment("HGC_FAKE_CUDA_FAIL_LAUNCHES");
  int loseAtLaunch =
      countFromEnvironment("HGC_FAKE_CUDA_LOSE_DEVICE_AT_LAUNCH");
  int launchesRun = 0;
  bool lost = false;

  char *device(uint64_t pointer, size_t bytes) {
    auto it = allocations.upper_bound(pointer);
    if (it == allocations.begin())
      return nullptr;
    --it;
    uint64_t offset = pointer - it->first;
    if (offset + bytes > it->second.size())
      return nullptr;
    return it->second.data() + offset;
  }
  /// Device memory for a pointer the driver handed out, else the host
  /// address itself (unified addressing, as cuMemcpyAsync sees pointers).
  char *anywhere(uint64_t pointer, size_t bytes) {
    if (pointer >= kDeviceBase)
      return device(pointer, bytes);
    return reinterpret_cast<char *>(pointer);
  }
  bool pinned(const void *host, size_t bytes) {
    const char *p = static_cast<const char *>(host);
    auto it = registered.upper_bound(p);
    if (it == registered.begin())
      return false;
    --it;
    return p + bytes <= it->first + it->second;
  }
  /// Queues `work` on `stream` (null: the legacy default stream, which
  /// runs it at once). Called with the mutex held.
  int enqueue(void *stream, Work work) {
    if (lost)
      return kDeviceUnavailable;
    if (!stream)
      return work();
    auto it = streams.find(stream);
    if (it == streams.end())
      return kInvalidValue;
    it->second.push_back(std::move(work));
    return kSuccess;
  }
  /// Runs the work queued on `stream`, or up to the first `count` items.
  int drain(void *stream, size_t count = SIZE_MAX) {
    if (lost)
      return kDeviceUnavailable;
    auto it = streams.find(stream);
    if (it == streams.end())
      return kInvalidValue;
    std::deque<Work> &queue = it->second;
    for (size_t done = 0; done < count && !queue.empty(); ++done) {
      Work work = std::move(queue.front());
      queue.pop_front();
      if (int status = work())
        return status;
    }
    return kSuccess;
  }
  int copy(void *stream, char *host, uint64_t pointer, size_t bytes,
           bool toDevice) {
    if (!device(pointer, bytes))
      return kInvalidValue;
    if (failCopies > 0) {
      --failCopies;
      return kInvalidValue;
    }
    ++(toDevice ? stats.copies_to_device : stats.copies_to_host);
    if (pinned(host, bytes))
      ++stats.pinned_copies;
    return enqueue(stream, [this, host, pointer, bytes, toDevice] {
      char *memory = device(pointer, bytes);
      if (!memory)
        return kInvalidValue; // freed while the copy was in flight
      if (toDevice)
        std::memcpy(memory, host, bytes);
      else
        std::memcpy(host, memory, bytes);
      return kSuccess;
    });
  }
};

Driver &driver() {
  static Driver instance;
  return instance;
}

#define LOCKED                                                                 \
  Driver &d = driver();                                                        \
  std::lock_guard<std::recursive_mutex> lock(d.mutex)
} // namespace

extern "C" {
int cuInit(unsigned) { return kSuccess; }
int cuDeviceGetCount(int *count) {
  *count = 1;
  return kSuccess;
}
int cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return ordinal == 0 ? kSuccess : kInvalidValue;
}
int cuDevicePrimaryCtxRetain(void **context, int) {
  static int primary;
  *context = &primary;
  return kSuccess;
}
int cuCtxSetCurrent(void *context) {
  return context ? kSuccess : kInvalidValue;
}
int cuDeviceGetAttribute(int *value, int attribute, int) {
  // Memory clock (kHz) and bus width (bits) of an H100 SXM's HBM3.
  *value = attribute == 36 ? 2619000 : attribute == 37 ? 5120 : 0;
  return kSuccess;
}

int cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
  LOCKED;
  if (d.lost)
    return kDeviceUnavailable;
  if (bytes == 0)
    return kInvalidValue;
  if (d.failAllocations > 0) {
    --d.failAllocations;
    return kOutOfMemory;
  }
  *pointer = d.next;
  d.allocations[d.next].resize(bytes);
  d.next += (bytes + 255) / 256 * 256 + 256; // gaps catch overruns
  ++d.stats.allocations;
  return kSuccess;
}
int cuMemFree_v2(uint64_t pointer) {
  LOCKED;
  if (!d.allocations.erase(pointer))
    return kInvalidValue;
  --d.stats.allocations;
  return kSuccess;
}

int cuMemHostRegister_v2(void *memory, size_t bytes, unsigned) {
  LOCKED;
  d.registered[static_cast<const char *>(memory)] = bytes;
  d.stats.registered_bytes += int64_t(bytes);
  return kSuccess;
}
int cuMemHostUnregister(void *memory) {
  LOCKED;
  auto it = d.registered.find(static_cast<const char *>(memory));
  if (it == d.registered.end())
    return kInvalidValue;
  d.stats.registered_bytes -= int64_t(it->second);
  d.registered.erase(it);
  return kSuccess;
}

int cuStreamCreate(void **stream, unsigned) {
  LOCKED;
  if (d.lost)
    return kDeviceUnavailable;
  *stream = new char;
  d.streams[*stream];
  ++d.stats.streams;
  return kSuccess;
}
int cuStreamDestroy_v2(void *stream) {
  LOCKED;
  // Like the driver: queued work still completes.
  (void)d.drain(stream);
  if (!d.streams.erase(stream))
    return kInvalidValue;
  delete static_cast<char *>(stream);
  --d.stats.streams;
  return kSuccess;
}
int cuStreamSynchronize(void *stream) {
  LOCKED;
  return d.drain(stream);
}
int cuMemcpyHtoDAsync_v2(uint64_t target, const void *source, size_t bytes,
                         void *stream) {
  LOCKED;
  return d.copy(stream, static_cast<char *>(const_cast<void *>(source)), target,
                bytes, true);
}
int cuMemcpyDtoHAsync_v2(void *target, uint64_t source, size_t bytes,
                         void *stream) {
  LOCKED;
  return d.copy(stream, static_cast<char *>(target), source, bytes, false);
}

// The kernel API of compiled programs.

int cuMemcpyAsync(uint64_t target, uint64_t source, size_t bytes,
                  void *stream) {
  LOCKED;
  if (!d.anywhere(target, bytes) || !d.anywhere(source, bytes))
    return kInvalidValue;
  if (d.failCopies > 0) {
    --d.failCopies;
    return kInvalidValue;
  }
  return d.enqueue(stream, [&d, target, source, bytes] {
    char *to = d.anywhere(target, bytes), *from = d.anywhere(source, bytes);
    if (!to || !from)
      return kInvalidValue;
    std::memmove(to, from, bytes);
    return kSuccess;
  });
}
int cuMemsetD32Async(uint64_t target, unsigned value, size_t count,
                     void *stream) {
  LOCKED;
  if (!d.device(target, count * 4))
    return kInvalidValue;
  return d.enqueue(stream, [&d, target, value, count] {
    auto *words = reinterpret_cast<unsigned *>(d.device(target, count * 4));
    for (size_t i = 0; i < count; ++i)
      words[i] = value;
    return kSuccess;
  });
}
int cuMemsetD16Async(uint64_t target, unsigned short value, size_t count,
                     void *stream) {
  LOCKED;
  if (!d.device(target, count * 2))
    return kInvalidValue;
  return d.enqueue(stream, [&d, target, value, count] {
    auto *halves =
        reinterpret_cast<unsigned short *>(d.device(target, count * 2));
    for (size_t i = 0; i < count; ++i)
      halves[i] = value;
    return kSuccess;
  });
}

int cuModuleLoadData(void **module, const void *image) {
  LOCKED;
  if (d.lost)
    return kDeviceUnavailable;
  const char *text = static_cast<const char *>(image);
  // PTX text: what hgc's nvptx pipeline embeds.
  if (!text || !std::strstr(text, ".version") || !std::strstr(text, ".target"))
    return kInvalidImage;
  *module = new char;
  d.modules[*module] = text;
  ++d.stats.modules;
  return kSuccess;
}
int cuModuleUnload(void *module) {
  LOCKED;
  if (!d.modules.erase(module))
    return kInvalidValue;
  for (auto it = d.twins.begin(); it != d.twins.end();)
    if (it->first.first == module) {
      d.functions.erase(&it->second);
      it = d.twins.erase(it);
    } else {
      ++it;
    }
  delete static_cast<char *>(module);
  --d.stats.modules;
  return kSuccess;
}
int cuModuleGetFunction(void **function, void *module, const char *name) {
  LOCKED;
  auto it = d.modules.find(module);
  if (it == d.modules.end())
    return kInvalidValue;
  std::vector<size_t> sizes;
  if (!entryParams(it->second, name, sizes))
    return kNotFound;
  Kernel *kernel = nullptr;
  if (auto registered = d.kernels.find(name); registered != d.kernels.end()) {
    kernel = &registered->second;
  } else {
    const TwinRunner &runner = TwinRunner::get();
    void *twin = runner.find && runner.launch ? runner.find(name) : nullptr;
    if (!twin)
      return kNotFound;
    kernel = &d.twins[{module, name}];
    *kernel = Kernel{nullptr, std::move(sizes), twin};
  }
  *function = kernel;
  d.functions.insert(kernel);
  return kSuccess;
}

/// Runs `kernel` on `params` (copies of the launch's arguments).
int runKernel(Driver &d, const Kernel &kernel,
              std::vector<std::vector<char>> &params, const unsigned grid[3],
              const unsigned block[3]) {
  if (d.loseAtLaunch > 0 && ++d.launchesRun == d.loseAtLaunch) {
    d.lost = true;
    return kDeviceUnavailable;
  }
  std::vector<void *> pointers;
  for (std::vector<char> &param : params)
    pointers.push_back(param.data());
  if (kernel.body) {
    kernel.body(pointers.data(), grid, block);
    return kSuccess;
  }
  // A twin dereferences what it is given: device pointers become the host
  // memory behind them (no size or stride falls between the first and the
  // next device address; -1 and the like are beyond it).
  for (std::vector<char> &param : params) {
    if (param.size() != sizeof(uint64_t))
      return kInvalidValue; // twins take 8-byte words only
    uint64_t value;
    std::memcpy(&value, param.data(), sizeof value);
    if (value >= kDeviceBase && value < d.next) {
      char *memory = d.device(value, 0);
      if (!memory)
        return kLaunchFailed; // a dangling device pointer
      std::memcpy(param.data(), &memory, sizeof value);
    }
  }
  long long grid64[3] = {grid[0], grid[1], grid[2]},
            block64[3] = {block[0], block[1], block[2]};
  char error[256];
  return TwinRunner::get().launch(kernel.twin, grid64, block64, pointers.data(),
                                  pointers.size(), error, sizeof error)
             ? kLaunchFailed
             : kSuccess;
}
int cuLaunchKernel(void *function, unsigned gridX, unsigned gridY,
                   unsigned gridZ, unsigned blockX, unsigned blockY,
                   unsigned blockZ, unsigned, void *stream, void **params,
                   void **extra) {
  LOCKED;
  auto *kernel = static_cast<const Kernel *>(function);
  if (!d.functions.count(kernel) || extra ||
      (!params && !kernel->paramSizes.empty()))
    return kInvalidValue;
  if (d.failLaunches > 0) {
    --d.failLaunches;
    return kLaunchFailed;
  }
  // The driver copies the arguments at the launch; so does this one.
  std::vector<std::vector<char>> copies;
  for (size_t i = 0; i < kernel->paramSizes.size(); ++i)
    copies.emplace_back(static_cast<char *>(params[i]),
                        static_cast<char *>(params[i]) + kernel->paramSizes[i]);
  unsigned grid[3] = {gridX, gridY, gridZ}, block[3] = {blockX, blockY, blockZ};
  ++d.stats.launches;
  return d.enqueue(
      stream, [&d, kernel, copies = std::move(copies), grid, block]() mutable {
        return runKernel(d, *kernel, copies, grid, block);
      });
}

int cuEventCreate(void **event, unsigned) {
  LOCKED;
  if (d.lost)
    return kDeviceUnavailable;
  *event = new char;
  d.events[*event];
  ++d.stats.events;
  return kSuccess;
}
int cuEventDestroy_v2(void *event) {
  LOCKED;
  if (!d.events.erase(event))
    return kInvalidValue;
  delete static_cast<char *>(event);
  --d.stats.events;
  return kSuccess;
}
int cuEventRecord(void *event, void *stream) {
  LOCKED;
  auto it = d.events.find(event);
  if (it == d.events.end())
    return kInvalidValue;
  it->second.recorded = true;
  it->second.done = false;
  return d.enqueue(stream, [&d, event] {
    auto at = d.events.find(event);
    if (at != d.events.end()) {
      at->second.done = true;
      at->second.at = std::chrono::steady_clock::now();
    }
    return kSuccess;
  });
}
/// Runs every stream's work until `event` is done (a record is always
/// queued behind the work it follows).
int completeEvent(Driver &d, void *event) {
  auto it = d.events.find(event);
  if (it == d.events.end() || !it->second.recorded)
    return kInvalidValue;
  for (auto &[stream, queue] : d.streams)
    while (!it->second.done && !queue.empty())
      if (int status = d.drain(stream, 1))
        return status;
  return it->second.done ? kSuccess : kInvalidValue;
}
int cuEventSynchronize(void *event) {
  LOCKED;
  return d.lost ? kDeviceUnavailable : completeEvent(d, event);
}
int cuStreamWaitEvent(void *stream, void *event, unsigned) {
  LOCKED;
  if (d.lost)
    return kDeviceUnavailable;
  // Work queued on `stream` after this waits for the event: complete it now.
  return d.streams.count(stream) ? completeEvent(d, event) : kInvalidValue;
}
int cuEventElapsedTime(float *milliseconds, void *start, void *end) {
  LOCKED;
  auto from = d.events.find(start), to = d.events.find(end);
  if (from == d.events.end() || to == d.events.end() || !from->second.done ||
      !to->second.done)
    return kInvalidValue;
  *milliseconds =
      std::chrono::duration<float, std::milli>(to->second.at - from->second.at)
          .count();
  return kSuccess;
}

// Test hooks.

void hgc_fake_cuda_get_stats(hgc_fake_cuda_stats *stats) {
  LOCKED;
  *stats = d.stats;
}
void hgc_fake_cuda_fail_copies(int count) {
  LOCKED;
  d.failCopies = count;
}
void hgc_fake_cuda_fail_allocations(int count) {
  LOCKED;
  d.failAllocations = count;
}
void hgc_fake_cuda_fail_launches(int count) {
  LOCKED;
  d.failLaunches = count;
}
void hgc_fake_cuda_lose_device(int lost) {
  LOCKED;
  d.lost = lost != 0;
}
void hgc_fake_cuda_register_kernel(const char *name, hgc_fake_cuda_kernel body,
                                   int params, const size_t *sizes) {
  LOCKED;
  d.kernels[name] = Kernel{body, std::vector<size_t>(sizes, sizes + params)};
}
void *hgc_fake_cuda_device_memory(uint64_t pointer, size_t bytes) {
  LOCKED;
  return d.device(pointer, bytes);
}
}
