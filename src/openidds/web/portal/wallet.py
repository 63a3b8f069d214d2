"""The wallet card (85.6 × 54 mm, front and back) and the A4 summary, as PDF (fpdf2).

Fonts: DejaVu Sans (Condensed for the card) embedded when the system has it
(``/usr/share/fonts/truetype/dejavu``, Debian's ``fonts-dejavu-core``); otherwise fpdf2's
core Helvetica, with text outside Latin-1 replaced (it cannot be embedded).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from openidds.web.portal import info
from openidds.web.portal.pump import PumpSummary

#: ISO/IEC 7810 ID-1, the size of a credit card.
CARD_W_MM = 85.6
CARD_H_MM = 54.0
CARD_MARGIN_MM = 2.5
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
CARD_FONT_PT_MAX = 7.0
CARD_FONT_PT_MIN = 4.0


def _find_font(name: str) -> Path | None:
    for folder in FONT_DIRS:
        path = folder / name
        if path.exists():
            return path
    return None


class _Pdf(FPDF):
    """FPDF with the embedded family ``body`` (DejaVu) or the Helvetica fallback."""

    def __init__(self, *, condensed: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        stems = ["DejaVuSansCondensed", "DejaVuSans"] if condensed else ["DejaVuSans"]
        regular = bold = None
        for stem in stems:  # the condensed cut is in fonts-dejavu-extra, the normal in -core
            regular, bold = _find_font(f"{stem}.ttf"), _find_font(f"{stem}-Bold.ttf")
            if regular is not None and bold is not None:
                break
        self.unicode = regular is not None and bold is not None
        if self.unicode:
            assert regular is not None and bold is not None
            self.add_font("body", "", str(regular))
            self.add_font("body", "B", str(bold))
            self.family_name = "body"
        else:
            self.family_name = "helvetica"
        self.set_creator("OpenIDDS")
        self.set_auto_page_break(False)

    def text_of(self, text: str) -> str:
        if self.unicode:
            return text
        return text.encode("latin-1", "replace").decode("latin-1")

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)


def _local(value: datetime | None, tz: str, with_time: bool = False) -> str:
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _drug_lines(summary: PumpSummary) -> list[str]:
    """``morphine 10 mg/mL: 5 mg a day`` per drug."""
    lines = []
    for d in summary.drugs:
        daily = d.words.split(", ", 1)[1] if ", " in d.words else d.daily_text
        lines.append(f"{d.drug} {d.concentration_text}: {daily}")
    return lines


def _phone(summary: PumpSummary) -> str:
    contact = summary.contact
    return contact.phone_24h if contact is not None and contact.phone_24h else ""


def card_texts(summary: PumpSummary) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """The lines of the card's front and back: (text, bold)."""
    patient = summary.patient
    implant = summary.implant
    tz = patient.time_zone
    phone = _phone(summary)
    front: list[tuple[str, bool]] = [
        ("IMPLANTED INTRATHECAL DRUG PUMP", True),
        (f"{patient.name}, born {patient.date_of_birth:%Y-%m-%d}", True),
    ]
    if implant is not None:
        front.append((f"Pump: {summary.model_name}", False))
        front.append(
            (f"Serial: {implant.serial}   Implanted: {_local(implant.implanted_at, tz)}", False)
        )
    else:
        front.append(("Pump: no active implant recorded", False))
    drugs = _drug_lines(summary)
    if drugs:
        front.append(("Drug(s) and daily dose:", True))
        front.extend((line, False) for line in drugs)
    elif summary.error:
        front.append(("Drug(s): ask the clinic (the record cannot be read)", False))
    front.append((f"Clinic: {patient.clinic.name}", True))
    front.append(
        (f"24-hour number: {phone}" if phone else "24-hour number: not set - ask the clinic", True)
    )
    back: list[tuple[str, bool]] = [(info.card_text("emergency"), False)]
    alarms = summary.alarms
    if alarms is not None and alarms.sounds:
        back.append(("If the pump alarms:", True))
        for sound in alarms.sounds:
            back.append((sound.card, sound.critical))
    else:
        back.append(
            ("If the pump alarms: call the clinic. Ask the clinic what its alarms mean.", False)
        )
    if summary.mri_conditions:
        back.append(("MRI:", True))
        back.append((summary.mri_conditions, False))
    back.append((info.card_text("carry"), False))
    return front, back


def _fits(pdf: _Pdf, lines: Iterable[tuple[str, bool]], size: float, width: float) -> float:
    """The height (mm) the lines take at this font size."""
    height = 0.0
    line_h = size * 0.3528 * 1.18
    for text, bold in lines:
        pdf.use(size, bold)
        rows = pdf.multi_cell(
            width, line_h, pdf.text_of(text), align="L", dry_run=True, output="LINES"
        )
        assert isinstance(rows, list)
        height += line_h * len(rows)
    return height


def _card_page(pdf: _Pdf, lines: list[tuple[str, bool]]) -> None:
    pdf.add_page()
    width = CARD_W_MM - 2 * CARD_MARGIN_MM
    room = CARD_H_MM - 2 * CARD_MARGIN_MM
    size = CARD_FONT_PT_MAX
    while size > CARD_FONT_PT_MIN and _fits(pdf, lines, size, width) > room:
        size -= 0.25
    line_h = size * 0.3528 * 1.18
    pdf.set_xy(CARD_MARGIN_MM, CARD_MARGIN_MM)
    for text, bold in lines:
        pdf.use(size, bold)
        pdf.set_x(CARD_MARGIN_MM)
        pdf.multi_cell(width, line_h, pdf.text_of(text), align="L", new_x="LMARGIN", new_y="NEXT")
    # A thin frame to cut along.
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.2)
    pdf.rect(0.3, 0.3, CARD_W_MM - 0.6, CARD_H_MM - 0.6)


