"""Search efficiency, live: real `hpsearch run`s of a space file, hpsearch's default against random search.

Each arm runs the same space file (the quickstart by default) with its own sampler and pruner, for several
seeds, arms interleaved within each seed (A B A B). Compute is the trials' recorded training and evaluation
seconds, added up in the order the trials finished; "best so far" is the study's best value after each
trial. Prints, per arm, the median best at the end and the median compute until the best reached 97% of
the best value any run found; draws best-so-far against compute (each seed thin, the median thick).

    python benchmarks/live.py                       # the quickstart, 3 seeds, 12 trials per run
    python benchmarks/live.py --seeds 5 --n-trials 20 --space search_spaces/lora.yaml
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ARMS = {  # label -> (sampler, pruner) as the space file writes them; None: hpsearch's default
    "random, no pruning": ("{name: random, seed: SEED}", "none"),
    "hpsearch default": ("{name: tpe, seed: SEED}", None),
}
TARGET = 0.97


def arm_text(text: str, name: str, n_trials: int, sampler: str, pruner: str | None, seed: int) -> str:
    """The space file with the arm's study name, budget, sampler and pruner (relative data paths are not
    rewritten: use a space file with built-in data or absolute paths)."""
    text = re.sub(r"(?m)^  name: .*$", f"  name: {name}", text, count=1)
    text = re.sub(r"(?m)^  (n_trials|timeout|sampler|pruner): .*\n", "", text)
    lines = [f"  n_trials: {n_trials}", f"  sampler: {sampler.replace('SEED', str(seed))}"]
    if pruner is not None:
        lines.append(f"  pruner: {pruner}")
    return text.replace("study:\n", "study:\n" + "\n".join(lines) + "\n", 1)


def run_arm(space: Path, url: str, name: str) -> tuple[list[tuple[float, float]], bool]:
    """One real study: its anytime curve [(compute seconds, best so far), ...] in finishing order, and
    whether it maximizes."""
    import optuna

    result = subprocess.run([sys.executable, "-m", "hpsearch", "run", str(space), "--storage", url],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url)
    maximize = study.direction.name == "MAXIMIZE"
    spent, best, curve = 0.0, None, []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.datetime_complete or t.datetime_start):
        spent += trial.user_attrs.get("train_seconds", 0.0)
        if trial.state.name == "COMPLETE" and (best is None or (trial.value > best) == maximize):
            best = trial.value
        if best is not None:
            curve.append((spent, best))
    return curve, maximize


def draw(curves: dict[str, list], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for (label, runs), colour in zip(curves.items(), ("tab:blue", "tab:orange", "tab:green"), strict=False):
        for run in runs:
            ax.step([c for c, _ in run], [b for _, b in run], where="post", color=colour, alpha=0.35, lw=0.9)
        end = min(run[-1][0] for run in runs)
        grid = [end * i / 50 for i in range(1, 51)]
        medians = [statistics.median(_best_at(run, x) for run in runs) for x in grid]
        ax.plot(grid, medians, color=colour, lw=2.2, label=f"{label} (median of {len(runs)} seeds)")
    ax.set_xlabel("compute (seconds of training and evaluation, summed over trials)")
    ax.set_ylabel("best so far")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"picture: {path}")


def _best_at(run: list[tuple[float, float]], compute: float) -> float:
    seen = [b for c, b in run if c <= compute]
    return seen[-1] if seen else run[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=ROOT / "search_spaces" / "quickstart.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-trials", type=int, default=12)
    parser.add_argument("--picture", type=Path, default=ROOT / "docs" / "live.png")
    parser.add_argument("--quick", action="store_true", help="1 seed of 4 trials, drawn beside the JSON record")
    options = parser.parse_args()
    if options.quick:
        options.seeds, options.n_trials, options.picture = 1, 4, HERE / "results" / "live-quick.png"
    text = options.space.read_text()
    curves: dict[str, list] = {label: [] for label in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/live.db"
        for seed in range(options.seeds):
            for label, (sampler, pruner) in ARMS.items():  # interleaved within each seed
                name = f"live-{re.sub(r'[^a-z]+', '-', label.lower()).strip('-')}-{seed}"
                space = Path(tmp) / f"{name}.yaml"
                space.write_text(arm_text(text, name, options.n_trials, sampler, pruner, seed))
                curve, maximize = run_arm(space, url, name)
                curves[label].append(curve)
                print(f"seed {seed} {label:20s} best {curve[-1][1]:.4f} after {curve[-1][0]:.0f} s of compute",
                      flush=True)
    every = [run[-1][1] for runs in curves.values() for run in runs]
    top = max(every) if maximize else min(every)
    target = top * TARGET if maximize else top / TARGET
    print(f"\n{options.n_trials} trials per run, {options.seeds} seeds; target {TARGET:.0%} of the best found: "
          f"{target:.4f}")
    medians = {}
    for label, runs in curves.items():
        reached = [next((c for c, b in run if (b >= target if maximize else b <= target)), None) for run in runs]
        spent = [c if c is not None else run[-1][0] for c, run in zip(reached, runs, strict=True)]
        medians[label] = statistics.median(spent)
        print(f"{label:20s} best (median) {statistics.median(run[-1][1] for run in runs):.4f}; reached the target "
              f"{sum(c is not None for c in reached)}/{len(runs)}; compute to it (median; a run that never did "
              f"counts all it spent) {medians[label]:.0f} s")
    ratio = medians["hpsearch default"] / medians["random, no pruning"]
    options.picture.parent.mkdir(exist_ok=True)
    draw(curves, options.picture, f"Live: {options.space.name}, {options.n_trials} trials, {options.seeds} seeds")
    sys.path.insert(0, str(HERE))
    from record import write

    write("live", {"space": str(options.space), "seeds": options.seeds, "n_trials": options.n_trials,
                   "target": target, "median_compute_to_target": medians, "ratio": ratio,
                   "curves": curves}, quick=options.quick)
    print(f"hpsearch default / random search, compute to {TARGET:.0%} of the best found: ratio = {ratio:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
