//===- SimtEmulator.h - GPU kernels run on the host -------------*- C++ -*-===//
//
// Runs a kernel's host twin (the kernel body with its SIMT primitives as
// hgc_emu_* calls, see the hgc-gpu-host-twins pass) once per thread of every
// block. Threads are fibers on the calling thread, switched at barriers and
// shuffles, so block-wide barriers, warp shuffles and workgroup memory mean
// what they mean on a GPU. Blocks run one at a time.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_SIMTEMULATOR_H
#define HGC_RUNTIME_SIMTEMULATOR_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace hgc::rt {

struct LaunchShape {
  int64_t grid[3];
  int64_t block[3];
};

/// Most launch parameters a twin takes (each one 8-byte word).
constexpr size_t kMaxEmulatedParams = 96;
/// Most threads per emulated block (CUDA's limit).
constexpr int64_t kMaxEmulatedThreads = 1024;

/// Runs `twin` (a function of `count` 8-byte words, `params[i]` pointing at
/// the i-th) over `shape`. False with the reason in `error` on a bad shape
/// or parameter count, or when the threads of a block cannot all reach the
/// same barrier (a kernel that would hang on a GPU).
bool emulateLaunch(void *twin, const LaunchShape &shape, void **params,
                   size_t count, std::string &error);

} // namespace hgc::rt

extern "C" {
// What host twins call (declared by hgc-gpu-host-twins).
int64_t hgc_emu_thread_id(int32_t dimension);
int64_t hgc_emu_block_id(int32_t dimension);
int64_t hgc_emu_block_dim(int32_t dimension);
int64_t hgc_emu_grid_dim(int32_t dimension);
void hgc_emu_barrier(void);
/// gpu.shuffle of a 32-bit word; mode as gpu::ShuffleMode (xor 0, down 1,
/// up 2, idx 3). A source lane outside the width segment reads the caller's
/// own value, as on the GPU.
int32_t hgc_emu_shuffle(int32_t value, int32_t offset, int32_t width,
                        int32_t mode);
}

#endif // HGC_RUNTIME_SIMTEMULATOR_H
