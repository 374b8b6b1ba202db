# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from pex_release_core.manifest import (
    AbbreviatedPlatform,
    Blob,
    CompletePlatform,
    DepsPex,
    Distribution,
    ManifestError,
    ReleaseManifest,
    ReleasePex,
    TreeFile,
    TreeSymlink,
    tree_sha256,
)

SHA_A, SHA_B, SHA_C, SHA_D = "a" * 64, "b" * 64, "c" * 64, "d" * 64
WHEEL = "fastapi-0.165.0-py3-none-any.whl"

DEPS = DepsPex.tree(
    "deps-0123456789abcdef.pex",
    "packed",
    (
        TreeFile(".bootstrap", SHA_A, 10),
        TreeFile(f".deps/{WHEEL}", SHA_C, 7),
        TreeFile("__main__.py", SHA_D, 3, mode="0755"),
    ),
    (TreeSymlink("pex", "__main__.py"),),
    subset_key="0123456789abcdef" * 4,
    distributions=(Distribution("fastapi", "0.165.0", SHA_C, WHEEL),),
)
SOURCES = ReleasePex.tree(
    "api-srcs.pex",
    "packed",
    (TreeFile(".bootstrap", SHA_A, 10), TreeFile("apps/api/main.py", SHA_B, 5)),
)

MANIFEST = ReleaseManifest(
    app="api",
    version="1.4.0",
    revision="0123abc",
    entry_point="apps.api.main",
    scripts={"api-admin": "apps.api.admin:main"},
    interpreter_constraints=("CPython==3.12.*",),
    env={"ACME_ENV": "prod"},
    args=("--port", "8080"),
    deps=DEPS,
    sources=SOURCES,
)


def test_round_trip_is_byte_identical() -> None:
    data = MANIFEST.dumps()
    assert ReleaseManifest.loads(data, origin="test") == MANIFEST
    assert ReleaseManifest.loads(data, origin="test").dumps() == data
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed) and parsed["schema"] == 2
    assert "single_file" not in parsed
    assert parsed["deps"]["symlinks"] == [{"path": "pex", "target": "__main__.py"}]
    assert parsed["sources"]["files"][1] == {"path": "apps/api/main.py", "sha256": SHA_B, "size": 5, "mode": "0644"}


def test_a_tree_is_named_by_its_entries() -> None:
    assert (SOURCES.size, SOURCES.is_tree) == (15, True)
    edited = ReleasePex.tree(SOURCES.file, "packed", (*SOURCES.files[:1], TreeFile("apps/api/main.py", SHA_C, 5)))
    relinked = ReleasePex.tree(SOURCES.file, "packed", SOURCES.files, (TreeSymlink("pex", ".bootstrap"),))
    executable = ReleasePex.tree(SOURCES.file, "packed", (*SOURCES.files[:1], TreeFile("apps/api/main.py", SHA_B, 5, "0755")))
    assert len({SOURCES.sha256, edited.sha256, relinked.sha256, executable.sha256}) == 4
    # Entries in any order make the same tree.
    assert ReleasePex.tree(SOURCES.file, "packed", SOURCES.files[::-1]) == SOURCES


def test_blobs_are_every_file_once() -> None:
    single = ReleasePex(file="api.pex", layout="zipapp", sha256=SHA_D, size=15)
    # `.bootstrap` is in both trees, stored once; the sources tree's copy has the deps tree's name.
    assert [b.file for b in MANIFEST.blobs] == [
        "deps-0123456789abcdef.pex/.bootstrap",
        f"deps-0123456789abcdef.pex/.deps/{WHEEL}",
        "deps-0123456789abcdef.pex/__main__.py",
        "api-srcs.pex/apps/api/main.py",
    ]
    with_single = ReleaseManifest.loads(
        json.dumps({**MANIFEST.to_json(), "single_file": {"file": "api.pex", "layout": "zipapp", "sha256": SHA_D, "size": 15}}),
        origin="t",
    )
    assert with_single.single_file == single
    assert with_single.single_file.blobs == (Blob("api.pex", SHA_D, 15),)
    # Its bytes equal the deps tree's `__main__.py` here: one blob serves both.
    assert len(with_single.blobs) == 4


