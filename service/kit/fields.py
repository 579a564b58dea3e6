"""Text fields of the API defined once: the bounds the decoder checks and the document states, and the
rule the service's trimming adds (``kit.text.bounded_text`` and its kin refuse text of spaces only)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from service.config import NAME_MAX, TITLE_MAX

__all__ = ["NOT_BLANK", "Name", "Title", "trimmed_text"]

NOT_BLANK = r"\S"
"""A character that is not a space: what is left of a required text once the service has trimmed it."""


def trimmed_text(high: int, description: str | None = None) -> msgspec.Meta:
    """A required text of 1-``high`` characters that the service trims: the document adds that it may not
    be spaces only (the service answers the field's own ``invalid_*`` code for that)."""
    schema: dict[str, object] = {"extra": {"pattern": NOT_BLANK}}
    if description:
        schema["description"] = description
    return msgspec.Meta(min_length=1, max_length=high, extra_json_schema=schema)


Title = Annotated[str, trimmed_text(TITLE_MAX)]
"""The title of an activity, product, offer, rule or wish."""
Name = Annotated[str, trimmed_text(NAME_MAX)]
"""The name of a person, community, partner shop or region."""
