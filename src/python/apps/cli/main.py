"""`acme`: the developer command line, with its subcommands also shipped as standalone scripts."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

import click


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def checksum(files: tuple[Path, ...]) -> None:
    """Print the sha256 of each FILE, in the format of sha256sum."""
    for path in files:
        click.echo(f"{sha256_file(path)}  {path}")


@click.command()
@click.argument("words", nargs=-1, required=True)
def slugify(words: tuple[str, ...]) -> None:
    """Print WORDS as a URL slug."""
    click.echo(slug(" ".join(words)))


@click.group()
@click.version_option(package_name="click", message="acme cli (click %(version)s)")
def cli() -> None:
    """Acme developer tools."""


cli.add_command(checksum)
cli.add_command(slugify)

if __name__ == "__main__":
    cli()
