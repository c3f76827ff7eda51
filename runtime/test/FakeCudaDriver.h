//===- FakeCudaDriver.h - test hooks of the host-memory CUDA driver -------===//

#ifndef HGC_RUNTIME_TEST_FAKECUDADRIVER_H
#define HGC_RUNTIME_TEST_FAKECUDADRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hgc_fake_cuda_stats {
  int64_t allocations;      /* live device allocations */
  int64_t registered_bytes; /* host bytes registered (pinned) */
  int64_t streams;          /* live streams */
  int64_t copies_to_device;
  int64_t copies_to_host;
  int64_t pinned_copies; /* copies whose host side was registered */
  int64_t modules;       /* loaded modules */
  int64_t events;        /* live events */
  int64_t launches;      /* kernels launched */
} hgc_fake_cuda_stats;

void hgc_fake_cuda_get_stats(hgc_fake_cuda_stats *stats);
/* The next `count` stream copies fail. */
void hgc_fake_cuda_fail_copies(int count);
/* The next `count` device allocations fail (out of memory). */
void hgc_fake_cuda_fail_allocations(int count);
/* The next `count` launches fail (CUDA_ERROR_LAUNCH_FAILED). */
void hgc_fake_cuda_fail_launches(int count);
/* Nonzero: the device is lost, every later call fails; 0: back. */
void hgc_fake_cuda_lose_device(int lost);

/* A kernel's body: its parameters (copied at the launch) and the launch's
 * grid and block, run when its stream gets to it. */
typedef void (*hgc_fake_cuda_kernel)(void **params, const unsigned grid[3],
                                     const unsigned block[3]);
/* Makes `name` launchable from modules whose PTX has `.entry name`, with
 * `params` parameters of `sizes` bytes. */
void hgc_fake_cuda_register_kernel(const char *name, hgc_fake_cuda_kernel body,
                                   int params, const size_t *sizes);
/* The host memory behind a device pointer (null when out of bounds). */
void *hgc_fake_cuda_device_memory(uint64_t pointer, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif // HGC_RUNTIME_TEST_FAKECUDADRIVER_H
