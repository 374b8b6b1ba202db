# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Moving bytes: files hashed in chunks, copies bounded by a deadline, work on a bounded pool of
threads, and the file system's own clock. Shared by the repositories, pexrun's cache and the
registry client."""

from __future__ import annotations

import hashlib
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO, Callable, ContextManager, Sequence, TypeVar, Union

CHUNK_BYTES = 1 << 20
# Blob checks, uploads and downloads in flight at once: a tree has tens to hundreds of files, and each
# request mostly waits on the store (boto3 clients are thread-safe; its connection pool holds 10).
TRANSFER_THREADS = 8

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def file_sha256(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def file_system_now(directory: Path) -> float:
    """Now, by the clock that stamps the files in directory: the mtime of a file made there.

    Cleanup that removes what other writers abandoned compares their files' mtimes with this, not
    with this host's clock: on a shared file system the server stamps them, and a host whose clock
    runs ahead would take a file in progress for an old one."""
    fd, marker = tempfile.mkstemp(prefix=".clock.", dir=directory)
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        os.unlink(marker)


def copy_by_deadline(
    open_reader: Callable[[], ContextManager[Callable[[int], bytes]]], out: BinaryIO, *, limit: int, seconds: float
) -> tuple[int, bool]:
    """Copies at most `limit` bytes from a reader to out; returns the bytes copied and whether the
    reader ended within `seconds`.

    Opening and reading happen in a thread of their own, so a store that stalls or trickles (or a
    hung mount) cannot hold the caller past the deadline: the thread is then abandoned, a daemon
    that ends with its next read (or its socket's timeout).
    """
    chunks: queue.Queue[Union[bytes, BaseException]] = queue.Queue(maxsize=4)
    abandoned = threading.Event()

    def hand_over(item: Union[bytes, BaseException]) -> None:
        while not abandoned.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def read_all() -> None:
        try:
            with open_reader() as read:
                received = 0
                while received < limit and not abandoned.is_set():
                    chunk = read(min(CHUNK_BYTES, limit - received))
                    if not chunk:
                        break
                    received += len(chunk)
                    hand_over(chunk)
            hand_over(b"")
        except BaseException as e:  # handed to the caller, who raises it
            hand_over(e)

    deadline = time.monotonic() + seconds
    threading.Thread(target=read_all, name="download", daemon=True).start()
    copied = 0
    try:
        while True:
            try:
                chunk = chunks.get(timeout=min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX))
            except queue.Empty:
                return copied, False
            if isinstance(chunk, BaseException):
                raise chunk
            if not chunk:
                return copied, True
            out.write(chunk)
            copied += len(chunk)
    finally:
        abandoned.set()


def concurrently(work: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """work(item) for each item, on a bounded pool of threads; the results in items' order.

    After a failure (or an interrupt), the work not yet started never starts, the work under way
    finishes, and then the failure is raised: the earliest item's, if several failed.
    """
    if len(items) < 2:
        return [work(item) for item in items]
    # Imported here: a pexrun warm start transfers nothing, and starts sooner without it.
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=min(TRANSFER_THREADS, len(items)), thread_name_prefix="transfer") as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            for future in futures:
                future.cancel()  # a no-op for the work done or under way, which leaving the pool waits for
    failed = next((f.exception() for f in futures if not f.cancelled() and f.exception()), None)
    if failed is not None:
        raise failed
    return [f.result() for f in futures]
