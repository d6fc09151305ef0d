"""The accounting of disclosures as a PDF (fpdf2, core fonts: nothing to download)."""

from __future__ import annotations

from fpdf import FPDF

from ..ledger import hipaa


def _latin1(text: str) -> str:
    """The PDF core fonts speak Latin-1: other characters become '?', never an error."""
    return text.encode("latin-1", "replace").decode("latin-1")


def accounting_pdf(report: hipaa.Accounting, entity: str = "") -> bytes:
    """A printable accounting (45 CFR 164.528(b)): one row per entry, the period, who it
    is for and the exemptions note, as :func:`veil.ledger.hipaa.render_html` says it."""
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_compression(False)  # small anyway; text stays searchable by plain tools
    pdf.set_title("Accounting of disclosures")
    pdf.set_creator("veil")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "Accounting of disclosures of protected health information", new_x="LMARGIN",
             new_y="NEXT")  # fmt: skip
    pdf.set_font("Helvetica", "", 10)
    by = f" by {entity}" if entity else ""
    lines = [
        f"For: {report.data_subject}{by}",
        f"Period: {report.since[:10]} to {report.until[:10]}   Produced: "
        f"{report.produced_at[:10]}   {report.disclosures} disclosure(s)",
    ]
    for line in lines:
        pdf.cell(0, 6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    rows = [("Date", "Recipient", "What was disclosed", "Purpose")]
    for e in report.entries:
        when = e.date[:10]
        if e.disclosures > 1:
            when += f"\n{e.disclosures} disclosures; last on {(e.last_date or '')[:10]}"
        who = e.recipient_name + (f"\n{e.recipient_address}" if e.recipient_address else "")
        purpose = e.statement + (" (emergency access)" if e.break_glass else "")
        rows.append((when, who, e.description, purpose))
    if len(rows) == 1:
        rows.append(("", "No disclosures to list.", "", ""))
    with pdf.table(col_widths=(35, 70, 90, 80), text_align="LEFT", line_height=5) as table:
        for r in rows:
            row = table.row()
            for value in r:
                row.cell(_latin1(value))
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(
        0,
        4,
        "Prepared under 45 CFR 164.528. Disclosures for treatment, payment and health care "
        "operations, to you, under your authorization, as part of a limited data set, and of "
        "de-identified information are not listed (164.528(a)(1)). Several disclosures to one "
        "recipient for one purpose are shown as one entry with their number and the date of "
        f"the last (164.528(b)(3)). Record digest: {report.digest()}",
    )
    return bytes(pdf.output())
