# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

from pathlib import Path

import pytest

from pex_release.sandbox import publisher
from pex_release_core.channels import channel_history
from pex_release_core.manifest import Blob, ReleaseManifest
from pex_release_core.repository.url import open_repository
from pex_release_core.testutil import SHARED_DEPS_FILES, edit_manifest, make_release


def publish(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = publisher.main(list(args))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def _blob(manifest: Path, file: str) -> Blob:
    return next(b for b in ReleaseManifest.loads(manifest.read_bytes(), origin="t").blobs if b.file == file)


def test_prints_a_summary_and_a_line_per_uploaded_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    api = make_release(tmp_path / "api", "api", "1.4.0")
    worker = make_release(tmp_path / "worker", "worker", "2.0.0")
    api_blobs = ReleaseManifest.loads(api.read_bytes(), origin="t").blobs
    # worker's own files: those that name the app. Its deps tree, `.bootstrap`, the empty
    # `worker/__init__.py` and `worker/main.py` (the reporter) are api's blobs, so skipped.
    worker_own = [
        _blob(worker, f"worker-srcs.pex/{path}") for path in ("PEX-INFO", "__main__.py", "release.txt", "worker/report.py")
    ]
    worker_skipped = [
        *(_blob(worker, file) for file in sorted(SHARED_DEPS_FILES)),
        *(_blob(worker, f"worker-srcs.pex/worker/{path}") for path in ("__init__.py", "main.py")),
    ]
    assert {b.sha256 for b in worker_skipped} <= {b.sha256 for b in api_blobs}

    code, lines, err = publish(capsys, "--repository", url, str(api), str(worker))

    assert (code, err) == (0, "")
    assert lines == [
        f"api 1.4.0: uploaded 11 files ({sum(b.size for b in api_blobs):,} bytes), skipped 0 files (0 bytes) already in "
        f"{url}; manifest apps/api/1.4.0.json written",
        *(f"  uploaded {b.file} (sha256:{b.sha256}, {b.size:,} bytes)" for b in api_blobs),
        f"worker 2.0.0: uploaded 4 files ({sum(b.size for b in worker_own):,} bytes), skipped 7 files "
        f"({sum(b.size for b in worker_skipped):,} bytes) already in {url}; manifest apps/worker/2.0.0.json written",
        *(f"  uploaded {b.file} (sha256:{b.sha256}, {b.size:,} bytes)" for b in worker_own),
    ]
    assert [b.file for b in api_blobs] == [
        "deps-shared.pex/.bootstrap",
        "deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl",
        "deps-shared.pex/PEX-INFO",
        "deps-shared.pex/__main__.py",
        "deps-shared.pex/release_deps.py",
        "api-srcs.pex/PEX-INFO",
        "api-srcs.pex/__main__.py",
        "api-srcs.pex/api/__init__.py",
        "api-srcs.pex/api/main.py",
        "api-srcs.pex/api/report.py",
        "api-srcs.pex/release.txt",
    ]


def test_publishing_again_says_there_was_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    api = make_release(tmp_path / "api", "api", "1.4.0")
    publish(capsys, "--repository", url, str(api))
    code, lines, _ = publish(capsys, "--repository", url, str(api))
    size = sum(b.size for b in ReleaseManifest.loads(api.read_bytes(), origin="t").blobs)
    assert (code, lines) == (
        0,
        [f"api 1.4.0: already published with identical content, and its 11 files ({size:,} bytes) are intact; nothing uploaded"],
    )


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
    main = _blob(api, "api-srcs.pex/__main__.py")
    stored = tmp_path / "repository" / "blobs" / "sha256" / main.sha256
    stored.unlink()
    code, lines, err = publish(capsys, "--repository", url, str(api))
    assert (code, err) == (0, "")
    assert lines == [
        f"api 1.4.0: already published with identical content; repaired 1 file ({main.size:,} bytes) missing or damaged in {url}",
        f"  repaired api-srcs.pex/__main__.py (sha256:{main.sha256}, {main.size:,} bytes)",
    ]
    assert stored.read_bytes() == (tmp_path / "api" / main.file).read_bytes()


def test_a_wheel_that_is_not_the_locked_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = edit_manifest(
        make_release(tmp_path / "a", "api", "1.0.0"),
        lambda data: data["deps"]["distributions"][0].update(sha256="0" * 64),
    )
    wheel = _blob(manifest, "deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl")
    code, lines, err = publish(capsys, "--repository", f"file://{tmp_path / 'repository'}", str(manifest))
    assert (code, lines) == (1, [])
    assert err.startswith(
        f"publisher: error: api 1.0.0: {manifest} names wheels that are not the artifacts the lockfile pins "
        f"(deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl has sha256 {wheel.sha256}, the lockfile pins "
        f"{'0' * 64}), so nothing was uploaded. To fix, build the release again"
    )
    assert not (tmp_path / "repository").exists()


def test_a_manifest_path_out_of_its_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = edit_manifest(
        make_release(tmp_path / "a", "api", "1.0.0"), lambda data: data["sources"]["files"][0].update(path="../../x")
    )
    code, lines, err = publish(capsys, "--repository", f"file://{tmp_path / 'repository'}", str(manifest))
    assert (code, lines) == (1, [])
    assert err == (
        f"publisher: error: {manifest} does not follow manifest schema 2: ValueError: api-srcs.pex: the file path "
        "'../../x' is not a normalized relative path inside the PEX. Publish only what `./pants package` writes: "
        "build the release again.\n"
    )
    assert not (tmp_path / "repository").exists()


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


def test_channel_promotes_each_release_once_it_is_published(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    manifests = [str(make_release(tmp_path / version, "api", version, sources=version)) for version in ("1.0.0", "1.1.0")]

    code, lines, err = publish(capsys, "--repository", url, "--channel", "canary", *manifests)

    assert (code, err) == (0, "")
    assert [line for line in lines if "promoted" in line] == [
        "api 1.0.0: promoted to canary (entry 1)",
        "api 1.1.0: promoted to canary (entry 2)",
    ]
    history = channel_history(open_repository(url), "api", "canary")
    assert [(e.version, e.reason) for e in history] == [
        ("1.0.0", "./pants publish of revision 0123456789abcdef0123456789abcdef01234567"),
        ("1.1.0", "./pants publish of revision 0123456789abcdef0123456789abcdef01234567"),
    ]


def test_a_channel_that_reads_as_a_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = make_release(tmp_path, "api", "1.0.0")
    code, lines, err = publish(capsys, "--repository", f"file://{tmp_path / 'repository'}", "--channel", "2.0", str(manifest))
    assert code == 1 and "publisher: error: '2.0' is not a valid channel name: it reads as a version" in err
    assert not (tmp_path / "repository").exists()  # refused before anything was published
