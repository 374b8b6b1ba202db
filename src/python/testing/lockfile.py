"""Edits of the shared lockfile, as `./pants generate-lockfiles` would make them.

Regenerating for real would also pick up whatever the package index released since the lockfile
was committed, which would make the tests depend on the day they run.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

METADATA = re.compile(
    r"(// --- BEGIN PANTS LOCKFILE METADATA: DO NOT EDIT OR REMOVE ---\n)(.*?)(// --- END PANTS LOCKFILE METADATA ---\n)",
    re.DOTALL,
)


def split_lock(text: str) -> tuple[str, dict]:
    """A Pants lockfile's `//` comment header, and the pex lock JSON after it."""
    header_end = text.index("\n{") + 1
    return text[:header_end], json.loads(text[header_end:])


def read_lock(lock_path: Path) -> dict:
    """The pex lock JSON of a Pants lockfile."""
    return split_lock(lock_path.read_text())[1]


def add_locked_requirement(repo: Path, requirement: str, entry: dict) -> None:
    """Adds `requirement` to requirements.txt and its locked `entry` to default.lock."""
    requirements = repo / "3rdparty/python/requirements.txt"
    requirements.write_text(requirements.read_text() + f"{requirement}\n")

    lock_path = repo / "3rdparty/python/default.lock"
    header, lock = split_lock(lock_path.read_text())
    match = METADATA.search(header)
    assert match, f"{lock_path} has no Pants metadata header"
    metadata = json.loads("\n".join(line[3:] for line in match.group(2).splitlines()))
    metadata["generated_with_requirements"] = sorted({*metadata["generated_with_requirements"], requirement})
    rendered = "".join(f"// {line}\n" for line in json.dumps(metadata, indent=2).splitlines())
    header = header[: match.start(2)] + rendered + header[match.end(2) :]

    lock["requirements"] = sorted({*lock["requirements"], requirement})
    (resolve,) = lock["locked_resolves"]
    resolve["locked_requirements"] = sorted(
        [*resolve["locked_requirements"], entry], key=lambda r: r["project_name"]
    )
    lock_path.write_text(header + json.dumps(lock, indent=2, sort_keys=True) + "\n")


def locked_entry(lock_path: Path, project_name: str) -> dict:
    (resolve,) = read_lock(lock_path)["locked_resolves"]
    return next(r for r in resolve["locked_requirements"] if r["project_name"] == project_name)


def replace_locked_version(repo: Path, project_name: str, version: str, artifacts: list[dict]) -> None:
    """Pins `project_name` to another version in default.lock, with that version's artifacts, as
    `./pants generate-lockfiles` would after the index published it (its dependencies stay)."""
    lock_path = repo / "3rdparty/python/default.lock"
    header, lock = split_lock(lock_path.read_text())
    (resolve,) = lock["locked_resolves"]
    (entry,) = [r for r in resolve["locked_requirements"] if r["project_name"] == project_name]
    entry.update(version=version, artifacts=artifacts)
    lock_path.write_text(header + json.dumps(lock, indent=2, sort_keys=True) + "\n")


INDEX = "https://pypi.org/simple"


def index_artifacts(project: str, version: str) -> list[dict]:
    """The version's files on the index, as a pex lock lists them (url, algorithm, hash)."""
    request = urllib.request.Request(f"{INDEX}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    prefix = project.replace("-", "_")
    artifacts = [
        {"algorithm": "sha256", "hash": f["hashes"]["sha256"], "url": f["url"]}
        for f in files
        if f["filename"].startswith(f"{prefix}-{version}-") and f["filename"].endswith(".whl")
    ]
    if not artifacts:
        raise LookupError(f"{INDEX} has no wheel of {project} {version}")
    return artifacts
