//===- AttentionBench.cpp - hgc-bench attention --------------------------===//

#include "AttentionBench.h"

#include "codegen/Pipelines.h"
#include "tools/support/HostExecution.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <vector>

using namespace mlir;

namespace {
constexpr int64_t kQueryHeads = 32, kKVHeads = 8, kHeadDim = 128;

struct Shape {
  std::string mode; // dense | sparse
  int64_t batch, context;
  std::string dtype; // f32 | f16 | bf16
  double budget;     // host fraction attended (sparse); 1 for dense
};

struct Row {
  std::string system;
  Shape shape;
  double timeMs = 0, bytes = 0;
  std::optional<double> speedupVsOrt;
};

int64_t elementBytes(const std::string &dtype) {
  return dtype == "f32" ? 4 : 2;
}

std::string npyDescr(const std::string &dtype) {
  return dtype == "f32" ? "<f4" : dtype == "f16" ? "<f2" : "<u2";
}

/// KV bytes a decode step reads: dense reads every key and value; sparse
/// reads every key once to score it, then the selected keys and values
/// (and the device tier's sink + window densely).
double bytesTouched(const Shape &s, int64_t sink, int64_t window) {
  double perToken =
      double(s.batch) * kKVHeads * kHeadDim * elementBytes(s.dtype);
  if (s.mode == "dense")
    return 2 * perToken * double(s.context);
  double device = std::min<double>(double(s.context), double(sink + window));
  double host = double(s.context) - device;
  double chosen = std::ceil(host * s.budget);
  return perToken * (2 * device + host + 2 * chosen);
}

std::string program(const Shape &s) {
  std::string kv = std::to_string(s.batch) + "x" + std::to_string(kKVHeads) +
                   "x" + std::to_string(s.context) + "x" +
                   std::to_string(kHeadDim) + "x" + s.dtype;
  std::string q = std::to_string(s.batch) + "x" + std::to_string(kQueryHeads) +
                  "x" + std::to_string(kHeadDim) + "xf32";
  std::string cache = "!hgc.kv_cache<" + std::to_string(kKVHeads) + "x" +
                      std::to_string(kHeadDim) + "x" + s.dtype + ">";
  return "func.func @main(%q: tensor<" + q + ">, %k: tensor<" + kv +
         ">, %v: tensor<" + kv + ">) -> tensor<" + q + "> {\n" +
         "  %c = hgc.bind_kv %k, %v : tensor<" + kv + ">, tensor<" + kv +
         "> -> " + cache + "\n" +
         "  %o = hgc.decode_attention %q, %c : tensor<" + q + ">, " + cache +
         " -> tensor<" + q + ">\n" + "  return %o : tensor<" + q + ">\n}\n";
}

/// Random normal values as `dtype` bits.
hgc::NpyArray randomArray(std::mt19937 &rng, llvm::ArrayRef<int64_t> shape,
                          const std::string &dtype) {
  hgc::NpyArray array;
  array.descr = npyDescr(dtype);
  array.shape.assign(shape.begin(), shape.end());
  int64_t count = array.getNumElements();
  array.data.resize(size_t(count) * elementBytes(dtype));
  std::normal_distribution<float> normal;
  // A table of values makes multi-GB inputs quick to fill.
  std::vector<uint32_t> table(4096);
  for (uint32_t &bits : table) {
    float x = normal(rng);
    if (dtype == "f32") {
      std::memcpy(&bits, &x, 4);
    } else if (dtype == "bf16") {
      uint32_t wide;
      std::memcpy(&wide, &x, 4);
      bits = wide >> 16;
    } else {
      llvm::APFloat f(x);
      bool lost;
      f.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
      bits = uint32_t(f.bitcastToAPInt().getZExtValue());
    }
  }
  std::uniform_int_distribution<size_t> pick(0, table.size() - 1);
  size_t width = size_t(elementBytes(dtype));
  for (int64_t i = 0; i < count; ++i)
    std::memcpy(array.data.data() + size_t(i) * width, &table[pick(rng) & 4095],
                width);
  return array;
}

/// The machine's read bandwidth, GB/s, on all cores: a sum over 1 GiB
/// (STREAM-style, the best of several passes).
double measureReadBandwidth() {
  size_t count = size_t(1) << 28; // floats
  std::vector<float> data(count, 1.0f);
  double best = 0;
  for (int pass = 0; pass < 6; ++pass) {
    auto start = std::chrono::steady_clock::now();
    float total = 0;
    // simd: the sum may be reassociated into vector lanes, as a read
    // bandwidth probe needs (a serial float sum is latency-bound).
#pragma omp parallel for simd reduction(+ : total) schedule(static)
    for (size_t i = 0; i < count; ++i)
      total += data[i];
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (total != float(count) && total < 0)
      llvm::errs() << ""; // keep the sum live
    best = std::max(best, double(count) * 4 / seconds / 1e9);
  }
  return best;
}

std::vector<Shape> shapes(bool quick) {
  std::vector<Shape> list;
  if (quick) {
    for (int64_t t : {16384, 32768})
      list.push_back({"dense", 1, t, "f16", 1.0});
    list.push_back({"dense", 1, 16384, "f32", 1.0});
    list.push_back({"dense", 1, 16384, "bf16", 1.0});
    list.push_back({"dense", 8, 4096, "f16", 1.0});
    list.push_back({"sparse", 1, 32768, "f16", 0.05});
    return list;
  }
  for (std::string dtype : {"f32", "f16", "bf16"}) {
    for (int64_t t : {4096, 16384, 32768, 65536, 131072})
      list.push_back({"dense", 1, t, dtype, 1.0});
    for (int64_t t : {4096, 16384, 32768})
      list.push_back({"dense", 8, t, dtype, 1.0});
  }
  for (double budget : {0.02, 0.05, 0.10})
    for (int64_t t : {32768, 131072})
      list.push_back({"sparse", 1, t, "f16", budget});
  return list;
}

struct HgcRunner {
  MLIRContext context;
  HgcRunner() : context(makeRegistry()) { context.loadAllAvailableDialects(); }
  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    hgc::registerToolDialects(registry);
    return registry;
  }

