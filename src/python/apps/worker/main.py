"""The job worker: a long-running daemon that processes job files from a spool directory.

Each `<name>.json` job ({"text": ...}) becomes `<name>.result.json` with word statistics. The process
title shows what the worker is doing (`ps` / `top`), and SIGTERM or SIGINT stops it after the current job.
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import threading
from pathlib import Path
from typing import Sequence

import setproctitle

from libs.common.logs import configure_logging
from libs.common.settings import Settings


def process_job(text: str) -> dict:
    words = text.split()
    return {"words": len(words), "top": collections.Counter(w.lower() for w in words).most_common(3)}


class Worker:
    def __init__(self, spool: Path, interval: float, logger) -> None:
        self.spool = spool
        self.interval = interval
        self.logger = logger
        self.stopping = threading.Event()

    def stop(self, signum: int, _frame=None) -> None:
        self.logger.info("received %s, stopping after the current job", signal.Signals(signum).name)
        self.stopping.set()

    def run_once(self) -> int:
        done = 0
        for job in sorted(self.spool.glob("*.json")):
            if job.name.endswith(".result.json") or self.stopping.is_set():
                continue
            setproctitle.setproctitle(f"acme-worker: processing {job.name}")
            result = process_job(json.loads(job.read_text())["text"])
            tmp = job.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, sort_keys=True))
            tmp.replace(job.with_name(job.stem + ".result.json"))
            job.unlink()
            self.logger.info("processed %s", job.name)
            done += 1
        setproctitle.setproctitle("acme-worker: idle")
        return done

    def run(self) -> None:
        self.logger.info("watching %s", self.spool)
        while not self.stopping.is_set():
            self.run_once()
            self.stopping.wait(self.interval)
        self.logger.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="worker", description="Process job files from a spool directory.")
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between scans")
    parser.add_argument("--once", action="store_true", help="process the current jobs and exit")
    args = parser.parse_args(argv)

    worker = Worker(args.spool, args.interval, configure_logging(Settings.from_env("worker")))
    if args.once:
        worker.run_once()
        return
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()


if __name__ == "__main__":
    main()
