# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from pathlib import Path

import pytest

from pex_release import publisher
from pex_release.manifest import ReleaseManifest
from pex_release.testutil import make_release


def publish(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = publisher.main(list(args))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_prints_a_summary_and_one_line_per_blob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    api = make_release(tmp_path / "api", "api", "1.4.0")
    worker = make_release(tmp_path / "worker", "worker", "2.0.0")
    deps, api_srcs = ReleaseManifest.loads(api.read_bytes(), origin="t").blobs
    worker_srcs = ReleaseManifest.loads(worker.read_bytes(), origin="t").sources

    code, lines, err = publish(capsys, "--repository", url, str(api), str(worker))

    assert (code, err) == (0, "")
    assert lines == [
        f"api 1.4.0: uploaded 2 blobs ({deps.size + api_srcs.size:,} bytes), skipped 0 blobs (0 bytes) already in "
        f"{url}; manifest apps/api/1.4.0.json written",
        f"  uploaded deps-shared.pex (sha256:{deps.sha256}, {deps.size:,} bytes)",
        f"  uploaded api-srcs.pex (sha256:{api_srcs.sha256}, {api_srcs.size:,} bytes)",
        f"worker 2.0.0: uploaded 1 blob ({worker_srcs.size:,} bytes), skipped 1 blob ({deps.size:,} bytes) already "
        f"in {url}; manifest apps/worker/2.0.0.json written",
        f"  skipped  deps-shared.pex (sha256:{deps.sha256}, {deps.size:,} bytes)",
        f"  uploaded worker-srcs.pex (sha256:{worker_srcs.sha256}, {worker_srcs.size:,} bytes)",
    ]


def test_publishing_again_says_there_was_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    api = make_release(tmp_path / "api", "api", "1.4.0")
    publish(capsys, "--repository", url, str(api))
    code, lines, _ = publish(capsys, "--repository", url, str(api))
    assert code == 0
    assert lines[0] == "api 1.4.0: already published with identical content, and its blobs are intact; nothing uploaded"
    assert [line.split()[0] for line in lines[1:]] == ["skipped", "skipped"]


def test_errors_go_to_stderr_with_exit_code_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    publish(capsys, "--repository", url, str(make_release(tmp_path / "a", "api", "1.4.0")))
    changed = make_release(tmp_path / "b", "api", "1.4.0", sources="changed")
    code, lines, err = publish(capsys, "--repository", url, str(changed))
    assert (code, lines) == (1, [])
    assert err.startswith(f"publisher: error: api 1.4.0 is already published in {url} with different content")


def test_a_misnamed_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = publish(capsys, "--repository", "ftp://x/y", str(make_release(tmp_path, "api", "1.0.0")))
    assert code == 1
    assert err.startswith("publisher: error: 'ftp://x/y' is not a repository URL: use file:///absolute/path")


def test_a_missing_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "api.release.json"
    code, _, err = publish(capsys, "--repository", f"file://{tmp_path / 'r'}", str(missing))
    assert code == 1
    assert err.startswith(f"publisher: error: Cannot read the manifest {missing}: No such file or directory.")


def test_a_manifest_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "api.release.json"
    bad.write_text("{not json")
    code, _, err = publish(capsys, "--repository", f"file://{tmp_path / 'r'}", str(bad))
    assert code == 1
    assert err.startswith(f"publisher: error: {bad} is not valid JSON")


def test_publishing_again_repairs_a_deleted_blob(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    api = make_release(tmp_path / "api", "api", "1.4.0")
    publish(capsys, "--repository", url, str(api))
    sources = ReleaseManifest.loads(api.read_bytes(), origin="t").sources
    (tmp_path / "repository" / "blobs" / "sha256" / sources.sha256).unlink()
    code, lines, err = publish(capsys, "--repository", url, str(api))
    assert (code, err) == (0, "")
    assert lines[0] == f"api 1.4.0: already published with identical content; repaired 1 blob ({sources.size:,} bytes) missing or damaged in {url}"
    assert [line.split()[:2] for line in lines[1:]] == [["skipped", "deps-shared.pex"], ["repaired", "api-srcs.pex"]]
    assert (tmp_path / "repository" / "blobs" / "sha256" / sources.sha256).read_bytes() == (tmp_path / "api" / sources.file).read_bytes()


SECRET = "s3cr3t-41c9"


@pytest.mark.parametrize(
    "args, shown",
    [
        (["--repository", f"http://user:{SECRET}@127.0.0.1:9/r"], "The repository http://***@127.0.0.1:9/r is served over HTTP"),
        (["--repository", f"https:///x?token={SECRET}"], "'https:///x?***' names no host"),
        (["--repository", f"http://[::1/x?token={SECRET}"], "'http://[::1/x?***' is not a repository URL (Invalid IPv6 URL)"),
        (["--repository", f"ftp://u:{SECRET}@host/x?token={SECRET}"], "'ftp://***@host/x?***' is not a repository URL"),
        (["--repository", f"file:///my releases?token={SECRET}"], "'file:///my releases?***' is not a repository URL: it contains a space"),
        (["--repository", "s3://bucket/r", "--s3-endpoint-url", f"http://KEY:{SECRET}@127.0.0.1:9"], "s3://bucket/r"),
    ],
)
def test_secrets_in_urls_are_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], shown: str
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    code, lines, err = publish(capsys, *args, str(make_release(tmp_path, "api", "1.0.0")))
    assert (code, lines) == (1, [])
    assert shown in err
    assert SECRET not in err
