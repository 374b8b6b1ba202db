# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Assembles a release's OCI image layout: `python -m pex_release.sandbox.build_image SPEC.json`.

The plugin runs this in a sandbox holding this module and the release core's `oci` modules it
imports (`util_rules/sandbox_sources.py`), with the release's Python (the image's Python version: it compiles the bytecode). SPEC:

    {"base": "base", "base_reference": "what the user wrote", "platform": "linux/amd64",
     "python": "python3", "python_version": "3.12" (optional: this Python's),
     "deps": "deps.pex", "sources": "srcs.pex", "app_dir": "/app",
     "env": {"PEX_PATH": "/app/deps.pex", ...}, "labels": {...}, "tags": ["1.4.0"],
     "output": "image", "summary": "image.json"}

`base` is an OCI layout directory or tarball; `deps` (may be null: no third-party requirements) and
`sources` are loose-layout PEX directories, the deps one with pre-installed wheels (`.deps/<wheel>/`).
The image is the base's layers, then a layer each for the sources PEX's `.bootstrap/`, each wheel
(at most MAX_WHEEL_LAYERS: beyond that the smallest wheels share one), the rest of the deps PEX,
and the rest of the sources PEX; every `.py` compiled to unchecked-hash bytecode as it will be
named in the image, so nothing is compiled or installed when a container starts. The inputs are
not modified (they are linked into a staging directory, where the bytecode is written).

Writes the layout to `output` and a summary to `summary` (the manifest, config, platform, tags and
each layer's role). On bad input: the message on stderr, exit status 1, and nothing at `output`.

The deps PEX's layers can also be built on their own, so that a build tool caches them by the
deps PEX alone and a source edit does not compress the wheels again:

    {"mode": "deps-layers", "deps": "deps.pex", "app_dir": "/app", "python_version": "3.12",
     "output": "deps-layers"}

writes `output/blobs/sha256/` and `output/layers.json`; an image SPEC then names that directory
as `"deps_layers": "deps-layers"` instead of `deps`, and the image is byte for byte the same.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pex_release_core.oci.filesystem import find_python
from pex_release_core.oci.model import LAYER_MEDIA_TYPE, Descriptor, ImageError, Layer, Platform, check_tag
from pex_release_core.oci.reading import read_image
from pex_release_core.oci.writing import link_or_copy, write_image, write_layer

# Wheels get a layer each up to this many: with the base's layers and the three others, an image
# stays under the 128 layers Docker's overlay2 storage driver can stack.
MAX_WHEEL_LAYERS = 100
DEPS_LAYERS_LISTING = "layers.json"


@dataclass(frozen=True)
class RoleLayer:
    role: str  # "bootstrap", "wheel", "deps" or "sources"
    name: Optional[str]  # the wheel's file name (several, comma-separated, for a shared layer)
    layer: Layer

    def to_json(self) -> dict[str, Any]:
        descriptor = self.layer.descriptor
        return {
            "role": self.role,
            "name": self.name,
            "digest": descriptor.digest,
            "size": descriptor.size,
            "diff_id": self.layer.diff_id,
            "created_by": self.layer.created_by,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> RoleLayer:
        descriptor = Descriptor(LAYER_MEDIA_TYPE, value["digest"], value["size"])
        return cls(value["role"], value["name"], Layer(descriptor, value["diff_id"], value["created_by"]))


def wheel_groups(sizes: Mapping[str, int], max_layers: int = MAX_WHEEL_LAYERS) -> list[tuple[str, ...]]:
    """The wheels' layers: one per wheel in name order, or, when there are more wheels than
    max_layers, one per wheel for the max_layers - 1 largest and a last one shared by the rest."""
    names = sorted(sizes)
    if len(names) <= max_layers:
        return [(name,) for name in names]
    by_size = sorted(names, key=lambda name: (sizes[name], name))
    shared = set(by_size[: len(names) - max_layers + 1])
    return [(name,) for name in names if name not in shared] + [tuple(sorted(shared))]


def tree_size(root: Path) -> int:
    return sum(
        os.lstat(os.path.join(directory, name)).st_size for directory, _, files in os.walk(root) for name in files
    )


def _stage(tree: Path, staging: Path, in_image: str, what: str) -> Path:
    """A copy of tree (hard links where possible) with its `.py` files compiled as named in the image."""
    if not tree.is_dir():
        raise ImageError(f"The {what} {tree} is not a directory: image builds need PEXes in pex's loose layout.")
    shutil.copytree(tree, staging, symlinks=True, copy_function=link_or_copy)
    # Unchecked-hash pycs do not depend on file times, and stripdir/prependdir give them the
    # in-image file names (not the staging directory's), so equal sources give equal bytes; `force`
    # replaces pycs the tree may hold already (named after where they were compiled). Files that do
    # not compile (e.g. templates named .py) are left to fail at import, as pip does.
    compileall.compile_dir(
        str(staging),
        quiet=2,
        force=True,
        stripdir=str(staging),
        prependdir=in_image,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return staging


def sources_layers(blobs: Path, sources: Path, app_dir: str, staging: Path) -> tuple[RoleLayer, RoleLayer]:
    """The layers of the sources PEX: its `.bootstrap/` (pex's runtime), and the rest."""
    app = app_dir.strip("/")
    srcs = _stage(sources, staging / "srcs.pex", f"/{app}/srcs.pex", "sources PEX")
    if not (srcs / ".bootstrap").is_dir():
        raise ImageError(
            f"The sources PEX {sources} has no .bootstrap/ directory: image builds need it in pex's loose layout "
            "(`--layout loose`)."
        )
    bootstrap = write_layer(
        blobs, srcs / ".bootstrap", f"{app}/srcs.pex/.bootstrap", created_by="pex-release: pex bootstrap"
    )
    rest = write_layer(blobs, srcs, f"{app}/srcs.pex", created_by="pex-release: sources PEX", exclude=[".bootstrap"])
    return RoleLayer("bootstrap", None, bootstrap), RoleLayer("sources", None, rest)


def deps_layers(
    blobs: Path, deps: Path, app_dir: str, staging: Path, *, max_wheel_layers: int = MAX_WHEEL_LAYERS
) -> list[RoleLayer]:
    """The layers of the deps PEX: its wheels (see wheel_groups), then the rest but `.bootstrap/`."""
    app = app_dir.strip("/")
    staged = _stage(deps, staging / "deps.pex", f"/{app}/deps.pex", "deps PEX")
    wheels = staged / ".deps"
    sizes = {p.name: tree_size(p) for p in wheels.iterdir() if p.is_dir()} if wheels.is_dir() else {}
    layers = []
    for group in wheel_groups(sizes, max_wheel_layers):
        if len(group) == 1:
            (name,) = group
            layer = write_layer(
                blobs, wheels / name, f"{app}/deps.pex/.deps/{name}", created_by=f"pex-release: wheel {name}"
            )
        else:
            layer = write_layer(
                blobs,
                wheels,
                f"{app}/deps.pex/.deps",
                created_by=f"pex-release: wheels {', '.join(group)}",
                exclude=[name for name in sizes if name not in group],
            )
        layers.append(RoleLayer("wheel", ", ".join(group), layer))
    metadata = write_layer(
        blobs, staged, f"{app}/deps.pex", created_by="pex-release: deps PEX", exclude=[".bootstrap", ".deps"]
    )
    return [*layers, RoleLayer("deps", None, metadata)]


def prebuilt_deps_layers(directory: Path, blobs: Path, app_dir: str, python_version: str) -> list[RoleLayer]:
    """The layers a `deps-layers` run wrote to directory, linked into blobs."""
    listing = json.loads((directory / DEPS_LAYERS_LISTING).read_text())
    built_for = (listing["app_dir"], listing["python_version"])
    if built_for != (app_dir, python_version):
        raise ImageError(
            f"The deps layers in {directory} were built for {built_for[0]} and Python {built_for[1]}, not "
            f"{app_dir} and Python {python_version}. To fix, build them again with this image's app_dir and Python."
        )
    layers = [RoleLayer.from_json(value) for value in listing["layers"]]
    blobs.mkdir(parents=True, exist_ok=True)
    for r in layers:
        link_or_copy(str(directory / "blobs" / "sha256" / r.layer.descriptor.hex), str(blobs / r.layer.descriptor.hex))
    return layers


def _python_version(spec: Mapping[str, Any]) -> str:
    """The image's Python version: the spec's, which must be this Python's, else this Python's."""
    running = "{}.{}".format(*sys.version_info[:2])
    version = spec.get("python_version") or running
    if running != version:
        raise ImageError(
            f"build_image.py runs with Python {running}, but the image's Python is {version}: bytecode compiled "
            f"by this Python would not be used there. To fix, run it with Python {version}."
        )
    return version


def build_deps_layers(spec: Mapping[str, Any], out: Path, staging: Path) -> dict[str, Any]:
    """Writes the deps PEX's layers and their listing to the directory `out`; returns the listing."""
    version = _python_version(spec)
    app_dir = "/" + spec["app_dir"].strip("/")
    layers = deps_layers(out / "blobs" / "sha256", Path(spec["deps"]), app_dir, staging)
    listing = {"app_dir": app_dir, "python_version": version, "layers": [r.to_json() for r in layers]}
    (out / DEPS_LAYERS_LISTING).write_text(json.dumps(listing, indent=2, sort_keys=True) + "\n")
    return listing


def build(spec: Mapping[str, Any], layout: Path, staging: Path) -> dict[str, Any]:
    """Writes the image to the directory `layout`; returns the summary."""
    for tag in spec["tags"]:
        check_tag(tag)
    version = _python_version(spec)
    platform = Platform.parse(spec["platform"])
    # A tarball is extracted beside the layout, so that its blobs can be hard-linked into it.
    base = read_image(
        Path(spec["base"]), reference=spec["base_reference"], platform=platform, extract_into=staging / "base"
    )
    python = find_python(base, spec["python"], version)
    app_dir = "/" + spec["app_dir"].strip("/")
    blobs = layout / "blobs" / "sha256"
    bootstrap, sources = sources_layers(blobs, Path(spec["sources"]), app_dir, staging)
    if spec.get("deps_layers"):
        deps = prebuilt_deps_layers(Path(spec["deps_layers"]), blobs, app_dir, version)
    elif spec.get("deps"):
        deps = deps_layers(blobs, Path(spec["deps"]), app_dir, staging)
    else:
        deps = []
    layers = [bootstrap, *deps, sources]
    manifest = write_image(
        layout,
        base=base,
        layers=[r.layer for r in layers],
        entrypoint=[python, f"{app_dir}/srcs.pex"],
        working_dir=app_dir,
        env=spec["env"],
        labels=spec["labels"],
        tags=spec["tags"],
    )
    config = json.loads((layout / "blobs" / "sha256" / manifest.hex).read_bytes())["config"]["digest"]
    return {
        "manifest": {"digest": manifest.digest, "size": manifest.size, "media_type": manifest.media_type},
        "config": config,
        "platform": str(base.platform),
        "tags": list(dict.fromkeys(spec["tags"])),
        "layers": [
            *(
                {"role": "base", "name": None, "digest": d.digest, "size": d.size, "diff_id": diff_id}
                for d, diff_id in zip(base.layers, base.diff_ids)
            ),
            *({k: v for k, v in r.to_json().items() if k != "created_by"} for r in layers),
        ],
    }


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    run = build_deps_layers if spec.get("mode") == "deps-layers" else build
    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    # Built beside `output` and renamed into place, so that a failure leaves nothing there.
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        (work / "layout").mkdir()
        summary = run(spec, work / "layout", work / "staging")
        if output.exists():
            shutil.rmtree(output)
        os.replace(work / "layout", output)
    except ImageError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if spec.get("summary"):
        Path(spec["summary"]).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
