"""The Python API (`hpsearch.run`, `resume`, `load`, `best`): the CLI's study, driven from a notebook."""

import shutil
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

import hpsearch
from helpers import ROOT
from hpsearch.errors import HpsearchError, Interrupted, SpaceError, StudyError, UsageError
from hpsearch.run.progress import Progress


def test_importing_hpsearch_loads_no_heavy_library():
    code = "import sys, hpsearch; print(sorted(m for m in ('torch', 'optuna', 'transformers', 'typer') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_run_resume_load_best_from_python(tiny_project, capsys):
    path = tiny_project(n_trials=2)
    summary = hpsearch.run(path)
    assert (summary.finished, summary.ran, summary.target) == (2, 2, 2)
    study = optuna.load_study(study_name="tiny", storage=tiny_project.storage)
    assert summary.best_trial == study.best_trial.number and summary.best_value == study.best_value
    assert summary.best_params == study.best_trial.params and summary.spec.metric == "eval_accuracy"
    # progress shows as plain lines where stderr is no terminal (a notebook's output)
    assert "trial 1 complete" in capsys.readouterr().err

    more = hpsearch.resume("tiny", n_trials=3, progress=False)  # from the database alone
    assert (more.finished, more.ran) == (3, 1)
    assert capsys.readouterr().err == ""

    stored = hpsearch.load("tiny")
    assert stored.spec.text == path.read_text() and stored.spec.space == hpsearch.load_space(path).space
    assert stored.finished == 3 and stored.storage == "sqlite:///studies/hpsearch.db"  # the default, from here
    assert [t.number for t in stored.trials] == [0, 1, 2] and stored.states() == {"COMPLETE": 3}
    assert stored.best_trials()[0].number == stored.study.best_trial.number

    best = hpsearch.best("tiny")
    winner = stored.study.best_trial
    assert best["trial"] == winner.number and best["objectives"] == {"eval_accuracy": winner.value}
    assert best["searched"] == winner.params and best["config"]["max_steps"] == 30
    assert best["model_dir"] and best["metrics"]["eval_accuracy"] == winner.value


def test_the_function_stays_hpsearch_run_once_the_layer_is_imported(tiny_project):
    import hpsearch.run.study_loop  # noqa: F401 - the import system sets hpsearch.run to the package here

    assert callable(hpsearch.run) and hpsearch.run.__module__ == "hpsearch.run.api"
    from hpsearch import run

    assert run is hpsearch.run


def test_set_overrides_the_file_and_the_budget_arguments_win(tiny_project):
    path = tiny_project(n_trials=5)
    summary = hpsearch.run(path, n_trials=1, set=["fixed.max_steps=10"], progress=False)
    assert summary.finished == 1
    trial = optuna.load_study(study_name="tiny", storage=tiny_project.storage).trials[0]
    assert trial.user_attrs["config"]["max_steps"] == 10


def test_a_bad_file_raises_the_cli_message_and_touches_nothing(tiny_project):
    path = tiny_project()
    path.write_text(path.read_text().replace("n_trials:", "n_trial:"))
    with pytest.raises(SpaceError) as raised:
        hpsearch.run(path)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}:4: study.n_trial: unknown key 'n_trial' (did you mean n_trials?)"]
    assert raised.value.exit_code == 2
    assert not (tiny_project.root / "studies").exists()


def test_bad_budget_and_unknown_studies_raise_hpsearch_errors(tiny_project):
    with pytest.raises(SpaceError, match="--n-trials: must be at least 1"):
        hpsearch.run(tiny_project(), n_trials=0)
    hpsearch.run(tiny_project(n_trials=1), progress=False)
    with pytest.raises(StudyError, match="no study 'nope' in this database"):
        hpsearch.load("nope")
    with pytest.raises(StudyError, match="no study 'nope'"):
        hpsearch.best("nope")
    with pytest.raises(StudyError, match="no study 'nope'"):
        hpsearch.resume("nope")


def test_best_before_any_complete_trial_is_a_usage_error(made_study):
    assert hpsearch.best("made")["trial"] == 3
    optuna.create_study(study_name="empty", storage=f"sqlite:///{made_study}/studies/hpsearch.db")
    with pytest.raises(UsageError, match="'empty' has no complete"):
        hpsearch.best("empty")


class StopAtSecondTrial(Progress):
    """Ctrl-C in a notebook: KeyboardInterrupt in the study loop, once trial 1 has started."""

    def trial_started(self, number, values):
        super().trial_started(number, values)
        if number == 1:
            raise KeyboardInterrupt


