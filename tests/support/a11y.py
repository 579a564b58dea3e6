"""Accessibility checks in a real browser: axe-core (the engine ``axe-playwright-python`` ships) and the
size rules of issue 22 read from computed styles.

Standard pages: no text below 14 px, no tap target below 44x44 px. 长辈版 (elder mode, MIIT's
ageing-friendly rules): body text 18 px or more and nothing below 16 px, line height 1.3 or more, tap
targets 60x60 px, text contrast 4.5:1 even where WCAG AA would allow 3:1 for large text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axe_playwright_python.base import AXE_SCRIPT

__all__ = ["AXE_SCRIPT", "RULES", "Rules", "axe_problems", "colour_problems", "size_problems"]


@dataclass(frozen=True)
class Rules:
    min_text_px: float
    min_target_px: float
    body_text_px: float = 0
    """Most of the page's characters (80 %) are at least this large."""
    min_line_ratio: float = 0
    min_contrast: float = 4.5


RULES = {
    "standard": Rules(min_text_px=14, min_target_px=44),
    "elder": Rules(min_text_px=16, min_target_px=60, body_text_px=18, min_line_ratio=1.3),
}

_MEASURE = """
(rules) => {
  const problems = [];
  const where = (el) => {
    const id = el.getAttribute("data-testid") || el.id || el.getAttribute("class") || "";
    const text = el.innerText || el.textContent || el.value || el.getAttribute("aria-label") || "";
    return `<${el.tagName.toLowerCase()}${id ? " " + id : ""}> "${text.trim().slice(0, 24)}"`;
  };
  const shown = (el) => {
    if (el.closest("[hidden], template, script, style, noscript, [aria-hidden=true]")) return false;
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none") return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const checkText = (el, s, chars, pseudo) => {
    const size = parseFloat(s.fontSize);
    if (size < rules.min_text_px - 0.01) problems.push(`text ${size}px${pseudo}: ${where(el)}`);
    if (rules.min_line_ratio && !(el instanceof SVGElement)) {  // a chart's label is one line
      const line = s.lineHeight === "normal" ? 1.15 * size : parseFloat(s.lineHeight);
      if (line / size < rules.min_line_ratio - 0.01)
        problems.push(`line height ${(line / size).toFixed(2)}${pseudo}: ${where(el)}`);
    }
    return size >= rules.body_text_px - 0.01 ? chars : 0;
  };
  let total = 0, large = 0;
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const chars = walker.currentNode.textContent.replace(/\\s+/g, "").length;
    const el = walker.currentNode.parentElement;
    if (!chars || !el || seen.has(el) || !shown(el)) continue;
    seen.add(el);
    total += chars;
    large += checkText(el, getComputedStyle(el), chars, "");
  }
  for (const el of document.body.querySelectorAll("*")) {
    const before = getComputedStyle(el, "::before");
    const content = before.content;
    if (content && content !== "none" && content !== "normal" && content !== '""' && shown(el))
      checkText(el, before, 0, " (::before)");
  }
  if (rules.body_text_px && total && large / total < 0.8)
    problems.push(`only ${Math.round(100 * large / total)}% of the text is ${rules.body_text_px}px or more`);
  const targets = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]";
  for (const el of document.body.querySelectorAll(targets)) {
    if (!shown(el)) continue;
    let box = el.getBoundingClientRect();
    if (el.matches("input[type=checkbox], input[type=radio]") && el.closest("label"))
      box = el.closest("label").getBoundingClientRect();  // the label is the target
    const min = rules.min_target_px - 0.5;
    if (box.width < min || box.height < min)
      problems.push(`target ${Math.round(box.width)}x${Math.round(box.height)}px: ${where(el)}`);
  }
  for (const el of document.body.querySelectorAll("[hidden]"))
    if (el.getClientRects().length) problems.push(`shown though hidden: ${where(el)}`);
  return problems;
}
"""


_COLOURED = """
() => {
  // Elements the pages colour to say something (a warning, a success, a status, a chip). Each must
  // say it in words too (MIIT: no information by colour alone): it has text or a label; a number
  // coloured as a warning carries its sign; the same words never appear in two colours on one page.
  const problems = [];
  const shown = (el) => {
    if (el.closest("[hidden], template, script, style, noscript, [aria-hidden=true]")) return false;
    const s = getComputedStyle(el);
    return s.visibility !== "hidden" && s.display !== "none" && el.getClientRects().length > 0;
  };
  const words = (el) => (el.innerText || el.getAttribute("aria-label") || el.title || "").trim();
  const looks = new Map();
  for (const el of document.body.querySelectorAll(".warn, .ok, .chip, [class*='status-']")) {
    if (!shown(el)) continue;
    const text = words(el);
    const name = `<${el.tagName.toLowerCase()} ${el.getAttribute("class")}>`;
    if (!text) { problems.push(`colour alone (no words): ${name}`); continue; }
    if (el.matches(".warn") && /^[0-9][0-9,.]*$/.test(text))
      problems.push(`colour alone (a number without its sign): ${name} "${text}"`);
    if (!el.matches(".chip")) continue;
    const s = getComputedStyle(el);
    const look = `${s.color}|${s.backgroundColor}`;
    if (!looks.has(text)) looks.set(text, new Set());
    looks.get(text).add(look);
  }
  for (const [text, seen] of looks)
    if (seen.size > 1)
      problems.push(`colour alone (the same words in ${seen.size} colours): "${text.slice(0, 24)}"`);
  return problems;
}
"""


def colour_problems(page: Any) -> list[str]:
    """Where ``page`` says something by colour alone (see ``_COLOURED``)."""
    problems: list[str] = page.evaluate(_COLOURED)
    return problems


def size_problems(page: Any, mode: str) -> list[str]:
    """The size rules of ``mode`` broken on ``page`` (computed styles of what is on screen)."""
    rules = RULES[mode]
    problems: list[str] = page.evaluate(_MEASURE, rules.__dict__)
    return problems


def axe_problems(page: Any, mode: str) -> list[str]:
    """axe-core's serious and critical violations on ``page`` (axe must be on the page: the contexts
    add ``AXE_SCRIPT`` as an init script). In elder mode large text must reach 4.5:1 too: the AAA rule
    runs and only nodes under ``min_contrast`` count."""
    enhanced = mode == "elder"
    options = {
        "resultTypes": ["violations"],
        "rules": {"color-contrast-enhanced": {"enabled": enhanced}},
    }
    result = page.evaluate("(options) => axe.run(document, options)", options)
    problems = []
    for v in result["violations"]:
        nodes = v["nodes"]
        if v["id"] == "color-contrast-enhanced":
            floor = RULES[mode].min_contrast
            nodes = [n for n in nodes if _contrast(n) < floor]
        elif v["impact"] not in ("serious", "critical"):
            continue
        for n in nodes:
            problems.append(f"axe {v['id']} ({v['impact']}): {n['target']} {n['html'][:90]}")
    return problems


def _contrast(node: dict[str, Any]) -> float:
    for check in node.get("any", []) + node.get("all", []):
        ratio = (check.get("data") or {}).get("contrastRatio")
        if ratio:
            return float(ratio)
    return 0.0
