# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import io

from pex_release_core.manifest import Blob
from pexrun.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


BLOBS = [Blob(f"api-deps.pex/.deps/w{i}.whl", f"{i:064x}", 2_000_000) for i in range(4)]


def test_lines_wait_for_the_delay_then_come_at_most_every_interval_and_end_with_ready() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress("api 1.0", out, delay=1.0, interval=1.0, clock=clock)
    progress.expect(BLOBS)
    clock.now += 0.5
    progress.downloaded(BLOBS[0])  # before the delay: a fetch this fast shows nothing
    clock.now += 0.6
    progress.downloaded(BLOBS[1])
    clock.now += 0.2
    progress.downloaded(BLOBS[2])  # within the interval of the last line
    clock.now += 0.2
    progress.downloaded(BLOBS[3])  # the last download is always shown
    progress.building("api-deps.pex", 1234)
    clock.now += 0.5
    progress.finished()
    assert out.getvalue().splitlines() == [
        "pexrun: api 1.0: downloaded 2/4 files, 4.0/8.0 MB",
        "pexrun: api 1.0: downloaded 4/4 files, 8.0/8.0 MB",
        "pexrun: api 1.0: building the tree of api-deps.pex (1,234 files)",
        "pexrun: api 1.0: ready in 2.0 s (4 files, 8.0 MB downloaded)",
    ]


def test_a_fetch_within_the_delay_shows_nothing_not_even_ready() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress("api 1.0", out, delay=1.0, clock=clock)
    progress.expect(BLOBS[:1])
    clock.now += 0.9
    progress.downloaded(BLOBS[0])
    progress.building("api-deps.pex", 3)
    progress.finished()
    assert out.getvalue() == ""


def test_a_damaged_copy_downloaded_again_joins_the_totals_and_a_blob_counts_once() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress("api 1.0", out, delay=0.0, interval=0.0, clock=clock)
    progress.expect([BLOBS[0], BLOBS[0]])
    progress.downloaded(BLOBS[1])  # was in the cache, but its bytes were wrong
    assert out.getvalue() == "pexrun: api 1.0: downloaded 1/2 files, 2.0/4.0 MB\n"


def test_modes() -> None:
    assert Progress.for_mode("never", "api 1.0", Terminal()) is None
    assert Progress.for_mode("auto", "api 1.0", io.StringIO()) is None  # not a terminal
    terminal, log = Terminal(), io.StringIO()
    auto, always = Progress.for_mode("auto", "api 1.0", terminal), Progress.for_mode("always", "api 1.0", log)
    assert auto is not None and always is not None
    for progress in (auto, always):
        progress.expect(BLOBS[:1])
        progress.downloaded(BLOBS[0])  # at once: within auto's second
    assert terminal.getvalue() == ""
    assert log.getvalue() == "pexrun: api 1.0: downloaded 1/1 files, 2.0/2.0 MB\n"


def test_release_names_cannot_drive_the_terminal() -> None:
    out = io.StringIO()
    progress = Progress("api\x1b[2J 1.0", out, delay=0.0)
    progress.building("x\x1b]0;owned\x07.pex", 1)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
