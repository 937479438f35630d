"""``cityhub discussions`` and ``cityhub reuses`` — the moderation side of the public's voice from a terminal:
a dataset's discussion, the moderation queue (held, reported, hidden posts), hide / show a post, lock / unlock a
thread; the reuses (成果展示) awaiting review, approve or reject one. Commands run as the local operator;
``--as USER`` acts as that user (a department's steward moderates its own datasets' discussions) under the same
rules as the portal and the API, and every change is audited by the action it calls."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from cityhub.cli.common import call_as, err, out

discussions_app = typer.Typer(help="数据集讨论的审核 / moderating dataset discussions", no_args_is_help=True)
reuses_app = typer.Typer(help="成果展示的审核 / reviewing reuses (apps, articles, visualisations)",
                         no_args_is_help=True)

AS_USER = typer.Option("", "--as", help="act as this user (e.g. the dataset department's steward)")
AS_JSON = typer.Option(False, "--json", help="print JSON")


def _say(line: str) -> None:
    """Print user text as it is (a post may contain ``[...]``, which rich would read as markup)."""
    out.print(line, markup=False, highlight=False)


def _json(value: Any) -> None:
    out.print_json(json.dumps(value, ensure_ascii=False))


def _short(text: str, n: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= n else one_line[: n - 1] + "…"


def _post_line(p: dict[str, Any], indent: str = "") -> str:
    flags = [p["status"]] + (["locked"] if p.get("locked") else [])
    if p.get("report_count"):
        flags.append(f"{p['report_count']} reports")
    head = f"{p['title']} · " if p.get("title") else ""
    return f"{indent}#{p['id']} [{', '.join(flags)}] {p['author']} {p['created_at'][:16]}: {head}{_short(p['body'])}"


# --- discussions -------------------------------------------------------------------------------------------------

@discussions_app.command("list")
def discussions_list(dataset: str = typer.Argument(..., help="dataset name or id"),
                     limit: int = typer.Option(20, help="threads (1-100)"),
                     offset: int = typer.Option(0, help="skip this many threads"),
                     replies: int = typer.Option(5, help="newest replies shown per thread"),
                     as_user: str = AS_USER, as_json: bool = AS_JSON) -> None:
    """A dataset's discussion, newest thread first (moderators also see held and hidden posts)."""
    page = call_as(as_user, "discussion_list", {"dataset": dataset, "limit": limit, "offset": offset,
                                                "replies": replies})
    if as_json:
        _json(page)
        return
    _say(f"{page['dataset']}: {page['count']} 个主题 threads")
    for t in page["threads"]:
        _say(_post_line(t))
        for r in t["replies"]:
            _say(_post_line(r, "    "))
        hidden = t["reply_count"] - len(t["replies"])
        if hidden > 0:
            _say(f"    … {hidden} 条更早的回复 earlier replies")


@discussions_app.command("queue")
def discussions_queue(status: str = typer.Option("pending", help="pending (held), reported or hidden"),
                      limit: int = typer.Option(100, help="at most this many (1-500)"),
                      as_user: str = AS_USER, as_json: bool = AS_JSON) -> None:
    """The moderation queue: posts held for review, visible posts with reports, or hidden posts."""
    rows = call_as(as_user, "discussion_queue", {"status": status, "limit": limit})
    if as_json:
        _json(rows)
        return
    table = Table("id", "数据集 dataset", "作者 author", "举报 reports", "时间 at", "内容 text",
                  title=f"待处理 {status}: {len(rows)}")
    for p in rows:
        table.add_row(str(p["id"]), escape(p["dataset"]), escape(p["author"]), str(p.get("report_count", 0)),
                      p["created_at"][:16], escape(_short((p["title"] + " · " if p["title"] else "") + p["body"], 50)))
    out.print(table)


