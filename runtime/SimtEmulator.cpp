//===- SimtEmulator.cpp - GPU kernels run on the host ---------------------===//
//
// A block's threads are fibers scheduled round-robin on the calling thread,
// switched by a few instructions on x86-64 (callee-saved registers and the
// stack pointer; ucontext elsewhere, whose switches cost a system call). A
// barrier (block or warp) is a generation counter: a fiber arrives, and yields
// until the last live member arrives and advances the generation. Fibers that
// finish leave the count, so a barrier after an early exit still releases. A
// full round without progress is a deadlock.
//
//===----------------------------------------------------------------------===//

#include "SimtEmulator.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sys/mman.h>
#include <ucontext.h>
#include <utility>
#include <vector>

using namespace hgc::rt;

#if defined(__x86_64__)
// hgc_emu_switch(&save, load): saves the callee-saved registers, MXCSR and
// the x87 control word on the current stack, stores the stack pointer in
// *save, and resumes the context whose stack pointer is `load`.
extern "C" void hgc_emu_switch(void **save, void *load);
asm(R"(
  .text
  .p2align 4
  .hidden hgc_emu_switch
  .type hgc_emu_switch, @function
hgc_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size hgc_emu_switch, .-hgc_emu_switch
)");
#endif

namespace {

constexpr int64_t kWarp = 32;
/// Each fiber's stack (mapped lazily; twins use a few KiB).
constexpr size_t kStackBytes = 256 * 1024;

struct Barrier {
  int64_t live = 0;
  int64_t arrived = 0;
  uint64_t generation = 0;
  /// Releases the waiters when every live member has arrived.
  bool releaseIfComplete() {
    if (arrived == 0 || arrived < live)
      return false;
    arrived = 0;
    ++generation;
    return true;
  }
};

struct Fiber {
  ucontext_t context; // without the fast switch
  void *sp = nullptr; // with it
  void *stack = nullptr;
  int64_t thread[3] = {0, 0, 0};
  int64_t linear = 0;
  bool done = false;
};

struct Block {
  LaunchShape shape;
  int64_t id[3] = {0, 0, 0};
  void *twin = nullptr;
  void **params = nullptr;
  size_t count = 0;
  std::vector<Fiber> fibers;
  size_t current = 0;
  ucontext_t scheduler;
  void *schedulerSp = nullptr;
  Barrier block;
  std::vector<Barrier> warps;
  std::vector<std::array<int32_t, kWarp>> words;
  uint64_t progress = 0;
};

thread_local Block *active = nullptr;

Fiber &self() { return active->fibers[active->current]; }

void yield() {
  Fiber &fiber = self();
#if defined(__x86_64__)
  hgc_emu_switch(&fiber.sp, active->schedulerSp);
#else
  swapcontext(&fiber.context, &active->scheduler);
#endif
}

/// Runs fiber `t` of `b` until it yields or finishes.
void resume(Block &b, int64_t t) {
  b.current = t;
#if defined(__x86_64__)
  hgc_emu_switch(&b.schedulerSp, b.fibers[t].sp);
#else
  swapcontext(&b.scheduler, &b.fibers[t].context);
#endif
}

void arriveAndWait(Barrier &barrier) {
  uint64_t generation = barrier.generation;
  ++barrier.arrived;
  ++active->progress;
  if (barrier.releaseIfComplete())
    return;
  while (barrier.generation == generation)
    yield();
}

// Calls a twin of N 8-byte words: every launch parameter is a pointer or an
// integer, so they pass alike in the C calling convention.
template <size_t... I>
void callWords(void *twin, void **params, std::index_sequence<I...>) {
  using Function = void (*)(decltype((void)I, uint64_t{})...);
  reinterpret_cast<Function>(twin)(*static_cast<uint64_t *>(params[I])...);
}
using Caller = void (*)(void *, void **);
template <size_t N> void callN(void *twin, void **params) {
  callWords(twin, params, std::make_index_sequence<N>{});
}
template <size_t... N>
constexpr std::array<Caller, sizeof...(N)>
makeCallers(std::index_sequence<N...>) {
  return {&callN<N>...};
}
constexpr auto kCallers =
    makeCallers(std::make_index_sequence<kMaxEmulatedParams + 1>{});

void fiberMain() {
  Block &b = *active;
  kCallers[b.count](b.twin, b.params);
  Fiber &fiber = self();
  fiber.done = true;
  ++b.progress;
  --b.block.live;
  Barrier &warp = b.warps[fiber.linear / kWarp];
  --warp.live;
  b.block.releaseIfComplete();
  warp.releaseIfComplete();
  // Returning resumes uc_link: the scheduler (ucontext).
}

#if defined(__x86_64__)
/// A fast-switch fiber's first frame: it is never resumed once done.
[[noreturn]] void fiberEntry() {
  fiberMain();
  Fiber &fiber = self();
  hgc_emu_switch(&fiber.sp, active->schedulerSp);
  __builtin_unreachable();
}

/// A fresh stack whose first switch "returns" into fiberEntry, with the
/// stack aligned as at a function's entry.
void *initialStack(void *stack) {
  auto top =
      (reinterpret_cast<uintptr_t>(stack) + kStackBytes) & ~uintptr_t(15);
  auto *slot = reinterpret_cast<uint64_t *>(top);
  *--slot = 0;                                       // fiberEntry's return
  *--slot = reinterpret_cast<uint64_t>(&fiberEntry); // popped by ret
  for (int i = 0; i < 6; ++i)
    *--slot = 0; // rbp, rbx, r12-r15
  uint32_t control[2] = {0, 0};
  asm volatile("stmxcsr %0" : "=m"(control[0]));
  asm volatile("fnstcw %0" : "=m"(control[1]));
  *--slot = uint64_t(control[0]) | uint64_t(control[1]) << 32;
  return slot;
}
#endif

/// Runs every fiber of `b` to completion; false on a deadlock.
bool runBlock(Block &b) {
  int64_t threads = b.shape.block[0] * b.shape.block[1] * b.shape.block[2];
  b.block = Barrier{threads, 0, 0};
  int64_t warps = (threads + kWarp - 1) / kWarp;
  b.warps.assign(warps, Barrier{});
  for (int64_t w = 0; w < warps; ++w)
    b.warps[w].live = std::min(kWarp, threads - w * kWarp);
  b.words.assign(warps, {});
  for (int64_t t = 0; t < threads; ++t) {
    Fiber &fiber = b.fibers[t];
    fiber.done = false;
    fiber.linear = t;
    fiber.thread[0] = t % b.shape.block[0];
    fiber.thread[1] = (t / b.shape.block[0]) % b.shape.block[1];
    fiber.thread[2] = t / (b.shape.block[0] * b.shape.block[1]);
#if defined(__x86_64__)
    fiber.sp = initialStack(fiber.stack);
#else
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = fiber.stack;
    fiber.context.uc_stack.ss_size = kStackBytes;
    fiber.context.uc_link = &b.scheduler;
    makecontext(&fiber.context, fiberMain, 0);
#endif
  }
  int64_t remaining = threads;
  while (remaining > 0) {
    uint64_t before = b.progress;
    for (int64_t t = 0; t < threads; ++t) {
      if (b.fibers[t].done)
        continue;
      resume(b, t);
      if (b.fibers[t].done)
        --remaining;
    }
    if (remaining > 0 && b.progress == before)
      return false;
  }
  return true;
}

} // namespace

