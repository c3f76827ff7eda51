#!/usr/bin/env python3
"""Plots `hgc-bench attention --json` rows: achieved GB/s and time per step
against context, one line per system and KV type (dense, batch 1), with the
measured read-bandwidth ceiling."""
import collections
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(rows_path, png_path):
    with open(rows_path) as f:
        rows = json.load(f)
    lines = collections.defaultdict(list)
    for row in rows:
        if (row["mode"] == "dense" and row["batch"] == 1
                and row["time_ms"] is not None):
            lines[(row["system"], row["kv_dtype"])].append(row)
    fig, (gbps, ms) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (system, dtype), points in sorted(lines.items()):
        points.sort(key=lambda r: r["context"])
        x = [p["context"] for p in points]
        gbps.plot(x, [p["gbps"] for p in points], marker="o",
                  label=f"{system} {dtype}")
        ms.plot(x, [p["time_ms"] for p in points], marker="o",
                label=f"{system} {dtype}")
    ceiling = rows[0]["bandwidth_gbps"] if rows else 0
    gbps.axhline(ceiling, color="black", linestyle="--",
                 label=f"read bandwidth {ceiling:.1f} GB/s")
    for axis, label in ((gbps, "achieved GB/s (KV bytes / step time)"),
                        (ms, "time per decode step (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("context (tokens)")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    ms.set_yscale("log")
    gbps.legend(fontsize=7)
    fig.suptitle("host decode attention, batch 1, Hq=32 Hkv=8 D=128")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
