//===- hgc-aot-run.cpp - run a program compiled ahead of time ------------===//
//
// Runs the C interface of a function that `hgc compile --emit obj` compiled
// and a linker made a shared library, with nothing of MLIR or LLVM at run
// time: only the KV runtime (its allocator, its GPU entry points) and the
// program's own dependencies (libomp, libm). Inputs and outputs are raw
// little-endian files; shapes come on the command line. This is how the GPU
// bundle (scripts/gpu-bundle.sh) runs on a machine that has a GPU and no
// compiler.
//
//   hgc-aot-run PROGRAM.so [--entry main] --in SHAPE:FILE ...
//               --out RANK:ELEMENT_BYTES:FILE ... [--repeat N]
//
// SHAPE is dims joined by 'x' (2x8x64). Prints one JSON line: the output
// shapes, the median wall time of the calls in milliseconds, and the GPU
// kernels' time per call (HGC_RT_GPU_TIMING=1) and launches.
//
//===----------------------------------------------------------------------===//

#include "hgc-rt/gpu.h"
#include "hgc-rt/host_alloc.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace {
[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "hgc-aot-run: %s\n", message.c_str());
  std::exit(1);
}

struct Input {
  std::vector<int64_t> shape;
  std::vector<char> bytes;
  std::vector<int64_t> descriptor; // allocated, aligned, offset, sizes, strides
};

struct Output {
  int64_t rank = 0, elementBytes = 0;
  std::string path;
};

int64_t parseInt(const std::string &text, const std::string &what) {
  char *end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || value < 0)
    fail(what + ": '" + text + "' is not a non-negative integer");
  return value;
}

std::vector<std::string> split(const std::string &text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t at; (at = text.find(separator, start)) != std::string::npos;
       start = at + 1)
    parts.push_back(text.substr(start, at - start));
  parts.push_back(text.substr(start));
  return parts;
}

Input readInput(const std::string &spec) {
  size_t colon = spec.find(':');
  if (colon == std::string::npos)
    fail("--in " + spec + ": expected SHAPE:FILE");
  Input input;
  int64_t elements = 1;
  for (const std::string &dim : split(spec.substr(0, colon), 'x')) {
    input.shape.push_back(parseInt(dim, "--in " + spec));
    elements *= input.shape.back();
  }
  std::string path = spec.substr(colon + 1);
  std::ifstream file(path, std::ios::binary);
  if (!file)
    fail(path + ": cannot read");
  input.bytes.assign(std::istreambuf_iterator<char>(file), {});
  if (elements == 0 || input.bytes.size() % size_t(elements))
    fail(path + ": " + std::to_string(input.bytes.size()) +
         " bytes are not a whole number of elements of shape " +
         spec.substr(0, colon));
  int64_t rank = int64_t(input.shape.size());
  input.descriptor.resize(3 + 2 * rank);
  int64_t address = reinterpret_cast<int64_t>(input.bytes.data());
  input.descriptor[0] = input.descriptor[1] = address;
  int64_t stride = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    input.descriptor[3 + d] = input.shape[d];
    input.descriptor[3 + rank + d] = stride;
    stride *= input.shape[d];
  }
  return input;
}

/// Writes the strided result `words` (one descriptor) densely to `out`.
void writeOutput(const Output &out, const int64_t *words) {
  char *aligned = reinterpret_cast<char *>(words[1]);
  const int64_t *sizes = words + 3, *strides = words + 3 + out.rank;
  int64_t elements = 1;
  for (int64_t d = 0; d < out.rank; ++d)
    elements *= sizes[d];
  std::vector<char> dense(size_t(elements * out.elementBytes));
  std::vector<int64_t> index(out.rank, 0);
  for (int64_t i = 0; i < elements; ++i) {
    int64_t offset = words[2];
    for (int64_t d = 0; d < out.rank; ++d)
      offset += index[d] * strides[d];
    std::memcpy(dense.data() + i * out.elementBytes,
                aligned + offset * out.elementBytes, size_t(out.elementBytes));
    for (int64_t d = out.rank - 1; d >= 0 && ++index[d] == sizes[d]; --d)
      index[d] = 0;
  }
  std::ofstream file(out.path, std::ios::binary);
  file.write(dense.data(), std::streamsize(dense.size()));
  if (!file)
    fail(out.path + ": cannot write");
}

