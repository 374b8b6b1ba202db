# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The repository layer on file:// and, read-only, over http://. The same contract against a real
S3 server runs with pexrun's tests (src/python/pexrun/s3_repository_test.py), where boto3 is."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import importlib.util
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pex_release_core.manifest import (
    Blob,
    ManifestError,
    ReleaseManifest,
    ReleasePex,
    TreeFile,
    TreeSymlink,
    tree_sha256,
)
from pex_release_core.publishing import publish
from pex_release_core.redaction import redact_url
from pex_release_core.repository.base import (
    METADATA_MAX_BYTES,
    BlobMismatchError,
    CredentialsError,
    DownloadTimeoutError,
    NotFoundError,
    ReadOnlyRepositoryError,
    RepositoryError,
    blob_key,
    manifest_key,
)
from pex_release_core.repository.file import FileRepository
from pex_release_core.repository.url import open_repository
from pex_release_core.repository_contract import RepositoryContract
from pex_release_core.testutil import edit_manifest, make_release, uploaded_files
from testing.servers import Reply, http_server


class TestFileRepository(RepositoryContract):
    @pytest.fixture
    def location(self, tmp_path: Path) -> tuple[str, None]:
        return f"file://{tmp_path / 'repository'}", None


def file_repository(tmp_path: Path) -> FileRepository:
    repository = open_repository(f"file://{tmp_path / 'repository'}")
    assert isinstance(repository, FileRepository)
    return repository


def test_an_app_directory_that_is_a_symlink_stays_in_the_apps_index(tmp_path: Path) -> None:
    repository = file_repository(tmp_path)
    publish(repository, make_release(tmp_path / "a", "api", "1.0.0"))
    # The operator moves api's manifests to another disk and links them back.
    elsewhere = tmp_path / "other-disk" / "api"
    elsewhere.parent.mkdir()
    (repository.root / "apps" / "api").rename(elsewhere)
    (repository.root / "apps" / "api").symlink_to(elsewhere)
    publish(repository, make_release(tmp_path / "w", "worker", "1.0.0"))  # rebuilds the apps index
    assert repository.list_apps() == ["api", "worker"]
    assert json.loads(repository._get("apps/index.json")) == ["api", "worker"]
    assert repository.list_versions("api") == ["1.0.0"]


def test_a_symlink_loop_in_the_repository_ends_the_listing(tmp_path: Path) -> None:
    repository = file_repository(tmp_path)
    publish(repository, make_release(tmp_path / "a", "api", "1.0.0"))
    (repository.root / "apps" / "api" / "loop").symlink_to("..")  # a link to an ancestor
    assert repository.list_apps() == ["api"]
    assert repository.list_versions("api") == ["1.0.0"]


def test_a_corrupt_stored_blob_is_uploaded_again(tmp_path: Path) -> None:
    repository = file_repository(tmp_path)
    first = publish(repository, make_release(tmp_path / "a", "api", "1.0.0"))
    wheel = first.manifest.deps.blobs[1]
    stored_wheel = repository.root / blob_key(wheel.sha256)
    stored_wheel.write_bytes(b"bit rot")
    again = publish(repository, make_release(tmp_path / "b", "api", "1.0.1", sources="new"))
    assert uploaded_files(again) == {wheel.file, "api-srcs.pex/release.txt"}
    assert stored_wheel.read_bytes() == (tmp_path / "b" / wheel.file).read_bytes()


def refusal(tmp_path: Path, manifest: Path, error: type[Exception]) -> str:
    """The message of the error that publishing manifest raises, having uploaded nothing."""
    repository = file_repository(tmp_path)
    with pytest.raises(error) as refused:
        publish(repository, manifest)
    assert not (repository.root / "blobs").exists()
    return str(refused.value)


