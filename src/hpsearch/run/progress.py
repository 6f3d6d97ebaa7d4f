"""What a running study shows: a live rich panel on a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from hpsearch import numbers


def drop_output(stream) -> None:
    """The reader of `stream` has gone (`| head`): what this process writes there from now on goes to /dev/null,
    and so does what it writes to stdout or stderr when either is that same pipe (`2>&1`), so no write fails."""
    try:
        broken = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # not a file (a notebook's stream): no later write fails
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in {stream.fileno(), 1, 2}:
            try:
                if os.path.samestat(os.fstat(fd), broken):
                    os.dup2(devnull, fd)
            except OSError:  # closed: nothing writes to it
                continue
    finally:
        os.close(devnull)


class KeepWriting:
    """A text stream that drops what is written once its pipe's reader has gone, instead of raising: a trial's
    stdout and stderr (set by hpsearch.run.preload), where a `print` in the user's code must not fail the trial."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            drop_output(self.stream)
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            drop_output(self.stream)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


class Progress:
    """Finished / target, trial states, the best value and its values, the current trial, elapsed and ETA."""

    def __init__(self, enabled: bool = True, live: bool | None = None, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live_mode = self.stream.isatty() if live is None else live
        self._live = None
        self.started = time.monotonic()
        self.target = 0
        self.finished = 0
        self.finished_at_start = 0
        self.states: dict[str, int] = {}
        self.best: tuple[float, int, dict] | None = None
        self.spec = None
        self.current: dict[str, Any] = {}

    # -- events ------------------------------------------------------------------------------------
    def begin(self, spec, finished: int) -> None:
        self.target, self.finished, self.finished_at_start = spec.study.n_trials, finished, finished
        self.spec = spec
        self.started = time.monotonic()
        goal = ", ".join(f"{o.name} ({o.direction})" for o in spec.objectives)
        self._line(f"study {spec.study.name}: {finished}/{self.target} trials finished; optimizing {goal}")
        if self.enabled and self.live_mode:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.stream), refresh_per_second=2,
                              transient=False)
            self._live.start()

    def note(self, text: str) -> None:
        self._line(text)

    def trial_started(self, number: int, values: dict[str, Any]) -> None:
        self.current = {"number": number, "values": values, "step": 0, "total": None, "metric": None}
        self._line(f"trial {number} started: " + ", ".join(f"{k}={numbers.number(v)}" for k, v in values.items()))

    def step(self, number: int, step: int, total: int) -> None:
        self.current.update(step=step, total=total)
        self._refresh()

    def evaluation(self, number: int, step: int, value: float) -> None:
        self.current.update(step=step, metric=value)
        self._line(f"trial {number} step {step}: {numbers.number(value)}", live_too=False)

    def trial_finished(self, number: int, state: str, value: float | None, reason: str) -> None:
        self.states[state] = self.states.get(state, 0) + 1
        if state in ("COMPLETE", "PRUNED"):
            self.finished += 1
        if state == "COMPLETE" and value is not None and not isinstance(value, list):
            best = self.best[0] if self.best else None
            if self.spec.improves(value, best) if self.spec else best is None or value > best:
                self.best = (value, number, self.current.get("values", {}))
        shown = f" {numbers.number(value)}" if value is not None else ""
        self._line(f"trial {number} {state.lower()}{shown} ({reason}); {self.finished}/{self.target} finished")
        self.current = {}

    def end(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    # -- output ------------------------------------------------------------------------------------
    def _line(self, text: str, live_too: bool = True) -> None:
        if not self.enabled:
            return
        try:
            if self._live is not None:
                if live_too:
                    self._live.console.print(text)
                self._refresh()
            else:
                print(text, file=self.stream, flush=True)
        except BrokenPipeError:  # the reader has gone (`| head`): the study goes on, saying nothing more
            self.enabled, self._live = False, None
            drop_output(self.stream)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def eta_seconds(self) -> float | None:
        done = self.finished - self.finished_at_start
        if done <= 0:
            return None
        per_trial = (time.monotonic() - self.started) / done
        return per_trial * max(0, self.target - self.finished)

    def _render(self):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self.started
        eta = self.eta_seconds()
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(self.states.items())) or "none yet"
        table.add_row("finished", f"{self.finished}/{self.target}  ({states})")
        if self.best:
            value, number, values = self.best
            table.add_row("best", f"{numbers.number(value)} (trial {number}): "
                                  + ", ".join(f"{k}={numbers.number(v)}" for k, v in values.items()))
        if self.current:
            total = self.current.get("total")
            step = f"step {self.current['step']}" + (f"/{total}" if total else "")
            metric = self.current.get("metric")
            last = f", last {numbers.number(metric)}" if metric is not None else ""
            table.add_row(f"trial {self.current['number']}", step + last)
        table.add_row("elapsed", f"{elapsed:.0f}s" + (f", about {eta:.0f}s left" if eta is not None else ""))
        return table
