"""DatasetRegistry: single flight, versions, refresh, eviction and zero-copy panels."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import pytest
import ray

from dataprep.registry import DatasetRegistry, UnknownVersionError
from tests.dataprep.panels import synthetic_panel

pytestmark = pytest.mark.ray


def _file_version_reader(path: str):
    def read(_database_url: str) -> str:
        return Path(path).read_text()

    return read


def _slow_builder(log_path: str, *, n_days: int = 40, n_stocks: int = 6):
    def build(_database_url: str):
        with open(log_path, "a") as log:
            log.write("build\n")
        time.sleep(1.0)
        version = Path(log_path).with_suffix(".version").read_text()
        return synthetic_panel(version=version, n_days=n_days, n_stocks=n_stocks), {"load_s": 1.0}

    return build


def _registry(tmp_path: Path, *, memory_budget: int = 10**9, **panel_size: int):
    log = tmp_path / "builds.log"
    version_file = tmp_path / "builds.version"
    version_file.write_text("v1")
    actor = ray.remote(DatasetRegistry).options(num_cpus=0, max_concurrency=100).remote(
        "postgresql://unused",
        memory_budget=memory_budget,
        builder=_slow_builder(str(log), **panel_size),
        version_reader=_file_version_reader(str(version_file)),
    )
    return actor, log, version_file


def test_concurrent_callers_cause_exactly_one_build(ray_session, tmp_path):
    registry, log, _ = _registry(tmp_path)
    handles = ray.get([registry.get.remote() for _ in range(8)])
    assert log.read_text().count("build") == 1
    assert {h.version for h in handles} == {"v1"}
    assert len({h.ref for h in handles}) == 1
    assert ray.get(registry.stats.remote())["builds"] == 1


def test_refresh_builds_new_version_in_background_while_old_serves(ray_session, tmp_path):
    registry, log, version_file = _registry(tmp_path)
    first = ray.get(registry.get.remote())
    version_file.write_text("v2")
    ray.get(registry.refresh.remote())
    during = ray.get(registry.get.remote(), timeout=0.5)  # answered at once, not after the build
    assert during.version == "v1"
    ray.get(registry.refresh.remote(wait=True))
    after = ray.get(registry.get.remote())
    assert after.version == "v2"
    assert ray.get(after.ref).version == "v2"
    assert ray.get(registry.get.remote("v1")).ref == first.ref  # still held within the budget
    assert log.read_text().count("build") == 2
    assert ray.get(registry.stats.remote())["refreshes"] == 1


def test_unchanged_data_refresh_builds_nothing(ray_session, tmp_path):
    registry, log, _ = _registry(tmp_path)
    ray.get(registry.get.remote())
    ray.get(registry.refresh.remote(wait=True))
    assert log.read_text().count("build") == 1


def test_memory_budget_evicts_least_recently_used_old_version(ray_session, tmp_path):
    panel_bytes = synthetic_panel().nbytes
    registry, _, version_file = _registry(tmp_path, memory_budget=int(panel_bytes * 1.5))
    ray.get(registry.get.remote())
    version_file.write_text("v2")
    ray.get(registry.refresh.remote(wait=True))
    held = [v["version"] for v in ray.get(registry.versions.remote())]
    assert held == ["v2"]
    with pytest.raises(UnknownVersionError, match='"v1" is not held'):
        ray.get(registry.get.remote("v1"))


@ray.remote
def _inspect(panel) -> dict:
    import psutil

    before = psutil.Process(os.getpid()).memory_full_info().uss
    total = float(panel.values.sum(dtype=np.float64))  # touch every page
    after = psutil.Process(os.getpid()).memory_full_info().uss
    root = panel.values
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    return {
        "writeable": bool(panel.values.flags.writeable),
        "close_writeable": bool(panel.close.flags.writeable),
        "owns_data": bool(panel.values.flags.owndata),
        "root_type": type(root).__name__,
        "pid": os.getpid(),
        "uss_growth": after - before,
        "total": total,
    }


def test_tasks_see_the_panel_zero_copy(ray_session):
    panel = synthetic_panel(n_days=500, n_stocks=2000, n_factors=12)  # 48 MB of values
    ref = ray.put(panel)
    reports = ray.get([_inspect.remote(ref) for _ in range(6)])
    for report in reports:
        assert report["writeable"] is False
        assert report["close_writeable"] is False
        assert report["owns_data"] is False
        assert report["root_type"] == "SubBuffer"  # Ray's view of the shared-memory object
        # reading all 48 MB must not add a private copy to the worker
        assert report["uss_growth"] < panel.values.nbytes / 4
    assert len({r["total"] for r in reports}) == 1


def test_restarted_registry_never_labels_new_data_with_an_old_version(ray_session, tmp_path):
    """Regression: after a restart, get("v1") built whatever the database held and answered a
    handle named v1. Here the reader still says v1 while the builder reads v2 data."""
    log = tmp_path / "builds.log"
    Path(log).with_suffix(".version").write_text("v2")  # what the builder finds
    stale = tmp_path / "reader.version"
    stale.write_text("v1")  # what the version reader says
    registry = ray.remote(DatasetRegistry).options(num_cpus=0, max_concurrency=100).remote(
        "postgresql://unused", builder=_slow_builder(str(log)),
        version_reader=_file_version_reader(str(stale)),
    )
    with pytest.raises(UnknownVersionError) as caught:
        ray.get(registry.get.remote("v1"))
    assert (caught.value.version, caught.value.current) == ("v1", "v2")
    current = ray.get(registry.get.remote())
    assert current.version == "v2" and ray.get(current.ref).version == "v2"
    assert [v["version"] for v in ray.get(registry.versions.remote())] == ["v2"]
    assert log.read_text().count("build") == 1  # the build was kept, not thrown away


def test_unnamed_get_answers_the_version_it_built(ray_session, tmp_path):
    log = tmp_path / "builds.log"
    Path(log).with_suffix(".version").write_text("v2")
    stale = tmp_path / "reader.version"
    stale.write_text("v1")
    registry = ray.remote(DatasetRegistry).options(num_cpus=0, max_concurrency=100).remote(
        "postgresql://unused", builder=_slow_builder(str(log)),
        version_reader=_file_version_reader(str(stale)),
    )
    assert ray.get(registry.get.remote()).version == "v2"


def test_versions_show_each_factors_coverage_as_get_v1_datasets_serves_it(ray_session):
    from serve.models import DatasetPublic

    def build(_database_url: str):
        panel = synthetic_panel(version="v1")
        values = panel.values.copy()
        values[1] = np.nan  # F1: no value at all
        values[2, :5] = np.nan  # F2: from the sixth day
        return dataclasses.replace(panel, values=values, coverage={}), {"load_s": 0.1}

    registry = ray.remote(DatasetRegistry).options(num_cpus=0).remote(
        "postgresql://unused", builder=build, version_reader=lambda _url: "v1"
    )
    handle = ray.get(registry.get.remote())
    assert handle.index.coverage["F1"].empty
    (row,) = ray.get(registry.versions.remote())
    public = DatasetPublic.model_validate(row)
    assert public.coverage["F0"].share == 1.0 and str(public.coverage["F0"].first_day) == (
        "2022-01-03"
    )
    assert public.coverage["F1"].first_day is None and public.coverage["F1"].share == 0.0
    assert str(public.coverage["F2"].first_day) == "2022-01-08"
    assert public.coverage["F2"].share == pytest.approx(35 / 40)
