"""The digits leaderboard: every optimizer of the lab, lr tuned on a held-out seed, MLP and CNN.

Runs ``inertia compare`` twice (``--model mlp`` and ``--model cnn``) on the embedded digits data,
with every optimizer of ``inertia.optim.OPTIMIZERS`` except those that take sparse gradients only,
then renders ``docs/leaderboard.md`` from the two ``leaderboard.json`` files (no figure is typed
by hand). ``inertia compare`` reports each optimizer's mean test accuracy over the seeds and the
sample standard deviation; the 95% interval is the Student-t interval computed here from those.

    nice -n 19 python benchmarks/digits_leaderboard.py [--work runs/digits-leaderboard] [--models mlp cnn]
    python benchmarks/digits_leaderboard.py --render-only     # re-render from the finished runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from scipy import stats

from inertia.lab.optimizer_setup import OPTIMIZER_NOTES, SPARSE_ONLY
from inertia.optim import OPTIMIZERS

GRID = "1e-4:1:9"  # compare's default grid: 9 rates, log-spaced from 1e-4 to 1
SEEDS = 5
TUNE_SEED = 1_000_000  # compare's default: held out from the reported seeds 0..SEEDS-1
CONFIDENCE = 0.95
DOC = Path(__file__).resolve().parents[1] / "docs" / "leaderboard.md"

#: Common expectations checked against the numbers: (first, second, the claim that first >= second).
EXPECTATIONS = (
    ("momentum", "sgd", "momentum helps plain SGD"),
    ("nesterov", "momentum", "Nesterov momentum at least matches heavy-ball momentum"),
    ("adam", "sgd", "Adam at least matches plain SGD"),
    ("adam", "momentum", "Adam at least matches SGD with momentum"),
    ("adam", "adagrad", "Adam at least matches AdaGrad"),
    ("schedule_free_adamw", "adamw", "Schedule-Free AdamW at least matches AdamW at a constant rate"),
    ("muon", "adamw", "Muon on the hidden matrices at least matches AdamW"),
)


@dataclass
class Entry:
    """One optimizer's line of a table, from a ``leaderboard.json`` row."""

    optimizer: str
    lr: float | None
    mean: float
    std: float | None
    n: int
    diverged: int
    failed: int
    wall_s: float

    @property
    def half_width(self) -> float | None:
        """Half-width of the t-interval, None with fewer than two finished seeds."""
        if self.std is None or self.n < 2:
            return None
        return stats.t.ppf(0.5 + CONFIDENCE / 2, self.n - 1) * self.std / math.sqrt(self.n)

    def interval(self) -> tuple[float, float]:
        """The interval (the mean twice when it is undefined)."""
        half = self.half_width or 0.0
        return self.mean - half, self.mean + half


def benchmarked_optimizers() -> list[str]:
    """Every registered optimizer except the sparse-gradient ones."""
    return [name for name in OPTIMIZERS if name not in SPARSE_ONLY]


def compare_command(model: str, optimizers: list[str], out: Path) -> list[str]:
    """The ``inertia compare`` command line of one table."""
    return ["inertia", "compare", "--problem", "digits", "--model", model, "--optimizers", ",".join(optimizers),
            "--tune", "--grid", GRID, "--tune-seed", str(TUNE_SEED), "--seeds", str(SEEDS), "--jobs", "1",
            "--no-monitor", "--out", str(out)]


def machine() -> str:
    """CPU model, core count, OS, Python and torch versions."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{cpu}, {os.cpu_count()} logical cores (shared with other work; runs under nice -n 19, one torch "
            f"thread), {platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def run_compares(work: Path, models: list[str]) -> None:
    """Run each model's compare (skipping one whose leaderboard.json exists) and record the metadata."""
    names = benchmarked_optimizers()
    work.mkdir(parents=True, exist_ok=True)
    for model in models:
        out = work / model
        command = compare_command(model, names, out)
        meta_path = work / f"{model}.meta.json"
        if (out / "leaderboard.json").exists() and meta_path.exists():
            print(f"{model}: finished before, kept ({out / 'leaderboard.json'})")
            continue
        started = time.time()
        print("running:", shlex.join(command), flush=True)
        subprocess.run([sys.executable, "-m", "inertia", *command[1:]], check=True)
        meta = {"command": shlex.join(command), "started_utc": _utc(started), "finished_utc": _utc(time.time()),
                "elapsed_s": time.time() - started, "machine": machine()}
        meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def load_entries(board: dict) -> list[Entry]:
    """The rows of a leaderboard.json, sorted by mean test accuracy (best first)."""
    entries = [Entry(row["optimizer"], row["lr"], row["final_mean"], row["final_std"],
                     row["seeds"] - row["failed"], row["diverged"], row["failed"], row["wall_time_s"])
               for row in board["leaderboard"]]
    return sorted(entries, key=lambda e: -e.mean if math.isfinite(e.mean) else math.inf)


