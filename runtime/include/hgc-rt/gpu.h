/*===- hgc-rt/gpu.h - compiled programs' GPU back end -------------*- C -*-===*
 *
 * Programs compiled with target nvptx call MLIR's mgpu* entry points
 * (module load, launch, streams, events, device memory, copies); the
 * runtime provides them over the CUDA driver (opened with dlopen), or, where
 * there is no GPU or HGC_RT_GPU=emulate, over host memory with kernels run
 * by the SIMT emulator through their host twins.
 *
 *===----------------------------------------------------------------------===*/

#ifndef HGC_RT_GPU_H
#define HGC_RT_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "cuda" or "emulated": the back end the mgpu* entry points use, chosen on
 * first use and fixed for the process: CUDA when a driver and a device are
 * there, else emulated. HGC_RT_GPU=emulate forces the emulator;
 * HGC_RT_GPU=cuda forces CUDA (without a device every mgpu* call then
 * fails, and hgc_rt_gpu_take_error says why). */
const char *hgc_rt_gpu_backend(void);

/* With HGC_RT_GPU_TIMING=1, every launch is timed (CUDA events around it,
 * waited for; wall time when emulated): the total seconds and the number
 * of launches since the last reset. */
void hgc_rt_gpu_kernel_time(double *seconds, long long *launches);
void hgc_rt_gpu_reset_kernel_time(void);

/* The device's theoretical DRAM bandwidth in bytes per second (memory clock
 * x bus width x 2), or 0 when emulated. */
double hgc_rt_gpu_peak_bandwidth(void);

/* Finds the host twin `name` (for example "__hgc_emu_k") of a kernel; the
 * default looks in the process's global symbols (dlsym), a JIT sets its
 * own. */
typedef void *(*hgc_rt_kernel_resolver)(void *context, const char *name);
void hgc_rt_gpu_set_kernel_resolver(hgc_rt_kernel_resolver resolver,
                                    void *context);

/* For a CUDA driver that stands in for a GPU (the test driver,
 * runtime/test/FakeCudaDriver.cpp), so compiled programs run their CUDA
 * path without one: the host twin of kernel `kernel` (NULL when there is
 * none), and a launch of it on the SIMT emulator with the kernel's
 * parameters (`count` 8-byte words; device pointers already host
 * addresses). Returns 0, or nonzero with the reason in `error`. */
void *hgc_rt_gpu_host_twin(const char *kernel);
int hgc_rt_gpu_emulate_launch(void *twin, const long long grid[3],
                              const long long block[3], void **params,
                              size_t count, char *error, size_t error_size);

/* The first error of an mgpu* call on this thread since this thread's last
 * take (they return no status), or NULL; the caller owns nothing, the text
 * lives until the thread's next take. Threads do not see each other's
 * errors: a compiled program makes its mgpu* calls on the thread running
 * it. */
const char *hgc_rt_gpu_take_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HGC_RT_GPU_H */