def test_a_wheel_that_is_not_the_locked_artifact_is_found() -> None:
    assert DEPS.wheel_mismatches() == ()
    other = DepsPex.tree(
        DEPS.file, "packed", (TreeFile(f".deps/{WHEEL}", SHA_B, 7),), subset_key=DEPS.subset_key, distributions=DEPS.distributions
    )
    assert other.wheel_mismatches() == ((f".deps/{WHEEL}", SHA_C, SHA_B),)
    # A wheel pex built from a locked sdist has no locked hash of its own to differ from.
    from_sdist = dataclasses.replace(other, distributions=(Distribution("fastapi", "0.165.0", SHA_C, "fastapi-0.165.0.tar.gz"),))
    assert from_sdist.wheel_mismatches() == ()


def test_not_json() -> None:
    with pytest.raises(ManifestError, match="apps/api/1.4.0.json is not valid JSON"):
        ReleaseManifest.loads(b"{not json", origin="apps/api/1.4.0.json")


@pytest.mark.parametrize("nested", [b"[" * 100_000, b"{\"a\": " * 100_000 + b"1" + b"}" * 100_000], ids=["array", "object"])
def test_json_nested_too_deep_is_a_manifest_error(nested: bytes) -> None:
    with pytest.raises(ManifestError) as refused:
        ReleaseManifest.loads(nested, origin="apps/api/1.4.0.json")
    assert str(refused.value) == (
        "apps/api/1.4.0.json is not a release manifest: its JSON nests deeper than Python's parser allows."
    )


def test_schema_1_is_refused_with_the_way_out() -> None:
    with pytest.raises(ManifestError, match=r"m.json has manifest schema 1, written by an older pex-release") as exc:
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), "schema": 1}), origin="m.json")
    assert "Rebuild and publish the release with this pex-release" in str(exc.value)


def test_unknown_schema() -> None:
    with pytest.raises(ManifestError, match="has manifest schema 3; this version of pex-release reads schema 2"):
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), "schema": 3}), origin="m.json")


def _sources_with(**change: object) -> dict:
    return {"sources": {**SOURCES.to_json(), **change}}


def _file(path: str) -> dict:
    return {"path": path, "sha256": SHA_B, "size": 5, "mode": "0644"}


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"app": None}, "expected a string, got None"),
        (_sources_with(sha256="nothex"), "'nothex' is not a sha256 hex digest"),
        (_sources_with(size=-1), "expected a size in bytes, got -1"),
        (_sources_with(layout="squashfs"), "layout 'squashfs' is not one of packed, loose, zipapp"),
        (_sources_with(size=16), "are not the digest and total size of the files and symlinks it lists"),
        (_sources_with(files=[{**_file("apps/api/main.py"), "mode": "4755"}]), "has mode '4755'"),
        ({"deps": {**SOURCES.to_json()}}, "KeyError: 'subset_key'"),
        ({"deps": {**DEPS.to_json(), "distributions": [{"name": "x", "version": "1", "sha256": SHA_C}]}}, "KeyError: 'file'"),
        (_sources_with(file="../api-srcs.pex"), "'../api-srcs.pex' is not a valid PEX file name"),
        (_sources_with(file="/tmp"), "'/tmp' is not a valid PEX file name"),
    ],
)
def test_schema_violations_are_named(change: dict, problem: str) -> None:
    with pytest.raises(ManifestError, match="does not follow manifest schema 2") as exc:
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), **change}), origin="m.json")
    assert problem in str(exc.value)


DEEP = "q0/q1/q2/q3/q4/q5/q6/q7"


