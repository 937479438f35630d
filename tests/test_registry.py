"""Coding standards of the action registry (as CKAN's test_coding_standards)."""

from __future__ import annotations

import inspect

from cityhub import actions


def test_every_action_has_auth_docstring_schema_and_signature() -> None:
    registry = actions.registry()
    assert len(registry) >= 30
    for name, spec in registry.items():
        assert spec.auth.__name__ == name, f"{name}: auth function must share the action's name"
        assert inspect.getdoc(spec.func), f"{name}: missing docstring"
        assert spec.schema is not None, f"{name}: missing input schema"
        params = list(inspect.signature(spec.func).parameters)
        assert params == ["ctx", "p"], f"{name}: signature must be (ctx, p), got {params}"
        noun, _, verb = name.rpartition("_")
        assert noun and verb, f"{name}: must be <noun>_<verb>"


def test_write_actions_are_audited() -> None:
    writes = {n for n, s in actions.registry().items() if s.write}
    for expected in ("dataset_create", "dataset_update", "dataset_delete", "resource_create", "resource_update",
                     "resource_delete", "department_create", "department_update", "user_create", "user_update",
                     "token_create", "token_revoke", "plan_upsert", "search_reindex"):
        assert expected in writes