@discussions_app.command("hide")
def discussions_hide(post: int = typer.Argument(..., help="post id"),
                     note: str = typer.Option("", help="the moderator's reason (kept in the audit log)"),
                     as_user: str = AS_USER) -> None:
    """Hide a post from the public."""
    r = call_as(as_user, "discussion_post_hide", {"id": post, "hidden": True, "note": note})
    _say(_post_line(r))


@discussions_app.command("show")
def discussions_show(post: int = typer.Argument(..., help="post id"),
                     note: str = typer.Option("", help="the moderator's reason"),
                     as_user: str = AS_USER) -> None:
    """Show a hidden post again, or publish a held one."""
    r = call_as(as_user, "discussion_post_hide", {"id": post, "hidden": False, "note": note})
    _say(_post_line(r))


@discussions_app.command("lock")
def discussions_lock(thread: int = typer.Argument(..., help="the thread (its first post's id)"),
                     unlock: bool = typer.Option(False, "--unlock", help="open the thread again"),
                     note: str = typer.Option("", help="the moderator's reason"),
                     as_user: str = AS_USER) -> None:
    """Lock a thread (no more replies), or unlock it."""
    r = call_as(as_user, "discussion_thread_lock", {"id": thread, "locked": not unlock, "note": note})
    _say(_post_line(r))


# --- reuses ------------------------------------------------------------------------------------------------------

@reuses_app.command("list")
def reuses_list(status: str = typer.Option("published", help="published, pending or rejected"),
                dataset: str = typer.Option(None, help="built on this dataset"),
                kind: str = typer.Option(None, "--type", help="app, article, visualization, research or other"),
                limit: int = typer.Option(24, help="at most this many (1-100)"),
                offset: int = typer.Option(0, help="skip this many"),
                as_user: str = AS_USER, as_json: bool = AS_JSON) -> None:
    """Reuses by status (pending and rejected: the data office only), newest first."""
    page = call_as(as_user, "reuse_list", {"status": status, "dataset": dataset, "type": kind, "limit": limit,
                                           "offset": offset})
    if as_json:
        _json(page)
        return
    table = Table("id", "标题 title", "类型 type", "提交人 submitter", "时间 at", "数据集 datasets", "链接 url",
                  title=f"成果 reuses ({status}): {page['count']}")
    for r in page["results"]:
        table.add_row(str(r["id"]), escape(r["title"]), r["type"], escape(r["submitter"]), r["created_at"][:16],
                      escape(", ".join(d["name"] for d in r["datasets"])), escape(r["url"]))
    out.print(table)


@reuses_app.command("show")
def reuses_show(rid: int = typer.Argument(..., help="reuse id"), as_user: str = AS_USER,
                as_json: bool = AS_JSON) -> None:
    """One reuse with its review."""
    r = call_as(as_user, "reuse_show", {"id": rid})
    if as_json:
        _json(r)
        return
    _say(f"#{r['id']} {r['title']} · {r['type']} · {r['status']} · {r['submitter']} · {r['url']}")
    _say(f"  {_short(r['description'], 200)}")
    _say("  数据集 datasets: " + (", ".join(d["name"] for d in r["datasets"]) or "-"))
    if r.get("reviewed_by"):
        _say(f"  审核 review: {r['reviewed_by']} {r['reviewed_at']} {r.get('review_comment') or ''}")


@reuses_app.command("review")
def reuses_review(rid: int = typer.Argument(..., help="reuse id"),
                  decision: str = typer.Argument(..., help="published (approve) or rejected"),
                  comment: str = typer.Option("", help="the reviewer's comment (a rejection should say why)"),
                  as_user: str = AS_USER) -> None:
    """Approve (publish) or reject a submitted reuse."""
    if decision not in ("published", "rejected"):
        err.print("[red]错误 error[/red]: 决定应为 published 或 rejected / decision must be published or rejected")
        raise typer.Exit(2)
    r = call_as(as_user, "reuse_review", {"id": rid, "decision": decision, "comment": comment})
    _say(f"#{r['id']} {r['title']} → {r['status']}")
