"""A certificate as a print-ready A4 PDF (reportlab: pure Python, maintained, embeds a TrueType subset
so Chinese prints on any printer; no browser on the server).

The font is ``Settings.pdf_font`` (WenQuanYi Micro Hei from Debian's fonts-wqy-microhei by default);
without that file the PDF names the Adobe STSong-Light CID font, which every PDF reader supplies."""

from __future__ import annotations

import io
import os
from functools import lru_cache
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from service.kit.stars import STAR_LEVEL_MAX
from service.records.views import CertificateSheet

__all__ = ["certificate_pdf", "font_name"]

_FALLBACK = "STSong-Light"


@lru_cache(maxsize=4)
def font_name(path: str) -> str:
    """Register the font once per process; its name, or the CID fallback's."""
    if path and os.path.isfile(path):
        name = "JifenCJK"
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
        return name
    pdfmetrics.registerFont(UnicodeCIDFont(_FALLBACK))
    return _FALLBACK


def _hours(minutes: int) -> str:
    return f"{minutes / 60:.2f}".rstrip("0").rstrip(".")


class _Seal(Flowable):  # type: ignore[misc]  # reportlab ships no types
    """The seal area: a dashed circle with 盖章处 beside the issuer's lines."""

    def __init__(self, font: str, size_mm: float = 40) -> None:
        super().__init__()
        self.font, self.size = font, size_mm * mm
        self.width = self.height = self.size

    def draw(self) -> None:
        c = self.canv
        c.setDash(3, 3)
        c.setStrokeColor(colors.HexColor("#C0392B"))
        r = self.size / 2
        c.circle(r, r, r - 2)
        c.setFont(self.font, 9)
        c.setFillColor(colors.HexColor("#C0392B"))
        c.drawCentredString(r, r - 3, "（盖章处）")


def _qr(url: str, size_mm: float = 32) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    side = size_mm * mm
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def certificate_pdf(sheet: CertificateSheet, font_path: str) -> bytes:
    """The certificate on A4 pages: title and number, volunteer, records table, totals, issuer, seal
    area and a QR to the public verification page; a voided certificate says so on every page."""
    font = font_name(font_path)
    cert = sheet.cert
    base = ParagraphStyle("base", fontName=font, fontSize=10.5, leading=15)
    small = ParagraphStyle("small", parent=base, fontSize=9, leading=12)
    title = ParagraphStyle("title", parent=base, fontSize=22, leading=30, alignment=1)
    cell = ParagraphStyle("cell", parent=base, fontSize=9, leading=12)

    def p(text: str, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(escape(text), style)

    stars = "★" * cert.star_level + "☆" * (STAR_LEVEL_MAX - cert.star_level)
    story: list[Flowable] = [
        p("志愿服务证明", title),
        p(f"证明编号：{cert.number}", small),
        Spacer(1, 4 * mm),
        p(
            f"兹证明 {cert.member_name}（{sheet.id_type_name}：{cert.id_masked}，"
            f"志愿者编号：{cert.volunteer_number}）在 {cert.issuer_name} 参加志愿服务，"
            f"累计服务时长 {_hours(cert.total_minutes)} 小时。"
        ),
        p(f"星级志愿者：{stars}（{cert.star_level} 星）"),
        Spacer(1, 4 * mm),
    ]
    rows: list[list[object]] = [
        [p("日期", cell), p("活动", cell), p("服务内容", cell), p("时长(小时)", cell)]
    ]
    for line in sheet.lines:
        mark = "（补录）" if line.manual else ""
        rows.append(
            [
                p(line.day, cell),
                p(line.activity + mark, cell),
                p(line.content, cell),
                p(_hours(line.minutes), cell),
            ]
        )
    rows.append([p("合计", cell), p("", cell), p("", cell), p(_hours(cert.total_minutes), cell)])
    table = Table(rows, colWidths=[26 * mm, 52 * mm, 72 * mm, 22 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#F2F4F7")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [table, Spacer(1, 3 * mm)]
    if any(line.manual for line in sheet.lines):
        story.append(p("注：标“补录”的记录为组织者人工补录，经另一名组织者审核。", small))
    issuer = [
        p(f"出具单位：{cert.issuer_name}"),
        p(f"负责人：{cert.person_in_charge or '—'}"),
        p(f"经办人：{cert.handler or '—'}"),
        p(f"联系方式：{cert.contact or '—'}"),
        p(f"出具日期：{cert.issued_on}"),
    ]
    verify = [_qr(sheet.verify_url), p("扫码核验本证明", small)]
    footer = Table(
        [[issuer, _Seal(font), verify]],
        colWidths=[80 * mm, 48 * mm, 44 * mm],
        style=[("VALIGN", (0, 0), (-1, -1), "TOP")],
    )
    story += [Spacer(1, 6 * mm), footer]
    story.append(
        p("本证明依据《志愿服务记录与证明出具办法》（民政部令第67号）出具，证件号码已隐藏部分数字。", small)
    )

    def stamp(canvas: Canvas, _doc: object) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawString(18 * mm, 10 * mm, f"{cert.number}  第 {canvas.getPageNumber()} 页")
        if cert.status == "voided":
            canvas.setFont(font, 60)
            canvas.setFillColor(colors.Color(0.8, 0.1, 0.1, alpha=0.25))
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(35)
            canvas.drawCentredString(0, 0, "已作废")
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"志愿服务证明 {cert.number}",
        author=cert.issuer_name,
    )
    doc.build(story, onFirstPage=stamp, onLaterPages=stamp)
    return out.getvalue()