def test_a_local_file_that_does_not_match_its_manifest_is_refused_before_any_upload(tmp_path: Path) -> None:
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    edited = tmp_path / "a" / "api-srcs.pex" / "release.txt"
    edited.write_bytes(b"edited after the build")
    message = refusal(tmp_path, manifest, BlobMismatchError)
    assert f"api 1.0.0: {edited} does not match {manifest}: its 22 bytes hash to" in message
    assert "build the release again (`./pants package`)" in message


@pytest.mark.parametrize("missing", ["deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl", "api-srcs.pex/.bootstrap"])
def test_a_missing_local_file_is_named(tmp_path: Path, missing: str) -> None:
    # Also a file whose bytes another file of the release has (the sources' `.bootstrap`): the tree is incomplete.
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    (tmp_path / "a" / missing).unlink()
    assert refusal(tmp_path, manifest, RepositoryError) == (
        f"api 1.0.0: cannot read {tmp_path / 'a' / missing}, which {manifest} names: No such file or directory. "
        "Build the release again (`./pants package`)."
    )


def _retarget(link: Path) -> str:
    link.unlink()
    link.symlink_to("release_deps.py")
    return "a symlink to 'release_deps.py'"


def _replace_with_file(link: Path) -> str:
    link.unlink()
    link.write_text("print('not a link')\n")
    return "not a symlink"


def _remove(link: Path) -> str:
    link.unlink()
    return "missing"


@pytest.mark.parametrize("change", [_retarget, _replace_with_file, _remove], ids=["retargeted", "a file", "removed"])
def test_a_tree_symlink_that_differs_from_the_manifest_is_refused(
    tmp_path: Path, change: Callable[[Path], str]
) -> None:
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    link = tmp_path / "a" / "deps-shared.pex" / "pex"
    found = change(link)
    assert refusal(tmp_path, manifest, BlobMismatchError) == (
        f"api 1.0.0: {link} does not match {manifest}: it is {found}, the manifest says a symlink to '__main__.py'. "
        "It changed after the build: build the release again (`./pants package`)."
    )


def test_a_wheel_that_is_not_the_locked_artifact_is_refused_before_any_upload(tmp_path: Path) -> None:
    locked = "0" * 64
    manifest = edit_manifest(
        make_release(tmp_path / "a", "api", "1.0.0"),
        lambda data: data["deps"]["distributions"][0].update(sha256=locked),
    )
    wheel = tmp_path / "a" / "deps-shared.pex" / ".deps" / "release_deps-1.0-py3-none-any.whl"
    assert refusal(tmp_path, manifest, BlobMismatchError) == (
        f"api 1.0.0: {manifest} names wheels that are not the artifacts the lockfile pins "
        f"(deps-shared.pex/.deps/release_deps-1.0-py3-none-any.whl has sha256 {hashlib.sha256(wheel.read_bytes()).hexdigest()}, "
        f"the lockfile pins {locked}), so nothing was uploaded. To fix, build the release again from the lockfile "
        "(`./pants package`); if the wheel's index serves other bytes than those locked, regenerate the lockfile "
        "(`./pants generate-lockfiles`) and review the change."
    )


def _file_path(path: str) -> Callable[[dict], None]:
    return lambda data: data["deps"]["files"][1].update(path=path)


def _symlink_target(target: str) -> Callable[[dict], None]:
    return lambda data: data["sources"]["symlinks"][0].update(target=target)


def _symlinks_added(*links: tuple[str, str]) -> Callable[[dict], None]:
    """Adds symlinks to the sources tree, with the tree's digest, so that only the links are wrong."""

    def edit(data: dict) -> None:
        sources = data["sources"]
        sources["symlinks"] += [{"path": path, "target": target} for path, target in links]
        entries = (tuple(TreeFile(**f) for f in sources["files"]), tuple(TreeSymlink(**s) for s in sources["symlinks"]))
        sources["sha256"] = tree_sha256(*entries)

    return edit


DEEP = "q0/q1/q2/q3/q4/q5/q6/q7"


