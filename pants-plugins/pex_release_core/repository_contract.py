# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""What publishing to any writable repository does, as tests each kind of repository runs: a
subclass named Test* runs them against one kind (file://, S3). Apart from testutil, which needs no
pytest (the prune benchmark writes its releases with it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Sequence

import pytest

from pex_release_core.manifest import Blob, ReleaseManifest
from pex_release_core.publishing import PublishReport, publish
from pex_release_core.repository.base import (
    AlreadyPublishedError,
    BlobMismatchError,
    NotFoundError,
    Repository,
    blob_key,
)
from pex_release_core.repository.url import open_repository
from pex_release_core.testutil import (
    REPORTER_MAIN,
    SHARED_DEPS_FILES,
    add_source_files,
    assert_stored_intact,
    damage_blob,
    make_release,
    python_env,
    uploaded_files,
    write_pex,
)


# The files of `make_release`'s sources tree of app api, but `.bootstrap` (the deps tree's blob).
API_SOURCES = ("PEX-INFO", "__main__.py", "api/__init__.py", "api/main.py", "api/report.py", "release.txt")

# Publishes as the publisher does, but dies (SIGKILL) once the blobs are up, before the manifest.
_KILLED_PUBLISH = f"""
import os, signal, sys
from pathlib import Path
from {Repository.__module__} import Repository
from {open_repository.__module__} import open_repository
from {publish.__module__} import publish
Repository.create_manifest = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
url, endpoint, manifest = sys.argv[1:]
publish(open_repository(url, s3_endpoint_url=endpoint or None), Path(manifest))
"""


class RepositoryContract:
    """What publishing to any writable repository does. A subclass named Test* runs it against
    one kind of repository by providing the `location` fixture: (URL, S3 endpoint or None)."""

    @pytest.fixture
    def location(self) -> tuple[str, str | None]:
        raise NotImplementedError

    @pytest.fixture
    def repository(self, location: tuple[str, str | None]) -> Repository:
        url, endpoint = location
        return open_repository(url, s3_endpoint_url=endpoint)

    @staticmethod
    def stored_blobs(repository: Repository) -> list[str]:
        return repository._list("blobs/sha256/")

    def test_a_deps_tree_shared_by_two_apps_is_stored_once(self, repository: Repository, tmp_path: Path) -> None:
        api = publish(repository, make_release(tmp_path / "api", "api", "1.0.0"))
        worker = publish(repository, make_release(tmp_path / "worker", "worker", "2.0.0"))
        assert uploaded_files(api) == {*SHARED_DEPS_FILES, *(f"api-srcs.pex/{path}" for path in API_SOURCES)}
        # Its deps tree, `.bootstrap`, empty `worker/__init__.py` and `worker/main.py` (the reporter) are
        # api's blobs: only the sources files that name the app go up.
        assert uploaded_files(worker) == {
            "worker-srcs.pex/PEX-INFO",
            "worker-srcs.pex/__main__.py",
            "worker-srcs.pex/release.txt",
            "worker-srcs.pex/worker/report.py",
        }
        assert len(worker.blobs) == 11  # 5 deps files + 7 sources files, `.bootstrap` one blob for both
        assert len(self.stored_blobs(repository)) == 15  # api's 11 + worker's 4
        for report, directory in ((api, tmp_path / "api"), (worker, tmp_path / "worker")):
            for pex in report.manifest.pexes:
                for blob in pex.blobs:  # every file of every tree, as pexrun fetches it
                    assert repository._get(blob_key(blob.sha256)) == (directory / blob.file).read_bytes()
        assert repository.list_apps() == ["api", "worker"]
        assert json.loads(repository._get("apps/index.json")) == ["api", "worker"]
        assert json.loads(repository._get("apps/worker/index.json")) == ["2.0.0"]

    def test_a_source_only_release_uploads_only_the_changed_files_and_manifest(
        self, repository: Repository, tmp_path: Path
    ) -> None:
        publish(repository, make_release(tmp_path / "v1", "api", "1.0.0"))
        manifest = make_release(tmp_path / "v2", "api", "1.0.1", sources="fixed a bug")
        report = publish(repository, manifest)
        assert uploaded_files(report) == {"api-srcs.pex/release.txt"}
        assert report.manifest_written
        assert repository.read_manifest("api", "1.0.1") == manifest.read_bytes()
        assert repository.list_versions("api") == ["1.0.0", "1.0.1"]
        assert len(self.stored_blobs(repository)) == 12  # 1.0.0's 11 + 1.0.1's release.txt

    def test_a_tree_of_many_files_and_an_empty_one(self, repository: Repository, tmp_path: Path) -> None:
        # More files than upload threads, and empty files (as most `__init__.py` are), which S3
        # stores with its checksum like any other.
        modules = {f"app/module_{i:02}.py": f"N = {i}\n" for i in range(40)}
        manifest = add_source_files(make_release(tmp_path, "api", "1.0.0"), {**modules, "app/__init__.py": ""})
        first = publish(repository, manifest)
        # The empty `app/__init__.py` is the blob of the empty `api/__init__.py`, which names it.
        assert uploaded_files(first) == {
            *SHARED_DEPS_FILES,
            *(f"api-srcs.pex/{path}" for path in API_SOURCES),
            *(f"api-srcs.pex/{path}" for path in modules),
        }
        assert repository._get(blob_key(hashlib.sha256(b"").hexdigest())) == b""
        assert_stored_intact(repository)
        assert uploaded_files(publish(repository, manifest)) == set()

    def test_zipapp_pexes_are_one_blob_each(self, repository: Repository, tmp_path: Path) -> None:
        # `layout="zipapp"`, and the `single_file=True` PEX (always a zipapp).
        manifest_path = make_release(tmp_path, "api", "1.0.0", layout="zipapp")
        manifest = ReleaseManifest.loads(manifest_path.read_bytes(), origin=str(manifest_path))
        single_file = write_pex(tmp_path, "api.pex", {"__main__.py": REPORTER_MAIN}, "zipapp")
        manifest_path.write_bytes(dataclasses.replace(manifest, single_file=single_file).dumps())
        report = publish(repository, manifest_path)
        assert uploaded_files(report) == {"deps-shared.pex", "api-srcs.pex", "api.pex"}
        for pex in report.manifest.pexes:
            assert repository._get(blob_key(pex.sha256)) == (tmp_path / pex.file).read_bytes()

    def test_an_identical_republish_is_a_no_op(self, repository: Repository, tmp_path: Path) -> None:
        manifest = make_release(tmp_path, "api", "1.0.0")
        publish(repository, manifest)
        again = publish(repository, manifest)
        assert not again.manifest_written
        assert uploaded_files(again) == set() and len(again.blobs) == 11  # 12 files, `.bootstrap` in both trees

    def test_other_content_for_a_published_version_is_refused(self, repository: Repository, tmp_path: Path) -> None:
        first = make_release(tmp_path / "a", "api", "1.0.0")
        publish(repository, first)
        with pytest.raises(AlreadyPublishedError) as refused:
            publish(repository, make_release(tmp_path / "b", "api", "1.0.0", sources="other code"))
        assert f"api 1.0.0 is already published in {repository.url} with different content" in str(refused.value)
        assert "To fix, release a new `version`." in str(refused.value)
        assert repository.read_manifest("api", "1.0.0") == first.read_bytes()
        assert len(self.stored_blobs(repository)) == 11  # first's: refused before uploading anything

    @pytest.mark.parametrize("identical", [True, False], ids=["identical", "different"])
    def test_concurrent_publishes_of_one_version(
        self, location: tuple[str, str | None], tmp_path: Path, identical: bool
    ) -> None:
        url, endpoint = location
        manifests = [
            make_release(tmp_path / str(i), "api", "3.0.0", sources="same" if identical else f"build {i}")
            for i in range(4)
        ]
        outcomes: list[object] = [None] * len(manifests)
        start = threading.Barrier(len(manifests))

        def publish_one(i: int) -> None:
            repository = open_repository(url, s3_endpoint_url=endpoint)  # as separate publishers would
            start.wait()
            try:
                outcomes[i] = publish(repository, manifests[i])
            except AlreadyPublishedError as e:
                outcomes[i] = e

        threads = [threading.Thread(target=publish_one, args=(i,)) for i in range(len(manifests))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        written = [i for i, o in enumerate(outcomes) if isinstance(o, PublishReport) and o.manifest_written]
        assert len(written) == 1, outcomes
        repository = open_repository(url, s3_endpoint_url=endpoint)
        assert repository.read_manifest("api", "3.0.0") == manifests[written[0]].read_bytes()
        assert repository.list_versions("api") == ["3.0.0"]
        others = [o for i, o in enumerate(outcomes) if i != written[0]]
        if identical:
            assert all(isinstance(o, PublishReport) and not o.manifest_written for o in others), outcomes
        else:
            assert all(isinstance(o, AlreadyPublishedError) for o in others), outcomes
        assert_stored_intact(repository)

    def test_a_publish_killed_before_its_manifest_leaves_none_and_a_rerun_completes_it(
        self, location: tuple[str, str | None], repository: Repository, tmp_path: Path
    ) -> None:
        url, endpoint = location
        manifest = make_release(tmp_path, "api", "1.0.0")
        killed = subprocess.run(
            [sys.executable, "-c", _KILLED_PUBLISH, url, endpoint or "", str(manifest)],
            env=python_env(),
        )
        assert killed.returncode == -signal.SIGKILL
        assert len(self.stored_blobs(repository)) == 11  # all the release's blobs
        with pytest.raises(NotFoundError):
            repository.read_manifest("api", "1.0.0")  # readers never see a release with missing blobs
        rerun = publish(repository, manifest)
        assert uploaded_files(rerun) == set()
        assert rerun.manifest_written
        assert repository.read_manifest("api", "1.0.0") == manifest.read_bytes()

    def test_a_failing_upload_fails_the_publish_with_its_file_and_writes_no_manifest(
        self, repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        manifest = make_release(tmp_path, "api", "1.0.0")
        edited = tmp_path / "api-srcs.pex" / "release.txt"
        original = edited.read_bytes()
        check = repository.missing_blobs

        def check_then_edit(blobs: Sequence[Blob]) -> set[str]:
            missing = check(blobs)
            edited.write_bytes(b"X" * len(original))  # as if edited during the publish
            return missing

        monkeypatch.setattr(repository, "missing_blobs", check_then_edit)
        with pytest.raises(BlobMismatchError) as failed:
            publish(repository, manifest)
        assert str(failed.value).startswith(
            "api 1.0.0: uploading api-srcs.pex/release.txt failed, so the manifest was not written (publishing "
            f"again uploads what is still missing): {edited} is not blob sha256:"
        )
        with pytest.raises(NotFoundError):
            repository.read_manifest("api", "1.0.0")
        # The other uploads finished, whole: 10 of the release's 11 blobs.
        assert_stored_intact(repository)
        assert len(self.stored_blobs(repository)) == 10
        monkeypatch.undo()
        edited.write_bytes(original)
        rerun = publish(repository, manifest)
        assert uploaded_files(rerun) == {"api-srcs.pex/release.txt"}
        assert rerun.manifest_written

    @pytest.mark.parametrize("damage", ["deleted", "corrupted"])
    def test_publishing_again_repairs_exactly_the_damaged_blobs(
        self, repository: Repository, tmp_path: Path, damage: str
    ) -> None:
        manifest = make_release(tmp_path, "api", "1.0.0")
        release = publish(repository, manifest).manifest
        damaged = [b for b in release.blobs if b.file in ("deps-shared.pex/.bootstrap", "api-srcs.pex/__main__.py")]
        for blob in damaged:
            damage_blob(repository, blob_key(blob.sha256), damage)
        assert repository.missing_blobs(release.blobs) == {b.sha256 for b in damaged}
        again = publish(repository, manifest)
        assert uploaded_files(again) == {"deps-shared.pex/.bootstrap", "api-srcs.pex/__main__.py"}
        assert (again.previously_published, again.manifest_written) == (True, False)
        assert repository.missing_blobs(release.blobs) == set()
        for blob in damaged:
            repository.download_blob(blob, tmp_path / "downloaded", seconds=60)  # as pexrun fetches it
            assert (tmp_path / "downloaded").read_bytes() == (tmp_path / blob.file).read_bytes()
        assert repository.read_manifest("api", "1.0.0") == manifest.read_bytes()

    def test_a_stale_index_is_rebuilt_from_the_manifests(self, repository: Repository, tmp_path: Path) -> None:
        manifest = make_release(tmp_path, "api", "1.0.0")
        publish(repository, manifest)
        repository._put("apps/api/index.json", b"[]\n")  # e.g. lost to a concurrent publish of another version
        assert repository.list_versions("api") == ["1.0.0"]  # listing goes by the manifests
        publish(repository, manifest)
        assert json.loads(repository._get("apps/api/index.json")) == ["1.0.0"]
