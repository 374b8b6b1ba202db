# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Prints, as JSON, what a built PEX holds: its PEX-INFO and its distributions' console scripts.

The plugin runs this as a process on the deps PEX (`python -m pex_release.sandbox.inspect_pex deps.pex`), for
the manifest's distribution list and to turn a `script` into the entry point it names, so that
the sources PEX does not need the deps PEX at build time. Standard library only; works for the
zipapp, packed and loose layouts, with wheels pre-installed or not.
"""

import configparser
import io
import json
import os
import sys
import zipfile


class PexContents:
    """Read access to the files of a PEX, whether a zip file or a directory."""

    def __init__(self, path):
        self._path = path
        self._zip = None if os.path.isdir(path) else zipfile.ZipFile(path)

    def read(self, name):
        if self._zip:
            return self._zip.read(name)
        with open(os.path.join(self._path, name), "rb") as f:
            return f.read()

    def names(self, prefix):
        if self._zip:
            return [n for n in self._zip.namelist() if n.startswith(prefix)]
        root = os.path.join(self._path, prefix)
        return [
            os.path.relpath(os.path.join(d, f), self._path).replace(os.sep, "/")
            for d, _, files in os.walk(root)
            for f in files
        ]


def entry_points_files(pex, wheel):
    """The `entry_points.txt` contents of one installed wheel in the PEX."""
    prefix = ".deps/" + wheel
    members = pex.names(prefix + "/")
    if members:  # zipapp and loose layouts with pre-installed wheels: the wheel is installed as files.
        return [pex.read(m) for m in members if _is_entry_points(m[len(prefix) + 1 :])]
    # packed layout, or `--no-pre-install-wheels`: a zip file, the installed wheel zipped or the
    # original wheel file; either holds `<name>.dist-info/entry_points.txt` at its root.
    with zipfile.ZipFile(io.BytesIO(pex.read(prefix))) as installed:
        return [installed.read(m) for m in installed.namelist() if _is_entry_points(m)]


def _is_entry_points(relpath):
    parts = relpath.split("/")
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "entry_points.txt"


def console_scripts(pex, wheels):
    scripts = {}
    for wheel in sorted(wheels):
        for content in entry_points_files(pex, wheel):
            parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
            parser.optionxform = str  # script names are case-sensitive
            parser.read_string(content.decode("utf-8"))
            if parser.has_section("console_scripts"):
                scripts.update({k: v.strip() for k, v in parser.items("console_scripts")})
    return scripts


def main(path):
    pex = PexContents(path)
    pex_info = json.loads(pex.read("PEX-INFO"))
    wheels = pex_info.get("distributions", {})
    json.dump(
        {"distributions": sorted(wheels), "console_scripts": console_scripts(pex, wheels)},
        sys.stdout,
        sort_keys=True,
    )


if __name__ == "__main__":
    main(sys.argv[1])
