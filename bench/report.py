# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Rendering: bench/README.md and the PNG plots, from the results file alone."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

MB = 1_000_000

# The start-up forms (scenarios 6, 6b, 7 and 9) the figures compare, as the suite names them.
REFERENCE_VENV = "venv (pip install of the locked wheels)"
SINGLE_FILE_START = "pex_binary (single file)"
TREES_START = "pex_release (deps + sources trees, run directly)"
PEXRUN_START = "pex_release (pexrun run)"
# The targets: pexrun's warm start within this multiple of the reference venv's, its cold start
# within this multiple of pex_binary's single file's.
WARM_START_TARGET = 1.1
COLD_START_TARGET = 1.2
# What the start-up forms keep on disk, in their records' details (bytes; each inode once).
DEPS_TREE_BYTES = "bytes on disk: the deps tree in pexrun's cache"
DEPS_VENVS_BYTES = "bytes on disk: pexrun's virtualenvs of the deps tree"
PEX_ROOT_BYTES = "bytes on disk: PEX_ROOT"


@dataclass(frozen=True)
class Row:
    """One record of the results file, as the README needs it."""

    alternative: str
    n: int | None
    median: float
    min: float
    runs: tuple[float, ...]
    pex_runs: int
    bytes_written: int
    bytes_uploaded: int
    steps: Mapping[str, float]
    details: Mapping[str, float]
    app: str | None = None  # In scenarios that measure several apps side by side.

    @classmethod
    def from_json(cls, record: Mapping) -> Row:
        return cls(
            alternative=record["alternative"],
            n=record["n"],
            median=record["median"],
            min=record["min"],
            runs=tuple(record["runs"]),
            pex_runs=record["pex_runs"],
            bytes_written=record["bytes_written"],
            bytes_uploaded=record["bytes_uploaded"],
            steps=record.get("steps", {}),
            details=record.get("details", {}),
            app=record.get("app"),
        )

    @property
    def label(self) -> str:
        app = "" if self.app is None else f"{self.app}: "
        return app + (self.alternative if self.n is None else f"{self.alternative}, N={self.n}")

    @property
    def slowest_step(self) -> tuple[str, float] | None:
        return max(self.steps.items(), key=lambda kv: kv[1]) if self.steps else None


def rows_by_scenario(results: Mapping) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {s["id"]: [] for s in results["scenarios"]}
    for record in results["records"]:
        rows.setdefault(record["scenario"], []).append(Row.from_json(record))
    return rows


def megabytes(size: int) -> str:
    return f"{size / MB:,.2f} MB" if size else "0"


def ratio(slow: float, fast: float) -> str:
    if fast <= 0:
        return "∞×"
    times = slow / fast
    return f"{times:.2f}×" if times < 1.095 else f"{times:.1f}×"


# -----------------------------------------------------------------------------------------------
# Markdown
# -----------------------------------------------------------------------------------------------


# Below this relative difference, two figures are reported as the same.
SAME = 0.01


@dataclass(frozen=True)
class Measure:
    """A figure the README compares alternatives by; smaller is better."""

    value: Callable[[Row], float]
    show: Callable[[float], str]
    same: str  # "take the same time"
    better: str  # "is {} faster than", given the ratio
    none: str = ""  # Said when the better figure is zero, instead of an infinite ratio.


SPEED = Measure(lambda r: r.median, lambda s: f"{s:.2f} s", "take the same time", "is {} faster than")
UPLOAD = Measure(
    lambda r: r.bytes_uploaded,
    lambda b: megabytes(int(b)),
    "upload the same",
    "uploads {} fewer bytes than",
    "uploads no PEX bytes",
)


def comparisons(rows: Sequence[Row], measure: Measure) -> list[str]:
    """One sentence per pair of rows: which is better by the measure, and by how much."""
    sentences = []
    for a, b in itertools.combinations(sorted(rows, key=measure.value), 2):
        small, large = measure.value(a), measure.value(b)
        figures = f"({measure.show(small)} vs {measure.show(large)})"
        if large <= small * (1 + SAME):
            sentences.append(f"{a.alternative} and {b.alternative} {measure.same}, within 1% {figures}")
        elif small == 0 and measure.none:
            sentences.append(f"{a.alternative} {measure.none}, {b.alternative} {measure.show(large)}")
        else:
            better = measure.better.format(ratio(large, small))
            sentences.append(f"{a.alternative} {better} {b.alternative} {figures}")
    return sentences


