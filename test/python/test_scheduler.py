"""The split scheduler through libhgc's C API (hgc_scheduler_*), and
`hgc plan --hardware`'s throughput model from the command line.

Scheduler: on a deterministic two-tier cost model (device and host time
linear in their tokens, the host's divided by its threads) it balances a
deliberately bad first split within 20 steps (finish times within 15%) and
then holds still; bad options and bad times are one-line errors.
Throughput model: its JSON rows carry the strategies in order, the
hybrid's ratio to offload-only meets the issue's target on Llama-3-8B at
128K on the H100 PCIe profile, and bad profiles, configurations and flags
are one-line errors with a non-zero exit.
"""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, BUILD

sys.path.insert(0, str(ROOT / "jit" / "python"))
import hgc_jit  # noqa: E402

HGC = str(BUILD / "bin" / "hgc")
CONTEXT = 131072


def times(split, device_per_token=5e-9, host_per_token=10e-9):
    device = 50e-6 + device_per_token * split.window
    host = 200e-6 + host_per_token * (CONTEXT - split.window) / split.threads
    return device, host


def test_scheduler_balances_a_bad_split():
    scheduler = hgc_jit.Scheduler(context=CONTEXT, window=1024,
                                  min_window=1024, max_window=120000)
    device, host = times(scheduler.split)
    assert host > 10 * device
    for _ in range(20):
        split = scheduler.observe(*times(scheduler.split))
    device, host = times(scheduler.split)
    assert abs(host - device) / max(host, device) <= 0.15
    settled = scheduler.split.window
    assert settled % 64 == 0
    for _ in range(50):
        split = scheduler.observe(*times(scheduler.split))
        assert not split.moved
    assert split.window == settled and split.steps == 70


def test_scheduler_transfer_counts_on_the_host_path():
    # The same host work plus transfers: the device takes more tokens.
    plain = hgc_jit.Scheduler(context=CONTEXT, window=1024, min_window=1024,
                              max_window=120000)
    slow_link = hgc_jit.Scheduler(context=CONTEXT, window=1024,
                                  min_window=1024, max_window=120000)
    for _ in range(30):
        plain.observe(*times(plain.split))
        device, host = times(slow_link.split)
        slow_link.observe(device, host, 300e-6)
    assert slow_link.split.window > plain.split.window


@pytest.mark.parametrize("options,message", [
    (dict(context=0, window=0, min_window=0, max_window=0),
     "scheduler: context must be > 0"),
    (dict(context=100, window=10, min_window=0, max_window=100),
     "scheduler: max_window must leave the host tokens (< context)"),
    (dict(context=100, window=50, min_window=0, max_window=40),
     "scheduler: window must be within [min_window, max_window]"),
    (dict(context=100, window=10, min_window=0, max_window=40, gain=2.0),
     "scheduler: gain must be in (0, 1]"),
    (dict(context=100, window=10, min_window=0, max_window=40, threads=4,
          max_threads=2),
     "scheduler: need 1 <= min_threads <= max_threads"),
])
def test_scheduler_bad_options(options, message):
    with pytest.raises(hgc_jit.Error) as error:
        hgc_jit.Scheduler(**options)
    assert str(error.value).endswith(message)


def test_scheduler_bad_times():
    scheduler = hgc_jit.Scheduler(context=100, window=10, min_window=0,
                                  max_window=40)
    with pytest.raises(hgc_jit.Error, match="finite and >= 0, got -1"):
        scheduler.observe(-1.0, 1.0)
    with pytest.raises(hgc_jit.Error, match="finite and >= 0"):
        scheduler.observe(float("nan"), 1.0)
    assert scheduler.split.steps == 0


def plan(*flags):
    return subprocess.run([HGC, "plan", *flags], capture_output=True,
                          text=True)


