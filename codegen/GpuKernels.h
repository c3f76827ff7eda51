//===- GpuKernels.h - device kernels of the dense region --------*- C++ -*-===//
//
// The GPU kernels the device tier's partial attention lowers to, written in
// the gpu dialect (thread ids, shuffles, barriers, workgroup memory) so that
// one body is both compiled to PTX (gpu -> nvvm) and, on a machine without a
// GPU, run by the runtime's SIMT emulator through its host twin.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_GPUKERNELS_H
#define HGC_CODEGEN_GPUKERNELS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>

namespace mlir::hgc::gpu_kernels {

constexpr int64_t kWarpSize = 32;

/// The static configuration of one decode partial-attention kernel.
struct DecodeKernelConfig {
  int64_t qHeads = 0;
  int64_t kvHeads = 0;
  int64_t headDim = 0;
  Type queryElement;
  Type kvElement;
  bool hasLengths = false;
  /// A bias [rows, tokens] (f32) added to every score of a query row: an
  /// attention mask, 0 where a key is let through and -inf where not.
  bool hasBias = false;
  /// Several query rows per KV sequence (dense attention over a prompt, a
  /// row per new token): query, lengths and bias are per row, the kernel
  /// takes the rows per sequence as its last argument and reads the KV of
  /// sequence row / rowsPerSequence.
  bool rowsPerSequence = false;
  std::optional<double> scale; // default 1/sqrt(headDim)
  double softcap = 0;
  /// Fewest tokens per KV split (more splits only while each keeps this).
  int64_t minSplitTokens = 256;
};

/// How a kernel maps work to threads, derived from the configuration alone:
/// a block per (KV split, KV head, batch), `warps` warps over the query
/// heads of the GQA group (`headsPerWarp` each), a K/V row read by
/// `lanesPerToken` lanes with `vectorsPerLane` loads of `vectorElements`
/// (16 bytes when the head dim allows), `tokensPerStep` rows per warp step,
/// and `tileTokens` rows of K and of V staged in workgroup memory. Splits
/// are chosen at run time (splitTokens below).
struct DecodeKernelPlan {
  int64_t vectorElements;
  int64_t lanesPerToken;
  int64_t vectorsPerLane;
  int64_t tokensPerStep;
  int64_t warps;
  int64_t headsPerWarp;
  int64_t tileTokens;
  int64_t minSplitTokens;
  int64_t sharedBytes;
  int64_t threads() const { return warps * kWarpSize; }
};

/// The plan for `config`, or failure with the reason in `why`.
FailureOr<DecodeKernelPlan> planDecodeKernel(const DecodeKernelConfig &config,
                                             std::string &why);

/// Blocks a launch aims for: two per SM of the largest targets (132 SMs on
/// H100/H200, 108 on A100), so that short sequences still fill the GPU.
constexpr int64_t kTargetBlocks = 264;

/// Tokens per KV split for `tokens` tokens when `rows` (batch x KV heads)
/// blocks share each split: as many splits as kTargetBlocks asks for, each
/// of at least `plan.minSplitTokens` and a whole number of tiles.
int64_t splitTokensFor(const DecodeKernelPlan &plan, int64_t tokens,
                       int64_t rows);
/// The same choice in IR, for token counts known at run time.
Value emitSplitTokens(ImplicitLocOpBuilder &b, const DecodeKernelPlan &plan,
                      Value tokens, Value rows);

/// Appends `gpu.func @name` to `module`: per block, the split's online
/// softmax (max, sum, unnormalized accumulator) for each query head of one
/// KV head. Arguments: query [B,Hq,D], key and value [B,Hkv,T,D], lengths
/// [B] (when configured), bias [B,T] (when configured), partial max and
/// sum [B,Hq,S], accumulators [B,Hq,S,D], the tokens per split (index),
/// and with rowsPerSequence the query rows per KV sequence (index; B then
/// counts query rows); launched on grid (S, Hkv, B), `plan.threads()`
/// threads.
gpu::GPUFuncOp emitDecodePartialKernel(OpBuilder &builder, Location loc,
                                       gpu::GPUModuleOp module, StringRef name,
                                       const DecodeKernelConfig &config,
                                       const DecodeKernelPlan &plan);

/// Appends `gpu.func @name` merging the S split partials of every
/// (query head, batch) row by log-sum-exp into output [B,Hq,D] and LSE
/// [B,Hq]; launched on grid (Hq, B), 32 threads. Empty rows give 0, -inf.
gpu::GPUFuncOp emitSplitMergeKernel(OpBuilder &builder, Location loc,
                                    gpu::GPUModuleOp module, StringRef name,
                                    int64_t qHeads, int64_t headDim);

} // namespace mlir::hgc::gpu_kernels

#endif // HGC_CODEGEN_GPUKERNELS_H