@pytest.mark.parametrize(
    "files, symlinks, problem",
    [
        ([_file("../../.bashrc")], [], "the file path '../../.bashrc' is not a normalized relative path inside the PEX"),
        ([_file("apps/../../x")], [], "the file path 'apps/../../x' is not a normalized relative path"),
        ([_file("/etc/passwd")], [], "the file path '/etc/passwd' is not a normalized relative path"),
        ([_file("a//b")], [], "'a//b' is not a normalized relative path"),
        ([_file("a\x00b")], [], "has a control character or backslash"),
        ([_file("a\\..\\b")], [], "has a control character or backslash"),
        ([], [{"path": "escape", "target": "../../.."}], "the symlink escape points to '../../..', outside the PEX"),
        ([], [{"path": "a/escape", "target": "../b/../.."}], "points to '../b/../..', outside the PEX"),
        ([], [{"path": "root", "target": "/etc"}], "the symlink root points to '/etc', which is not a relative path"),
        (
            [_file("lib/x.py")],
            [{"path": "lib", "target": "."}],
            "lib/x.py is listed below or at lib, which is a file or symlink",
        ),
        ([_file("x.py"), _file("x.py")], [], "x.py is listed below or at x.py"),
        # Each link inside the tree as text, but one leads through another out of it.
        (
            [],
            [{"path": "escape", "target": f"{DEEP}/up/{'../' * 9}etc"}, {"path": f"{DEEP}/up", "target": "../" * 7 + ".."}],
            f"the symlink escape points to '{DEEP}/up/{'../' * 9}etc', outside the PEX through {DEEP}/up -> '{'../' * 7}..'",
        ),
        (
            [_file("d1/f.py")],
            [{"path": "a/b/c/lib", "target": "../../../d1"}, {"path": "x", "target": "a/b/c/lib/../../.."}],
            "the symlink x points to 'a/b/c/lib/../../..', outside the PEX through a/b/c/lib -> '../../../d1'",
        ),
        (
            [],
            [{"path": "a", "target": "b"}, {"path": "b", "target": "a"}],
            "the symlink a points to 'b', and resolving it follows more than 40 symlinks (a loop, or a chain longer",
        ),
        ([], [{"path": "self", "target": "./self"}], "the symlink self points to './self', and resolving it follows more than 40"),
        (
            [_file("f.py")],
            [*({"path": f"l{i:02}", "target": f"l{i + 1:02}"} for i in range(40)), {"path": "l40", "target": "f.py"}],
            "the symlink l00 points to 'l01', and resolving it follows more than 40 symlinks",
        ),
    ],
    ids=["dotdot", "inner-dotdot", "absolute", "unnormalized", "nul", "backslash", "link-out", "link-out-inner",
         "link-absolute", "below-a-link", "duplicate", "chain-out", "chain-out-through-a-directory-link", "loop",
         "self-loop", "41-links"],
)
def test_paths_that_could_leave_the_tree_are_refused(files: list, symlinks: list, problem: str) -> None:
    entries = (tuple(TreeFile(**f) for f in files), tuple(TreeSymlink(**s) for s in symlinks))
    # With a matching digest and size, so that only the paths are wrong.
    tree = {"files": files, "symlinks": symlinks, "sha256": tree_sha256(*entries), "size": sum(f["size"] for f in files)}
    with pytest.raises(ManifestError, match="does not follow manifest schema 2") as exc:
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), **_sources_with(**tree)}), origin="m.json")
    assert problem in str(exc.value)
    with pytest.raises(ValueError, match="api-srcs.pex: "):  # nor can the plugin build one
        ReleasePex.tree("api-srcs.pex", "packed", *entries)