  /// Median milliseconds of one decode step, or nullopt (error printed).
  std::optional<double> time(const Shape &s, int repeats) {
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(program(s), &context);
    if (!module)
      return std::nullopt;
    hgc::PlacementOptions placement;
    if (s.mode == "sparse") {
      placement.policy = "hgca";
      placement.window = 64;
      placement.budget = std::to_string(s.budget);
    }
    PassManager pm(&context);
    hgc::buildHybridPipeline(pm, placement);
    if (failed(pm.run(*module)))
      return std::nullopt;
    auto compiled = hgc::HostProgram::compile(*module, "main");
    if (!compiled) {
      llvm::errs() << llvm::toString(compiled.takeError()) << "\n";
      return std::nullopt;
    }
    std::mt19937 rng(7);
    std::vector<hgc::NpyArray> inputs = {
        randomArray(rng, {s.batch, kQueryHeads, kHeadDim}, "f32"),
        randomArray(rng, {s.batch, kKVHeads, s.context, kHeadDim}, s.dtype),
        randomArray(rng, {s.batch, kKVHeads, s.context, kHeadDim}, s.dtype)};
    std::vector<hgc::NpyArray> outputs;
    using Clock = std::chrono::steady_clock;
    auto step = [&]() -> std::optional<double> {
      auto start = Clock::now();
      if (llvm::Error error = (*compiled)->run(inputs, outputs)) {
        llvm::errs() << llvm::toString(std::move(error)) << "\n";
        return std::nullopt;
      }
      return std::chrono::duration<double, std::milli>(Clock::now() - start)
          .count();
    };
    // Warm up for 2 steps and at least half a second (thread pool, page
    // tables, clock ramp) before timing.
    auto started = Clock::now();
    for (int i = 0;
         i < 2 || Clock::now() - started < std::chrono::milliseconds(500); ++i)
      if (!step())
        return std::nullopt;
    std::vector<double> times;
    started = Clock::now();
    for (int i = 0; i < repeats; ++i) {
      std::optional<double> ms = step();
      if (!ms)
        return std::nullopt;
      times.push_back(*ms);
      // Long rows stop early once a stable median is in hand.
      if (times.size() >= 5 && Clock::now() - started > std::chrono::seconds(8))
        break;
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }
};

llvm::json::Object shapeJson(const Shape &s) {
  return llvm::json::Object{{"mode", s.mode},       {"batch", s.batch},
                            {"context", s.context}, {"kv_dtype", s.dtype},
                            {"budget", s.budget},   {"q_heads", kQueryHeads},
                            {"kv_heads", kKVHeads}, {"head_dim", kHeadDim}};
}

std::string key(const Shape &s) {
  return std::to_string(s.batch) + "/" + std::to_string(s.context) + "/" +
         s.dtype;
}

/// Runs bench/attention_peers.py on the dense shapes; its rows by system.
std::vector<Row> runPeers(const std::vector<Shape> &list, int repeats) {
  llvm::SmallString<128> in, out;
  llvm::sys::fs::createTemporaryFile("hgc-bench-shapes", "json", in);
  llvm::sys::fs::createTemporaryFile("hgc-bench-peers", "json", out);
  llvm::json::Array shapesJson;
  for (const Shape &s : list)
    if (s.mode == "dense")
      shapesJson.push_back(shapeJson(s));
  {
    std::error_code error;
    llvm::raw_fd_ostream os(in, error);
    os << llvm::json::Value(std::move(shapesJson));
  }
  std::string python = std::string(HGC_SOURCE_DIR) + "/.venv/bin/python";
  if (!llvm::sys::fs::exists(python))
    python = "/usr/bin/python3";
  std::string script =
      std::string(HGC_SOURCE_DIR) + "/bench/attention_peers.py";
  std::string repeatText = std::to_string(repeats);
  llvm::SmallVector<llvm::StringRef> args = {
      python, script, "--shapes", in, "--out", out, "--repeats", repeatText};
  int rc = llvm::sys::ExecuteAndWait(python, args);
  std::vector<Row> rows;
  auto buffer = llvm::MemoryBuffer::getFile(out);
  if (rc != 0 || !buffer) {
    llvm::errs() << "hgc-bench: the peers script failed (rc " << rc << ")\n";
    return rows;
  }
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed || !parsed->getAsArray()) {
    llvm::errs() << "hgc-bench: unreadable peers output\n";
    if (!parsed)
      llvm::consumeError(parsed.takeError());
    return rows;
  }
  for (const llvm::json::Value &value : *parsed->getAsArray()) {
    const llvm::json::Object *object = value.getAsObject();
    if (!object)
      continue;
    Row row;
    row.system = object->getString("system").value_or("?").str();
    row.shape.mode = "dense";
    row.shape.batch = object->getInteger("batch").value_or(0);
    row.shape.context = object->getInteger("context").value_or(0);
    row.shape.dtype = object->getString("kv_dtype").value_or("?").str();
    row.shape.budget = 1.0;
    std::optional<double> ms = object->getNumber("time_ms");
    if (!ms)
      continue; // the peer cannot run this shape
    row.timeMs = *ms;
    row.bytes = bytesTouched(row.shape, 0, 0);
    rows.push_back(row);
  }
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  return rows;
}
} // namespace