@pytest.mark.parametrize(
    "edit, error",
    [
        (_file_path("../escape.whl"), "deps-shared.pex: the file path '../escape.whl' is not a normalized relative path inside the PEX"),
        (_file_path(".deps/../../escape.whl"), "deps-shared.pex: the file path '.deps/../../escape.whl' is not a normalized relative path"),
        (_file_path("/etc/cron.d/escape"), "deps-shared.pex: the file path '/etc/cron.d/escape' is not a normalized relative path"),
        (_symlink_target("../../../etc/passwd"), "api-srcs.pex: the symlink pex points to '../../../etc/passwd', outside the PEX"),
        (_symlink_target("/etc/passwd"), "api-srcs.pex: the symlink pex points to '/etc/passwd', which is not a relative path"),
        (
            _symlinks_added(("escape", f"{DEEP}/up/{'../' * 9}etc"), (f"{DEEP}/up", "../" * 7 + "..")),
            f"api-srcs.pex: the symlink escape points to '{DEEP}/up/{'../' * 9}etc', outside the PEX through {DEEP}/up -> ",
        ),
    ],
    ids=["dot-dot", "dot-dot inside", "absolute", "symlink out of its tree", "absolute symlink", "symlink chain out of its tree"],
)
def test_a_manifest_with_a_path_out_of_its_tree_is_refused_before_any_upload(
    tmp_path: Path, edit: Callable[[dict], None], error: str
) -> None:
    manifest = edit_manifest(make_release(tmp_path / "a", "api", "1.0.0"), edit)
    message = refusal(tmp_path, manifest, ManifestError)
    assert message.startswith(f"{manifest} does not follow manifest schema 2: ValueError: {error}")
    assert message.endswith(". Publish only what `./pants package` writes: build the release again.")


def test_upload_blob_verifies_the_local_file(tmp_path: Path) -> None:
    local = tmp_path / "blob"
    local.write_bytes(b"bytes")
    with pytest.raises(BlobMismatchError, match=f"{local} is not blob sha256:{'0' * 64}"):
        file_repository(tmp_path).upload_blob(local, "0" * 64)


def test_a_missing_repository_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=f"The repository file://{tmp_path}/nowhere does not exist"):
        open_repository(f"file://{tmp_path}/nowhere").list_apps()


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://host/x", "'ftp://host/x' is not a repository URL: use file:///absolute/path, s3://bucket/prefix"),
        ("/just/a/path", "is not a repository URL: use file:///absolute/path"),
        ("file://relative/path", "is not a file:// repository URL: use file:///absolute/path"),
        ("s3:///prefix", "names no bucket: use s3://bucket/prefix"),
        ("https:///x", "names no host"),
        ("http://[::1/x", "is not a repository URL"),
        # http.client cannot send them; without the check, a UnicodeEncodeError midway through a request.
        ("https://host/räleases", r"has the character 'ä', which an HTTP request cannot carry as it is\. Percent-encode it in the path \('ä' is %C3%A4\)"),
        ("https://bücher.example/releases", r"has the character 'ü'.*write a host name in its ASCII \(punycode\) form"),
    ],
)
def test_misnamed_repositories(url: str, message: str) -> None:
    with pytest.raises(RepositoryError, match=message):
        open_repository(url)


@pytest.mark.skipif(importlib.util.find_spec("boto3") is not None, reason="boto3 is installed here")
def test_s3_without_boto3_says_how_to_get_it() -> None:
    with pytest.raises(RepositoryError, match=r"s3://bucket/p is on S3, which needs boto3: install it \(`pip install boto3`\)"):
        open_repository("s3://bucket/p")


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden"])
def test_names_that_could_leave_their_directory_are_refused(name: str) -> None:
    with pytest.raises(RepositoryError, match="is not a valid app name"):
        manifest_key(name, "1.0")