def wallet_card_pdf(summary: PumpSummary) -> bytes:
    """Two pages of 85.6 × 54 mm: front (who, pump, drugs, clinic) and back (alarms, MRI)."""
    pdf = _Pdf(condensed=True, unit="mm", format=(CARD_W_MM, CARD_H_MM))
    pdf.set_margins(CARD_MARGIN_MM, CARD_MARGIN_MM, CARD_MARGIN_MM)
    pdf.set_title(f"Wallet card of {summary.patient.name}")
    front, back = card_texts(summary)
    _card_page(pdf, front)
    _card_page(pdf, back)
    return bytes(pdf.output())


def summary_pdf(summary: PumpSummary) -> bytes:
    """The A4 summary: everything on the card, and the full texts with their sources."""
    patient = summary.patient
    tz = patient.time_zone
    pdf = _Pdf(condensed=False, unit="mm", format="A4")
    pdf.set_margins(18, 18, 18)
    pdf.set_title(f"Pump summary of {patient.name}")
    pdf.add_page()
    width = pdf.w - 36

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.use(12, True)
        pdf.multi_cell(width, 6, pdf.text_of(text), align="L", new_x="LMARGIN", new_y="NEXT")

    def para(text: str, size: float = 10, bold: bool = False) -> None:
        pdf.use(size, bold)
        pdf.multi_cell(
            width, size * 0.45, pdf.text_of(text), align="L", new_x="LMARGIN", new_y="NEXT"
        )

    def ensure(room_mm: float) -> None:
        if pdf.get_y() + room_mm > pdf.h - 18:
            pdf.add_page()

    pdf.use(16, True)
    pdf.multi_cell(
        width, 8, pdf.text_of("Implanted drug pump: summary"), new_x="LMARGIN", new_y="NEXT"
    )
    para(
        f"{patient.name}, born {patient.date_of_birth:%Y-%m-%d}. Made on "
        f"{_local(summary.at, tz, True)} ({tz}) by OpenIDDS from the clinic's records.",
        9,
    )
    heading("Pump")
    implant = summary.implant
    if implant is None:
        para("No active implant is recorded.")
    else:
        para(f"Model: {summary.model_name} ({summary.manufacturer})")
        para(f"Serial number: {implant.serial}")
        para(f"Implanted: {_local(implant.implanted_at, tz)}")
    heading("Drug(s), concentration and daily dose")
    if summary.error:
        para("The clinic's records of this pump cannot be read just now: ask your clinic.")
    elif summary.drugs:
        for line in _drug_lines(summary):
            para(line, 11, True)
    else:
        para("No drug is recorded in the pump.")
    if summary.reservoir_ml is not None:
        para(
            f"Estimated volume in the reservoir on {_local(summary.at, tz)}: "
            f"{summary.reservoir_ml:.1f} mL of {summary.capacity_ml or 0:.0f} mL."
        )
    if summary.latest_safe_refill is not None:
        para(f"Latest safe refill date: {_local(summary.latest_safe_refill, tz)}.")
    if summary.next_appointment is not None:
        para(f"Next refill appointment: {_local(summary.next_appointment.starts_at, tz, True)}.")
    heading("Clinic")
    contact = summary.contact
    para(patient.clinic.name, 11, True)
    para(f"24-hour number: {_phone(summary) or 'not set - ask the clinic'}", 11, True)
    if contact is not None:
        if contact.phone_office:
            para(f"Office (opening hours): {contact.phone_office}")
        if contact.address:
            para(f"Address: {contact.address}")
        if contact.email:
            para(f"E-mail: {contact.email}")
        if contact.emergency_note:
            para(contact.emergency_note)
    ensure(40)
    heading("If the pump alarms")
    alarms = summary.alarms
    if alarms is not None and alarms.sounds:
        for sound in alarms.sounds:
            para(f"{sound.name} ({sound.sound}){' - URGENT' if sound.critical else ''}", 10, True)
            para(f"What it means: {sound.means}")
            para(f"What to do: {sound.todo}")
        para(f"Sources: {alarms.source}", 7)
    else:
        para(alarms.text if alarms is not None else "Ask your clinic what the alarms mean.")
    if summary.eos is not None:
        ensure(30)
        heading("Battery and replacement")
        para(
            f"The battery's elective replacement indicator (ERI) is expected around "
            f"{_local(summary.eri, tz)}; the pump stops by itself (end of service) around "
            f"{_local(summary.eos, tz)}. A replacement is recommended about "
            f"{info.replacement_lead_days() // 30} months before the pump stops: around "
            f"{_local(summary.replacement_by, tz)}. These are estimates from the pump's "
            "programmed flow; your clinic plans the replacement."
        )
        para(f"Source: {info.replacement_source()}", 7)
    if summary.mri_conditions:
        ensure(40)
        heading("MRI")
        para(summary.mri_conditions)
        if summary.mri_sources:
            para(f"Sources: {summary.mri_sources}", 7)
    ensure(20)
    heading("Carry your card")
    para(info.card_text("carry"))
    pdf.ln(3)
    para(
        "Not medical advice. The numbers are the clinic's records replayed by OpenIDDS; the "
        "pump's manufacturer's labelling and your clinic's instructions come first.",
        8,
    )
    return bytes(pdf.output())
