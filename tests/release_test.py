"""`./pants package ::` builds a release per app in a scratch copy of the repo; the releases run,
share deps PEXes, and rebuild only what a change touches."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from conftest import ORIGIN_WITH_CREDENTIALS, PackagedRepo, ScratchRepo, git, image_digests, manifest_files, python312, release_files, wait_for_http
from testing.lockfile import add_locked_requirement, locked_entry
from testing.servers import free_port

APPS = ("api", "api_twin", "cli", "reports", "worker")


def run_release(packaged: PackagedRepo, app: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python312(), packaged.path(app, "sources"), *args],
        env={**os.environ, "PEX_PATH": str(packaged.path(app, "deps")), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def deps_builds(completed: list[str]) -> list[str]:
    return [c for c in completed if c.startswith("Building deps PEX")]


def _wheel_files(packaged: PackagedRepo, app: str) -> list[tuple[str, Path]]:
    deps = packaged.path(app, "deps")
    return [(p.relative_to(deps).as_posix(), p) for p in sorted((deps / ".deps").iterdir())]


def test_every_app_has_a_release_whose_files_match_its_manifest(packaged_repo: PackagedRepo) -> None:
    on_disk = release_files(packaged_repo.repo.root)
    for app in APPS:
        manifest = packaged_repo.manifest(app)
        assert manifest["schema"] == 2 and manifest["app"] == app
        for role in ("deps", "sources"):
            pex = manifest[role]
            assert pex["layout"] == "packed" and packaged_repo.path(app, role).is_dir()
            tree = {n: h for n, h in on_disk.items() if n.startswith(pex["file"] + "/")}
            assert tree == manifest_files(pex)
            assert pex["size"] == sum(f["size"] for f in pex["files"])
        # The deps tree holds the wheel files the lockfile pins, byte for byte.
        wheels = {f["path"]: f["sha256"] for f in manifest["deps"]["files"] if f["path"].startswith(".deps/")}
        assert wheels == {
            f".deps/{d['file']}": d["sha256"] for d in manifest["deps"]["distributions"] if d["file"].endswith(".whl")
        }
        assert wheels == {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in _wheel_files(packaged_repo, app)}
    # pex's bootstrap is one file, the same in every PEX of every release, but for PEXes in venv mode
    # (the worker's sources), whose bootstrap holds pex's tools too.
    bootstraps = {n.split("/")[0]: h for n, h in on_disk.items() if n.endswith(".pex/.bootstrap")}
    assert len(bootstraps) == len(APPS) * 2 - 1
    assert len({h for n, h in bootstraps.items() if n != "worker-srcs.pex"}) == 1
    assert packaged_repo.manifest("api")["version"] == "1.4.0"
    # Unset versions derive from the commit.
    commit = git(packaged_repo.repo.root, "rev-parse", "HEAD").strip()
    assert packaged_repo.manifest("cli")["version"].endswith(f"+g{commit[:12]}")
    assert packaged_repo.manifest("cli")["revision"] == commit


def test_every_release_has_a_valid_cyclonedx_sbom_of_its_distributions(packaged_repo: PackagedRepo) -> None:
    on_disk = release_files(packaged_repo.repo.root)
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for app in APPS:
        manifest = packaged_repo.manifest(app)
        sbom = manifest["sbom"]
        assert sbom["file"] == f"{app}.cdx.json" and on_disk[sbom["file"]] == sbom["sha256"]
        text = (packaged_repo.repo.root / "dist" / "releases" / sbom["file"]).read_text()
        assert validator.validate_str(text) is None
        document = json.loads(text)
        assert document["specVersion"] == "1.6"
        assert document["metadata"]["component"] == {
            "bom-ref": f"{app}@{manifest['version']}", "name": app, "type": "application", "version": manifest["version"]
        }  # fmt: skip
        components = {
            (c["name"], c["version"], c["purl"], c["hashes"][0]["content"]) for c in document["components"]
        }
        assert components == {
            (d["name"], d["version"], f"pkg:pypi/{re.sub(r'[-_.]+', '-', d['name']).lower()}@{d['version']}", d["sha256"])
            for d in manifest["deps"]["distributions"]
        }
        assert len(document["components"]) == len(manifest["deps"]["distributions"]) > 0


def test_equal_closures_share_one_deps_pex_built_once(packaged_repo: PackagedRepo) -> None:
    api, twin = packaged_repo.manifest("api"), packaged_repo.manifest("api_twin")
    assert api["deps"] == twin["deps"]
    builds = [b for b in deps_builds(packaged_repo.cold_run.completed) if api["deps"]["subset_key"][:12] in b]
    assert len(builds) == 1, packaged_repo.cold_run.completed
    # One deps PEX per distinct closure: api and api_twin share theirs.
    deps_files = {n.split("/")[0] for n in packaged_repo.cold_files if n.startswith("deps-")}
    assert len(deps_files) == len(APPS) - 1
    assert len(deps_builds(packaged_repo.cold_run.completed)) == len(APPS) - 1
    # The twin runs from the shared deps tree.
    twin_run = run_release(packaged_repo, "api_twin")
    assert twin_run.stdout.startswith("twin of api, on fastapi "), twin_run.stderr


def test_api_release_serves_requests(packaged_repo: PackagedRepo) -> None:
    port = free_port()
    server = subprocess.Popen(
        [python312(), packaged_repo.path("api", "sources"), "--port", str(port)],
        env={**os.environ, "PEX_PATH": str(packaged_repo.path("api", "deps"))},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = json.loads(wait_for_http(f"http://127.0.0.1:{port}/healthz"))
        assert health == {"status": "ok", "service": "api", "release": "dev"}
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    # `env={"ACME_ENV": "prod"}` on the target is injected by the sources PEX.
    assert '"env": "prod"' in stderr.splitlines()[0]


def test_cli_release_main_scripts_and_single_file(packaged_repo: PackagedRepo) -> None:
    help_text = run_release(packaged_repo, "cli", "--help")
    assert help_text.returncode == 0 and "Acme developer tools." in help_text.stdout, help_text.stderr
    scripts = packaged_repo.manifest("cli")["scripts"]
    assert scripts == {"acme-checksum": "apps.cli.main:checksum", "acme-slugify": "apps.cli.main:slugify"}
    slug = run_release(packaged_repo, "cli", "Ship", "It!", PEX_MODULE=scripts["acme-slugify"])
    assert slug.stdout == "ship-it\n", slug.stderr
    single = subprocess.run(
        [python312(), packaged_repo.path("cli", "single_file"), "slugify", "One", "File"], capture_output=True, text=True
    )
    assert single.stdout == "one-file\n", single.stderr


def test_reports_release_summarises_a_csv(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text("region,quantity,unit_price\neu,2,10.0\nus,1,5.0\neu,1,10.0\n")
    result = run_release(packaged_repo, "reports", str(csv))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].split() == ["eu", "2", "30.00", "1.90"]
    names = {d["name"] for d in packaged_repo.manifest("reports")["deps"]["distributions"]}
    assert {"numpy", "pandas"} <= names


def test_worker_release_titles_itself_and_stops_on_sigterm(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps({"text": "to be or not to be"}))
    worker = subprocess.Popen(
        [python312(), packaged_repo.path("worker", "sources"), "--spool", str(tmp_path), "--interval", "0.1"],
        env={**os.environ, "PEX_PATH": str(packaged_repo.path("worker", "deps"))},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        result = tmp_path / "job.result.json"
        deadline = time.monotonic() + 60
        while not result.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert json.loads(result.read_text())["words"] == 6
        # execution_mode="venv": pex execs into its venv in the same process, which sets its title.
        cmdline = Path(f"/proc/{worker.pid}/cmdline").read_bytes()
        assert cmdline.startswith(b"acme-worker: idle"), cmdline
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        worker.kill()
        _, stderr = worker.communicate()
    assert '"msg": "received SIGTERM, stopping after the current job"' in stderr
    assert stderr.strip().endswith('"service": "worker"}') and '"msg": "stopped"' in stderr.splitlines()[-1]


def test_pants_run_runs_the_release(packaged_repo: PackagedRepo) -> None:
    run = packaged_repo.repo.pants("run", "src/python/apps/cli:release", "--", "slugify", "Pants", "Run")
    assert run.stdout == "pants-run\n"


def test_two_clean_clones_build_identical_releases(packaged_repo: PackagedRepo, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(packaged_repo.repo.root), str(clone))
    git(clone, "remote", "set-url", "origin", ORIGIN_WITH_CREDENTIALS)
    ScratchRepo(root=clone, store=tmp_path / "lmdb_store").pants("package", "::")
    assert release_files(clone) == packaged_repo.cold_files
    # The images too, to the byte: the same manifest digests.
    assert image_digests(clone) == packaged_repo.cold_images and set(packaged_repo.cold_images) == {"api", "cli"}


@pytest.mark.parametrize(
    "build_file, message",
    [
        (
            'pex_release(name="release", entry_point="main.py", version="v2 final")',
            "The `version` field in target src/python/apps/broken:release is 'v2 final', which is not a PEP 440 version",
        ),
        (
            'python_requirement(name="new", requirements=["left-pad-ng>=1"])\n'
            'pex_release(name="release", entry_point="main.py", dependencies=[":new"], version="1")',
            "run `./pants generate-lockfiles --resolve=python-default`",
        ),
        (
            'pex_release(name="release", entry_point="main.py", version="1", shebang="/bin/sh\\nrm -rf /")',
            "The `shebang` field in target src/python/apps/broken:release is '/bin/sh\\nrm -rf /', which is not a shebang",
        ),
        (
            'pex_release(name="release", entry_point="main.py", version="1", interpreter_constraints=["CPython==3.99.*"])',
            "The `interpreter_constraints` field in target src/python/apps/broken:release is `CPython==3.99.*`, which "
            "matches no Python version Pants knows of",
        ),
    ],
)
def test_bad_input_fails_and_leaves_dist_alone(packaged_repo: PackagedRepo, build_file: str, message: str) -> None:
    repo = packaged_repo.repo
    before = release_files(repo.root)
    broken = repo.root / "src/python/apps/broken"
    repo.write("src/python/apps/broken/main.py", "print('broken')\n")
    repo.write("src/python/apps/broken/BUILD", f"python_sources()\n{build_file}\n")
    try:
        run = repo.pants("package", "src/python/apps/broken:release", check=False)
    finally:
        shutil.rmtree(broken)
    assert run.returncode != 0
    assert message in " ".join(run.stderr.split()), run.stderr[-3000:]
    assert release_files(repo.root) == before


def test_a_bad_target_fails_only_itself(packaged_repo: PackagedRepo) -> None:
    repo = packaged_repo.repo
    broken = repo.root / "src/python/apps/broken"
    repo.write("src/python/apps/broken/main.py", "print('broken')\n")
    repo.write(
        "src/python/apps/broken/BUILD",
        'python_sources()\npex_release(name="release", entry_point="main.py", platforms=["linux-x86_64"])\n',
    )
    try:
        other = repo.pants("package", "src/python/apps/cli:release", check=False)
        itself = repo.pants("package", "src/python/apps/broken:release", check=False)
    finally:
        shutil.rmtree(broken)
    assert other.returncode == 0, other.stderr[-3000:]
    assert itself.returncode != 0
    assert "The `platforms` field in target src/python/apps/broken:release has 'linux-x86_64'" in " ".join(itself.stderr.split())


# The tests below change the scratch repository, so they run last.


def test_source_edit_rebuilds_only_that_apps_sources(packaged_repo: PackagedRepo) -> None:
    repo = packaged_repo.repo
    before = release_files(repo.root)
    versions_before = {app: packaged_repo.manifest(app)["version"] for app in APPS}
    main = repo.root / "src/python/apps/cli/main.py"
    main.write_text(main.read_text().replace('"""Acme developer tools."""', '"""Acme developer tools, edited."""'))
    run = repo.pants("package", "::")
    after = release_files(repo.root)
    changed = {name for name in after if after[name] != before.get(name)}
    assert set(after) == set(before)
    # The manifests change too: the working tree is now dirty, so revisions say so, and so do the
    # SBOMs of the apps whose version derives from the commit, if it changed (api's, 1.4.0, stays).
    # In the sources tree, the edited file and the three files that embed the PEX's hash; its
    # bootstrap stays.
    versions_after = {app: packaged_repo.manifest(app)["version"] for app in APPS}
    assert versions_after["api"] == versions_before["api"]
    assert {n for n in changed if n.endswith(".cdx.json")} == {
        f"{app}.cdx.json" for app in APPS if versions_after[app] != versions_before[app]
    }
    assert {n for n in changed if not n.endswith((".release.json", ".cdx.json"))} == {
        "cli-srcs.pex/apps/cli/main.py",
        "cli-srcs.pex/PEX-INFO",
        "cli-srcs.pex/__main__.py",
        "cli-srcs.pex/__pex__/__init__.py",
        "cli.pex",
    }
    assert sorted(c for c in run.completed if "PEX" in c) == [
        "Building single-file PEX for src/python/apps/cli:release",
        "Building sources PEX for src/python/apps/cli:release",
        "Building the image's sources PEX (Building sources PEX for src/python/apps/cli:release)",
    ]
    assert run_release(packaged_repo, "cli", "--help").stdout.count("Acme developer tools, edited.") == 1


def test_unrelated_lockfile_edit_rebuilds_no_deps_pex(packaged_repo: PackagedRepo) -> None:
    repo = packaged_repo.repo
    before = release_files(repo.root)
    entry = locked_entry(repo.root / "3rdparty/python/pytest.lock", "iniconfig")
    add_locked_requirement(repo.root, "iniconfig", entry)
    run = repo.pants("package", "::")
    after = release_files(repo.root)
    assert {n: h for n, h in after.items() if n.startswith("deps-")} == {
        n: h for n, h in before.items() if n.startswith("deps-")
    }
    assert deps_builds(run.completed) == []
    assert not [c for c in run.completed if c.startswith("Resolving the closure")]