@pytest.mark.parametrize(
    "app, version, reserved",
    [
        ("index.json", "1.0.0", "the repository keeps its index of apps/ at apps/index.json"),
        ("api", "index", "the repository keeps its index of apps/api/ at apps/api/index.json"),
        # One file with the index where case is ignored (macOS, Windows, many shares).
        (
            "INDEX.JSON",
            "1.0.0",
            "the repository keeps its index of apps/ at apps/index.json, which is apps/INDEX.JSON on a file system "
            "that ignores case",
        ),
        (
            "api",
            "Index",
            "the repository keeps its index of apps/api/ at apps/api/index.json, which is apps/api/Index.json on a "
            "file system that ignores case",
        ),
    ],
    ids=["app", "version", "app-case", "version-case"],
)
def test_names_that_would_be_the_repositorys_own_files_are_refused(
    tmp_path: Path, app: str, version: str, reserved: str
) -> None:
    repository = file_repository(tmp_path)
    with pytest.raises(RepositoryError) as refused:
        publish(repository, make_release(tmp_path / "bad", app, version))
    what = "app" if version == "1.0.0" else "version"
    name = app if what == "app" else version
    assert str(refused.value) == (
        f"{name!r} is not a valid {what} name for a repository key: {reserved}. Choose another {what} name."
    )
    assert os.listdir(repository.root) == []  # refused before anything was written
    publish(repository, make_release(tmp_path / "good", "api", "1.0.0"))
    assert json.loads((repository.root / "apps" / "index.json").read_bytes()) == ["api"]


# --- http:// ------------------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FileRepository, str]]:
    """A file:// repository with api 1.0.0 and 1.1.0 and worker 2.0.0, and its URL over HTTP."""
    repository = file_repository(tmp_path)
    for app, version in (("api", "1.0.0"), ("api", "1.1.0"), ("worker", "2.0.0")):
        publish(repository, make_release(tmp_path / app / version, app, version, sources=version))
    with http_server(tmp_path) as server:
        yield repository, f"{server.url}/repository"


def test_http_reads_what_was_published(served: tuple[FileRepository, str], tmp_path: Path) -> None:
    local, url = served
    remote = open_repository(url)
    assert remote.list_apps() == ["api", "worker"]
    assert remote.list_versions("api") == ["1.0.0", "1.1.0"]
    assert remote.list_versions("nope") == []
    assert remote.read_manifest("api", "1.1.0") == local.read_manifest("api", "1.1.0")
    wheel = ReleaseManifest.loads(local.read_manifest("api", "1.1.0"), origin="test").deps.blobs[1]  # its wheel
    remote.download_blob(wheel, tmp_path / "downloaded", seconds=60)
    assert (tmp_path / "downloaded").read_bytes() == (tmp_path / "api" / "1.1.0" / wheel.file).read_bytes()
    assert remote.has_blob(wheel.sha256, wheel.size)
    assert not remote.has_blob(wheel.sha256, wheel.size + 1)
    assert not remote.has_blob("0" * 64, 1)


def test_http_a_stale_index_does_not_hide_a_published_manifest(served: tuple[FileRepository, str]) -> None:
    local, url = served
    (local.root / "apps" / "api" / "index.json").write_text("[]")
    assert open_repository(url).read_manifest("api", "1.1.0") == local.read_manifest("api", "1.1.0")


def test_http_missing_things_are_named(served: tuple[FileRepository, str], tmp_path: Path) -> None:
    _, url = served
    with pytest.raises(NotFoundError, match=f"api 9.9 is not published in {url} \\(there is no apps/api/9.9.json\\)"):
        open_repository(url).read_manifest("api", "9.9")
    with pytest.raises(NotFoundError, match=f"The blob x.pex \\(sha256:{'0' * 64}\\) is not in the repository {url}"):
        open_repository(url).download_blob(Blob("x.pex", "0" * 64, 1), tmp_path / "x", seconds=60)
    root = url.rsplit("/", 1)[0]
    with pytest.raises(NotFoundError, match=f"{root}/elsewhere has no apps/index.json.*names the repository's root"):
        open_repository(f"{root}/elsewhere").list_apps()