int runAttentionBench(const AttentionBenchOptions &options) {
  double bandwidth = measureReadBandwidth();
  llvm::outs() << llvm::format("read bandwidth (all cores, 1 GiB sum): %.1f "
                               "GB/s\n",
                               bandwidth);
  llvm::outs().flush();
  std::vector<Shape> list = shapes(options.quick);
  int repeats = options.repeats > 0 ? options.repeats : 20;
  HgcRunner hgc;
  std::vector<Row> rows;
  for (const Shape &s : list) {
    std::optional<double> ms = hgc.time(s, repeats);
    if (!ms) {
      llvm::errs() << "hgc-bench: failed to run hgc on " << key(s) << "\n";
      return 1;
    }
    Row row{"hgc", s, *ms, bytesTouched(s, 4, 64), std::nullopt};
    rows.push_back(row);
    llvm::outs() << llvm::format("hgc %-6s batch %-2lld context %-7lld %-4s "
                                 "budget %.2f: %9.3f ms %7.1f GB/s\n",
                                 s.mode.c_str(), (long long)s.batch,
                                 (long long)s.context, s.dtype.c_str(),
                                 s.budget, *ms, row.bytes / *ms / 1e6);
    llvm::outs().flush();
  }
  if (options.peers) {
    std::vector<Row> peers = runPeers(list, std::min(repeats, 10));
    rows.insert(rows.end(), peers.begin(), peers.end());
  }
  // Ratios to onnxruntime's dense time on the same shape.
  std::map<std::string, double> ort;
  for (const Row &row : rows)
    if (row.system == "onnxruntime")
      ort[key(row.shape)] = row.timeMs;
  for (Row &row : rows) {
    auto found = ort.find(key(row.shape));
    if (found != ort.end())
      row.speedupVsOrt = found->second / row.timeMs;
  }

  llvm::outs() << "\nsystem       mode   batch context kv    budget   time_ms"
                  "     GB/s  of_bw  vs_ort\n";
  llvm::json::Array json;
  for (const Row &row : rows) {
    double gbps = row.bytes / row.timeMs / 1e6;
    llvm::outs() << llvm::format(
        "%-12s %-6s %5lld %7lld %-5s %6.2f %9.3f %8.1f %5.0f%% ",
        row.system.c_str(), row.shape.mode.c_str(), (long long)row.shape.batch,
        (long long)row.shape.context, row.shape.dtype.c_str(), row.shape.budget,
        row.timeMs, gbps, 100 * gbps / bandwidth);
    if (row.speedupVsOrt)
      llvm::outs() << llvm::format("%6.2fx\n", *row.speedupVsOrt);
    else
      llvm::outs() << "     -\n";
    llvm::json::Object object = shapeJson(row.shape);
    object["system"] = row.system;
    object["time_ms"] = row.timeMs;
    object["gbps"] = gbps;
    object["fraction_of_bandwidth"] = gbps / bandwidth;
    object["bandwidth_gbps"] = bandwidth;
    object["speedup_vs_onnxruntime"] =
        row.speedupVsOrt ? llvm::json::Value(*row.speedupVsOrt)
                         : llvm::json::Value(nullptr);
    json.push_back(std::move(object));
  }
  if (!options.json.empty()) {
    std::error_code error;
    llvm::raw_fd_ostream os(options.json, error);
    if (error) {
      llvm::errs() << "hgc-bench: " << options.json << ": " << error.message()
                   << "\n";
      return 1;
    }
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json))) << "\n";
  }
  if (!options.plot.empty()) {
    if (options.json.empty()) {
      llvm::errs() << "hgc-bench: --plot needs --json (the plot reads it)\n";
      return 1;
    }
    std::string python = std::string(HGC_SOURCE_DIR) + "/.venv/bin/python";
    std::string script =
        std::string(HGC_SOURCE_DIR) + "/bench/attention_plot.py";
    llvm::SmallVector<llvm::StringRef> args = {python, script, options.json,
                                               options.plot};
    if (llvm::sys::ExecuteAndWait(python, args) != 0) {
      llvm::errs() << "hgc-bench: plotting failed\n";
      return 1;
    }
  }
  return 0;
}
