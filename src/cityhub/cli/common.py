"""What every ``cityhub`` command shares: the consoles and calling an action as the local operator."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from cityhub import actions
from cityhub.context import Actor, Context, system_context
from cityhub.errors import CityHubError

out = Console()
err = Console(stderr=True)


def call(name: str, data: Any = None, **extra: Any) -> Any:
    """Run action ``name`` in the CLI's system context; an action error is printed and exits with 2."""
    ctx = system_context("cli")
    ctx.extra.update(extra)
    return _run(name, ctx, data)


def call_as(user: str, name: str, data: Any = None) -> Any:
    """Run ``name`` as ``user`` (looked up through the actions: ``--as USER``), or as the operator when ``user``
    is empty; an action error is printed and exits with 2."""
    if not user:
        return call(name, data)
    u = call("user_show", {"name": user})
    dept = call("department_show", {"slug": u["department"]})["id"] if u["department"] else None
    ctx = Context(actor=Actor(id=u["id"], name=u["name"], role=u["role"], department_id=dept), source="local",
                  via="cli")
    return _run(name, ctx, data)


def _run(name: str, ctx: Context, data: Any) -> Any:
    try:
        return actions.call(name, ctx, data)
    except CityHubError as exc:
        err.print(f"[red]错误 error[/red]: {exc.message} / {exc.message_en}")
        for field, msgs in exc.fields.items():
            err.print(f"  {field}: {'; '.join(map(str, msgs))}")
        raise typer.Exit(2) from None
