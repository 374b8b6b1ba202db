import hashlib

from click.testing import CliRunner

from apps.cli.main import cli, slug


def test_help_lists_subcommands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "checksum" in result.output and "slugify" in result.output


def test_checksum_matches_hashlib(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"pex release\n" * 1000)
    result = CliRunner().invoke(cli, ["checksum", str(path)])
    assert result.exit_code == 0
    assert result.output == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path}\n"


def test_checksum_missing_file_fails() -> None:
    result = CliRunner().invoke(cli, ["checksum", "/no/such/file"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_slugify() -> None:
    assert slug("Héllo, Wörld!  PEX") == "hello-world-pex"
    assert CliRunner().invoke(cli, ["slugify", "Release", "1.4"]).output == "release-1-4\n"
