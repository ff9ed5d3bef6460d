"""Following ``lr`` from ``inertia train --lr`` to the kernel that applies it: at most 7 files, each entered once.

The train command runs in this process with a fused RMSprop (its numba kernel); when the kernel is
called, the Python stack from the ``train`` command down is read, and the kernel's own source file
(the rule's module) is added at its end. The kernel must receive the learning rate given on the
command line, and the files must each be entered once: no file appears again after another.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import inertia
from inertia.cli import main
from inertia.kernels import cpu

SRC = Path(inertia.__file__).resolve().parent
LR = 0.00123


def _files_from_the_command_down(stack: traceback.StackSummary) -> list[str]:
    """The inertia source files of ``stack`` below ``cli.main``, consecutive frames of one file merged."""
    files: list[str] = []
    for frame in stack:
        path = Path(frame.filename).resolve()
        if SRC not in path.parents or path == SRC / "cli.py":
            continue
        name = path.relative_to(SRC).as_posix()
        if not files or files[-1] != name:
            files.append(name)
    return files


def test_lr_from_the_train_command_to_the_kernel_passes_through_at_most_seven_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    seen: list[tuple[list[str], Any]] = []
    make_kernel = cpu.numba_kernel

    def recording_kernel(spec: Any) -> Any:
        kernel = make_kernel(spec)
        arrays = 2 + len(spec.rule.state_slots)
        rule_file = Path(type(spec.rule).__module__.replace(".", "/") + ".py").relative_to("inertia").as_posix()

        def call(*args: Any) -> None:
            if not seen:
                seen.append((_files_from_the_command_down(traceback.extract_stack()[:-1]) + [rule_file],
                             args[arrays]))
            kernel(*args)

        return call

    monkeypatch.setattr(cpu, "numba_kernel", recording_kernel)
    argv = ["train", "--data", "digits", "--model", "softmax", "--optimizer", "rmsprop", "--lr", str(LR),
            "--epochs", "1", "--hyper", "impl=fused", "--out", str(tmp_path / "run"), "--no-monitor"]
    assert main(argv) == 0
    assert seen, "the fused RMSprop step never reached its numba kernel"
    files, lr_in_kernel = seen[0]
    assert np.float32(lr_in_kernel) == np.float32(LR)  # the kernel's first scalar is the learning rate
    assert files[0] == "lab/lab_commands.py" and files[-1] == "optim/rmsprop.py", files
    assert len(files) <= 7, files
    assert len(set(files)) == len(files), f"a file is entered twice: {files}"
