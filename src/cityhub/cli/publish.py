"""``cityhub dataset`` — the publication workflow from the server: submit, approve, reject and withdraw a data
resource, list the review queue and a department's dashboard. Each command is an action, audited as the local
operator (``system``, a platform admin)."""

from __future__ import annotations

import json
import sys

import typer

from cityhub.cli.common import call as _call
from cityhub.cli.common import err

dataset_app = typer.Typer(help="数据资源发布 / dataset publication workflow", no_args_is_help=True)


def _step(step: str, name: str, comment: str) -> None:
    ds = _call(f"dataset_{step}", {"id": name, "comment": comment})
    err.print(f"{ds['name']}: {ds['publication']}")


@dataset_app.command("submit")
def submit(name: str = typer.Argument(..., help="dataset name"),
           comment: str = typer.Option("", help="a note for the reviewer")) -> None:
    """Submit a draft for review (draft → submitted)."""
    _step("submit", name, comment)


@dataset_app.command("approve")
def approve(name: str = typer.Argument(..., help="dataset name"),
            comment: str = typer.Option("", help="the reviewer's comment")) -> None:
    """Approve a submission: the dataset is published (submitted → published)."""
    _step("approve", name, comment)


@dataset_app.command("reject")
def reject(name: str = typer.Argument(..., help="dataset name"),
           comment: str = typer.Option(..., help="why it goes back (required)")) -> None:
    """Send a submission back to draft with a comment (submitted → draft)."""
    _step("reject", name, comment)


@dataset_app.command("withdraw")
def withdraw(name: str = typer.Argument(..., help="dataset name"),
             comment: str = typer.Option(..., help="why it is withdrawn (required)")) -> None:
    """Withdraw a published dataset to draft (published → draft)."""
    _step("withdraw", name, comment)


@dataset_app.command("review-queue")
def review_queue(department: str = typer.Option(None, help="department slug (default: all)")) -> None:
    """Print the submitted datasets awaiting review as JSON lines."""
    for item in _call("review_list", {"department": department}):
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")


@dataset_app.command("dashboard")
def dashboard(department: str = typer.Option(None, help="department slug (default: all)")) -> None:
    """Print a department's drafts, open submissions, overdue updates and failed loads (JSON)."""
    sys.stdout.write(json.dumps(_call("dashboard_show", {"department": department}), ensure_ascii=False,
                                indent=2) + "\n")
