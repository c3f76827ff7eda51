#!/usr/bin/env python3
"""The bundled example's main job: one hybrid decode step, run on this host.

Draws random inputs for examples/decode_step.mlir, runs it through hgc-runner
placed `full` (exact) and `hgca` (4 sinks and a 64-token window on the device,
an exact per-KV-head top-k of the host tokens), and prints each output's
relative L2 error against float64 numpy attention.
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUNNER = ROOT / "build" / "bin" / "hgc-runner"
PROGRAM = ROOT / "examples" / "decode_step.mlir"


def exact_attention(q, k, v):
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    s = np.einsum("bhqd,bhtd->bhqt", q, k) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(-1, keepdims=True))
    return np.einsum("bhqt,bhtd->bhqd", p / p.sum(-1, keepdims=True), v)


def main():
    rng = np.random.default_rng(0)
    shapes = [(1, 8, 1, 64), (1, 2, 1, 64), (1, 2, 1, 64), (1, 2, 255, 64),
              (1, 2, 255, 64)]
    inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    q, k, v, pk, pv = (x.astype(np.float64) for x in inputs)
    want = exact_attention(q, np.concatenate([pk, k], 2),
                           np.concatenate([pv, v], 2))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        args = []
        for i, array in enumerate(inputs):
            np.save(tmp / f"arg{i}.npy", array)
            args.append(f"--input=arg{i}={tmp / f'arg{i}.npy'}")
        print(f"{'placement':<44} relative L2 error vs float64 exact")
        for index, (label, flags) in enumerate([
                ("full (every token on the device, exact)", ["--policy=full"]),
                ("hgca, host budget 100% (exact split)",
                 ["--policy=hgca", "--sink=4", "--window=64", "--budget=1.0"]),
                ("hgca, host budget 25%",
                 ["--policy=hgca", "--sink=4", "--window=64", "--budget=0.25"]),
        ]):
            out = tmp / f"out{index}"
            subprocess.run([str(RUNNER), str(PROGRAM), "--split",
                            f"--output-dir={out}", *args, *flags], check=True)
            got = np.load(out / "out0.npy").astype(np.float64)
            error = np.linalg.norm(got - want) / np.linalg.norm(want)
            print(f"{label:<44} {error:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
