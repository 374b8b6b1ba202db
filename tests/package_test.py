"""`./pants package ::` in a scratch copy builds every app, and the built PEXes run."""

from __future__ import annotations

import subprocess

from conftest import ScratchRepo, free_port, python312, wait_for_http


def test_api_pex_serves_requests(packaged_repo: ScratchRepo) -> None:
    port = free_port()
    server = subprocess.Popen([python312(), "dist/src.python.apps.api/bin.pex", "--port", str(port)], cwd=packaged_repo.root)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/healthz") == b'{"status":"ok","service":"api","release":"dev"}'
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_cli_pex_prints_help(packaged_repo: ScratchRepo) -> None:
    result = subprocess.run(
        [python312(), "dist/src.python.apps.cli/bin.pex", "--help"], cwd=packaged_repo.root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Acme developer tools." in result.stdout
    assert "checksum" in result.stdout and "slugify" in result.stdout
