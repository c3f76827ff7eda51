//===- BenchInputs.h - random KV and its block summaries --------*- C++ -*-===//
//
// The arrays hgc-bench attention feeds its steps: normal values as f32, f16
// or bf16 bits, and the per-block key summaries and key codes an engine
// keeps.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_HGCBENCH_BENCHINPUTS_H
#define HGC_TOOLS_HGCBENCH_BENCHINPUTS_H

#include "exec/Npy.h"

#include <random>
#include <string>
#include <utility>

/// Bytes of one element of `dtype` (f32, f16 or bf16).
int64_t getElementBytes(const std::string &dtype);

/// Random normal values as `dtype` bits.
mlir::hgc::NpyArray getRandomArray(std::mt19937 &rng,
                                   llvm::ArrayRef<int64_t> shape,
                                   const std::string &dtype);

/// Per-block key minimum and maximum of `keys` [B, H, T, D] over blocks of
/// `block` tokens from token 0: what an engine keeps as tokens are appended.
std::pair<mlir::hgc::NpyArray, mlir::hgc::NpyArray>
getBlockSummaries(const mlir::hgc::NpyArray &keys, const std::string &dtype,
                  int64_t block);

/// Per-token int8 key codes [B, H, T, D] and f32 scales [B, H, T] of `keys`
/// [B, H, T, D], quantized as the KV runtime does on append
/// (hgc_rt_quantize_keys): what an engine keeps for hca's selection.
std::pair<mlir::hgc::NpyArray, mlir::hgc::NpyArray>
getKeyCodes(const mlir::hgc::NpyArray &keys, const std::string &dtype);

/// Product-quantized `keys` [B, H, T, D]: per (sequence, KV head), a
/// codebook of `subspaces` x `centroids` fitted to its first `prefill`
/// tokens (hgc_rt_pq_fit, 4 Lloyd steps) and every token encoded
/// (hgc_rt_pq_encode): codes [B, H, T, G] (i8, or i16 beyond 256 centroids)
/// and codebooks [B, H, G, C, D / G] f32.
std::pair<mlir::hgc::NpyArray, mlir::hgc::NpyArray>
getProductQuantized(const mlir::hgc::NpyArray &keys, const std::string &dtype,
                    int64_t subspaces, int64_t centroids, int64_t prefill);

/// `keys` [B, H, T, D] channel-major, [B, H, D, T]: the copy an engine
/// keeps for sparf's selection.
mlir::hgc::NpyArray getChannelMajor(const mlir::hgc::NpyArray &keys,
                                    const std::string &dtype);

/// Per-block sums of `values` [B, H, T, D] over blocks of `block` tokens
/// from token 0, [B, H, ceil(T / block), D] f32: what an engine keeps for
/// sparf's mean value.
mlir::hgc::NpyArray getValueSums(const mlir::hgc::NpyArray &values,
                                 const std::string &dtype, int64_t block);

#endif // HGC_TOOLS_HGCBENCH_BENCHINPUTS_H
