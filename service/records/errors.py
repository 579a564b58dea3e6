"""Errors of the records: ID documents, certificates and the hours export."""

from __future__ import annotations

from service.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "CertificateAlreadyVoided",
    "CertificateNotFound",
    "ExportFormatUnknown",
    "ExportPeriodInvalid",
    "IdNumberInvalid",
    "IdNumberTaken",
    "IdTypeUnknown",
    "IdentityRequired",
    "IssuerTeamNotFound",
    "VoidReasonRequired",
]


class IdTypeUnknown(InvalidInput):
    code = "id_type_unknown"
    message = "Choose one of the ID document types listed."


class IdNumberInvalid(InvalidInput):
    code = "id_number_invalid"
    message = "This ID number is not valid for the document type: check every digit."


class IdNumberTaken(Conflict):
    code = "id_number_taken"
    message = "This ID document is already registered to another account."


class IdentityRequired(InvalidInput):
    code = "identity_required"
    message = "The volunteer has not added an ID document yet; a certificate needs one."


class IssuerTeamNotFound(NotFound):
    code = "issuer_team_not_found"
    message = "No such volunteer team in this community."


class CertificateNotFound(NotFound):
    code = "certificate_not_found"
    message = "No such certificate."


class CertificateAlreadyVoided(Conflict):
    code = "certificate_already_voided"
    message = "This certificate has already been voided."


class VoidReasonRequired(InvalidInput):
    code = "void_reason_required"
    message = "Say why the certificate is voided."


class ExportPeriodInvalid(InvalidInput):
    code = "export_period_invalid"
    message = "Give the period as two dates (YYYY-MM-DD), the first not after the second, at most 366 days."


class ExportFormatUnknown(InvalidInput):
    code = "export_format_unknown"
    message = "Ask for format xlsx or csv."
