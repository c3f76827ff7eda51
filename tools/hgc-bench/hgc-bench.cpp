//===- hgc-bench.cpp - hgc benchmarks and soak tests ---------------------===//
//
//   hgc-bench kv-stress [--seconds S] [--ops N] [--threads T] [--storage-dir D]
//                       [--fault-rate R]
//                       [--far-pages N] [--far-bandwidth-gbs G]
//   hgc-bench attention [--quick] [--json FILE] [--plot FILE.png]
//                       [--repeats N] [--no-peers] [--only ROW]
//   hgc-bench accuracy [--contexts N,...] [--workloads W,...]
//                      [--minilm-windows N] [--json FILE] [--markdown FILE]
//                      [--plot FILE.png]
//
// llvm::cl subcommands; `hgc-bench SUBCOMMAND --help` lists each one's
// flags.
//
//===----------------------------------------------------------------------===//

#include "AccuracyBench.h"
#include "AttentionBench.h"
#include "KVStress.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace cl = llvm::cl;

static cl::SubCommand attentionCommand(
    "attention",
    "host decode attention: hgc dense and sparse vs the machine's read "
    "bandwidth and the peers: numpy, onnxruntime (Attention, "
    "GroupQueryAttention), PyTorch SDPA, IREE (medians)");
static cl::SubCommand accuracyCommand(
    "accuracy",
    "each policy's decode step against exact attention on synthetic "
    "regimes, all-MiniLM-L6-v2's real attention and the bundled model, at "
    "1-100% budgets, tail dropped or estimated; bytes read and step time");
static cl::SubCommand kvStressCommand(
    "kv-stress",
    "soak the KV runtime across device, host and storage tiers from several "
    "threads; prints verified/lost/moved and ops/s, exits 1 on any loss or "
    "corruption");

static cl::OptionCategory benchCategory("hgc-bench options");

static cl::opt<bool> quick("quick",
                           cl::desc("a representative subset in under 5 "
                                    "minutes"),
                           cl::sub(attentionCommand), cl::cat(benchCategory));
static cl::opt<std::string> json("json", cl::desc("write the rows as JSON"),
                                 cl::value_desc("FILE"),
                                 cl::sub(attentionCommand),
                                 cl::cat(benchCategory));
static cl::opt<std::string> plot("plot", cl::desc("write a PNG plot"),
                                 cl::value_desc("FILE.png"),
                                 cl::sub(attentionCommand),
                                 cl::cat(benchCategory));
static cl::opt<int> repeats("repeats",
                            cl::desc("timed runs per row (default: enough "
                                     "for a stable median)"),
                            cl::init(AttentionBenchOptions{}.repeats),
                            cl::sub(attentionCommand), cl::cat(benchCategory));
static cl::opt<bool> noPeers("no-peers", cl::desc("skip the peers' rows"),
                             cl::sub(attentionCommand), cl::cat(benchCategory));
static cl::opt<std::string>
    only("only",
         cl::desc("the rows whose policy/batch/context/kv contains ROW, e.g. "
                  "full/1/32768/f16; several separated by commas: rows "
                  "matching any"),
         cl::value_desc("ROW"), cl::sub(attentionCommand),
         cl::cat(benchCategory));

static cl::opt<std::string>
    contexts("contexts", cl::desc("synthetic contexts, comma-separated"),
             cl::init(AccuracyBenchOptions{}.contexts), cl::value_desc("N,..."),
             cl::sub(accuracyCommand), cl::cat(benchCategory));
static cl::opt<std::string>
    workloads("workloads",
              cl::desc("synthetic, minilm and/or llama, comma-separated"),
              cl::init(AccuracyBenchOptions{}.workloads),
              cl::sub(accuracyCommand), cl::cat(benchCategory));
static cl::opt<int>
    minilmWindows("minilm-windows",
                  cl::desc("512-token windows of text for all-MiniLM"),
                  cl::init(AccuracyBenchOptions{}.minilmWindows),
                  cl::sub(accuracyCommand), cl::cat(benchCategory));
static cl::opt<std::string> accuracyJson("json",
                                         cl::desc("write the rows as JSON"),
                                         cl::value_desc("FILE"),
                                         cl::sub(accuracyCommand),
                                         cl::cat(benchCategory));
static cl::opt<std::string>
    accuracyMarkdown("markdown", cl::desc("write the tables as markdown"),
                     cl::value_desc("FILE"), cl::sub(accuracyCommand),
                     cl::cat(benchCategory));