def test_http_is_read_only(served: tuple[FileRepository, str], tmp_path: Path) -> None:
    _, url = served
    with pytest.raises(ReadOnlyRepositoryError, match=f"{url} is served over HTTP, which is read-only"):
        publish(open_repository(url), make_release(tmp_path / "new", "api", "2.0.0"))


def test_http_never_shows_the_query_string(served: tuple[FileRepository, str]) -> None:
    _, url = served
    repository = open_repository(f"{url}?token=s3cr3t-token")
    assert repository.url == f"{url}?***"
    assert repository.list_apps() == ["api", "worker"]  # the server ignores the token
    with pytest.raises(NotFoundError) as missing:
        repository.read_manifest("api", "9.9")
    assert "s3cr3t-token" not in str(missing.value)


class _BasicAuthHandler(http.server.BaseHTTPRequestHandler):
    """Serves an index of one app to user:p4ss, and 401 to everyone else."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Basic {base64.b64encode(b'user:p4ss').decode()}":
            self.send_error(401)
        elif self.path != "/r/apps/index.json":
            self.send_error(404)
        else:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'["api"]')

    def log_message(self, *args: object) -> None:
        pass


def test_http_an_index_that_is_not_a_list(served: tuple[FileRepository, str]) -> None:
    local, url = served
    (local.root / "apps" / "index.json").write_text("<html>not an index</html>")
    with pytest.raises(RepositoryError, match=f"apps/index.json in {url} is not a list of names: publish"):
        open_repository(url).list_apps()


def test_http_an_index_nested_too_deep(served: tuple[FileRepository, str]) -> None:
    local, url = served
    (local.root / "apps" / "index.json").write_text("[" * 100_000)
    with pytest.raises(RepositoryError, match=f"apps/index.json in {url} is not a list of names: publish"):
        open_repository(url).list_apps()


def test_http_credentials_are_sent_and_never_shown() -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BasicAuthHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"127.0.0.1:{server.server_address[1]}/r"
        with pytest.raises(CredentialsError, match=f"The repository http://{base} refused access to apps/index.json \\(HTTP 401\\)"):
            open_repository(f"http://{base}").list_apps()
        repository = open_repository(f"http://user:p4ss@{base}")
        assert repository.url == f"http://***@{base}"
        assert repository.list_apps() == ["api"]
        with pytest.raises(NotFoundError) as missing:
            repository.read_manifest("api", "1.0.0")
        server.shutdown()
    assert "p4ss" not in str(missing.value)
    with pytest.raises(RepositoryError, match=f"The repository http://\\*\\*\\*@{base} is unreachable \\(.*\\): check the URL"):
        repository.list_apps()


def test_publish_removes_the_stale_temporary_files_of_killed_publishes(tmp_path: Path) -> None:
    repository = file_repository(tmp_path)
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    publish(repository, manifest)
    blobs, api = repository.root / "blobs" / "sha256", repository.root / "apps" / "api"
    left = [blobs / f".{'a' * 64}.k1ll3d_0.tmp", api / ".1.0.1.json.k1ll3d_1.tmp"]
    fresh = blobs / f".{'b' * 64}.wr1t1ng_.tmp"  # a concurrent publish's write in progress
    not_ours = blobs / ".keep"
    two_hours_ago = time.time() - 7200
    for path in (*left, fresh, not_ours):
        path.write_bytes(b"partial")
    for path in (*left, not_ours):
        os.utime(path, (two_hours_ago, two_hours_ago))
    publish(repository, manifest)
    assert [p.exists() for p in left] == [False, False]
    assert fresh.exists() and not_ours.exists()


# --- Downloads: a deadline, and a cap at the declared size --------------------------------------------


def test_a_download_stops_one_byte_past_the_declared_size(served: tuple[FileRepository, str], tmp_path: Path) -> None:
    local, url = served
    with http_server(tmp_path) as server:
        wheel = ReleaseManifest.loads(local.read_manifest("api", "1.0.0"), origin="test").deps.blobs[1]  # its wheel
        stored = (local.root / blob_key(wheel.sha256)).read_bytes()
        server.replies[f"/repository/{blob_key(wheel.sha256)}"] = Reply(body=stored + b"\0" * (32 << 20))
        with pytest.raises(BlobMismatchError) as refused:
            open_repository(f"{server.url}/repository").download_blob(wheel, tmp_path / "downloaded", seconds=60)
    assert f"is longer than the {wheel.size:,} bytes its manifest declares: the download stopped at" in str(refused.value)
    assert (tmp_path / "downloaded").stat().st_size == wheel.size + 1


def test_a_download_has_a_deadline(served: tuple[FileRepository, str], tmp_path: Path) -> None:
    local, _ = served
    with http_server(tmp_path) as server:
        wheel = ReleaseManifest.loads(local.read_manifest("api", "1.0.0"), origin="test").deps.blobs[1]  # its wheel
        server.replies[f"/repository/{blob_key(wheel.sha256)}"] = Reply(body=b"x" * wheel.size, byte_interval=60)
        with pytest.raises(DownloadTimeoutError) as stalled:
            open_repository(f"{server.url}/repository").download_blob(wheel, tmp_path / "downloaded", seconds=0.5)
    assert str(stalled.value) == (
        f"Downloading {wheel.file} (sha256:{wheel.sha256}) from {server.url}/repository took longer than the 0.5 s "
        f"allowed for its {wheel.size:,} bytes: 1 bytes arrived."
    )


@pytest.fixture
def hung_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Makes opening a path block, as on a hung network mount, until the test ends."""
    hung, released = set(), threading.Event()
    real_open = os.open

    def open_or_hang(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)) in hung:
            released.wait(timeout=10)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_or_hang)
    yield hung.add
    released.set()  # lets the abandoned readers go


