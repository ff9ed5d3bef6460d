"""A run killed with SIGKILL and restarted ends with the records of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import torch

from inertia.lab.execute import execute, load_run
from inertia.lab.run_config import RunConfig

CONFIG = RunConfig("teacher", "adam", lr=3e-3, model="mlp", epochs=8, batch_size=100, seed=2,
                   checkpoint_every=2, schedule="step:every=3,gamma=0.5")

# The child trains and SIGKILLs itself right after recording epoch 5 (checkpoint of epoch 4 on disk).
CHILD = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    from inertia.lab.execute import execute
    from inertia.lab.run_config import RunConfig

    def die(row):
        if row["epoch"] == 5:
            os.kill(os.getpid(), signal.SIGKILL)

    execute(RunConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], on_record=die)
""")


def without_times(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_sigkilled_training_run_resumes_identically(tmp_path, one_thread):
    killed_dir = tmp_path / "killed"
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CONFIG.to_dict()), str(killed_dir)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert json.loads((killed_dir / "summary.json").read_text())["status"] == "running"
    assert torch.load(killed_dir / "checkpoint.pt", weights_only=False)["position"] == 4
    assert not [name for name in os.listdir(killed_dir) if name.endswith(".tmp")]

    resumed = execute(CONFIG, killed_dir)
    reference = execute(CONFIG, tmp_path / "reference")
    assert resumed["status"] == reference["status"] == "completed" and resumed["resumed_at"] == [4]
    assert without_times(load_run(killed_dir)[2]) == without_times(load_run(tmp_path / "reference")[2])
    for key in ("test_accuracy", "test_loss", "train_loss", "epochs", "steps"):
        assert resumed[key] == reference[key]
    final = [torch.load(d / "checkpoint.pt", weights_only=False) for d in (killed_dir, tmp_path / "reference")]
    for name, tensor in final[0]["params"].items():
        assert torch.equal(tensor, final[1]["params"][name]), name
    assert final[0]["optimizer"]["state"][0]["step"] == final[1]["optimizer"]["state"][0]["step"]
    # the optimizer monitor (on by default) resumes too: its samples from before the kill are replayed
    assert resumed["warnings"] == reference["warnings"] and resumed["monitor"] == reference["monitor"]
    monitors = [json.loads((d / "monitor.json").read_text()) for d in (killed_dir, tmp_path / "reference")]
    steps = [sample["step"] for sample in monitors[0]["samples"]]
    assert monitors[0] == monitors[1] and min(steps) < 80 < max(steps)  # the checkpoint: epoch 4 = step 80
