"""A small line chart of one indicator as inline SVG, drawn on the server (pure; no cityhub import): the printed
reports need no JavaScript and print sharply. The observed values as a line with dots, the baseline as a hollow
dot, the target as a dashed horizontal line, and the straight-line trajectory from baseline to target dotted."""

from __future__ import annotations

from html import escape


def _time(period: str) -> float:
    if len(period) == 4:
        return float(int(period))
    return int(period[:4]) - 1 + int(period[5:7]) / 12


def _label(v: float) -> str:
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    return f"{v:g}" if abs(v) >= 100 else f"{v:.3g}"


def line_chart(series: list[tuple[str, float]] | list[list[object]], *, baseline_year: int | None,
               baseline: float | None, target_year: int, target: float | None, unit: str,
               width: int = 320, height: int = 150, title: str = "") -> str:
    """The chart as an ``<svg>`` element (text escaped)."""
    pts = sorted(((_time(str(p)), float(v)) for p, v in series), key=lambda tv: tv[0])  # type: ignore[arg-type]
    xs = [t for t, _ in pts] + [float(target_year)]
    ys = [v for _, v in pts]
    if baseline_year is not None:
        xs.append(float(baseline_year))
    if baseline is not None:
        ys.append(baseline)
    if target is not None:
        ys.append(target)
    if not ys:
        ys = [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1:
        x0 -= 1
    y0, y1 = min(0.0, min(ys)), max(ys)
    if y1 - y0 == 0:
        y1 = y0 + 1
    left, right, top, bottom = 44, 10, 14, 22
    pw, ph = width - left - right, height - top - bottom

    def px(t: float) -> float:
        return left + (t - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ind-chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#999" stroke-width="1"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#999" stroke-width="1"/>',
             f'<text x="{left - 4}" y="{top + 4}" font-size="9" text-anchor="end">{escape(_label(y1))}</text>',
             f'<text x="{left - 4}" y="{top + ph}" font-size="9" text-anchor="end">{escape(_label(y0))}</text>',
             f'<text x="{left}" y="{height - 6}" font-size="9">{int(x0)}</text>',
             f'<text x="{left + pw}" y="{height - 6}" font-size="9" text-anchor="end">{int(x1)}</text>',
             f'<text x="{left + 4}" y="{top - 4}" font-size="9" fill="#555">{escape(unit)}</text>']
    if target is not None:
        parts.append(f'<line x1="{left}" y1="{py(target):.1f}" x2="{left + pw}" y2="{py(target):.1f}" '
                     'stroke="#c0392b" stroke-width="1" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{left + pw}" y="{py(target) - 3:.1f}" font-size="9" text-anchor="end" '
                     f'fill="#c0392b">{escape(_label(target))}</text>')
        if baseline is not None and baseline_year is not None:
            parts.append(f'<line x1="{px(baseline_year):.1f}" y1="{py(baseline):.1f}" x2="{px(target_year):.1f}" '
                         f'y2="{py(target):.1f}" stroke="#888" stroke-width="1" stroke-dasharray="1 3"/>')
    if baseline is not None and baseline_year is not None:
        parts.append(f'<circle cx="{px(baseline_year):.1f}" cy="{py(baseline):.1f}" r="3" fill="none" '
                     'stroke="#555"/>')
    if pts:
        path = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f6fb2" stroke-width="2"/>')
        parts.extend(f'<circle cx="{px(t):.1f}" cy="{py(v):.1f}" r="2.2" fill="#1f6fb2"/>' for t, v in pts[-24:])
    parts.append("</svg>")
    return "".join(parts)