def test_a_file_repository_that_hangs_is_given_up_on_too(tmp_path: Path, hung_open: Callable[[Path], None]) -> None:
    repository = file_repository(tmp_path)
    wheel = publish(repository, make_release(tmp_path / "a", "api", "1.0.0")).manifest.deps.blobs[1]  # its wheel
    hung_open(repository.root / blob_key(wheel.sha256))
    with pytest.raises(DownloadTimeoutError, match="took longer than the 0.2 s allowed .*: 0 bytes arrived"):
        repository.download_blob(wheel, tmp_path / "downloaded", seconds=0.2)


# --- Manifests and indexes: read with the same deadline, and at most METADATA_MAX_BYTES ---------------


def test_a_manifest_read_has_a_deadline(tmp_path: Path, hung_open: Callable[[Path], None]) -> None:
    url = f"file://{tmp_path / 'repository'}"
    publish(open_repository(url), make_release(tmp_path / "a", "api", "1.0.0"))
    hung_open(tmp_path / "repository" / "apps" / "api" / "1.0.0.json")
    with pytest.raises(DownloadTimeoutError) as stalled:
        open_repository(url, metadata_timeout=0.2).read_manifest("api", "1.0.0")
    assert str(stalled.value) == f"Reading apps/api/1.0.0.json from {url} took longer than the 0.2 s allowed: 0 bytes arrived."


def test_the_manifest_of_a_10000_file_release_is_well_under_the_cap(tmp_path: Path) -> None:
    repository = file_repository(tmp_path)
    built = ReleaseManifest.loads(make_release(tmp_path / "a", "api", "1.0.0").read_bytes(), origin="test")
    # Paths of 100 characters, longer than most in a tree: apps/api/<package>/.../module_00042.py.
    files = tuple(TreeFile(f"apps/api/{'subpackage_name/' * 5}module_{i:05}.py", "0" * 64, 1000) for i in range(10_000))
    sources = ReleasePex.tree(built.sources.file, built.sources.layout, files)
    data = dataclasses.replace(built, version="1.0.1", sources=sources).dumps()
    assert 2_500_000 < len(data) < METADATA_MAX_BYTES // 5  # about 270 bytes per file
    assert repository.create_manifest("api", "1.0.1", data)
    assert repository.read_manifest("api", "1.0.1") == data


