import pytest

from libs.common.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env("api", env={})
    assert settings == Settings(service="api", environment="dev", log_level="INFO", release="dev")


def test_reads_environment_and_release() -> None:
    env = {"ACME_ENV": "prod", "ACME_LOG_LEVEL": "debug", "PEXRUN_VERSION": "1.4.0"}
    settings = Settings.from_env("worker", env=env)
    assert (settings.environment, settings.log_level, settings.release) == ("prod", "DEBUG", "1.4.0")


def test_rejects_unknown_log_level() -> None:
    with pytest.raises(SettingsError, match="ACME_LOG_LEVEL='LOUD'"):
        Settings.from_env("api", env={"ACME_LOG_LEVEL": "loud"})
