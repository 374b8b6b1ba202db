# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""What a cold start is doing while a release is fetched: lines on stderr.

A fetch that downloads nothing and builds no tree (a warm start) shows nothing. Otherwise, once it
has taken `delay` seconds (1 s when stderr is a terminal; `--progress always` shows it at once, and
`never` not at all), a line at most every `interval` seconds says the files and bytes downloaded
out of those missing from the cache, then a line per tree built from them, and a last line when the
release is ready.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, TextIO

from pex_release_core.manifest import Blob, printable

AUTO_DELAY_SECONDS = 1.0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f}"


class Progress:
    """Counts one release's downloads and tree builds, and shows them on `stream`.

    Thread-safe: blobs download several at a time."""

    def __init__(
        self,
        release: str,
        stream: TextIO,
        *,
        delay: float,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._release = printable(release)
        self._stream = stream
        self._delay = delay
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._shown_at: float | None = None  # when the last line was written; None before the first
        self._counted: set[str] = set()
        self._files = self._size = self._files_done = self._size_done = 0

    @classmethod
    def for_mode(cls, mode: str, release: str, stream: TextIO) -> Progress | None:
        """The progress `mode` ("auto", "always" or "never") asks for on `stream`, if any."""
        if mode == "never" or (mode == "auto" and not stream.isatty()):
            return None
        return cls(release, stream, delay=0.0 if mode == "always" else AUTO_DELAY_SECONDS)

    def expect(self, blobs: Iterable[Blob]) -> None:
        """The blobs to download: those missing from the cache."""
        with self._lock:
            for blob in blobs:
                self._count(blob)

    def downloaded(self, blob: Blob) -> None:
        with self._lock:
            self._count(blob)  # a damaged copy, found only when it was hashed, is downloaded too
            self._files_done += 1
            self._size_done += blob.size
            self._show(
                f"downloaded {self._files_done}/{self._files} files, "
                f"{_megabytes(self._size_done)}/{_megabytes(self._size)} MB",
                final=self._files_done == self._files,
            )

    def building(self, pex_file: str, files: int) -> None:
        with self._lock:
            self._show(f"building the tree of {printable(pex_file)} ({files:,} files)", final=True)

    def installing(self, pex_file: str, wheels: int, interpreter: str) -> None:
        with self._lock:
            self._show(f"installing {wheels:,} wheel{'' if wheels == 1 else 's'} of {printable(pex_file)} for {interpreter}", final=True)

    def finished(self) -> None:
        with self._lock:
            if self._shown_at is not None:
                took = self._clock() - self._started
                self._write(f"ready in {took:.1f} s ({self._files} files, {_megabytes(self._size)} MB downloaded)")

    def _count(self, blob: Blob) -> None:
        if blob.sha256 not in self._counted:  # one named by several files is downloaded once
            self._counted.add(blob.sha256)
            self._files += 1
            self._size += blob.size

    def _show(self, line: str, *, final: bool) -> None:
        """Writes line once the delay has passed, and then at most every interval, except a final one."""
        now = self._clock()
        if now - self._started < self._delay:
            return
        if final or self._shown_at is None or now - self._shown_at >= self._interval:
            self._write(line)

    def _write(self, line: str) -> None:
        self._shown_at = self._clock()
        self._stream.write(f"pexrun: {self._release}: {line}\n")
        self._stream.flush()
