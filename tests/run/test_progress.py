import io

from hpsearch.run.progress import Progress
from hpsearch.spec.space import load_text

SPEC = load_text("study: {name: p, n_trials: 3}\ntask: {dataset: {path: d.csv}}\n")


def test_plain_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    progress.begin(SPEC, 1)
    progress.trial_started(4, {"learning_rate": 0.001234567, "optimizer": "sgd"})
    progress.step(4, 3, 10)
    progress.evaluation(4, 5, 0.8)
    progress.trial_finished(4, "COMPLETE", 0.8, "completed")
    progress.trial_finished(5, "PRUNED", 0.2, "pruned at step 5")
    progress.end()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "study p: 1/3 trials finished; optimizing eval_accuracy (maximize)",
        "trial 4 started: learning_rate=0.001235, optimizer=sgd",
        "trial 4 step 5: 0.8",
        "trial 4 complete 0.8 (completed); 2/3 finished",
        "trial 5 pruned 0.2 (pruned at step 5); 3/3 finished",
    ]
    assert progress.best == (0.8, 4, {"learning_rate": 0.001234567, "optimizer": "sgd"})


def test_live_panel_renders_the_state():
    stream = io.StringIO()
    progress = Progress(stream=stream, live=True)
    progress.begin(SPEC, 0)
    progress.trial_started(0, {"dropout": 0.2})
    progress.step(0, 7, 30)
    progress.trial_finished(0, "COMPLETE", 0.9, "completed")
    progress.end()
    text = stream.getvalue()
    assert "1/3" in text and "best" in text and "0.9 (trial 0): dropout=0.2" in text


def test_disabled_progress_prints_nothing():
    stream = io.StringIO()
    progress = Progress(enabled=False, stream=stream)
    progress.begin(SPEC, 0)
    progress.trial_finished(0, "FAIL", None, "boom")
    assert stream.getvalue() == ""


class ReaderGone(io.StringIO):
    """A pipe whose reader has left (`| head -2`) after `lines` lines."""

    def __init__(self, lines):
        super().__init__()
        self.left = lines

    def write(self, text):
        if self.left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= text.count("\n")
        return super().write(text)


def test_a_closed_pipe_silences_the_progress_and_stops_nothing():
    stream = ReaderGone(lines=1)
    progress = Progress(stream=stream)
    progress.begin(SPEC, 0)
    progress.trial_started(0, {"dropout": 0.2})  # the reader is gone: no error, and nothing more is written
    progress.trial_finished(0, "COMPLETE", 0.9, "completed")
    assert stream.getvalue() == "study p: 0/3 trials finished; optimizing eval_accuracy (maximize)\n"
    assert progress.finished == 1 and progress.best == (0.9, 0, {"dropout": 0.2})  # still counting
