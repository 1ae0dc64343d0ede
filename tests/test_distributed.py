"""torchrun with 2 CPU processes (gloo) on a tiny model: ranks agree, and DDP equals one process."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from conftest import TINY_CAPS

from signcaps.models.checkpoint import load_checkpoint

# No BatchNorm (per-rank batch statistics differ by design) and no augmentation (per-rank
# random streams): what remains must match single-process training with the same global batch.
SETTINGS = ["--recipe", "capsnet", "--set", TINY_CAPS.replace("}", ", batch_norm: false}"),
            "--set", "augment.enabled=false", "--set", "train.batch_size=16", "--set", "train.threads=1",
            "--set", "data.val_fraction=0.2", "--set", "data.test_fraction=0.2", "--epochs", "2", "--json",
            # no second detection try: the hands found (hence an even training split) stay as the test expects
            "--set", "detect.retry_pad=-1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_train(args, cwd, nproc=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "signcaps"] if nproc is None else [
        sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--master-addr=127.0.0.1",
        f"--master-port={free_port()}", "-m", "signcaps"]
    result = subprocess.run([*launcher, "train", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_rank_ddp_matches_single_process(mini_digits, tmp_path):
    common = ["--data", str(mini_digits), "--set", f"data.cache_dir={tmp_path / 'cache'}", *SETTINGS]
    run_train([*common, "--run-dir", str(tmp_path / "single")], tmp_path)
    split = json.loads((tmp_path / "single" / "split.json").read_text())
    assert len(split["train"]) % 2 == 0  # DistributedSampler pads odd sizes; keep the comparison exact

    run_train([*common, "--run-dir", str(tmp_path / "ddp")], tmp_path, nproc=2)
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["ranks_in_sync"] is True
    assert not list((tmp_path / "ddp").glob("*.tmp"))

    single = load_checkpoint(tmp_path / "single" / "last.pt")["model_state"]
    ddp = load_checkpoint(tmp_path / "ddp" / "last.pt")["model_state"]
    for name, value in single.items():
        assert torch.allclose(value.float(), ddp[name].float(), rtol=1e-3, atol=1e-4), name
    single_hist = json.loads((tmp_path / "single" / "metrics.json").read_text())["history"]
    assert [h["train_loss"] for h in metrics["history"]] == pytest.approx([h["train_loss"] for h in single_hist],
                                                                          rel=1e-4)


def test_fused_capsnet_with_negatives_trains_on_two_ranks(mini_digits, tmp_path):
    """Every parameter of the default architecture gets a gradient on every rank, synthetic negatives
    (which have no pixels) included: DDP refuses a model with parameters outside the graph."""
    from conftest import TINY_FUSED

    params = json.dumps(TINY_FUSED).replace('"', "")
    args = ["--data", str(mini_digits), "--recipe", "fused-capsnet", "--set", f"model.params={params}",
            "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "data.retakes=0", "--set", "negatives.root=null",
            "--set", "negatives.mode=short", "--set", "negatives.synthetic=0.5", "--set", "train.batch_size=16",
            "--set", "train.threads=1", "--set", "data.val_fraction=0.2", "--set", "data.test_fraction=0.2",
            "--epochs", "1", "--json", "--run-dir", str(tmp_path / "ddp")]
    run_train(args, tmp_path, nproc=2)
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["ranks_in_sync"] is True