def test_throughput_rows_and_target():
    for batch in (1, 8):
        run = plan("--hardware", "h100-pcie5", "--model-config", "llama-3-8b",
                   "--context", "131072", "--batch", str(batch), "--json")
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        rows = result["strategies"]
        assert [r["strategy"] for r in rows[:4]] == [
            "gpu-only", "offload-only", "head-stream", "cpu-attention"]
        offload = rows[1]
        assert offload["fits"] and offload["vs_offload"] == 1.0
        hybrid = [r for r in rows if r["strategy"] == "hybrid"
                  and r["budget"] == "0.05" and r["fits"]]
        assert {r["policy"] for r in hybrid} >= {"hgca", "hca", "quest",
                                                 "sparf"}
        assert max(r["vs_offload"] for r in hybrid) >= 2.5
        # Offload-only streams every KV byte over the link each step.
        kv = 131072 * batch * 32 * 2 * 8 * 128 * 2
        assert offload["link_bytes"] == pytest.approx(kv)
        # HeadInfer: every head resident at batch 1 (the KV fits); at batch
        # 8 the heads that fit beside 16 GB of weights and two head buffers
        # (3 of 8: 51.5 GB of 72 usable), the other 5 streamed.
        heads = rows[2]
        resident = 8 if batch == 1 else 3
        assert heads["fits"] and heads["resident_heads"] == resident
        assert heads["budget"] == f"{resident}/8"
        assert heads["link_bytes"] == pytest.approx(kv * (8 - resident) / 8)
        assert heads["vs_offload"] > 1.5
        assert result["assumptions"]
    # 8 x 128K of KV (137 GB) does not fit an 80 GB GPU.
    run = plan("--hardware", "h100-pcie5", "--batch", "8", "--json")
    assert not json.loads(run.stdout)["strategies"][0]["fits"]


def test_throughput_policy_and_budget_select_rows():
    run = plan("--hardware", "a6000", "--policy", "quest", "--budget", "0.1",
               "--json")
    rows = json.loads(run.stdout)["strategies"]
    assert [(r.get("policy"), r.get("budget")) for r in rows[4:]] == [
        ("quest", "0.1")]
    run = plan("--hardware", "a6000", "--policy", "quest", "--budgets",
               "0.01,0.02", "--json")
    rows = json.loads(run.stdout)["strategies"]
    assert [r["budget"] for r in rows[4:]] == ["0.01", "0.02"]


def test_throughput_profile_file(tmp_path):
    profile = tmp_path / "box.json"
    profile.write_text(json.dumps({
        "name": "box",
        "gpu": {"bandwidth_gbs": 900, "capacity_gb": 40, "efficiency": 0.7},
        "link": {"bandwidth_gbs": 16, "latency_us": 5, "efficiency": 0.8},
        "cpu": {"bandwidth_gbs": 100, "capacity_gb": 256, "cores": 8,
                "efficiency": 0.7}}))
    run = plan("--hardware", str(profile), "--context", "32768", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["hardware"]["name"] == "box"


@pytest.mark.parametrize("flags,message", [
    (["--hardware", "h300"], "unknown hardware profile 'h300'"),
    (["--hardware", "host", "--model-config", "llama-9"],
     "unknown model configuration 'llama-9'"),
    (["--hardware", "host", "--context", "0"], "--context must be > 0"),
    (["--hardware", "host", "--budgets", ","],
     "--budgets: expected a comma-separated list"),
    (["--hardware", "host", "--policy", "hgca", "--budget", "lots"],
     "budget"),
    (["--hardware", "host", "--host-rates", "/nonexistent.json"],
     "/nonexistent.json: No such file"),
    (["--hardware", "host", "model.onnx"],
     "--hardware predicts from --model-config, not a model file"),
    ([], "expected a model file"),
    (["--hardware", "host", "--model-config", "layers=2,q_heads=x"],
     "--model-config: 'q_heads' must be a number, got 'x'"),
])
def test_throughput_errors(flags, message, tmp_path):
    run = plan(*flags)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hgc: error: ")
    assert message in lines[0]


def test_throughput_bad_profile_file(tmp_path):
    profile = tmp_path / "bad.json"
    profile.write_text('{"name": "bad", "cpu": {"bandwidth_gbs": 10, '
                       '"capacity_gb": 1, "cores": 2, "efficiency": 2}}')
    run = plan("--hardware", str(profile))
    assert run.returncode == 1
    assert run.stderr.strip() == (
        f"hgc: error: {profile}: 'cpu.efficiency' must be a number in (0, 1]")


def test_throughput_balance_rows():
    """--balance adds, after each hybrid row, the hybrid at the window the
    split scheduler settles on in the model: a larger window and a step no
    slower."""
    run = plan("--hardware", "h100-pcie5", "--batch", "8", "--policy",
               "hgca", "--budget", "0.05", "--balance", "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)["strategies"]
    assert [r["strategy"] for r in rows[4:]] == ["hybrid", "hybrid-balanced"]
    given, balanced = rows[4:]
    assert balanced["device_tokens"] > given["device_tokens"]
    assert balanced["step_seconds"] <= given["step_seconds"]
    assert balanced["fits"]
