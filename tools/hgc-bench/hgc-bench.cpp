//===- hgc-bench.cpp - hgc benchmarks and soak tests ---------------------===//
//
//   hgc-bench kv-stress [--seconds S] [--ops N] [--threads T] [--storage-dir D]
//   hgc-bench attention [--quick] [--json FILE] [--plot FILE.png]
//                       [--repeats N] [--no-peers] [--only ROW]
//
//===----------------------------------------------------------------------===//

#include "AttentionBench.h"
#include "KVStress.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
int usage(int code) {
  std::fprintf(
      code ? stderr : stdout,
      "usage: hgc-bench kv-stress [--seconds S] [--ops N] "
      "[--threads T] [--storage-dir DIR]\n"
      "       hgc-bench attention [--quick] [--json FILE] [--plot FILE.png] "
      "[--repeats N] [--no-peers]\n"
      "                           [--only ROW]\n"
      "  attention  host decode attention: hgc dense and sparse vs the "
      "machine's\n"
      "             read bandwidth, numpy and onnxruntime (medians; "
      "--quick: a\n"
      "             representative subset in under 5 minutes; --only: the "
      "rows\n"
      "             whose policy/batch/context/kv contains ROW, e.g. "
      "full/1/32768/f16;\n"
      "             several ROWs separated by commas: rows matching "
      "any)\n"
      "  kv-stress  soak the KV runtime across device, host and "
      "storage tiers\n"
      "             from several threads; prints verified/lost/moved "
      "and ops/s,\n"
      "             exits 1 on any loss or corruption (default 30 s, 4 "
      "threads)\n");
  return code;
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usage(1);
  std::string command = argv[1];
  if (command == "--help" || command == "-h")
    return usage(0);
  if (command == "attention") {
    AttentionBenchOptions options;
    for (int i = 2; i < argc; ++i) {
      std::string flag = argv[i];
      if (flag == "--help" || flag == "-h")
        return usage(0);
      if (flag == "--quick") {
        options.quick = true;
      } else if (flag == "--no-peers") {
        options.peers = false;
      } else if ((flag == "--json" || flag == "--plot" || flag == "--repeats" ||
                  flag == "--only") &&
                 i + 1 < argc) {
        const char *value = argv[++i];
        if (flag == "--json")
          options.json = value;
        else if (flag == "--plot")
          options.plot = value;
        else if (flag == "--only")
          options.only = value;
        else if ((options.repeats = std::atoi(value)) <= 0) {
          std::fprintf(stderr, "hgc-bench: bad --repeats '%s'\n", value);
          return 1;
        }
      } else {
        std::fprintf(stderr, "hgc-bench: unknown or incomplete option '%s'\n",
                     flag.c_str());
        return 1;
      }
    }
    return runAttentionBench(options);
  }
  if (command != "kv-stress") {
    std::fprintf(stderr, "hgc-bench: unknown command '%s'\n", argv[1]);
    return usage(1);
  }
  KVStressOptions options;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h")
      return usage(0);
    if (i + 1 >= argc) {
      std::fprintf(stderr, "hgc-bench: %s needs a value\n", argv[i]);
      return 1;
    }
    const char *value = argv[++i];
    char *end = nullptr;
    if (flag == "--seconds") {
      options.seconds = std::strtod(value, &end);
    } else if (flag == "--ops") {
      options.ops = std::strtoll(value, &end, 10);
    } else if (flag == "--threads") {
      options.threads = int(std::strtol(value, &end, 10));
    } else if (flag == "--storage-dir") {
      options.storageDir = value;
      continue;
    } else {
      std::fprintf(stderr, "hgc-bench: unknown option '%s'\n", flag.c_str());
      return 1;
    }
    if (!end || *end || options.seconds <= 0 || options.seconds > 86400 ||
        options.ops < 0 || options.threads <= 0 || options.threads > 256) {
      std::fprintf(stderr, "hgc-bench: bad value '%s' for %s\n", value,
                   flag.c_str());
      return 1;
    }
  }
  return runKVStress(options);
}
