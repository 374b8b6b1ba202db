# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Measuring and recording: repeated timed trials, their medians, and the results file.

Knows nothing about Pants or PEX files: a trial is any callable that does the work and says what it
produced (pex runs, bytes written, bytes uploaded, and the seconds of its named steps).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence


class StepTimer:
    """Collects the seconds of a trial's named steps (summed when a name recurs)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    @property
    def seconds(self) -> dict[str, float]:
        return dict(self._seconds)


@dataclass(frozen=True)
class Outcome:
    """What one repetition of a trial produced, besides its wall time."""

    pex_runs: int = 0
    bytes_written: int = 0  # Total size of the output PEX files this repetition built.
    bytes_uploaded: int = 0  # What a deploy of this repetition's result uploads.
    # The trial's own timing, when the wall time of the whole call is not the figure (time to first output).
    seconds: float | None = None
    details: Mapping[str, float] = field(default_factory=dict)  # Other figures, by name (e.g. "wheels uploaded").


@dataclass(frozen=True)
class Trial:
    """One alternative in one scenario: `prepare` runs untimed before each repetition, `run` is timed."""

    scenario: str
    alternative: str
    run: Callable[[StepTimer], Outcome]
    prepare: Callable[[], None] = lambda: None
    n: int | None = None  # The number of apps, for scenarios that vary it.
    app: str | None = None  # The app measured, for scenarios that measure several side by side.


@dataclass(frozen=True)
class Record:
    """The measurement of one trial: every repetition's seconds, and what the last one produced."""

    scenario: str
    alternative: str
    n: int | None
    runs: tuple[float, ...]
    pex_runs: int
    bytes_written: int
    bytes_uploaded: int
    steps: Mapping[str, float] = field(default_factory=dict)  # Median seconds of each named step.
    details: Mapping[str, float] = field(default_factory=dict)  # The last repetition's other figures.
    app: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "alternative": self.alternative,
            "n": self.n,
            "app": self.app,
            "seconds": round(self.median, 3),
            "runs": [round(s, 3) for s in self.runs],
            "min": round(self.min, 3),
            "median": round(self.median, 3),
            "pex_runs": self.pex_runs,
            "bytes_written": self.bytes_written,
            "bytes_uploaded": self.bytes_uploaded,
            "steps": {name: round(s, 3) for name, s in sorted(self.steps.items(), key=lambda kv: -kv[1])},
            "details": dict(sorted(self.details.items())),
        }


def median_steps(per_repetition: Sequence[Mapping[str, float]]) -> dict[str, float]:
    names = {name for steps in per_repetition for name in steps}
    return {name: statistics.median(steps.get(name, 0.0) for steps in per_repetition) for name in names}


def measure(trial: Trial, repetitions: int, warmup: int = 0, log: Callable[[str], None] = print) -> Record:
    """Runs `trial` warmup + repetitions times; only the last `repetitions` count."""
    (record,) = measure_interleaved([trial], repetitions, warmup, log)
    return record


def measure_interleaved(
    trials: Sequence[Trial], repetitions: int, warmup: int = 0, log: Callable[[str], None] = print
) -> list[Record]:
    """Runs each trial warmup times, then the trials in turn (A B C A B C ...) `repetitions` times:
    a drift of the machine's speed during the runs then weighs on every trial alike, and the ratios
    between them hold."""
    if repetitions < 1:
        raise ValueError(f"repetitions must be at least 1, not {repetitions}")
    runs: list[list[float]] = [[] for _ in trials]
    steps: list[list[dict[str, float]]] = [[] for _ in trials]
    outcomes = [Outcome() for _ in trials]
    order = [(i, False) for i in range(len(trials)) for _ in range(warmup)]
    order += [(i, True) for _ in range(repetitions) for i in range(len(trials))]
    for index, counted in order:
        trial = trials[index]
        trial.prepare()
        timer = StepTimer()
        start = time.perf_counter()
        outcomes[index] = trial.run(timer)
        seconds = time.perf_counter() - start if outcomes[index].seconds is None else outcomes[index].seconds
        if counted:
            runs[index].append(seconds)
            steps[index].append(timer.seconds)
        n = f" N={trial.n}" if trial.n is not None else ""
        app = f" {trial.app}:" if trial.app is not None else ""
        log(f"  {trial.scenario}{app} {trial.alternative}{n}: {seconds:.2f} s{'' if counted else ' (warm-up, discarded)'}")
    return [
        Record(
            scenario=trial.scenario,
            alternative=trial.alternative,
            n=trial.n,
            runs=tuple(runs[index]),
            pex_runs=outcomes[index].pex_runs,
            bytes_written=outcomes[index].bytes_written,
            bytes_uploaded=outcomes[index].bytes_uploaded,
            steps=median_steps(steps[index]),
            details=outcomes[index].details,
            app=trial.app,
        )
        for index, trial in enumerate(trials)
    ]


# -----------------------------------------------------------------------------------------------
# The machine, and the results file
# -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_gib: float
    cpu_model: str
    load_average: tuple[float, float, float]  # At the start of the run.
    system: str


def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return ""


def find_python(version: str) -> str:
    """A CPython `version` ("3.12"), found as ./pants finds it: $PEX_RELEASE_PYTHON312, the newest pyenv
    install, then PATH."""
    override = os.environ.get(f"PEX_RELEASE_PYTHON{version.replace('.', '')}")
    if override:
        return override
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    installs = sorted(pyenv.glob(f"{version}.*/bin/python{version}"), key=lambda p: int(p.parts[-3].split(".")[2]))
    found = str(installs[-1]) if installs else shutil.which(f"python{version}")
    if not found:
        raise SystemExit(f"bench: no CPython {version} found (pyenv install {version}, or set PEX_RELEASE_PYTHON"
                         f"{version.replace('.', '')})")
    return found


def this_machine() -> Machine:
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()
    return Machine(
        cores=os.cpu_count() or 0,
        memory_gib=round(int(mem_kib[0]) / 2**20, 1) if mem_kib else 0.0,
        cpu_model=_proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        load_average=tuple(round(x, 2) for x in os.getloadavg()),  # type: ignore[arg-type]
        system=f"{platform.system()} {platform.release()} {platform.machine()}",
    )


@dataclass(frozen=True)
class ScenarioInfo:
    """What a scenario measures and how, for the README."""

    id: str
    title: str
    description: str  # Markdown: the exact commands.
    timing_only: bool = False  # No builds: pex runs and bytes do not apply.


@dataclass(frozen=True)
class Results:
    date: str
    mode: str
    machine: Machine
    versions: Mapping[str, str]
    scenarios: tuple[ScenarioInfo, ...]
    records: tuple[Record, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "date": self.date,
            "mode": self.mode,
            "machine": asdict(self.machine),
            "versions": dict(self.versions),
            "scenarios": [asdict(s) for s in self.scenarios],
            "records": [r.to_json() for r in self.records],
            "notes": list(self.notes),
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