def test_an_interrupted_run_raises_and_the_next_run_continues_losing_nothing(tiny_project):
    path = tiny_project(n_trials=3)
    with pytest.raises(Interrupted) as raised:
        hpsearch.run(path, progress=StopAtSecondTrial(enabled=False))
    assert isinstance(raised.value, HpsearchError) and raised.value.exit_code == 130
    study = optuna.load_study(study_name="tiny", storage=tiny_project.storage)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL]  # marked to run again
    interrupted = study.trials[1].params

    summary = hpsearch.run(path, progress=False)
    assert (summary.finished, summary.ran) == (3, 2)
    study = optuna.load_study(study_name="tiny", storage=tiny_project.storage)
    assert study.trials[2].params == interrupted and study.trials[2].state == TrialState.COMPLETE


def test_a_custom_task_from_python_with_its_entry_checked_first(tmp_path, monkeypatch):
    """hpsearch.run on a custom task: the function trains in the trial processes, and a bad entry raises the CLI's
    one line as a SpaceError before any study exists."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    (tmp_path / "fit.py").write_text("def main(config, reporter):\n    reporter.report(1, {'acc': config['x']})\n"
                                     "def wrong(config, reporter, extra):\n    pass\n")
    space = tmp_path / "space.yaml"
    space.write_text("study: {name: own, metric: acc, direction: maximize, n_trials: 2, pruner: none}\n"
                     "task: {type: custom, entry: fit.py:wrong}\nspace: {x: {choices: [0.25, 0.75]}}\n")
    with pytest.raises(SpaceError) as bad:
        hpsearch.run(space, progress=False)
    assert [str(p) for p in bad.value.problems] == [
        f"{space}:2: task.entry: wrong(config, reporter, extra) cannot be called as wrong(config, reporter): give it "
        "the signature def wrong(config, reporter)"]
    assert not (tmp_path / "studies").exists()
    summary = hpsearch.run(space, set=["task.entry=fit.py:main"], progress=False)
    assert summary.states == {"COMPLETE": 2} and summary.best_value in (0.25, 0.75)
    assert hpsearch.best("own")["metrics"] == {"acc": summary.best_value}


def test_resume_of_a_renamed_copy_runs_its_trials_into_that_copy(tiny_project):
    path = tiny_project(n_trials=1)
    hpsearch.run(path, progress=False)
    optuna.copy_study(from_study_name="tiny", from_storage=tiny_project.storage, to_storage=tiny_project.storage,
                      to_study_name="tiny-v2")
    summary = hpsearch.resume("tiny-v2", n_trials=2, progress=False)
    assert (summary.study_name, summary.finished, summary.ran) == ("tiny-v2", 2, 1)
    assert len(optuna.load_study(study_name="tiny-v2", storage=tiny_project.storage).trials) == 2
    assert len(optuna.load_study(study_name="tiny", storage=tiny_project.storage).trials) == 1  # untouched


def readme_example(space: str, study: str) -> str:
    """The README's Python example, as a script without `if __name__ == "__main__":`, on a tiny study."""
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## From Python (a notebook)")[1].split("```python\n")[1].split("```")[0]
    swaps = {'"search_spaces/quickstart.yaml", n_trials=8, set=["fixed.max_steps=40"]':
             f'"{space}", n_trials=1, set=["fixed.max_steps=5"]',
             '"quickstart", n_trials=12': f'"{study}", n_trials=1', '"quickstart"': f'"{study}"'}
    for old, new in swaps.items():
        assert old in code, f"the README's example changed: adapt this test to it ({old})"
        code = code.replace(old, new)
    return code + "print('best trial', summary.best_trial, 'states', stored.states())\n"


@pytest.mark.slow
def test_the_readmes_example_runs_as_a_script_and_from_stdin(tiny_project):
    """The fork server never re-runs the user's script: a script without the `__main__` guard works, saved as a
    file (`python tune.py`) or piped (`python - < tune.py`)."""
    tiny_project(n_trials=3)
    script = tiny_project.root / "tune.py"
    script.write_text(readme_example("space.yaml", "tiny"))
    for command, stdin in ([sys.executable, "tune.py"], None), ([sys.executable, "-"], script.read_text()):
        shutil.rmtree(tiny_project.root / "studies", ignore_errors=True)
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=tiny_project.root, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("best trial 0 states {'COMPLETE': 1}"), done.stdout
        assert "Traceback" not in done.stderr
        study = optuna.load_study(study_name="tiny", storage=tiny_project.storage)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE]