def test_symlinks_that_stay_in_the_tree_through_other_symlinks_are_accepted() -> None:
    links = (
        TreeSymlink("pex", "__main__.py"),
        TreeSymlink("lib", "vendor/lib"),  # a directory link
        TreeSymlink("a/b/mod.py", "../../lib/../lib/mod.py"),  # through it, and back
        TreeSymlink("a/b/up", "../.."),  # the root
        TreeSymlink("a/b/top", "up/pex"),
        TreeSymlink("dangling", "a/missing/../../nowhere"),  # what is not listed is a directory
        # A chain of 40 links, as many as Linux follows in one path.
        *(TreeSymlink(f"l{i:02}", f"l{i + 1:02}") for i in range(39)),
        TreeSymlink("l39", "__main__.py"),
    )
    files = (TreeFile("__main__.py", SHA_A, 1), TreeFile("vendor/lib/mod.py", SHA_B, 2))
    pex = ReleasePex.tree("api-srcs.pex", "packed", files, links)
    assert ReleaseManifest.loads(dataclasses.replace(MANIFEST, sources=pex).dumps(), origin="m.json").sources == pex


CP39 = CompletePlatform(
    file="platforms/linux-py39.json",
    sha256=SHA_C,
    implementation="CPython",
    python_version="3.9.18",
    tag="cp39-cp39-manylinux_2_17_x86_64",
)


def test_complete_platforms_are_optional() -> None:
    # Manifests without complete platforms keep their bytes (and so their sha256) ...
    assert "complete_platforms" not in json.loads(MANIFEST.dumps())
    # ... and with them, the summary round-trips; older readers ignore the key.
    manifest = dataclasses.replace(MANIFEST, complete_platforms=(CP39,), platforms=("macosx_11_0_arm64-cp-3.12.1-cp312",))
    data = manifest.dumps()
    assert json.loads(data)["complete_platforms"] == [dataclasses.asdict(CP39)]
    assert ReleaseManifest.loads(data, origin="test") == manifest
    assert manifest.platform_tags == ("cp312-cp312-macosx_11_0_arm64", "cp39-cp39-manylinux_2_17_x86_64")


@pytest.mark.parametrize(
    "platform, python, tag",
    [
        ("manylinux2014_x86_64-cp-39-cp39", ("CPython", (3, 9)), "cp39-cp39-manylinux2014_x86_64"),
        ("macosx_11_0_arm64-cp-3.12.1-cp312", ("CPython", (3, 12)), "cp312-cp312-macosx_11_0_arm64"),
        ("linux_x86_64-pp-310-pypy310_pp73", ("PyPy", (3, 10)), "pp310-pypy310_pp73-linux_x86_64"),
    ],
)
def test_abbreviated_platforms_are_read_as_pex_reads_them(platform: str, python: tuple, tag: str) -> None:
    parsed = AbbreviatedPlatform.parse(platform)
    assert ((parsed.implementation, parsed.python), parsed.tag, str(parsed)) == (python, tag, platform)


def test_a_complete_platform_file_is_summarized() -> None:
    data = json.dumps(
        {
            "compatible_tags": ["cp39-cp39-manylinux_2_17_x86_64", "py3-none-any"],
            "marker_environment": {"platform_python_implementation": "CPython", "python_full_version": "3.9.18"},
        }
    ).encode()
    summary = CompletePlatform.from_json("platforms/linux-py39.json", data)
    assert summary == dataclasses.replace(CP39, sha256=hashlib.sha256(data).hexdigest())
    assert summary.python == (3, 9)
    with pytest.raises(ValueError, match=r"platforms/x.json is not a complete platform \(KeyError: 'marker_environment'\)"):
        CompletePlatform.from_json("platforms/x.json", b'{"compatible_tags": []}')


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"platforms": ["linux-x86_64"]}, "'linux-x86_64' is not a pex platform"),
        ({"complete_platforms": [{**dataclasses.asdict(CP39), "tag": "\x1b[2J"}]}, "does not name a Python implementation"),
    ],
)
def test_platforms_in_a_manifest_are_checked(change: dict, problem: str) -> None:
    with pytest.raises(ManifestError, match="does not follow manifest schema 2") as exc:
        ReleaseManifest.loads(json.dumps({**MANIFEST.to_json(), **change}), origin="m.json")
    assert problem in str(exc.value)