bool hgc::rt::emulateLaunch(void *twin, const LaunchShape &shape, void **params,
                            size_t count, std::string &error) {
  int64_t threads = 1;
  for (int d = 0; d < 3; ++d) {
    if (shape.grid[d] < 0 || shape.block[d] <= 0) {
      error = "launch with an empty or negative block";
      return false;
    }
    threads *= shape.block[d];
  }
  if (threads > kMaxEmulatedThreads) {
    error = "launch of " + std::to_string(threads) +
            " threads per block (at most 1024)";
    return false;
  }
  if (count > kMaxEmulatedParams) {
    error = "kernel with " + std::to_string(count) +
            " parameter words (at most " + std::to_string(kMaxEmulatedParams) +
            " emulated)";
    return false;
  }
  Block b;
  b.shape = shape;
  b.twin = twin;
  b.params = params;
  b.count = count;
  b.fibers.resize(threads);
  bool ok = true;
  for (Fiber &fiber : b.fibers) {
    fiber.stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fiber.stack == MAP_FAILED) {
      fiber.stack = nullptr;
      ok = false;
    }
  }
  if (!ok)
    error = "cannot map the emulated threads' stacks";
  Block *outer = active;
  active = &b;
  for (int64_t z = 0; ok && z < shape.grid[2]; ++z)
    for (int64_t y = 0; ok && y < shape.grid[1]; ++y)
      for (int64_t x = 0; ok && x < shape.grid[0]; ++x) {
        b.id[0] = x, b.id[1] = y, b.id[2] = z;
        if (!runBlock(b)) {
          error = "the threads of a block wait at different barriers (the "
                  "kernel would hang on a GPU)";
          ok = false;
        }
      }
  active = outer;
  for (Fiber &fiber : b.fibers)
    if (fiber.stack)
      munmap(fiber.stack, kStackBytes);
  return ok;
}

extern "C" {

int64_t hgc_emu_thread_id(int32_t dimension) {
  return self().thread[dimension];
}
int64_t hgc_emu_block_id(int32_t dimension) { return active->id[dimension]; }
int64_t hgc_emu_block_dim(int32_t dimension) {
  return active->shape.block[dimension];
}
int64_t hgc_emu_grid_dim(int32_t dimension) {
  return active->shape.grid[dimension];
}

void hgc_emu_barrier(void) { arriveAndWait(active->block); }

int32_t hgc_emu_shuffle(int32_t value, int32_t offset, int32_t width,
                        int32_t mode) {
  Fiber &fiber = self();
  int64_t warp = fiber.linear / kWarp, lane = fiber.linear % kWarp;
  auto &words = active->words[warp];
  words[lane] = value;
  arriveAndWait(active->warps[warp]);
  int64_t segment = width > 0 && width <= kWarp ? width : kWarp;
  int64_t base = lane / segment * segment;
  int64_t source = lane;
  switch (mode) {
  case 0: // xor
    source = lane ^ offset;
    break;
  case 1: // down
    source = lane + offset;
    break;
  case 2: // up
    source = lane - offset;
    break;
  default: // idx
    source = base + offset;
    break;
  }
  int32_t result =
      source >= base && source < base + segment ? words[source] : value;
  // Nobody overwrites a word before every lane has read.
  arriveAndWait(active->warps[warp]);
  return result;
}

} // extern "C"