static cl::opt<std::string> accuracyPlot("plot", cl::desc("write a PNG plot"),
                                         cl::value_desc("FILE.png"),
                                         cl::sub(accuracyCommand),
                                         cl::cat(benchCategory));

static cl::opt<double> seconds("seconds", cl::desc("how long to run"),
                               cl::init(KVStressOptions{}.seconds),
                               cl::sub(kvStressCommand),
                               cl::cat(benchCategory));
static cl::opt<int64_t> ops("ops",
                            cl::desc("operations to run (0: until the time "
                                     "is up)"),
                            cl::init(KVStressOptions{}.ops),
                            cl::sub(kvStressCommand), cl::cat(benchCategory));
static cl::opt<int> threads("threads", cl::desc("threads"),
                            cl::init(KVStressOptions{}.threads),
                            cl::sub(kvStressCommand), cl::cat(benchCategory));
static cl::opt<std::string>
    storageDir("storage-dir", cl::desc("where the storage tier's files go"),
               cl::init(KVStressOptions{}.storageDir), cl::value_desc("DIR"),
               cl::sub(kvStressCommand), cl::cat(benchCategory));
static cl::opt<int64_t>
    farPages("far-pages",
             cl::desc("pages of the far-memory tier (host memory here: an "
                      "emulation; 0: none)"),
             cl::init(KVStressOptions{}.farPages), cl::sub(kvStressCommand),
             cl::cat(benchCategory));
static cl::opt<double> farBandwidth(
    "far-bandwidth-gbs",
    cl::desc("pace reads of far pages to this many GB/s (0: unpaced)"),
    cl::init(KVStressOptions{}.farBandwidthGBs), cl::sub(kvStressCommand),
    cl::cat(benchCategory));

static cl::opt<double> faultRate(
    "fault-rate",
    cl::desc("inject every runtime fault (full disk, I/O errors, short "
             "reservations, host memory, copies failing partway) at this "
             "rate; operations they fail count apart from errors"),
    cl::init(KVStressOptions{}.faultRate), cl::sub(kvStressCommand),
    cl::cat(benchCategory));

namespace {
int fail(const std::string &message) {
  llvm::errs() << "hgc-bench: error: " << message << "\n";
  return 1;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(benchCategory);
  cl::ParseCommandLineOptions(argc, argv, "hgc benchmarks and soak tests\n");
  if (attentionCommand) {
    if (repeats.getNumOccurrences() && repeats <= 0)
      return fail("--repeats must be positive, got " + std::to_string(repeats));
    AttentionBenchOptions options;
    options.quick = quick;
    options.json = json;
    options.plot = plot;
    options.repeats = repeats;
    options.peers = !noPeers;
    options.only = only;
    return runAttentionBench(options);
  }
  if (accuracyCommand) {
    if (minilmWindows <= 0)
      return fail("--minilm-windows must be positive, got " +
                  std::to_string(minilmWindows));
    AccuracyBenchOptions options;
    options.contexts = contexts;
    options.workloads = workloads;
    options.minilmWindows = minilmWindows;
    options.json = accuracyJson;
    options.markdown = accuracyMarkdown;
    options.plot = accuracyPlot;
    // This build: libhgc is in the directory above the binary's.
    std::string self = llvm::sys::fs::getMainExecutable(
        argv[0], reinterpret_cast<void *>(&fail));
    options.buildDir =
        llvm::sys::path::parent_path(llvm::sys::path::parent_path(self)).str();
    return runAccuracyBench(options);
  }
  if (kvStressCommand) {
    if (seconds <= 0 || seconds > 86400)
      return fail("--seconds must be in (0, 86400], got " +
                  std::to_string(seconds.getValue()));
    if (ops < 0)
      return fail("--ops must be >= 0, got " + std::to_string(ops));
    if (threads <= 0 || threads > 256)
      return fail("--threads must be in [1, 256], got " +
                  std::to_string(threads));
    KVStressOptions options;
    options.seconds = seconds;
    options.ops = ops;
    options.threads = threads;
    options.storageDir = storageDir;
    if (farPages < 0 || farBandwidth < 0)
      return fail("--far-pages and --far-bandwidth-gbs must be >= 0");
    options.farPages = farPages;
    options.farBandwidthGBs = farBandwidth;
    if (!(faultRate >= 0 && faultRate <= 1))
      return fail("--fault-rate must be in [0, 1], got " +
                  std::to_string(faultRate));
    options.faultRate = faultRate;
    return runKVStress(options);
  }
  cl::PrintHelpMessage();
  return 1;
}
