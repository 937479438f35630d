"""The server process's garbage-collector settings (see ``cityhub.web.app.lifespan``)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from cityhub.web import app as app_mod


def test_server_defers_full_collections_and_restores_the_settings(demo):
    before = gc.get_threshold()
    assert before != app_mod.GC_THRESHOLDS
    with TestClient(app_mod.create_app(), base_url="http://127.0.0.1:8000") as client:
        # no automatic full collection: generation 2's threshold is out of reach, a timed task runs them
        assert gc.get_threshold() == app_mod.GC_THRESHOLDS
        assert app_mod.GC_THRESHOLDS[2] >= 100_000
        assert client.get("/api/3/action/status_show").json()["success"] is True
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # handed back, so the exit can collect them (no nanobind leak reports)
