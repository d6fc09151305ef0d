"""The accounting of disclosures an individual may ask for: 45 CFR 164.528.

Built from the ledger's events of one data subject:

* **Which disclosures** (164.528(a)(1)): each event recorded, when it was made, whether
  it is accountable and on what basis (treatment, payment and health care operations,
  disclosures to the individual, under an authorization, of a limited data set, of
  de-identified data ... are not; see ``veil.policy.compliance.EXEMPT``). Events written
  before veil recorded that basis are listed: in doubt, an accounting says more. Refusals
  disclosed nothing; accountings provided and acknowledgements are not disclosures.
* **Which period** (164.528(a)(3), (b)(1)): the six years before the request unless the
  individual asks for a shorter one.
* **What each entry says** (164.528(b)(2)): the date, the recipient's name and address if
  known, a brief description of what was disclosed, and a brief statement of purpose.
* **Repeated disclosures** (164.528(b)(3)): several disclosures to the same recipient for
  a single purpose may be one entry: the first disclosure's content, how many there
  were, and the date of the last.
* **Documentation** (164.528(d)): producing an accounting appends an ``accounting`` event
  (who produced it, for whom, the period, how many entries, a digest of what was given).

Renderers: a table (CLI), CSV, JSON, and a printable, self-contained HTML page.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .accounting import _spreadsheet_safe, describe
from .base import EventSource
from .events import Event, Requester, current_request_id

#: 164.528(a)(3): "in the six years prior to the date on which the accounting is requested"
YEARS = 6
#: Event kinds that are not disclosures of the subject's data.
# A console preview shows the privacy office what a requester would receive: a use
# inside the covered entity for health care operations, which 164.528(a)(1)(i) exempts.
NOT_DISCLOSURES = frozenset({"refusal", "accounting", "acknowledgement", "preview"})


@dataclass(frozen=True)
class Entry:
    """One entry of the accounting (a single disclosure, or a (b)(3) summary)."""

    date: str
    recipient: str
    recipient_name: str
    recipient_address: str
    description: str
    statement: str
    purpose: str
    #: (b)(3)(ii): the number of disclosures this entry stands for
    disclosures: int = 1
    #: (b)(3)(iii): the date of the last of them (a summary only)
    last_date: str | None = None
    break_glass: bool = False
    event_ids: tuple[str, ...] = ()


@dataclass
class Accounting:
    data_subject: str
    since: str
    until: str
    produced_at: str
    entries: list[Entry] = field(default_factory=list)
    #: disclosures left out, by basis (164.528(a)(1)(i)..(ix), de-identified)
    exempt: dict[str, int] = field(default_factory=dict)
    summarized: bool = True

    @property
    def disclosures(self) -> int:
        return sum(e.disclosures for e in self.entries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_subject": self.data_subject,
            "period": {"since": self.since, "until": self.until},
            "produced_at": self.produced_at,
            "entries": [_entry_dict(e) for e in self.entries],
            "disclosures": self.disclosures,
            "not_accountable": dict(sorted(self.exempt.items())),
        }

    def digest(self) -> str:
        """SHA-256 of the JSON form: what the 164.528(d) record says was provided."""
        text = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _entry_dict(e: Entry) -> dict[str, Any]:
    d = asdict(e)
    d["event_ids"] = list(e.event_ids)
    return d


def six_years_before(now: datetime) -> datetime:
    """The same instant six years earlier (29 February becomes 28 February)."""
    try:
        return now.replace(year=now.year - YEARS)
    except ValueError:
        return now.replace(year=now.year - YEARS, day=28)


def _basis(event: Event) -> tuple[bool, str]:
    if event.accounting is None:
        return True, "recorded before veil kept the basis: listed"
    return event.accounting.accountable, event.accounting.basis


def account(
    ledger: EventSource,
    data_subject: str,
    *,
    since: str | None = None,
    until: str | None = None,
    now: datetime | None = None,
    summarize: bool = True,
    include_exempt: bool = False,
) -> Accounting:
    """The accounting of ``data_subject``'s disclosures, oldest first.

    ``since``/``until`` are ISO dates or timestamps (inclusive; a bare-date ``until`` covers
    its day); by default the six years up to ``now``. ``include_exempt`` lists the exempt
    disclosures too (an internal audit, not the individual's accounting).
    """
    now = now or datetime.now(UTC)
    start = since or six_years_before(now).isoformat(timespec="seconds")
    end = until or now.isoformat(timespec="microseconds")
    report = Accounting(
        data_subject, start, end, now.isoformat(timespec="seconds"), summarized=summarize
    )
    singles: list[Entry] = []
    for stored in ledger.events(data_subject=data_subject, since=start, until=end):
        ev = stored.event
        if ev.kind in NOT_DISCLOSURES:
            continue
        accountable, basis = _basis(ev)
        if not accountable and not include_exempt:
            report.exempt[basis] = report.exempt.get(basis, 0) + 1
            continue
        acc = ev.accounting
        singles.append(
            Entry(
                date=ev.time,
                recipient=ev.recipient,
                recipient_name=(acc.recipient_name if acc else "") or ev.recipient,
                recipient_address=acc.recipient_address if acc else "",
                description=describe(ev),
                statement=(acc.statement if acc else "") or ev.purpose,
                purpose=ev.purpose,
                break_glass=ev.break_glass.used,
                event_ids=(ev.event_id,),
            )
        )
    singles.sort(key=lambda e: e.date)
    report.entries = _summaries(singles) if summarize else singles
    return report


def _summaries(entries: list[Entry]) -> list[Entry]:
    """164.528(b)(3): one entry per (recipient, purpose) that received several."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.recipient, e.purpose), []).append(e)
    out: list[Entry] = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            out.append(first)
            continue
        out.append(
            Entry(
                date=first.date,
                recipient=first.recipient,
                recipient_name=first.recipient_name,
                recipient_address=first.recipient_address,
                description=first.description,
                statement=first.statement,
                purpose=first.purpose,
                disclosures=len(group),
                last_date=group[-1].date,
                break_glass=any(e.break_glass for e in group),
                event_ids=tuple(i for e in group for i in e.event_ids),
            )
        )
    out.sort(key=lambda e: e.date)
    return out


def provided_event(report: Accounting, produced_by: str, fmt: str) -> Event:
    """The 164.528(d) record of providing ``report``: indexed under the data subject, so
    the subject's history shows it, but not a disclosure, so no accounting lists it."""
    return Event(
        kind="accounting",
        requester=Requester(id=produced_by),
        recipient=report.data_subject,
        purpose="ACCOUNTING_OF_DISCLOSURES",
        action="account",
        dataset="-",
        bundle="-",
        bundle_version="-",
        request_id=current_request_id(),
        details={
            "rule": "45 CFR 164.528(d)",
            "period": {"since": report.since, "until": report.until},
            "entries": len(report.entries),
            "disclosures": report.disclosures,
            "not_accountable": sum(report.exempt.values()),
            "format": fmt,
            "digest": report.digest(),
        },
        data_subjects=[report.data_subject],
    )


# -- rendering ---------------------------------------------------------------------------

CSV_COLUMNS = (
    "date",
    "recipient_name",
    "recipient_address",
    "description",
    "statement",
    "disclosures",
    "last_date",
    "break_glass",
    "recipient",
    "purpose",
    "event_ids",
)


def dataset_rows(report: Accounting) -> list[dict[str, Any]]:
    """The entries as records of the bundle's accounting dataset (``ledger_disclosures``),
    which is how the service and the console let policy decide what a reader sees."""
    return [
        {
            "entry_id": e.event_ids[0],
            "data_subject_id": report.data_subject,
            "time": e.date,
            "recipient": e.recipient_name,
            "recipient_address": e.recipient_address,
            "purpose": e.purpose,
            "statement": e.statement,
            "description": e.description,
            "disclosures": e.disclosures,
            "last_time": e.last_date,
            "break_glass": e.break_glass,
        }
        for e in report.entries
    ]


def render_csv(report: Accounting) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in report.entries:
        row = _entry_dict(e)
        row["break_glass"] = "yes" if e.break_glass else "no"
        row["event_ids"] = " ".join(e.event_ids)
        row["last_date"] = e.last_date or ""
        w.writerow([_spreadsheet_safe(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def render_json(report: Accounting) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


def _day(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).date().isoformat()
    except ValueError:
        return ts[:10]


_CSS = """
body{font-family:Georgia,serif;color:#111;margin:2rem auto;max-width:60rem;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem} .meta{color:#333;margin:.2rem 0 1.2rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border:1px solid #555;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#e8e8e8} .note{font-size:.85rem;color:#333;margin-top:1rem}
@media print{body{margin:0}}
"""


def render_html(report: Accounting, *, entity: str = "") -> str:
    """A printable page: no script, no external asset, every value escaped."""
    esc = html.escape
    rows = []
    for e in report.entries:
        when = _day(e.date)
        if e.disclosures > 1:
            when += (
                f"<br><small>{e.disclosures} disclosures; last on "
                f"{esc(_day(e.last_date or ''))}</small>"
            )
        who = esc(e.recipient_name) + (
            f"<br><small>{esc(e.recipient_address)}</small>" if e.recipient_address else ""
        )
        bg = " (emergency access)" if e.break_glass else ""
        rows.append(
            f"<tr><td>{when}</td><td>{who}</td><td>{esc(e.description)}</td>"
            f"<td>{esc(e.statement)}{bg}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="4">No disclosures to list.</td></tr>'
    title = "Accounting of disclosures of protected health information"
    by = f" by {esc(entity)}" if entity else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_CSS}</style></head><body>
<h1>{title}</h1>
<p class="meta">For: <strong>{esc(report.data_subject)}</strong>{by}<br>
Period: {esc(_day(report.since))} to {esc(_day(report.until))} &middot;
Produced: {esc(_day(report.produced_at))} &middot; {report.disclosures} disclosure(s)</p>
<table><thead><tr><th scope="col">Date</th><th scope="col">Recipient</th>
<th scope="col">What was disclosed</th><th scope="col">Purpose</th></tr></thead>
<tbody>
{body}
</tbody></table>
<p class="note">Prepared under 45 CFR 164.528. Disclosures for treatment, payment and health
care operations, to you, under your authorization, as part of a limited data set, and of
de-identified information are not listed (164.528(a)(1)). Several disclosures to one
recipient for one purpose are shown as one entry with their number and the date of the
last (164.528(b)(3)).</p>
</body></html>
"""


def render_table_rows(report: Accounting) -> list[tuple[str, ...]]:
    """Rows for a terminal table: date, recipient, purpose, what, how many."""
    out: list[tuple[str, ...]] = []
    for e in report.entries:
        n = str(e.disclosures) + (f" (last {_day(e.last_date)})" if e.last_date else "")
        who = e.recipient_name + (f", {e.recipient_address}" if e.recipient_address else "")
        out.append(
            (_day(e.date), who, e.statement + (" [BREAK-GLASS]" if e.break_glass else ""),
             e.description, n)
        )  # fmt: skip
    return out


def today() -> date:
    return datetime.now(UTC).date()