def test_a_manifest_over_the_cap_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    repository = file_repository(tmp_path)
    publish(repository, make_release(tmp_path / "a", "api", "1.0.0"))
    with open(repository.root / "apps" / "api" / "1.0.0.json", "r+b") as manifest:
        manifest.truncate(300 << 20)  # sparse: 300 MB that take no disk
    tracemalloc.start()
    try:
        with pytest.raises(RepositoryError) as refused:
            repository.read_manifest("api", "1.0.0")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == (
        f"apps/api/1.0.0.json in {repository.url} is larger than 16,777,216 bytes (16 MiB), the most a manifest "
        "or an index may be, so reading it stopped there. No release writes one that large (a 10,000-file "
        "release's manifest takes about 3 MB): check what the repository holds there."
    )
    assert peak < METADATA_MAX_BYTES * 3, f"{peak:,} bytes at the peak"


def test_a_manifest_over_the_cap_is_not_published(tmp_path: Path) -> None:
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    with open(manifest, "ab") as f:
        f.write(b" " * METADATA_MAX_BYTES)  # still the same JSON, but more than readers take
    assert refusal(tmp_path, manifest, RepositoryError) == (
        f"{manifest} is larger than 16,777,216 bytes (16 MiB), the most a repository's manifest may be (pexrun "
        "reads no more), so nothing was uploaded. Build it again (`./pants package`); a release that large "
        "has too many files to run from a repository."
    )


@pytest.mark.parametrize("kind", ["a FIFO", "a device", "a directory"])
def test_what_is_not_a_regular_file_is_refused_before_it_is_read(tmp_path: Path, kind: str) -> None:
    repository = file_repository(tmp_path)
    wheel = publish(repository, make_release(tmp_path / "a", "api", "1.0.0")).manifest.deps.blobs[1]  # its wheel
    stored = repository.root / blob_key(wheel.sha256)
    stored.unlink()
    if kind == "a FIFO":
        os.mkfifo(stored)  # opening it would wait for a writer, reading it for its bytes
    elif kind == "a device":
        stored.symlink_to("/dev/zero")  # never ends
    else:
        stored.mkdir()
    with pytest.raises(RepositoryError) as refused:
        repository.download_blob(wheel, tmp_path / "downloaded", seconds=5)
    assert str(refused.value) == (
        f"{blob_key(wheel.sha256)} in the repository {repository.url} is {kind}, not a regular file, so it was not "
        "read. Remove it, and publish the release again."
    )


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://user:s3cr3t@host/r", "http://***@host/r"),
        ("https://host/r?token=s3cr3t&x=1", "https://host/r?***"),
        ("https:///x?token=s3cr3t", "https:///x?***"),
        ("http://[::1/x?token=s3cr3t", "http://[::1/x?***"),
        ("http://KEY:s3cr3t@host:9000", "http://***@host:9000"),
        ("http://user:s3/cr3t@host/r", "http://***@host/r"),  # an unescaped `/` in the password
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("file:///srv/releases#s3cr3t", "file:///srv/releases#***"),
        ("http://host/\x1b[2J", "http://host/\\x1b[2J"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("ahead_hours", [2, 25])
def test_a_clock_ahead_does_not_remove_a_concurrent_publishs_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead_hours: int
) -> None:
    repository = file_repository(tmp_path)
    manifest = make_release(tmp_path / "a", "api", "1.0.0")
    publish(repository, manifest)
    in_flight = repository.root / "blobs" / "sha256" / f".{'c' * 64}.wr1t1ng_.tmp"  # another host's write
    in_flight.write_bytes(b"partial")
    # This host's clock runs ahead of the file system's, which stamped the write just now.
    skewed = time.time() + ahead_hours * 3600
    monkeypatch.setattr(time, "time", lambda: skewed)
    publish(repository, manifest)
    assert in_flight.exists()
