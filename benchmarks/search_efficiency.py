"""Search efficiency, replayed: how much compute each sampler + pruner needs to find a good configuration.

A suite of learning-curve tables (benchmarks/curves/NAME/table.json, each with the space.yaml that
recorded it: random configurations, each evaluated at every checkpoint up to the full budget, with the
seconds each checkpoint had cost) is replayed for every arm and seed: the arm's sampler proposes a
configuration, the table answers with a curve (the nearest recorded configuration's, or the surrogate's:
the distance-weighted mean of the k nearest curves, whichever predicts a left-out curve better on that
table), the curve is reported checkpoint by checkpoint to the arm's pruner, and trials finish in the order
their simulated compute would finish on WORKERS parallel workers. Compute is worker-seconds. A trial's
value is its best evaluation, as hpsearch records it. hpsearch's default arm is built by hpsearch itself
from the table's space file (its priors come from the catalogue's recommendations for that setting).

    python benchmarks/search_efficiency.py                      # every table: 20 seeds per arm
    python benchmarks/search_efficiency.py --quick              # 5 seeds per arm
    python benchmarks/search_efficiency.py --tables lora        # some tables
    python benchmarks/search_efficiency.py --record sqlite:////work/curves.db --table-name classification
                                                                # rebuild a table from a study of its space
    python benchmarks/search_efficiency.py --record URL --table-name classification --extend  # add curves

Prints, per table and arm, the median compute until the best-so-far reaches 97% of the table's best, as a
ratio to random search without pruning, then the same across tables; the replay's own error
(leave-one-out) per table; draws the anytime curves into docs/anytime.png (one panel a table); writes
benchmarks/results/search_efficiency.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hpsearch.search.build import build_pruner, build_sampler

HERE = Path(__file__).resolve().parent
CURVES = HERE / "curves"
PICTURE = HERE.parent / "docs" / "anytime.png"
WORKERS = 4
TARGET = 0.97
OTHER_TARGETS = (0.95, 0.90)  # read from the same replays, for context
BUDGET_TRIALS = 40  # every replay runs this many full trials' worth of compute (the anytime curves' span)
NEIGHBOURS = 3  # curves the surrogate averages
# The tables the defaults were chosen on (their curves were looked at while designing the priors and the
# plateau pruner); every other table is held out: its figures report, they did not choose.
CHOSEN_ON = ("classification",)


def record_table(url: str, name: str) -> dict:
    """A table from a finished study of a table's space file: every complete trial's curve."""
    import optuna

    from hpsearch.results import summary as results
    from hpsearch.store.studies import storage_for

    study = results.load(storage_for(url, create=False), name)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"
              and t.user_attrs.get("history_seconds") and len(t.user_attrs["history"]) == len(
                  t.user_attrs["history_seconds"])]
    if not trials:
        raise SystemExit(f"no complete trial with history_seconds in study {name!r} at {url}")
    steps = [s for s, _ in trials[0].user_attrs["history"]]
    configs = []
    for trial in trials:
        history = trial.user_attrs["history"]
        if [s for s, _ in history] != steps:
            continue  # a curve cut short (it cannot happen without pruning or early stopping, but check)
        configs.append({"number": trial.number, "params": trial.params,
                        "values": [v for _, v in history], "seconds": trial.user_attrs["history_seconds"]})
    distributions = {k: optuna.distributions.distribution_to_json(d) for k, d in trials[0].distributions.items()}
    return {"study": name, "metric": study.user_attrs.get("metric", "eval_accuracy"),
            "direction": study.direction.name.lower(), "steps": steps, "distributions": distributions,
            "configs": configs}


def merged(old: dict, new: dict) -> dict:
    """`old`'s curves followed by `new`'s, which must come from the same space, metric and checkpoints."""
    for key in ("metric", "direction", "steps", "distributions"):
        if old[key] != new[key]:
            raise SystemExit(f"cannot extend the table: its {key} is {old[key]!r}, the study's is {new[key]!r}")
    seen = {json.dumps(c["params"], sort_keys=True) for c in old["configs"]}
    added = [c for c in new["configs"] if json.dumps(c["params"], sort_keys=True) not in seen]
    return {**old, "study": f"{old['study']} + {new['study']}", "configs": old["configs"] + added}


@dataclass
class Table:
    name: str
    steps: list[int]
    distributions: dict
    configs: list[dict]
    maximize: bool
    answer: str = "nearest"  # how an unrecorded configuration is answered: "nearest" or "surrogate"
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, folder: Path, raw_seconds: bool = False) -> Table:
        import optuna

        data = json.loads((folder / "table.json").read_text())
        table = cls(folder.name, data["steps"], {k: optuna.distributions.json_to_distribution(v)
                                                 for k, v in data["distributions"].items()},
                    data["configs"], data["direction"] == "maximize")
        if not raw_seconds:
            table.smooth_seconds()
        return table

    def smooth_seconds(self) -> None:
        """Each checkpoint's cost as the median over the configurations of the same batch size.

        The recorded seconds carry the machine's noise (a trial recorded while other work ran took up to 5x
        longer), and a replay must not reward a sampler for landing on quietly recorded trials; what a
        checkpoint costs depends on the batch size, not on the other hyperparameters searched here.
        """
        groups: dict = {}
        for config in self.configs:
            steps = [b - a for a, b in zip([0.0] + config["seconds"][:-1], config["seconds"], strict=True)]
            groups.setdefault(config["params"].get("batch_size"), []).append(steps)
        cost = {key: [statistics.median(column) for column in zip(*rows, strict=True)] for key, rows in groups.items()}
        for config in self.configs:
            config["recorded_seconds"] = config["seconds"]
            total, cumulative = 0.0, []
            for step_cost in cost[config["params"].get("batch_size")]:
                total += step_cost
                cumulative.append(total)
            config["seconds"] = cumulative

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def best(self) -> float:
        finals = [self.value(c, len(self.steps) - 1) for c in self.configs]
        return max(finals) if self.maximize else min(finals)

    def target(self, share: float) -> float:
        """The value `share` of the way to the table's best (97%: 0.97 x the best when maximizing)."""
        return self.best() * share if self.maximize else self.best() / share

    def value(self, config: dict, index: int) -> float:
        """The trial's value after checkpoint `index`: its best evaluation so far."""
        seen = config["values"][: index + 1]
        return max(seen) if self.maximize else min(seen)

    def full_seconds(self) -> float:
        return statistics.mean(c["seconds"][-1] for c in self.configs)

    def distance(self, params: dict, other: dict) -> float:
        """Normalised squared distance: log scale for log ranges, a mismatched choice counts 1."""
        total = 0.0
        for name, value in params.items():
            dist = self.distributions[name]
            if hasattr(dist, "choices"):
                total += value != other[name]
                continue
            low, high, x, y = dist.low, dist.high, value, other[name]
            if getattr(dist, "log", False):
                low, high, x, y = math.log(low), math.log(high), math.log(x), math.log(y)
            total += ((x - y) / (high - low)) ** 2 if high > low else 0.0
        return total

    def nearest(self, params: dict, among: list[dict] | None = None) -> dict:
        """The recorded configuration nearest to `params`."""
        return min(among or self.configs, key=lambda c: self.distance(params, c["params"]))

    def surrogate(self, params: dict, among: list[dict] | None = None) -> dict:
        """A curve for `params`: the inverse-distance-weighted mean of the NEIGHBOURS nearest curves."""
        ranked = sorted(among or self.configs, key=lambda c: self.distance(params, c["params"]))[:NEIGHBOURS]
        weights = [1 / (self.distance(params, c["params"]) + 1e-3) for c in ranked]
        total = sum(weights)
        values = [sum(w * c["values"][i] for w, c in zip(weights, ranked, strict=True)) / total
                  for i in range(len(self.steps))]
        return {"params": params, "values": values, "seconds": ranked[0]["seconds"]}

    def respond(self, params: dict) -> dict:
        """The curve the table answers a proposal with (nearest or surrogate, see `answer`)."""
        key = json.dumps(params, sort_keys=True)
        if key not in self._cache:
            self._cache[key] = self.nearest(params) if self.answer == "nearest" else self.surrogate(params)
        return self._cache[key]

    def leave_one_out(self) -> dict:
        """The replay's own error: each recorded curve predicted from the others, by both answers.

        Returns per answer the mean absolute error of the final value and of the whole curve, the same error
        on the best tenth of the configurations (those that decide whether a replay reaches the target: a
        surrogate that averages pulls them towards their neighbours), and the rank correlation (Spearman)
        between the predicted and the recorded final values.
        """
        finals = sorted((c["values"][-1] for c in self.configs), reverse=self.maximize)
        cut = finals[max(len(finals) // 10 - 1, 0)]
        found = {}
        for answer in ("nearest", "surrogate"):
            final_errors, curve_errors, predicted, actual = [], [], [], []
            for i, config in enumerate(self.configs):
                others = self.configs[:i] + self.configs[i + 1:]
                guess = (self.nearest if answer == "nearest" else self.surrogate)(config["params"], others)
                final_errors.append(abs(guess["values"][-1] - config["values"][-1]))
                curve_errors.append(statistics.mean(abs(a - b) for a, b in zip(guess["values"], config["values"],
                                                                                 strict=True)))
                predicted.append(guess["values"][-1])
                actual.append(config["values"][-1])
            top = [e for e, a in zip(final_errors, actual, strict=True) if (a >= cut if self.maximize else a <= cut)]
            found[answer] = {"final_mae": statistics.mean(final_errors), "curve_mae": statistics.mean(curve_errors),
                             "top_mae": statistics.mean(top), "spearman": spearman(predicted, actual)}
        return found


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(xs):
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        r = [0.0] * len(xs)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    den = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return num / den if den else 0.0


def default_spec(folder: Path, seed: int, priors: bool = True):
    """hpsearch's default study for a table: its space file with the sampler and pruner left to hpsearch."""
    import re

    from hpsearch.spec.space import load_text

    text = (folder / "space.yaml").read_text()
    text = re.sub(r"(?m)^  (sampler|pruner|n_trials): .*\n", "", text)
    sampler = f"{{name: tpe, seed: {seed}}}" if priors else f"{{name: tpe, seed: {seed}, priors: false}}"
    text = text.replace("study:\n", f"study:\n  n_trials: {BUDGET_TRIALS}\n  sampler: {sampler}\n", 1)
    return load_text(text, file=str(folder / "space.yaml"))


def arms(seed: int, folder: Path) -> dict:
    """Each arm's sampler and pruner, built fresh for one seed; hpsearch's default through hpsearch itself."""
    import optuna

    default = default_spec(folder, seed)
    no_priors = default_spec(folder, seed, priors=False)
    tpe = lambda: optuna.samplers.TPESampler(seed=seed)  # noqa: E731
    return {
        "random, no pruning": (optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner()),
        "random + median": (optuna.samplers.RandomSampler(seed=seed), optuna.pruners.MedianPruner()),
        "TPE, no pruning": (tpe(), optuna.pruners.NopPruner()),
        "TPE + median": (tpe(), optuna.pruners.MedianPruner()),
        "TPE + Hyperband": (tpe(), optuna.pruners.HyperbandPruner()),
        "priors, no pruning": (build_sampler(default.plugin_options), optuna.pruners.NopPruner()),
        "no priors + plateau": (build_sampler(no_priors.plugin_options), build_pruner(no_priors.plugin_options)),
        "hpsearch default": (build_sampler(default.plugin_options), build_pruner(default.plugin_options)),
    }


COMPARED = ("TPE + Hyperband", "random + median")  # the goal: the default is never worse than the best of these


def replay(table: Table, sampler, pruner, name: str = "replay") -> list[tuple[float, float]]:
    """One study replayed on the table: its anytime curve [(compute, best so far), ...] within the budget."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=sampler, pruner=pruner, study_name=name,  # Hyperband's brackets hash
                                direction="maximize" if table.maximize else "minimize")  # the name: fixed
    budget = BUDGET_TRIALS * table.full_seconds()
    events: list = []  # (clock, order, trial, config, checkpoint index)
    order = 0

    def start(clock: float) -> None:
        nonlocal order
        trial = study.ask(table.distributions)
        config = table.respond(trial.params)
        heapq.heappush(events, (clock + config["seconds"][0], order, trial, config, 0))
        order += 1

    for _ in range(WORKERS):
        start(0.0)
    best, curve = None, []
    while events:
        clock, _, trial, config, index = heapq.heappop(events)
        compute = clock * WORKERS
        if compute > budget:
            break
        trial.report(config["values"][index], table.steps[index])
        last = index == len(table.steps) - 1
        if last or trial.should_prune():
            if last:
                value = table.value(config, index)
                study.tell(trial, value)
                if best is None or table.better(value, best):
                    best = value
                    curve.append((compute, best))
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            start(clock)
        else:
            step_cost = config["seconds"][index + 1] - config["seconds"][index]
            heapq.heappush(events, (clock + step_cost, order, trial, config, index + 1))
            order += 1
    return curve


def compute_to(curve: list[tuple[float, float]], threshold: float, maximize: bool) -> float | None:
    """The compute at which an anytime curve first reached `threshold`, or None."""
    for moment, best in curve:
        if best >= threshold if maximize else best <= threshold:
            return moment
    return None


def best_at(curve: list[tuple[float, float]], compute: float) -> float | None:
    value = None
    for moment, best in curve:
        if moment <= compute:
            value = best
    return value


def draw(tables: list[Table], curves: dict[str, dict[str, list]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(6 * len(tables), 4.8), squeeze=False)
    for ax, table in zip(axes[0], tables, strict=True):
        unit = table.full_seconds()
        grid = [unit * i / 4 for i in range(1, 4 * BUDGET_TRIALS + 1)]
        for label, runs in curves[table.name].items():
            xs, ys = [], []
            for compute in grid:
                values = [best_at(run, compute) for run in runs]
                if sum(v is not None for v in values) * 2 > len(values):  # a median exists
                    worst = -math.inf if table.maximize else math.inf
                    xs.append(compute / unit)
                    ys.append(statistics.median(v if v is not None else worst for v in values))
            ax.plot(xs, ys, label=label, lw=2.2 if label == "hpsearch default" else 1.1)
        ax.axhline(table.target(TARGET), color="grey", ls="--", lw=0.8, label=f"{TARGET:.0%} of the table's best")
        ax.set_xlabel("compute (full trials' worth of training)")
        ax.set_ylabel("best so far (median over seeds)")
        held = "chosen on" if table.name in CHOSEN_ON else "held out"
        ax.set_title(f"{table.name} ({len(table.configs)} curves, {held})")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"anytime curves: {path}")


def pruner_check(table: Table, folder: Path) -> dict:
    """Late bloomers and hopeless trials of the table against the default pruner and the median rule.

    Late bloomers: the top five configurations whose first two evaluations sit within the noise margin of
    the table's starting value; hopeless: the worst fifth. Each is replayed against two sets of finished
    peers: ten random configurations (a random search's state) and the configurations ranked 6th to 15th
    (the state of a search that found the good region).
    """
    import random

    import optuna

    pruners = {"median": optuna.pruners.MedianPruner,
               "hpsearch default": lambda: build_pruner(default_spec(folder, 0).plugin_options)}
    ranked = sorted(table.configs, key=lambda c: c["values"][-1], reverse=table.maximize)
    margin = build_pruner(default_spec(folder, 0).plugin_options).noise(ranked[len(ranked) // 2]["values"][0])
    start = statistics.median(c["values"][0] for c in table.configs)
    bloomers = [c for c in ranked[:5] if all(abs(v - start) <= margin for v in c["values"][:2])]
    hopeless = ranked[-max(len(ranked) // 5, 1):]
    peer_sets = {"random peers": random.Random(0).sample(table.configs, 10), "good peers": ranked[5:15]}
    found: dict = {}
    for peers_label, peers in peer_sets.items():
        for label, make in pruners.items():
            for group, configs in (("late bloomers", bloomers), ("hopeless", hopeless)):
                stopped = []
                for config in configs:
                    optuna.logging.set_verbosity(optuna.logging.ERROR)
                    study = optuna.create_study(direction="maximize" if table.maximize else "minimize",
                                                pruner=make())
                    for peer in peers:
                        study.add_trial(optuna.trial.create_trial(
                            value=table.value(peer, len(table.steps) - 1),
                            intermediate_values=dict(zip(table.steps, peer["values"], strict=True))))
                    trial = study.ask()
                    step = None
                    for at, value in zip(table.steps, config["values"], strict=True):
                        trial.report(value, at)
                        if trial.should_prune():
                            step = at
                            break
                    stopped.append(step)
                cut = [s for s in stopped if s is not None]
                found.setdefault(peers_label, {}).setdefault(label, {})[group] = {
                    "stopped": len(cut), "of": len(configs), "median_step": statistics.median(cut) if cut else None}
    for peers_label, by_pruner in found.items():
        for label, groups in by_pruner.items():
            said = "; ".join(f"{group} stopped {g['stopped']}/{g['of']}" + (
                f" (median step {g['median_step']:g})" if g["median_step"] is not None else "")
                for group, g in groups.items())
            print(f"   pruner check, {peers_label:12s} {label:16s}: {said}")
    return found


def informative(table: Table, folder: Path) -> bool:
    """Whether the table can rank searches: its best final value beats the median configuration's by more
    than the evaluation's noise (the default pruner's margin). A table where nothing learns within its
    budget is decided by that noise; it is replayed and printed, but its figures judge no goal."""
    middle = statistics.median(c["values"][-1] for c in table.configs)
    return abs(table.best() - middle) > build_pruner(default_spec(folder, 0).plugin_options).noise(middle)


def run_table(table: Table, seeds: int) -> tuple[dict, dict]:
    """Every arm on one table: the printed figures and the anytime curves."""
    loo = table.leave_one_out()
    # The surrogate answers only where it is clearly (a fifth) more faithful on the best tenth, where the
    # target is decided: its averaging otherwise pulls the peaks down and makes the target unreachable.
    table.answer = "surrogate" if loo["surrogate"]["top_mae"] < 0.8 * loo["nearest"]["top_mae"] else "nearest"
    target = table.target(TARGET)
    unit = table.full_seconds()
    print(f"\n== table {table.name} ({'chosen on' if table.name in CHOSEN_ON else 'held out'}): "
          f"{len(table.configs)} configurations, checkpoints {table.steps}, best {table.best():.4f}, target "
          f"{target:.4f}; a full trial costs {unit:.1f} s; {WORKERS} workers, {seeds} seeds")
    for answer, error in loo.items():
        print(f"   replay error, leave-one-out, {answer:9s}: final value MAE {error['final_mae']:.4f}, "
              f"curve MAE {error['curve_mae']:.4f}, best tenth's final MAE {error['top_mae']:.4f}, "
              f"rank correlation {error['spearman']:.2f}")
    print(f"   unrecorded configurations are answered by: {table.answer}")
    useful = informative(table, CURVES / table.name)
    if not useful:
        print("   NOT INFORMATIVE: the best configuration beats the median one by less than the evaluation's noise "
              "(nothing learns within this budget); replayed, but it judges no goal")
    checked = pruner_check(table, CURVES / table.name)
    curves: dict[str, list] = {}
    for seed in range(seeds):  # arms interleaved within each seed
        for label, (sampler, pruner) in arms(seed, CURVES / table.name).items():
            curves.setdefault(label, []).append(replay(table, sampler, pruner, name=f"replay-{seed}"))
    censored = BUDGET_TRIALS * unit  # a seed that never reached the target counts as the whole budget

    def median_to(label: str, threshold: float) -> float:
        return statistics.median(c if c is not None else censored for c in
                                 (compute_to(curve, threshold, table.maximize) for curve in curves[label]))

    figures = {"configs": len(table.configs), "chosen_on": table.name in CHOSEN_ON, "target": target,
               "full_trial_seconds": unit, "informative": useful, "replay_error": loo, "answer": table.answer,
               "pruner_check": checked, "arms": {}}
    shares = (TARGET,) + OTHER_TARGETS
    print(f"   {'arm':22s} {'reached':>8s} " + " ".join(f"{f'{s:.0%}: compute (ratio)':>22s}" for s in shares))
    for label in curves:
        hits = sum(compute_to(c, target, table.maximize) is not None for c in curves[label])
        row = {"reached": hits}
        cells = []
        for share in shares:
            compute = median_to(label, table.target(share))
            ratio = compute / median_to("random, no pruning", table.target(share))
            row[f"{share:.2f}"] = {"median_compute_s": compute, "ratio": ratio, "full_trials": compute / unit}
            cells.append(f"{compute / unit:6.1f} trials ({ratio:4.2f}x)")
        figures["arms"][label] = row
        print(f"   {label:22s} {hits:>5d}/{seeds:<2d} " + " ".join(f"{c:>22s}" for c in cells))
    return figures, curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 seeds per arm instead of 20")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--tables", help="comma-separated table names (default: every folder of benchmarks/curves)")
    parser.add_argument("--record", metavar="URL", help="rebuild a table from the study of its space file at URL")
    parser.add_argument("--table-name", default="classification", help="with --record: the table (folder) to write")
    parser.add_argument("--study", help="with --record: the study's name (default: the space file's)")
    parser.add_argument("--extend", action="store_true",
                        help="with --record: add the study's curves to the table's instead of replacing them")
    parser.add_argument("--raw-seconds", action="store_true",
                        help="use each checkpoint's recorded seconds (default: the median for its batch size)")
    options = parser.parse_args()
    if options.record:
        import yaml

        folder = CURVES / options.table_name
        name = options.study or yaml.safe_load((folder / "space.yaml").read_text())["study"]["name"]
        data = record_table(options.record, name)
        if options.extend:
            data = merged(json.loads((folder / "table.json").read_text()), data)
        (folder / "table.json").write_text(json.dumps(data) + "\n")
        print(f"recorded {len(data['configs'])} curves into {folder / 'table.json'}")
    names = options.tables.split(",") if options.tables else sorted(
        p.name for p in CURVES.iterdir() if (p / "table.json").is_file())
    tables = [Table.load(CURVES / name, options.raw_seconds) for name in names]
    seeds = options.seeds or (5 if options.quick else 20)
    figures = {"seeds": seeds, "workers": WORKERS, "budget_trials": BUDGET_TRIALS, "chosen_on": list(CHOSEN_ON),
               "tables": {}}
    curves = {}
    for table in tables:
        figures["tables"][table.name], curves[table.name] = run_table(table, seeds)
    picture = PICTURE if seeds >= 20 and not options.tables else HERE / "results" / "anytime-quick.png"
    picture.parent.mkdir(exist_ok=True)
    draw(tables, curves, picture)
    summarize(figures)
    sys.path.insert(0, str(HERE))
    from record import write

    write("search_efficiency", figures, quick=options.quick or bool(options.tables))


def summarize(figures: dict) -> None:
    """Across tables: each arm's median ratio, and whether the goals hold on every table."""
    tables = figures["tables"]
    arms_seen = list(next(iter(tables.values()))["arms"])
    print("\n== across tables: ratio to random search without pruning, compute to 97% (95%) of the best")
    print(f"   {'arm':22s} " + " ".join(f"{name:>18s}" for name in tables) + f" {'median':>8s}")
    for label in arms_seen:
        ratios = [t["arms"][label]["0.97"]["ratio"] for t in tables.values()]
        cells = [f"{t['arms'][label]['0.97']['ratio']:5.2f} ({t['arms'][label]['0.95']['ratio']:4.2f})"
                 for t in tables.values()]
        print(f"   {label:22s} " + " ".join(f"{c:>18s}" for c in cells) + f" {statistics.median(ratios):8.2f}")
    verdicts = {}
    for name, t in tables.items():
        if not t["informative"]:
            continue
        arm = t["arms"]["hpsearch default"]
        rivals = min(t["arms"][r]["0.97"]["median_compute_s"] for r in COMPARED)
        verdicts[name] = {"third_of_random_at_97": arm["0.97"]["ratio"] <= 1 / 3,
                          "not_worse_than_random_at_95": arm["0.95"]["ratio"] <= 1.0,
                          "not_worse_than_best_rival_at_97": arm["0.97"]["median_compute_s"] <= rivals}
    figures["goals"] = verdicts
    for name, v in verdicts.items():
        said = ", ".join(f"{goal}: {'met' if ok else 'NOT met'}" for goal, ok in v.items())
        print(f"   goals on {name}: {said}")
    judged = [t for t in tables.values() if t["informative"]] or list(tables.values())
    ratio = statistics.median(t["arms"]["hpsearch default"]["0.97"]["ratio"] for t in judged)
    print(f"hpsearch default / random without pruning, compute to {TARGET:.0%} of the best, median over the "
          f"{len(judged)} informative tables: ratio = {ratio:.2f} (goal at most 0.33 on every one: "
          f"{'met' if all(v['third_of_random_at_97'] for v in verdicts.values()) else 'NOT met'})")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
