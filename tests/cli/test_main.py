"""The command line, end to end through the installed entry point."""

import json
import shutil
import subprocess
import sys
import time

import pytest

from helpers import COMMAND, ROOT, cli, hpsearch


def test_help_lists_the_commands():
    result = hpsearch("--help")
    assert result.returncode == 0
    for command in ("ranges", "validate", "run"):
        assert command in result.stdout


def test_ranges_table_and_json():
    table = cli("ranges")
    assert table.returncode == 0 and "learning_rate" in table.stdout and "early_stopping_patience" in table.stdout
    assert "the other way round" in table.stdout
    data = json.loads(cli("ranges", "--format", "json").stdout)
    assert len([d for d in data if d["parent"] is None and not d["peft"] and not d["gpu"] and not d["tasks"]]) == 19
    assert {d["name"] for d in data if d["gpu"]} == {"precision"}
    assert {d["name"] for d in data if d["peft"]} == {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules",
                                                      "quantization"}
    assert {d["name"] for d in data if d["tasks"] == ["sft"]} == {"quantization", "gradient_checkpointing", "packing",
                                                                  "neftune_noise_alpha"}
    sft = {d["name"]: d["recommended"] for d in data}
    assert {(r["size"], r["value"]) for r in sft["quantization"]} == {("under-1b", "none"), ("1b-10b", "none"),
                                                                       ("over-10b", "4bit")}
    assert "task=sft" in table.stdout and "QLoRA (Dettmers" in table.stdout
    assert {d["name"]: (d["low"], d["high"]) for d in data}["top_k"] == (1, 10)


def test_ranges_bad_format():
    result = cli("ranges", "--format", "xml")
    assert result.returncode == 2
    assert result.stderr == "error: --format must be table or json, but got 'xml'\n" and result.stdout == ""


