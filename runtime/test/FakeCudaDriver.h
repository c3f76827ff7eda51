//===- FakeCudaDriver.h - test hooks of the host-memory CUDA driver -------===//

#ifndef HGC_RUNTIME_TEST_FAKECUDADRIVER_H
#define HGC_RUNTIME_TEST_FAKECUDADRIVER_H

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
} hgc_fake_cuda_stats;

void hgc_fake_cuda_get_stats(hgc_fake_cuda_stats *stats);
/* The next `count` stream copies fail. */
void hgc_fake_cuda_fail_copies(int count);

#ifdef __cplusplus
}
#endif

#endif // HGC_RUNTIME_TEST_FAKECUDADRIVER_H
