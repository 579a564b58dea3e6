"""Every string a page shows has a Chinese translation (Chinese is the default language)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from service.web.i18n import translator

TEMPLATES = Path(__file__).resolve().parents[2] / "service" / "web" / "templates"


def _template_messages() -> dict[str, str]:
    found: dict[str, str] = {}
    method_map = [("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(TEMPLATES), method_map, options_map=options
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found[text] = filename
    return found


def test_templates_use_translatable_strings() -> None:
    assert len(_template_messages()) > 20


def test_every_template_string_has_a_chinese_translation() -> None:
    zh = translator("zh_CN")
    missing = {text: where for text, where in _template_messages().items() if text not in zh.messages}
    assert not missing, f"{len(missing)} strings lack a zh_CN translation: {missing}"


def test_english_falls_back_to_the_message_id() -> None:
    assert translator("en").gettext("Log in") == "Log in"
    assert translator("zh_CN").gettext("Log in") == "登录"