def table(entries: list[Entry]) -> list[str]:
    """A markdown table of one model's entries."""
    lines = ["| rank | optimizer | tuned lr | test accuracy (mean) | 95% interval | diverged | failed | "
             "wall time per run (s) |", "|---:|---|---:|---:|---|---:|---:|---:|"]
    for rank, e in enumerate(entries, start=1):
        low, high = e.interval()
        spread = "n/a (fewer than 2 seeds)" if e.half_width is None else f"{low:.4f} – {high:.4f} (±{e.half_width:.4f})"
        lr = "default" if e.lr is None else f"{e.lr:.3g}"
        lines.append(f"| {rank} | {e.optimizer} | {lr} | {e.mean:.4f} | {spread} | {e.diverged} | {e.failed} | "
                     f"{e.wall_s:.2f} |")
    return lines


def expectation_lines(entries: list[Entry]) -> list[str]:
    """One sentence per common expectation whose optimizers are both in the table."""
    by_name = {e.optimizer: e for e in entries}
    lines = []
    for first, second, claim in EXPECTATIONS:
        if first not in by_name or second not in by_name:
            continue
        a, b = by_name[first], by_name[second]
        separated = a.interval()[0] > b.interval()[1] or b.interval()[0] > a.interval()[1]
        gap = ("the 95% intervals do not overlap" if separated
               else f"the 95% intervals overlap, so {min(a.n, b.n)} seeds do not separate them")
        if a.mean >= b.mean:
            verdict = f"holds: {first} {a.mean:.4f} vs {second} {b.mean:.4f} ({gap})"
        else:
            verdict = f"**contradicted**: {first} {a.mean:.4f} is below {second} {b.mean:.4f} ({gap})"
        lines.append(f"- Expectation \"{claim}\": {verdict}.")
    return lines


def grid_edge_lines(board: dict) -> list[str]:
    """Optimizers whose tuned rate is an end of the grid (the best rate may lie outside it)."""
    edges = []
    for name, curve in board.get("sensitivity", {}).items():
        lr = board["chosen_lr"].get(name)
        if lr is not None and curve["lr"] and lr in (min(curve["lr"]), max(curve["lr"])):
            edges.append(f"{name} ({lr:.3g})")
    if not edges:
        return ["- Every tuned rate lies inside the grid."]
    return [f"- Tuned rate at an end of the grid (the best rate may lie outside it): {', '.join(edges)}."]


def model_section(model: str, board: dict, meta: dict) -> list[str]:
    """The section of one model: command, table, and what the numbers say."""
    entries = load_entries(board)
    best, worst = entries[0], entries[-1]
    fastest = min(entries, key=lambda e: e.wall_s)
    slowest = max(entries, key=lambda e: e.wall_s)
    lines = [f"## digits, {model.upper()}", "", "```", meta["command"], "```", "",
             f"Run {meta['started_utc']} to {meta['finished_utc']} ({meta['elapsed_s'] / 60:.1f} min for the "
             "search and the seeds).", "", *table(entries), "",
             f"- Best: {best.optimizer} ({best.mean:.4f}); last: {worst.optimizer} ({worst.mean:.4f}).",
             f"- Wall time per run: from {fastest.wall_s:.2f} s ({fastest.optimizer}) to {slowest.wall_s:.2f} s "
             f"({slowest.optimizer}).", *grid_edge_lines(board), *expectation_lines(entries)]
    if board.get("optimizer_notes"):
        lines += [f"- {name}: {note}." for name, note in board["optimizer_notes"].items()]
    return lines + [""]


def cross_model_lines(boards: dict[str, dict]) -> list[str]:
    """Where the MLP and CNN orders of adam and momentum disagree, and the rank correlation."""
    if set(boards) != {"mlp", "cnn"}:
        return []
    means = {model: {e.optimizer: e.mean for e in load_entries(board)} for model, board in boards.items()}
    common = sorted(set(means["mlp"]) & set(means["cnn"]))
    rho = stats.spearmanr([means["mlp"][n] for n in common], [means["cnn"][n] for n in common]).statistic
    lines = ["## MLP against CNN", "",
             f"- Spearman rank correlation of the mean accuracies over the {len(common)} optimizers: {rho:.2f}."]
    for name in ("adam", "momentum"):
        if name in common:
            lines.append(f"- {name}: rank {_rank(means['mlp'], name)} of {len(common)} on the MLP, "
                         f"{_rank(means['cnn'], name)} on the CNN.")
    return lines + [""]