def test_validate_shipped_files():
    result = cli("validate", *sorted((ROOT / "search_spaces").glob("*.yaml")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(list((ROOT / "search_spaces").glob("*.yaml")))


def test_validate_reports_every_error_one_line_each_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study:\n  name: t\n  n_trial: 3\nspace:\n  dropout: {low: 0.5, high: 0.1}\n")
    good = tmp_path / "good.yaml"
    good.write_text("study: {name: ok}\n")
    result = cli("validate", bad, good, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{bad}:3: study.n_trial: unknown key 'n_trial' (did you mean n_trials?)",
        f"{bad}:5: space.dropout.low: low (0.5) must be below high (0.1) (swap them)",
    ]
    assert "Traceback" not in result.stderr
    assert f"{good}: ok" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "good.yaml"]  # no database appeared


def test_validate_missing_file():
    result = cli("validate", "nope.yaml")
    assert result.returncode == 2 and result.stderr.strip() == "nope.yaml: no such file (check the path)"


def test_warnings_go_to_stderr_and_pass(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("study: {name: w}\nspace:\n  learning_rate: {low: 1.0e-6, high: 1.0e-3, log: true}\n")
    result = cli("validate", f)
    assert result.returncode == 0 and "[warning]" in result.stderr


def test_dry_run_prints_configurations_and_touches_nothing(tmp_path):
    shutil.copy(ROOT / "search_spaces" / "quickstart.yaml", tmp_path / "q.yaml")
    result = cli("run", "q.yaml", "--dry-run", "--n-trials", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "5 sampled configurations" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert len(rows) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.yaml"]
    again = cli("run", "q.yaml", "--dry-run", "--n-trials", "5", cwd=tmp_path)
    assert again.stdout == result.stdout  # the file's sampler seed makes it repeatable


def test_run_with_bad_override(tmp_path):
    shutil.copy(ROOT / "search_spaces" / "quickstart.yaml", tmp_path / "q.yaml")
    result = cli("run", "q.yaml", "--dry-run", "--n-trials", "0", cwd=tmp_path)
    assert result.returncode == 2 and "--n-trials: must be at least 1" in result.stderr


def test_run_with_bad_file_exits_2_and_creates_no_database(tmp_path):
    (tmp_path / "b.yaml").write_text("study: {name: 'bad name'}\n")
    result = cli("run", "b.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "is not a valid study name" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yaml"]


def test_debug_shows_the_traceback(tmp_path):
    result = cli("--debug", "validate", tmp_path / "nope.yaml")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_bad_option_is_a_usage_error():
    assert cli("run", "--n-trials", "x", "f.yaml").returncode == 2


@pytest.mark.parametrize("args", [["--help"], ["ranges"], ["validate", ROOT / "search_spaces" / "quickstart.yaml"]])
def test_light_commands_do_not_import_torch(args):
    code = (
        "import sys\n"
        "from hpsearch.cli import app\n"
        "try:\n"
        f"    app({[str(a) for a in args]!r}, prog_name='hpsearch')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stderr, result.stderr


def test_set_overrides_a_value_and_names_itself_when_wrong():
    space = ROOT / "search_spaces" / "quickstart.yaml"
    ok = cli("run", space, "--dry-run", "--set", "study.n_trials=2", "--set", "fixed.max_steps=5")
    assert ok.returncode == 0, ok.stderr
    assert "2 sampled configurations" in ok.stdout and "max_steps=5" in ok.stdout
    bad = cli("validate", space, "--set", "fixed.max_steps=-1")
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"{space} --set: fixed.max_steps: must be at least 1, but got -1"


def test_ranges_shows_documented_and_recommended_side_by_side_with_sources():
    table = cli("ranges")
    assert "recommended" in table.stdout and "miniatures" in table.stdout and "3e-05 .. 0.0003" in table.stdout
    data = {d["name"]: d for d in json.loads(cli("ranges", "--format", "json").stdout)}
    assert (data["learning_rate"]["low"], data["learning_rate"]["high"]) == (1e-4, 1e-1)  # documented, unchanged
    by_setting = {(r["method"], r["size"]): r for r in data["learning_rate"]["recommended"]}
    assert by_setting[("full", "base")]["value"] == 3e-5 and "BERT" in by_setting[("full", "base")]["source"]
    assert by_setting[("lora", "any")]["value"] == 4e-4 and "LoRA" in by_setting[("lora", "any")]["source"]
    assert data["sequence_length"]["recommended"] == []


def test_a_bad_prior_exits_2_with_file_line_and_key(tmp_path):
    (tmp_path / "p.yaml").write_text("study: {name: p}\nspace:\n  learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true,"
                                     " prior: 0.5}\n  sequence_length: recommended\n")
    result = cli("run", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "p.yaml:3: space.learning_rate.prior: (0.5) must lie in the range" in result.stderr
    assert "p.yaml:4: space.sequence_length: has no recommendation in this setting; entries that have one:" \
        in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


def test_dry_run_says_where_the_default_search_looks_first(tmp_path):
    shutil.copy(ROOT / "search_spaces" / "quickstart.yaml", tmp_path / "q.yaml")
    result = cli("run", "q.yaml", "--dry-run", "--n-trials", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "priors (full fine-tuning, small model): learning_rate 0.0001" in text
    assert "dropout 0.1" in text and not (tmp_path / "studies").exists()


def test_a_dry_run_of_a_million_trials_prints_the_first_few_at_once(tmp_path):
    shutil.copy(ROOT / "search_spaces" / "quickstart.yaml", tmp_path / "q.yaml")
    started = time.monotonic()
    result = cli("run", "q.yaml", "--dry-run", "--n-trials", "1000000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30  # sampling every trial took minutes
    assert "the first 10 of 1000000 sampled configurations" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.startswith("│ ")]) == 10
    assert "expected compute: 1000000 trials" in result.stdout


def test_a_reader_that_left_is_no_failure():
    """`hpsearch ranges -f json | head -0`: the rest of the output is dropped, silently, and the command succeeds
    (as `hpsearch run ... | head` does once its study has ended)."""
    process = subprocess.Popen(COMMAND + ["ranges", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # before the command has written anything: it starts in far more than this
    assert process.wait(timeout=60) == 0 and process.stderr.read() == ""
