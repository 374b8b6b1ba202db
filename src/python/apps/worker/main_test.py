import json
import logging
import os
import signal
import threading

from apps.worker.main import Worker, process_job


def test_process_job_counts_words() -> None:
    assert process_job("a b a C c c") == {"words": 6, "top": [("c", 3), ("a", 2), ("b", 1)]}


def test_run_once_turns_jobs_into_results(tmp_path) -> None:
    (tmp_path / "j1.json").write_text(json.dumps({"text": "hello hello world"}))
    worker = Worker(tmp_path, 0.01, logging.getLogger("test"))
    assert worker.run_once() == 1
    assert json.loads((tmp_path / "j1.result.json").read_text()) == {"top": [["hello", 2], ["world", 1]], "words": 3}
    assert not (tmp_path / "j1.json").exists()


def test_sigterm_stops_the_loop(tmp_path) -> None:
    worker = Worker(tmp_path, 0.01, logging.getLogger("test"))
    previous = signal.signal(signal.SIGTERM, worker.stop)
    try:
        loop = threading.Thread(target=worker.run)
        loop.start()
        os.kill(os.getpid(), signal.SIGTERM)
        loop.join(timeout=5)
        assert not loop.is_alive()
    finally:
        signal.signal(signal.SIGTERM, previous)