template <size_t> using Pointer = void *;

/// Calls `entry` as `void (void *, ...N pointers)`, its exact prototype.
template <size_t... I>
void callWith(void *entry, void **p, std::index_sequence<I...>) {
  using Function = void (*)(Pointer<I>...);
  reinterpret_cast<Function>(entry)(p[I]...);
}

template <size_t... N>
void dispatch(void *entry, std::vector<void *> &pointers,
              std::index_sequence<N...>) {
  ((pointers.size() == N + 1
        ? callWith(entry, pointers.data(), std::make_index_sequence<N + 1>())
        : void()),
   ...);
}

constexpr size_t kMaxInputs = 8;

/// Calls `entry(results, inputs...)`: every argument a pointer.
void call(void *entry, std::vector<void *> &pointers) {
  dispatch(entry, pointers, std::make_index_sequence<kMaxInputs + 1>());
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    fail("usage: hgc-aot-run PROGRAM.so [--entry main] --in SHAPE:FILE ... "
         "--out RANK:ELEMENT_BYTES:FILE ... [--repeat N]");
  std::string program = argv[1], entryName = "main";
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  int64_t repeat = 1;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      fail(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--entry") {
      entryName = value;
    } else if (flag == "--in") {
      inputs.push_back(readInput(value));
    } else if (flag == "--out") {
      std::vector<std::string> parts = split(value, ':');
      if (parts.size() != 3)
        fail("--out " + value + ": expected RANK:ELEMENT_BYTES:FILE");
      outputs.push_back({parseInt(parts[0], "--out rank"),
                         parseInt(parts[1], "--out element bytes"), parts[2]});
    } else if (flag == "--repeat") {
      repeat = std::max<int64_t>(1, parseInt(value, "--repeat"));
    } else {
      fail("unknown option " + flag);
    }
  }
  if (outputs.empty())
    fail("no --out: the function's results are needed");
  if (inputs.size() > kMaxInputs)
    fail("at most " + std::to_string(kMaxInputs) + " inputs, got " +
         std::to_string(inputs.size()));
  void *library = dlopen(program.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library)
    fail(program + ": " + dlerror());
  // Emulated kernels run their host twins, which live in the library.
  hgc_rt_gpu_set_kernel_resolver(
      [](void *context, const char *name) { return dlsym(context, name); },
      library);
  std::string symbol = "_mlir_ciface_" + entryName;
  void *entry = dlsym(library, symbol.c_str());
  if (!entry)
    fail(program + ": no " + symbol +
         " (compile with hgc compile --emit obj, which adds it)");

  // One result: a pointer to its descriptor; several: to their struct.
  size_t words = 0;
  for (const Output &out : outputs)
    words += size_t(3 + 2 * out.rank);
  std::vector<int64_t> results(words);
  std::vector<double> times;
  hgc_rt_gpu_reset_kernel_time();
  for (int64_t r = 0; r < repeat; ++r) {
    std::vector<void *> pointers = {results.data()};
    for (Input &input : inputs)
      pointers.push_back(input.descriptor.data());
    auto start = std::chrono::steady_clock::now();
    call(entry, pointers);
    if (const char *error = hgc_rt_gpu_take_error())
      fail(program + ": " + error);
    times.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count());
    const int64_t *at = results.data();
    for (const Output &out : outputs) {
      if (r + 1 == repeat)
        writeOutput(out, at);
      bool isInput = false;
      for (const Input &input : inputs)
        isInput |= at[0] == input.descriptor[0];
      if (!isInput)
        hgc_rt_host_free(reinterpret_cast<void *>(at[0]));
      at += 3 + 2 * out.rank;
    }
  }
  double kernelSeconds = 0;
  long long launches = 0;
  hgc_rt_gpu_kernel_time(&kernelSeconds, &launches);
  std::sort(times.begin(), times.end());
  std::printf("{\"median_ms\": %.6f, \"calls\": %lld, \"gpu_backend\": "
              "\"%s\", \"gpu_kernel_ms_per_call\": %.6f, "
              "\"launches_per_call\": %.2f, \"peak_bandwidth\": %.6g}\n",
              times[times.size() / 2], (long long)repeat, hgc_rt_gpu_backend(),
              kernelSeconds * 1e3 / double(repeat),
              double(launches) / double(repeat), hgc_rt_gpu_peak_bandwidth());
  return 0;
}
