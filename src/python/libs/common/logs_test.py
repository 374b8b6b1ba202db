import io
import json

from libs.common.logs import configure_logging
from libs.common.settings import Settings


def test_logs_one_json_object_per_line() -> None:
    stream = io.StringIO()
    logger = configure_logging(Settings("api", "prod", "INFO", "1.0"), stream=stream)
    logger.info("hello %s", "world")
    logger.debug("hidden at INFO")
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line) == {
        "env": "prod",
        "level": "INFO",
        "logger": "api",
        "msg": "hello world",
        "release": "1.0",
        "service": "api",
    }
