#!/usr/bin/env python3
"""The throughput model's host kernel rates, its validation on this machine,
and its table on GPU servers.

  rates     decode steps of every splitting policy through the JIT (libhgc,
            the engine path) at two contexts and two budgets, batch 1, one
            layer; fits the per-step overhead and the dense attention cost
            per (token, KV head) from `full`, then per policy the cost of
            attending each kept token (two budgets) and its selection's cost
            per host token and KV head. Core-seconds,
            so the model scales them to another CPU's cores. Writes the
            rates file `hgc plan --hardware` is built with
            (docs/bench/host-rates.json; `--host-rates FILE` for another).
  validate  measures steps at other contexts, batches, budgets and windows
            than `rates` fitted on, and compares each with
            `hgc plan --hardware host --json`'s prediction (this machine's
            profile: the device tier emulated in host memory, one layer).
  table     `hgc plan --hardware P --json` for the model configurations and
            profiles of docs/throughput.md: a markdown table and a plot.

Times are medians of --repeat steps after two warm-up steps.
"""
import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

Q_HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128
RATE_CONTEXTS = (16384, 65536)
OVERHEAD_CONTEXT = 256
HIGH_BUDGET = 0.2
RATE_POLICIES = ("hgca", "hca", "quest", "sparf", "fluxion")


def make_config(policy, budget, sink=4, window=1024):
    if policy == "full":
        sink, window = 0, 0
    return hgc_jit.AttentionConfig(
        q_heads=Q_HEADS, kv_heads=KV_HEADS, head_dim=HEAD_DIM,
        kv_dtype="f16", policy=policy, sink=sink, window=window,
        budget=str(budget))


def measure_step(ctx, config, context, batch, repeat, rng, caches=2):
    """Seconds of one decode step of `batch` sequences of `context` tokens
    (one layer): the median over steps of each of `caches` fresh caches,
    the least of those (a cache now and then lands on memory that runs at
    about half speed on this VM); and the step's read model per tier."""
    results = [measure_one_cache(ctx, config, context, batch, repeat, rng)
               for _ in range(caches)]
    return min(r[0] for r in results), results[0][1]


def measure_one_cache(ctx, config, context, batch, repeat, rng):
    cache = ctx.create_cache(config, layers=1, page_tokens=64)
    kernel = ctx.compile(config)
    chunk = 8192
    for seq in range(batch):
        cache.add_sequence(seq)
        for start in range(0, context, chunk):
            n = min(chunk, context - start)
            kv = rng.standard_normal((2, KV_HEADS, n, HEAD_DIM))
            kv = kv.astype(np.float16)
            cache.append(seq, 0, kv[0], kv[1])
    queries = rng.standard_normal((batch, Q_HEADS, HEAD_DIM))
    queries = queries.astype(np.float32)
    seqs = list(range(batch))
    times = []
    for step in range(repeat + 2):
        start = time.perf_counter()
        cache.decode(kernel, 0, seqs, queries)
        if step >= 2:
            times.append(time.perf_counter() - start)
    read = cache.step_bytes(kernel, 0, context)
    return statistics.median(times), read


def host_tokens(context, sink=4, window=1024):
    return max(context - sink - window, 0)


def attended(policy, budget, resident):
    if policy == "full":
        return 0
    return min(resident, int(np.ceil(budget * resident)))