def _rank(means: dict[str, float], name: str) -> int:
    return sorted(means, key=lambda n: -means[n]).index(name) + 1


def render(work: Path, models: list[str], doc: Path = DOC) -> str:
    """Write ``doc`` from the finished compares in ``work``; return its text."""
    boards, metas = {}, {}
    for model in models:
        path = work / model / "leaderboard.json"
        if path.exists() and (work / f"{model}.meta.json").exists():
            boards[model] = json.loads(path.read_text(encoding="utf-8"))
            metas[model] = json.loads((work / f"{model}.meta.json").read_text(encoding="utf-8"))
    if not boards:
        raise SystemExit(f"no finished compare under {work} (models {', '.join(models)})")
    text = "\n".join(header(work, boards, metas) + [line for m in boards for line in model_section(m, boards[m], metas[m])]
                     + cross_model_lines(boards) + missing_lines(models, boards))
    doc.write_text(text, encoding="utf-8")
    return text


def budget(work: Path, model: str) -> dict:
    """The settings the runs of a compare used (read from one run's config.json)."""
    config_path = next((work / model / "runs").glob("*/config.json"))
    return json.loads(config_path.read_text(encoding="utf-8"))


def header(work: Path, boards: dict[str, dict], metas: dict[str, dict]) -> list[str]:
    """Title, the commands that reproduce the tables, the machine, the date and the method."""
    model, board = next(iter(boards.items()))
    config, rates = budget(work, model), next(iter(board["sensitivity"].values()))["lr"]
    seeds = board["leaderboard"][0]["seeds"]
    excluded = ", ".join(f"{name} ({OPTIMIZER_NOTES.get(name, 'sparse gradients only')})"
                         for name in SPARSE_ONLY)
    first = metas[model]
    return ["# Digits leaderboard", "", "Rendered by `benchmarks/digits_leaderboard.py` from the output files of the "
            "commands below; no figure in this page is typed by hand. To reproduce every table:", "", "```",
            "nice -n 19 python benchmarks/digits_leaderboard.py   # runs the compares below, then renders this page",
            *[meta["command"] for meta in metas.values()], "```", "",
            f"Machine: {first['machine']}. Date: {first['started_utc'][:10]}.", "",
            f"Method: scikit-learn's 8x8 digits (the embedded default dataset), compare's default budget "
            f"({config['epochs']} epochs, batch size {config['batch_size']}). Each optimizer's learning rate is "
            f"chosen by `--tune`: the same {len(rates)} rates, log-spaced from {min(rates):.3g} to {max(rates):.3g}, "
            f"each trained on the held-out seed {board['tune_seed']}; the rate with the lowest final training loss "
            f"wins (the test set is not used to choose). Then seeds 0 to {seeds - 1} are run at that rate. A "
            "diverged seed counts as accuracy 0 (compare's rule); a failed seed is left out.", "",
            "Interval: `inertia compare` reports the mean and the sample standard deviation s (n - 1) of the final "
            "test accuracy over the seeds, and no interval; the 95% interval here is the Student-t interval "
            "mean ± t(0.975, n - 1) · s / √n, n the seeds with a result (it ignores that an accuracy lies in "
            "[0, 1], so an end may pass 1). Wall time per run is the mean over the seeds of a run's training "
            "time (data loading and process start excluded), measured on a machine shared with other jobs, so it "
            "carries their load. Rows are sorted by mean test accuracy; compare's own ranking (share of seeds "
            "reaching the target first) is in each leaderboard.json.", "",
            f"Not benchmarked: {excluded}.", ""]


def missing_lines(models: list[str], boards: dict[str, dict]) -> list[str]:
    """A line for each requested model whose compare has not finished."""
    missing = [m for m in models if m not in boards]
    return [f"Not finished yet: {', '.join(missing)} (rerun the script; finished compares are kept)."] if missing else []


def main() -> None:
    """Parse the arguments, run the compares unless ``--render-only``, render the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/digits-leaderboard"),
                        help="where the compares write their runs and leaderboards")
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["softmax", "mlp", "cnn"])
    parser.add_argument("--render-only", action="store_true", help="render from finished compares only")
    args = parser.parse_args()
    if not args.render_only:
        run_compares(args.work, args.models)
    render(args.work, args.models)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
