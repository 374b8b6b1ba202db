"""Serves the inventory API with uvicorn: `api --host 0.0.0.0 --port 8080`."""

from __future__ import annotations

import argparse
from typing import Sequence

import uvicorn

from apps.api.app import create_app
from libs.common.logs import configure_logging
from libs.common.settings import Settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="api", description="Serve the acme inventory API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    settings = Settings.from_env("api")
    logger = configure_logging(settings)
    logger.info("serving on http://%s:%d", args.host, args.port)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
