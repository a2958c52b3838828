"""Settings come from QBT_* variables and say which variable is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import Settings, SettingsError


def test_defaults_mean_embedded_database_and_local_ray():
    settings = Settings.from_env({})
    assert settings.database_url is None and settings.ray_address is None
    assert settings.home == Path(".qbt")
    assert settings.ray_gcs_port != 6379  # Redis's port
    assert settings.max_sweep_variants == 100_000


def test_variables_are_read_and_typed():
    settings = Settings.from_env(
        {"QBT_DATABASE_URL": "postgresql://x/y", "QBT_MAX_SWEEP_VARIANTS": "10",
         "QBT_REFRESH_INTERVAL_S": "", "UNRELATED": "1"}
    )
    assert settings.database_url == "postgresql://x/y"
    assert settings.max_sweep_variants == 10
    assert settings.refresh_interval_s is None


def test_a_bad_value_names_the_variable():
    with pytest.raises(SettingsError, match="QBT_MAX_SWEEP_VARIANTS"):
        Settings.from_env({"QBT_MAX_SWEEP_VARIANTS": "lots"})
