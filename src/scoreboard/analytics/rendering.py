"""Content negotiation for reports: JSON by default, CSV (RFC 4180, with a header row) on `Accept: text/csv`."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi import Response

from scoreboard.analytics.schemas import Report
from scoreboard.kit.problems import ProblemError

JSON = "application/json"
CSV = "text/csv"
OFFERED = (JSON, CSV)  # in order of preference: a client that accepts both equally gets JSON
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
# A cell starting with one of these is a formula to spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# OpenAPI: these endpoints also answer CSV.
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {CSV: {"schema": {"type": "string"}}}, "description": "JSON, or CSV with `Accept: text/csv`"},
    406: {"description": "Neither JSON nor CSV is acceptable"},
}


class NotAcceptable(ProblemError):
    """The client accepts none of the media types offered."""

    status = 406
    title = "Not Acceptable"


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                # RFC 9110 weights: 0 to 1 with up to three decimals; anything else counts as "not acceptable".
                quality = float(value) if _QVALUE.fullmatch(value.strip()) else 0.0
        if media:
            ranges.append((media.lower(), quality))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    # The most specific matching range decides (RFC 9110, 12.5.1): exact type, then type/*, then */*.
    kind = offer.split("/")[0]
    for pattern in (offer, f"{kind}/*", "*/*"):
        matches = [q for media, q in ranges if media == pattern]
        if matches:
            return max(matches)
    return 0.0


def negotiate(accept: str | None) -> str:
    """Pick JSON or CSV for an Accept header; no header (or an empty one) means JSON."""
    if not accept or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    best = max(OFFERED, key=lambda offer: _quality(offer, ranges))  # max keeps the first (JSON) on a tie
    if _quality(best, ranges) <= 0:
        raise NotAcceptable("This report is available as application/json or text/csv.")
    return best


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(report: Report) -> str:
    """Render a report's rows as CSV: one header row of the JSON field names, then one line per item."""
    columns = [field.alias or name for name, field in report.row.model_fields.items()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in report.items:
        row = item.model_dump(mode="json", by_alias=True)
        writer.writerow([_cell(row[column]) for column in columns])
    return out.getvalue()


def render(report: Report, media: str, response: Response, name: str) -> Report | Response:
    """Return the report as negotiated; both forms vary by Accept."""
    if media == CSV:
        filename = f"{name}-{report.days}d.csv"
        headers = {"Vary": "Accept", "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(to_csv(report), media_type=CSV_MEDIA_TYPE, headers=headers)
    response.headers["Vary"] = "Accept"
    return report
