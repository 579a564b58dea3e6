"""The reports' errors: one class per code (codes and statuses are a public contract)."""

from __future__ import annotations

from service.errors import InvalidInput

__all__ = ["InvalidFormat", "InvalidPeriod", "InvalidScope"]


class InvalidScope(InvalidInput):
    code = "invalid_scope"
    message = "A scope is community:<id> or region:<id>."


class InvalidPeriod(InvalidInput):
    code = "invalid_period"
    message = (
        "A period is YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD (at most %(days)s days), not %(raw)s."
    )


class InvalidFormat(InvalidInput):
    code = "invalid_format"
    message = "Download as xlsx or csv."
