#!/usr/bin/env python3
"""The markdown table of docs/performance.md from `hgc-bench attention
--json` rows: hgc's row per shape with every peer's time on it and the
ratio to the fastest peer that ran.

    bench/attention_table.py docs/bench/attention.json
"""
import json
import sys

PEERS = ["numpy", "onnxruntime", "onnxruntime-gqa", "torch-sdpa", "iree"]
HEADER = ["mode", "policy", "batch", "context", "KV", "budget", "hgc ms",
          "hgc GB/s", "selection share", "numpy ms", "ORT Attention ms",
          "ORT GQA ms", "torch SDPA ms", "IREE ms", "fastest peer",
          "hgc vs fastest"]


def shape(row):
    return (row["batch"], row["context"], row["kv_dtype"])


def main(path):
    with open(path) as f:
        rows = json.load(f)
    peers = {(r["system"],) + shape(r): r for r in rows if r["system"] != "hgc"}
    print("| " + " | ".join(HEADER) + " |")
    print("| " + " | ".join("---" if i < 2 or i == 4 or i == 14 else "---:"
                            for i in range(len(HEADER))) + " |")
    for row in rows:
        if row["system"] != "hgc":
            continue
        # As hgc-bench prints it: /block, /codebook, @p<block>[hnd] for the
        # engine's paged KV, @r<block> for pages the runtime owns.
        policy = row["policy"] + (f"/{row['block']}" if row.get("block")
                                  else "")
        if row.get("codebook") not in (None, "int8"):
            policy += "/" + row["codebook"]
        if row.get("paged_block"):
            runtime = row.get("kv_owner") == "runtime"
            policy += ("@r" if runtime else "@p") + str(row["paged_block"])
            if not runtime and row.get("paged_layout") == "hnd":
                policy += "hnd"
        share = row.get("selection_share")
        cells = [row["mode"], policy, row["batch"], row["context"],
                 row["kv_dtype"], f"{row['budget']:.2f}",
                 f"{row['time_ms']:.2f}",
                 f"{row['gbps']:.1f} ({100 * row['fraction_of_bandwidth']:.0f}%)",
                 "-" if share is None else f"{100 * share:.0f}%"]
        for peer in PEERS:
            found = peers.get((peer,) + shape(row))
            time = found and found["time_ms"]
            cells.append("-" if time is None else f"{time:.2f}")
        ratio = row.get("speedup_vs_fastest_peer")
        cells.append(row.get("fastest_peer") or "-")
        cells.append("-" if ratio is None else f"{ratio:.2f}x")
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