def best(rows: Sequence[Row], value: Callable[[Row], float]) -> str:
    """The alternatives with the smallest value, ties included."""
    smallest = min(value(r) for r in rows)
    return ", ".join(r.alternative for r in rows if value(r) == smallest)


def winners(rows: Sequence[Row], timing_only: bool) -> str:
    fastest = min(rows, key=lambda r: r.median)
    parts = [f"fastest: **{fastest.alternative}** ({fastest.median:.2f} s median)"]
    if not timing_only:
        parts.append(f"fewest pex runs: **{best(rows, lambda r: r.pex_runs)}** ({min(r.pex_runs for r in rows)})")
        least = min(r.bytes_uploaded for r in rows)
        parts.append(f"least uploaded: **{best(rows, lambda r: r.bytes_uploaded)}** ({megabytes(least)})")
    return "; ".join(parts) + "."


def table(rows: Sequence[Row], timing_only: bool) -> list[str]:
    if timing_only:
        header = ["alternative", "median s", "min s", "runs (s)"]
    else:
        header = ["alternative", "median s", "min s", "runs (s)", "pex runs", "bytes written", "bytes uploaded"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.label, f"{row.median:.2f}", f"{row.min:.2f}", ", ".join(f"{s:.2f}" for s in row.runs)]
        if not timing_only:
            cells += [str(row.pex_runs), megabytes(row.bytes_written), megabytes(row.bytes_uploaded)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def details(rows: Sequence[Row]) -> list[str]:
    lines = [
        f"- {row.label}: " + "; ".join(f"{name} {value:,.0f}" for name, value in row.details.items())
        for row in rows
        if row.details
    ]
    return ["Other figures of the last repetition:", "", *lines, ""] if lines else []


def slowest_steps(rows: Sequence[Row]) -> list[str]:
    lines = []
    for row in rows:
        slowest = row.slowest_step
        if slowest:
            lines.append(f"- {row.label}: {slowest[0]} ({slowest[1]:.2f} s of {row.median:.2f} s)")
    return ["Slowest step that remains, per alternative (median seconds):", "", *lines] if lines else []


def scenario_section(info: Mapping, rows: Sequence[Row], plot: str | None) -> list[str]:
    timing_only = info.get("timing_only", False)
    lines = [f"## {info['title']}", "", info["description"], ""]
    if not rows:
        return [*lines, "_Not measured in this run._", ""]
    if plot:
        lines += [f"![{info['title']}]({plot})", ""]
    lines += [*table(rows, timing_only), "", *details(rows)]
    for (app, n), group in groups(rows):
        lines += [group_heading(app, n) + winners(group, timing_only), ""]
        lines += [f"- {s}." for s in comparisons(group, SPEED)]
        if not timing_only:
            lines += [f"- {s}." for s in comparisons(group, UPLOAD)]
        lines.append("")
    lines += [*slowest_steps(rows), ""]
    return lines


def group_heading(app: str | None, n: int | None) -> str:
    """`For api, `, `With N=5, `, `For api with N=5, `, or nothing."""
    words = " ".join([*([f"for {app}"] if app is not None else []), *([f"with N={n}"] if n is not None else [])])
    return f"{words[:1].upper()}{words[1:]}, " if words else ""


def groups(rows: Sequence[Row]) -> list[tuple[tuple[str | None, int | None], list[Row]]]:
    """The rows compared with one another, by (app, N): those of one app and one N, where a scenario varies them."""
    ordered = sorted(rows, key=lambda r: (r.app or "", r.n or 0))
    return [(key, list(group)) for key, group in itertools.groupby(ordered, key=lambda r: (r.app, r.n))]


def summary(results: Mapping) -> list[str]:
    """One line per scenario (and N): the fastest alternative, and the others' times as multiples of it."""
    lines = [
        "| scenario | fastest (median s) | the others, × the fastest's time | least uploaded |",
        "|---|---|---|---|",
    ]
    rows = rows_by_scenario(results)
    for info in results["scenarios"]:
        for (app, n), group in groups(rows.get(info["id"], [])):
            fastest, *others = sorted(group, key=lambda r: r.median)
            title = info["title"] + (f" — {app}" if app is not None else "") + (f", N={n}" if n is not None else "")
            slower = ", ".join(f"{r.alternative} {ratio(r.median, fastest.median)}" for r in others)
            least = min(group, key=lambda r: r.bytes_uploaded)
            uploaded = "–" if info.get("timing_only") else f"{least.alternative} ({megabytes(least.bytes_uploaded)})"
            lines.append(f"| {title} | **{fastest.alternative}** ({fastest.median:.2f}) | {slower} | {uploaded} |")
    return lines


KB = 1_000


def _row(rows: Mapping[str, list[Row]], scenario: str, alternative: str, app: str | None = None) -> Row | None:
    return next((r for r in rows.get(scenario, []) if r.alternative == alternative and r.app == app), None)


def headlines(results: Mapping) -> list[str]:
    """The figures release trees are judged by, each from the scenario that measures it (where measured)."""
    rows = rows_by_scenario(results)
    release, binary, manual = (
        lambda scenario, alternative=alternative: _row(rows, scenario, alternative)
        for alternative in ("pex_release", "pex_binary", "manual")
    )
    lines = []
    edit = release("2-edit-reports")
    if edit and binary("2-edit-reports") and manual("2-edit-reports"):
        lines.append(
            f"One-line source edit in the heavy app, build and publish: pex_release uploaded "
            f"{edit.bytes_uploaded / KB:,.1f} kB (manifest and indexes included); pex_binary "
            f"{megabytes(binary('2-edit-reports').bytes_uploaded)}, manual {megabytes(manual('2-edit-reports').bytes_uploaded)}."
        )
    for app in ("cli", "reports"):
        loop = [(r, _row(rows, f"2-edit-{app}", r.alternative)) for r in rows.get(f"2p-edit-{app}-pantsd", [])]
        if loop:
            lines.append(
                f"One-line source edit in {app}, build and publish, pantsd warm (a developer's loop): "
                + ", ".join(f"{r.alternative} {r.median:.2f} s" + (f" (CI, `--no-pantsd`: {ci.median:.2f} s)" if ci else "")
                            for r, ci in loop) + "."
            )
    bump = release("3b-dependency-bump")
    if bump:
        wheel = bump.details.get("wheel bytes uploaded", 0)
        others = ", ".join(f"{r.alternative} {megabytes(r.bytes_uploaded)}" for r in rows["3b-dependency-bump"] if r is not bump)
        lines.append(
            f"One wheel of the heavy app's closure changes version: pex_release uploaded {bump.bytes_uploaded / KB:,.1f} kB, "
            f"of which {bump.details.get('wheels uploaded', 0):.0f} wheel(s), {wheel / KB:,.1f} kB; the rest, "
            f"{(bump.bytes_uploaded - wheel) / KB:,.1f} kB, is the new deps and sources trees' changed files, the "
            f"manifest and indexes; {others}."
        )
    subset = release("3c-subset-app")
    if subset:
        lines.append(
            f"A new app whose closure is a subset of the heavy app's: pex_release uploaded "
            f"{subset.details.get('wheels uploaded', 0):.0f} wheels, {subset.bytes_uploaded / KB:,.1f} kB in all; "
            + ", ".join(f"{r.alternative} {megabytes(r.bytes_uploaded)}" for r in rows["3c-subset-app"] if r is not subset)
            + "."
        )
    zipapp, packed = (_row(rows, "1b-deps-build", a) for a in ("zipapp, installed wheels (before)", "packed, wheel files"))
    if zipapp and packed:
        lines.append(
            f"The heavy app's deps PEX builds {ratio(zipapp.median, packed.median)} faster as a packed tree of wheel "
            f"files ({packed.median:.2f} s) than as a zipapp of installed wheels ({zipapp.median:.2f} s)."
        )
    cold, cold_manual = release("1-cold"), manual("1-cold")
    if cold and cold_manual:
        faster = "faster" if cold.median <= cold_manual.median else "slower"
        lines.append(
            f"Cold build of the four apps: pex_release {cold.median:.2f} s, manual {cold_manual.median:.2f} s "
            f"(pex_release {ratio(max(cold.median, cold_manual.median), min(cold.median, cold_manual.median))} {faster})."
        )
    lines += startup_headlines(rows)
    lines += disk_use_headlines(rows)
    return [f"- {line}" for line in lines]


STARTUP_TARGETS = (  # scenario, what it measures, the form pexrun is set against, the target
    ("6-startup", "Warm start", REFERENCE_VENV, "the venv", WARM_START_TARGET),
    ("6b-startup-no-bytecode", "Warm start with `PYTHONDONTWRITEBYTECODE=1`", REFERENCE_VENV, "the venv",
     WARM_START_TARGET),
    ("7-cold-start", "Cold start (empty caches, local `file://` repository)", SINGLE_FILE_START,
     "pex_binary's single file", COLD_START_TARGET),
)


def _apps(rows: Mapping[str, list[Row]], scenario: str) -> list[str]:
    """The apps a scenario measured side by side, in the order it measured them."""
    return list(dict.fromkeys(r.app for r in rows.get(scenario, []) if r.app is not None))


def startup_headlines(rows: Mapping[str, list[Row]]) -> list[str]:
    """Per start-up scenario, `pexrun run` against the form the issue sets it against, app by app."""
    lines = []
    for scenario, start, baseline, name, target in STARTUP_TARGETS:
        pairs = [(app, _row(rows, scenario, PEXRUN_START, app), _row(rows, scenario, baseline, app)) for app in _apps(rows, scenario)]
        figures = [
            f"{app} {pexrun.median:.2f} s against {other.median:.2f} s ({pexrun.median / other.median:.2f}×, "
            f"{'within' if pexrun.median <= target * other.median else 'outside'})"
            for app, pexrun, other in pairs
            if pexrun and other
        ]
        if figures:
            lines.append(f"{start}, `pexrun run` against {name}: {'; '.join(figures)}; the issue's target: {target:g}×.")
    return lines


def _beside(size: float, tree: float) -> str:
    return f"{megabytes(int(size))} ({size / tree:.2f}× the tree)"


def disk_use_headlines(rows: Mapping[str, list[Row]]) -> list[str]:
    """Per app, what pexrun and pex keep on disk beside the deps tree, after scenario 6's warm starts."""
    lines = []
    for app in _apps(rows, "6-startup"):
        pexrun, trees = _row(rows, "6-startup", PEXRUN_START, app), _row(rows, "6-startup", TREES_START, app)
        tree = pexrun.details.get(DEPS_TREE_BYTES, 0) if pexrun else 0
        if not (tree and trees):
            continue
        venvs = pexrun.details[DEPS_VENVS_BYTES]
        kept = f"pexrun's virtualenvs of the tree {_beside(venvs, tree)}" if venvs else "no virtualenv of pexrun's"
        lines.append(
            f"On disk after the {app} app's warm starts: its deps tree in pexrun's cache {megabytes(int(tree))}; "
            f"beside it, {kept}, pexrun's `PEX_ROOT` {_beside(pexrun.details[PEX_ROOT_BYTES], tree)}; the `PEX_ROOT` "
            f"of the trees run directly {_beside(trees.details[PEX_ROOT_BYTES], tree)} (apparent sizes, each inode once)."
        )
    return lines


IMAGE = "pex_release_image"
TWO_PEX_BUILD = "Dockerfile-style two-PEX image (podman build)"
IMAGE_START = "pex_release_image (podman run)"
TWO_PEX_START = "Dockerfile-style two-PEX image (podman run)"
# The target for a fresh container's first answer, as a multiple of the warm host start.
CONTAINER_START_TARGET = 1.5


def image_headlines(results: Mapping) -> list[str]:
    """The figures container images are judged by (scenarios 8 and 9, where measured)."""
    rows = rows_by_scenario(results)
    lines = []
    image, two_pex = _row(rows, "8-image-edit", IMAGE), _row(rows, "8-image-edit", TWO_PEX_BUILD)
    if image and two_pex:
        listed = image.details.get("bytes the client listed (blobs uploaded and the manifest)", 0)
        lines.append(
            f"One-line source edit in api, build and push its image: pex_release_image pushed "
            f"{image.bytes_uploaded / KB:,.1f} kB (its client listed {listed / KB:,.1f} kB: the blobs it uploaded and "
            f"the manifest) in {image.median:.2f} s; the Dockerfile-style two-PEX image pushed "
            f"{megabytes(two_pex.bytes_uploaded)} in {two_pex.median:.2f} s: "
            f"{ratio(two_pex.bytes_uploaded, image.bytes_uploaded)} the bytes, "
            f"{two_pex.median / image.median:.2f}× the time."
        )
    host, container = _row(rows, "9-container-start", TREES_START), _row(rows, "9-container-start", IMAGE_START)
    if host and container:
        times = container.median / host.median
        verdict = "within" if times <= CONTAINER_START_TARGET else "outside"
        lines.append(
            f"First answered request of api in a fresh container of its pex_release_image: {container.median:.2f} s, "
            f"{times:.2f}× a warm start of the release trees on the host ({host.median:.2f} s): {verdict} the "
            f"issue's {CONTAINER_START_TARGET}× target."
        )
        two_pex_start = _row(rows, "9-container-start", TWO_PEX_START)
        if two_pex_start:
            lines.append(
                f"The Dockerfile-style two-PEX image's fresh container: {two_pex_start.median:.2f} s, "
                f"{two_pex_start.median / host.median:.2f}× the warm host start (its deps PEX installs its wheels "
                "into PEX_ROOT on every start)."
            )
    return [f"- {line}" for line in lines]


# The targets at monorepo scale: pex_release's cold build of the most apps within this multiple of
# its cold build of one; the library edit within a Pants call that builds nothing plus the sources PEXes.
COLD_GROWTH_TARGET = 3.0
SOURCES_PEX_STEP = "./pants: Building sources PEX for "


def _scale_rows(rows: Mapping[str, list[Row]], scenario: str, alternative: str) -> dict[int, Row]:
    return {r.n: r for r in rows.get(scenario, []) if r.alternative == alternative and r.n is not None}


def _growth(by_n: Mapping[int, Row], value: Callable[[Row], float], unit: Callable[[float], str]) -> str:
    """`N=1 a, N=10 b, N=50 c (c/a ×)`: a value against the number of apps."""
    ns = sorted(by_n)
    figures = ", ".join(f"N={n} {unit(value(by_n[n]))}" for n in ns)
    first, last = value(by_n[ns[0]]), value(by_n[ns[-1]])
    return figures + (f" ({last / first:.2f}× from N={ns[0]} to N={ns[-1]})" if len(ns) > 1 and first else "")


def scale_headlines(results: Mapping) -> list[str]:
    """The figures the synthetic monorepo is judged by (scenarios 10 to 14, where measured)."""
    rows = rows_by_scenario(results)
    alternatives = ("pex_release", "pex_binary", "manual")
    seconds, mb = (lambda s: f"{s:.1f} s"), (lambda b: megabytes(int(b)))
    lines = []
    cold = {a: _scale_rows(rows, "10-scale-cold", a) for a in alternatives}
    if len(cold["pex_release"]) > 1:
        release = cold["pex_release"]
        ns = sorted(release)
        growth = release[ns[-1]].median / release[ns[0]].median
        verdict = "within" if growth <= COLD_GROWTH_TARGET else "outside"
        lines.append(
            "Cold build of N apps, wall time: " + "; ".join(f"{a} {_growth(cold[a], lambda r: r.median, seconds)}" for a in alternatives if cold[a])
            + f". pex_release's growth, {growth:.2f}×, is {verdict} the issue's {COLD_GROWTH_TARGET:g}× target."
        )
        lines.append(
            "Cold build, bytes a first deploy uploads: "
            + "; ".join(f"{a} {_growth(cold[a], lambda r: r.bytes_uploaded, mb)}" for a in alternatives if cold[a]) + "."
        )
    edit = {a: _scale_rows(rows, "11-scale-lib-edit", a) for a in alternatives}
    if edit["pex_release"]:
        lines.append(
            "Library edit (10 apps import it), CI without pantsd, wall time: "
            + "; ".join(f"{a} {_growth(edit[a], lambda r: r.median, seconds)}" for a in alternatives if edit[a])
            + ". Uploaded: " + "; ".join(f"{a} {_growth(edit[a], lambda r: r.bytes_uploaded, mb)}" for a in alternatives if edit[a]) + "."
        )
        no_op = _scale_rows(rows, "14-scale-no-op", "pex_release")
        package_only = _scale_rows(rows, "14-scale-no-op", "pex_binary")
        n = max(edit["pex_release"])
        if n in no_op:
            row = edit["pex_release"][n]
            sources = sum(s for name, s in row.steps.items() if name.startswith(SOURCES_PEX_STEP))
            rebuilt = sum(1 for name in row.steps if name.startswith(SOURCES_PEX_STEP))
            budget = no_op[n].median + sources
            verdict = "within" if row.median <= budget else "outside"
            line = (
                f"At N={n} pex_release's library edit took {row.median:.1f} s: a Pants call that builds and uploads nothing "
                f"at that N (scenario 14, `package publish`) takes {no_op[n].median:.1f} s, and its {rebuilt} sources PEX "
                f"builds took {sources:.1f} s of process time, {budget:.1f} s together: {verdict} the issue's target."
            )
            if n in package_only:
                strict = package_only[n].median + sources
                line += (
                    f" Against the `package` alone of pex_binary's no-op ({package_only[n].median:.1f} s; no publish, "
                    f"which checks every app's release in the repository) it is {row.median - strict:+.1f} s from "
                    f"{strict:.1f} s."
                )
            lines.append(line)
    pantsd = {a: _scale_rows(rows, "12-scale-lib-edit-pantsd", a) for a in alternatives}
    if pantsd["pex_release"]:
        lines.append(
            "The same edit with pantsd warm (a developer's loop), wall time: "
            + "; ".join(f"{a} {_growth(pantsd[a], lambda r: r.median, seconds)}" for a in alternatives if pantsd[a])
            + " (without pantsd: the line above)."
        )
    lock = {a: _scale_rows(rows, "13-scale-lock-edit", a) for a in alternatives}
    if lock["pex_release"]:
        n = max(lock["pex_release"])
        lines.append(
            f"Lockfile edit in one closure at N={n}: "
            + "; ".join(f"{a} {lock[a][n].median:.1f} s, {lock[a][n].pex_runs} pex runs, {megabytes(lock[a][n].bytes_uploaded)} uploaded"
                        for a in alternatives if n in lock[a]) + "."
        )
    return [f"- {line}" for line in lines]


def render_readme(results: Mapping, plots: Mapping[str, str]) -> str:
    machine, versions = results["machine"], results["versions"]
    rows = rows_by_scenario(results)
    lines = [
        "# Benchmarks: pex_release against the alternatives",
        "",
        f"_Generated by `bench/run` from [`results/latest.json`](results/latest.json) on {results['date']} "
        f"({results['mode']} mode); do not edit by hand: run `bench/run` (or `bench/run --quick`) again._",
        "",
        "Every figure below was measured side by side in that one run, on the repository's example apps, with "
        "the same pinned versions (the closure pins of `3rdparty/python/default.lock`) for every alternative. "
        "Times are wall seconds, medians of the repetitions listed; **smaller is better** everywhere.",
        "",
        "## How to run",
        "",
        "```",
        "bench/run --quick     # 1 repetition of each build; N in {1, 5} (scenario 4), {1, 10, 50} (10-14): about an hour on 2 cores",
        "bench/run             # 3 repetitions of each build; N in {1, 5, 10} (scenario 4), {1, 10, 50}: about 2 hours",
        "bench/run --quick --scenarios 10-scale-cold,11-scale-lib-edit --scale-apps 1,3 --output /tmp/b   # try the scale scenarios",
        "bench/run --scenarios 1-cold,6-startup --keep   # some scenarios; keep the scratch directory",
        "bench/run --render-only                         # this README and the plots from results/latest.json",
        "bench/run --quick --scenarios 8-image-edit,9-container-start --output /tmp/b   # a partial run, written elsewhere",
        "```",
        "",
        "`bench/run` creates (once) a virtualenv with the pinned tools of `3rdparty/python/bench-requirements.txt` (uv, pex, "
        "pip, matplotlib) under `~/.cache/pex-release/bench-venv/`, copies the working tree to a scratch git "
        "repository under the temp dir and measures there; in the checkout it writes only `bench/README.md` "
        "and `bench/results/`. `./pants test bench::` tests the measuring and rendering "
        "code on trivial commands, and the log parsing and pin computation the figures rest on.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {machine['cpu_model']} ({machine['cores']} cores) |",
        f"| memory | {machine['memory_gib']} GiB |",
        f"| system | {machine['system']} |",
        f"| load average at start | {', '.join(str(x) for x in machine['load_average'])} |",
        *(f"| {name} | {version} |" for name, version in versions.items()),
        "",
    ]
    lines += ["## Summary", "", *summary(results), ""]
    figures = headlines(results)
    if figures:
        lines += ["## Release trees in figures", "", *figures, ""]
    image_figures = image_headlines(results)
    if image_figures:
        lines += ["## Images in figures", "", *image_figures, ""]
    scale_figures = scale_headlines(results)
    if scale_figures:
        lines += ["## A monorepo of N apps in figures", "", *scale_figures, ""]
    notes = results.get("notes", [])
    if notes:
        lines += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    for info in results["scenarios"]:
        lines += scenario_section(info, rows.get(info["id"], []), plots.get(info["id"]))
    return "\n".join(lines).rstrip() + "\n"


# -----------------------------------------------------------------------------------------------
# Plots
# -----------------------------------------------------------------------------------------------


def _bar_chart(plt, info: Mapping, rows: Sequence[Row], path: Path) -> None:
    metrics: list[tuple[str, Callable[[Row], float]]] = [("median wall seconds", lambda r: r.median)]
    if not info.get("timing_only", False):
        metrics += [("pex runs", lambda r: r.pex_runs), ("MB uploaded", lambda r: r.bytes_uploaded / MB)]
    # A panel per metric, and per app where a scenario measures several: their times are not comparable.
    apps = list(dict.fromkeys(r.app for r in rows))
    panels = [(f"{app}: {name}" if app else name, [r for r in rows if r.app == app], value)
              for app in apps for name, value in metrics]
    per_app = len(apps) > 1  # Each app's panel has the same forms, in the same order: one legend names them.
    figure, axes = plt.subplots(1, len(panels), figsize=(max(4.2 * len(panels), 7.0), 4.0), squeeze=False)
    for axis, (name, group, value) in zip(axes[0], panels, strict=True):
        bars = axis.bar([r.alternative for r in group], [value(r) for r in group],
                        color=[f"C{i}" for i in range(len(group))])
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_title(name, fontsize=10)
        if per_app:
            axis.set_xticks([])
        else:
            axis.tick_params(axis="x", labelrotation=20, labelsize=8)
    if per_app:
        figure.legend(bars, [r.alternative for r in group], loc="lower center", ncol=3, fontsize=8)
    figure.suptitle(info["title"], fontsize=11)
    figure.tight_layout(rect=(0, 0.14 if per_app else 0, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _line_chart(plt, info: Mapping, rows: Sequence[Row], path: Path) -> None:
    metrics = [
        ("median wall seconds", lambda r: r.median),
        ("pex runs", lambda r: r.pex_runs),
        ("MB written", lambda r: r.bytes_written / MB),
        ("MB uploaded", lambda r: r.bytes_uploaded / MB),
    ]
    figure, axes = plt.subplots(1, len(metrics), figsize=(16.8, 3.6), squeeze=False)
    alternatives = sorted({r.alternative for r in rows})
    for axis, (name, value) in zip(axes[0], metrics, strict=True):
        for alternative in alternatives:
            series = sorted((r for r in rows if r.alternative == alternative), key=lambda r: r.n or 0)
            axis.plot([r.n for r in series], [value(r) for r in series], marker="o", label=alternative)
        axis.set_title(name, fontsize=10)
        axis.set_xlabel("N apps")
        axis.set_xticks(sorted({r.n for r in rows if r.n is not None}))
    axes[0][0].legend(fontsize=8)
    figure.suptitle(info["title"], fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render_plots(results: Mapping, out_dir: Path) -> dict[str, str]:
    """One PNG per measured scenario in out_dir; returns each one's file name by scenario id."""
    import matplotlib

    matplotlib.use("Agg")  # No display: files only.
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    for info in results["scenarios"]:
        rows = rows_by_scenario(results).get(info["id"], [])
        if not rows:
            continue
        path = out_dir / f"{info['id']}.png"
        chart = _line_chart if any(r.n is not None for r in rows) else _bar_chart
        chart(plt, info, rows, path)
        plots[info["id"]] = path.name
    return plots


def render(results: Mapping, bench_dir: Path) -> Path:
    """Writes bench_dir/README.md and the plots under bench_dir/results/."""
    plots = render_plots(results, bench_dir / "results")
    readme = bench_dir / "README.md"
    readme.write_text(render_readme(results, {sid: f"results/{name}" for sid, name in plots.items()}))
    return readme