def rates(args):
    ctx = hgc_jit.Context(target="host", cache_dir="")
    rng = np.random.default_rng(0)
    points = []

    def step(policy, context, budget=None):
        budget = budget or args.budget
        config = make_config(policy, budget if policy != "full" else 1.0)
        seconds, _ = measure_step(ctx, config, context, 1, args.repeat, rng)
        points.append({"policy": policy, "context": context,
                       "budget": budget, "ms": round(1e3 * seconds, 3)})
        print(f"{policy} {context} {budget}: {1e3 * seconds:.3f} ms",
              file=sys.stderr)
        return seconds

    # The fixed cost of a step: a dense step over a few tokens.
    overhead = step("full", OVERHEAD_CONTEXT)
    # Core-nanoseconds per (token, KV head): the ratio of sums over the
    # contexts, so the longest (least noisy) weighs most.
    work = lambda seconds: (seconds - overhead) * args.cores / KV_HEADS * 1e9
    dense_ns = (sum(work(step("full", n)) for n in RATE_CONTEXTS) /
                sum(RATE_CONTEXTS))
    scan, attend = {}, {}
    for policy in RATE_POLICIES:
        # Attending what the selection keeps (gathered, not streamed) from
        # two budgets at the longest context; the selection's cost per host
        # token from the rest, a ratio of sums.
        longest = RATE_CONTEXTS[-1]
        resident = host_tokens(longest)
        low = attended(policy, args.budget, resident)
        high = attended(policy, HIGH_BUDGET, resident)
        at_low = work(step(policy, longest))
        at_high = work(step(policy, longest, HIGH_BUDGET))
        per_kept = max((at_high - at_low) / (high - low), 0.0)
        beyond, scanned = 0.0, 0
        for context, measured in ((RATE_CONTEXTS[0], None),
                                  (longest, at_low)):
            resident = host_tokens(context)
            kept = attended(policy, args.budget, resident)
            if measured is None:
                measured = work(step(policy, context))
            beyond += (measured - dense_ns * (context - resident) -
                       per_kept * kept)
            scanned += resident
        scan[policy] = round(max(beyond / scanned, 0.0), 3)
        attend[policy] = round(per_kept, 3)
    # scout selects quest's blocks (ahead or in the step): quest's rate.
    scan["scout"] = scan["quest"]
    attend["scout"] = attend["quest"]
    result = {
        "machine": args.machine,
        "bandwidth_gbs": args.bandwidth,
        "cores": args.cores,
        "step_overhead_us": round(overhead * 1e6, 3),
        "dense_core_ns_per_token_head": round(dense_ns, 3),
        "scan_core_ns_per_token_head": scan,
        "attend_core_ns_per_token_head": attend,
        "fitted_on": {"q_heads": Q_HEADS, "kv_heads": KV_HEADS,
                      "head_dim": HEAD_DIM, "kv_dtype": "f16",
                      "contexts": list(RATE_CONTEXTS), "batch": 1,
                      "sink": 4, "window": 1024,
                      "budgets": [args.budget, HIGH_BUDGET],
                      "page_tokens": 64, "repeat": args.repeat},
        "measured": points,
        "python": platform.python_version(),
    }
    text = json.dumps(result, indent=2) + "\n"
    if args.output:
        pathlib.Path(args.output).write_text(text)
    print(text)


VALIDATION = [
    # (policy, context, batch, budget, window): none is a fitted point.
    ("full", 32768, 1, 1.0, 0), ("full", 131072, 1, 1.0, 0),
    ("full", 32768, 4, 1.0, 0),
    ("hgca", 32768, 1, 0.02, 1024), ("hgca", 131072, 1, 0.1, 4096),
    ("hgca", 32768, 4, 0.05, 1024),
    ("hca", 32768, 1, 0.1, 1024), ("hca", 131072, 1, 0.02, 4096),
    ("hca", 32768, 4, 0.05, 1024),
    ("quest", 32768, 1, 0.02, 1024), ("quest", 131072, 1, 0.1, 4096),
    ("quest", 32768, 4, 0.05, 1024),
    ("sparf", 32768, 1, 0.1, 1024), ("sparf", 131072, 1, 0.02, 4096),
    ("sparf", 32768, 4, 0.05, 1024),
    ("fluxion", 32768, 1, 0.05, 1024), ("fluxion", 131072, 1, 0.05, 4096),
]


def predict(hgc, policy, context, batch, budget, window, rates_file):
    command = [hgc, "plan", "--hardware", "host", "--model-config",
               f"layers=1,q_heads={Q_HEADS},kv_heads={KV_HEADS},"
               f"head_dim={HEAD_DIM},kv_dtype=f16,parameters=0",
               "--context", str(context), "--batch", str(batch), "--json"]
    if policy != "full":  # full: the cpu-attention row
        command += ["--policy", policy, "--budget", str(budget),
                    "--window", str(window)]
    if rates_file:
        command += ["--host-rates", rates_file]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    rows = json.loads(out.stdout)["strategies"]
    wanted = "cpu-attention" if policy == "full" else "hybrid"
    for row in rows:
        if row["strategy"] == wanted and (
                wanted != "hybrid" or (row["policy"] == policy and
                                       float(row["budget"]) == budget)):
            return row["step_seconds"]
    raise SystemExit(f"no {wanted} row for {policy} {budget} in {rows}")


