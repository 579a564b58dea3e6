"""A deleted account's name and phone (PIPL): derived from the id only, never a dialable number, unique."""

from __future__ import annotations

import uuid

from service.accounts import rules


def test_the_pseudonym_and_placeholder_say_nothing_about_the_person_and_cannot_be_dialled() -> None:
    ids = [uuid.uuid4() for _ in range(500)]
    for member_id in ids:
        name, phone = rules.pseudonym(member_id), rules.placeholder_phone(member_id)
        assert name.startswith("已注销用户") and len(name) == len("已注销用户") + 4
        assert len(phone) == 11 and rules.is_placeholder_phone(phone)
        assert rules.normalise_phone(phone) is None  # no mobile number looks like it
    assert len({rules.placeholder_phone(i) for i in ids}) == len(ids)
    assert not rules.is_placeholder_phone("13900000001")
