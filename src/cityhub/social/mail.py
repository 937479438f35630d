"""Notification e-mails as plain data: the subject and body of one user's mail, and the message itself (plain
text only, headers safe from injection). Pure: no web or database import; the job in ``social/jobs.py`` sends."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
SUBJECT_MAX = 200


def header_text(value: str, limit: int = SUBJECT_MAX) -> str:
    """One header line: CR, LF and every other control character become a space (so a dataset title like
    ``"x\\r\\nBcc: victim@example.com"`` stays text in the subject and adds no header), then trimmed."""
    return " ".join(_CONTROL.sub(" ", value or "").split())[:limit]


def body_text(value: str) -> str:
    """Body text: control characters other than newlines and tabs dropped."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value or "")


def subject(site: str, items: list[dict[str, Any]]) -> str:
    """``[site] <what happened>`` for one item, ``[site] N 条新动态`` for several."""
    if len(items) == 1:
        it = items[0]
        return header_text(f"[{site}] {it['verb']}: {it['title']}")
    return header_text(f"[{site}] 您关注的内容有 {len(items)} 条新动态 ({len(items)} new activities)")


def body(site: str, user: str, items: list[dict[str, Any]], settings_url: str) -> str:
    lines = [f"{user},您好:", "", f"您在{site}关注的内容有新动态 / New activity on what you follow:", ""]
    for it in items:
        lines.append(f"- {it['when']} {it['actor']} {it['verb']}: {it['title']}")
        if it.get("url"):
            lines.append(f"  {it['url']}")
    lines += ["", f"不想再收到这类邮件?在此关闭 / Turn these e-mails off: {settings_url}", ""]
    return body_text("\n".join(lines))


def message(sender: str, to: str, subject_line: str, text: str) -> EmailMessage:
    """A plain-text message; the SMTP policy refuses any header holding CR or LF (a second guard)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = header_text(sender, 254)
    msg["To"] = header_text(to, 254)
    msg["Subject"] = header_text(subject_line)
    msg.set_content(text, subtype="plain", charset="utf-8")
    return msg
