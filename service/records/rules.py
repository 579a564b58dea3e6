"""Pure decisions of the records: ID document types, the GB 11643 check digit, masking, certificate
numbers and the verification signature. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date
from typing import Literal, get_args

__all__ = [
    "CERT_NUMBER_MAX",
    "ID_NUMBER_MAX",
    "ID_TYPES",
    "ID_TYPE_NAMES",
    "VOID_REASON_MAX",
    "IdType",
    "certificate_number",
    "certificate_signature",
    "gb11643_check_digit",
    "id_number_ok",
    "mask_id_number",
    "normalise_id_number",
    "volunteer_number",
]

IdType = Literal[
    "resident_id",
    "hk_macao_permit",
    "taiwan_permit",
    "passport",
    "foreign_permanent_id",
    "hmt_residence_permit",
]
ID_TYPES: tuple[IdType, ...] = get_args(IdType)
ID_TYPE_NAMES: dict[str, str] = {
    "resident_id": "居民身份证",
    "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "passport": "护照",
    "foreign_permanent_id": "外国人永久居留身份证",
    "hmt_residence_permit": "港澳台居民居住证",
}
"""The documents the volunteer-registration rules accept (民政部令第67号 and the national volunteer
service information system's list), by their official Chinese names: certificates print these."""

ID_NUMBER_MAX = 24
CERT_NUMBER_MAX = 64
VOID_REASON_MAX = 200

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_OTHER = re.compile(r"[A-Z0-9]{5,20}")
_HK_MACAO = re.compile(r"[HM][0-9]{8}([0-9]{2})?")
_TAIWAN = re.compile(r"[0-9]{8}([0-9]{2})?")


def normalise_id_number(raw: str) -> str:
    """Full-width folded, spaces and dashes dropped, letters upper-case: ``３２０１ x`` -> ``3201X``."""
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in folded if ch not in " -\u3000\t").upper()


def gb11643_check_digit(first17: str) -> str:
    """The 18th character of a citizen identity number (GB 11643-1999, ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def _citizen_number_ok(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return born.year >= 1900 and gb11643_check_digit(number[:17]) == number[17]


def id_number_ok(id_type: str, number: str) -> bool:
    """Whether a normalised number is well formed for its document type: the 居民身份证 (and the
    港澳台居民居住证, numbered the same way from 810000/820000/830000) by the GB 11643 check digit and
    a real birth date; the others by their shape."""
    if id_type == "resident_id":
        return _citizen_number_ok(number)
    if id_type == "hmt_residence_permit":
        return number[:2] in {"81", "82", "83"} and _citizen_number_ok(number)
    if id_type == "hk_macao_permit":
        return _HK_MACAO.fullmatch(number) is not None
    if id_type == "taiwan_permit":
        return _TAIWAN.fullmatch(number) is not None
    return _OTHER.fullmatch(number) is not None


def mask_id_number(number: str) -> str:
    """As shown everywhere but to its holder: ``3201**********1234`` (first and last four of long
    numbers; first one and last two of short ones)."""
    if len(number) >= 15:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    return number[:1] + "*" * max(len(number) - 3, 1) + number[-2:]


def volunteer_number(seq: int) -> str:
    """志愿者编号 from the installation's counter: ``JF`` and ten digits, never reused."""
    return f"JF{seq:010d}"


def certificate_number(community_code: str, team_tag: str | None, year: int, seq: int) -> str:
    """A number unique per issuer and year: ``<community code>[-T<team>]-<year>-<seq>``."""
    parts = [community_code.upper()[:32], *([f"T{team_tag}"] if team_tag else []), str(year), f"{seq:05d}"]
    return "-".join(parts)


def certificate_signature(key: bytes, certificate_id: str, number: str) -> str:
    """What the QR carries besides the number: a guessed or edited number does not verify."""
    msg = f"certificate|{certificate_id}|{number}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:20]