def validate(args):
    ctx = hgc_jit.Context(target="host", cache_dir="")
    rng = np.random.default_rng(1)
    rows = []
    for policy, context, batch, budget, window in VALIDATION:
        config = make_config(policy, budget, window=window)
        if policy == "full":
            config = make_config("full", budget)
        seconds, _ = measure_step(ctx, config, context, batch, args.repeat,
                                  rng)
        predicted = predict(args.hgc, policy, context, batch, budget, window,
                            args.host_rates)
        error = predicted / seconds - 1
        rows.append({"policy": policy, "context": context, "batch": batch,
                     "budget": budget, "window": window,
                     "measured_ms": round(1e3 * seconds, 3),
                     "predicted_ms": round(1e3 * predicted, 3),
                     "error": round(error, 3)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    worst = max(abs(r["error"]) for r in rows)
    result = {"machine": args.machine, "rows": rows,
              "worst_abs_error": round(worst, 3),
              "within_20_percent": sum(abs(r["error"]) <= 0.2 for r in rows),
              "count": len(rows)}
    text = json.dumps(result, indent=2) + "\n"
    if args.output:
        pathlib.Path(args.output).write_text(text)
    print(text)


TABLE_MODELS = ("llama-3-8b",)
TABLE_PROFILES = ("h100-pcie5", "h200", "a6000", "rtx4090")


def table(args):
    results = []
    for profile in args.profiles.split(","):
        for batch in (1, 8):
            command = [args.hgc, "plan", "--hardware", profile,
                       "--model-config", args.model, "--context",
                       str(args.context), "--batch", str(batch), "--balance",
                       "--json"]
            out = subprocess.run(command, check=True, capture_output=True,
                                 text=True)
            results.append(json.loads(out.stdout))
    pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"{args.model}, context {args.context} (modeled; "
             "`bench/throughput.py table`)", "",
             "| profile | batch | strategy | policy | budget | device tokens "
             "| step ms | tok/s | vs offload-only |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for result in results:
        for row in result["strategies"]:
            tps = row["tokens_per_second"]
            step = row["step_seconds"]
            lines.append(
                f"| {result['hardware']['name']} | {result['batch']} | "
                f"{row['strategy']} | {row.get('policy', '')} | "
                f"{row.get('budget', '')} | {row['device_tokens']} | "
                f"{'%.1f' % (1e3 * step) if row['fits'] else 'does not fit'}"
                f" | {'%.2f' % tps if row['fits'] else '-'} | "
                f"{'%.1fx' % row['vs_offload'] if row.get('vs_offload') else '-'}"
                " |")
    markdown = "\n".join(lines) + "\n"
    if args.markdown:
        pathlib.Path(args.markdown).write_text(markdown)
    print(markdown)
    if args.plot:
        plot(results, args.plot, args.model, args.context)


def plot(results, path, model, context):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results) // 2, figsize=(16, 4.5),
                             sharey=True)
    for axis, index in zip(axes, range(0, len(results), 2)):
        pair = results[index:index + 2]
        labels = [
            row["strategy"] if "policy" not in row else
            f"head-stream {row['budget']}"
            if row["strategy"] == "head-stream" else
            f"{row['policy']} {row['budget']}"
            + (" bal" if row["strategy"] == "hybrid-balanced" else "")
            for row in pair[0]["strategies"]]
        x = np.arange(len(labels))
        for shift, result in zip((-0.2, 0.2), pair):
            values = [row["tokens_per_second"] if row["fits"] else 0
                      for row in result["strategies"]]
            axis.bar(x + shift, values, 0.4, label=f"batch {result['batch']}")
        axis.set_yscale("log")
        axis.set_xticks(x, labels, rotation=90, fontsize=7)
        axis.set_title(pair[0]["hardware"]["name"])
        axis.legend(fontsize=7)
    axes[0].set_ylabel("tokens/s (modeled)")
    fig.suptitle(f"{model}, {context} context: modeled decode throughput")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--machine", default="this machine: AMD Zen 3, 2 "
                        "cores, no GPU, Debian 12")
    common.add_argument("--repeat", type=int, default=12)
    common.add_argument("--output")
    r = sub.add_parser("rates", parents=[common])
    r.add_argument("--bandwidth", type=float, default=31.0,
                   help="this machine's read bandwidth, GB/s")
    r.add_argument("--cores", type=int, default=2)
    r.add_argument("--budget", type=float, default=0.05)
    v = sub.add_parser("validate", parents=[common])
    v.add_argument("--hgc", default=str(ROOT / "build" / "bin" / "hgc"))
    v.add_argument("--host-rates")
    t = sub.add_parser("table")
    t.add_argument("--hgc", default=str(ROOT / "build" / "bin" / "hgc"))
    t.add_argument("--model", default="llama-3-8b")
    t.add_argument("--context", type=int, default=131072)
    t.add_argument("--profiles", default=",".join(TABLE_PROFILES))
    t.add_argument("--output", required=True)
    t.add_argument("--markdown")
    t.add_argument("--plot")
    args = parser.parse_args()
    {"rates": rates, "validate": validate, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
