"""Cut context sources into units an extractive answer is made of: sentences, list items, headings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING_RE = re.compile(r"^\s*#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
_TITLE_RE = re.compile(r"^\s*(?:title|subject|topic|article|section)\s*:\s*(?P<text>.+)$", re.IGNORECASE)
_LIST_RE = re.compile(
    r"^\s*(?P<marker>[-*•+‣◦]|\d{1,3}[.)]|[a-z][.)]|\(\d{1,3}\)|step\s+\d+\s*[:.)-])\s+(?P<text>\S.*)$"
)
_ANSWER_PREFIX_RE = re.compile(r"^(?:a|answer)\s*:\s*(?=\S)", re.IGNORECASE)  # "A: Yes." in an FAQ
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{3,}")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs mr mrs ms dr st no nos approx a.m p.m inc ltd co corp jr sr fig eq vol dept est min max"
    " jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k".split()
)
_TERMINAL = (".", "!", "?", ":", ";", "。", "！", "？")
MAX_UNIT_CHARS = 600  # a longer "sentence" (no punctuation) is cut at word boundaries


@dataclass
class Unit:
    """A sentence, list item or heading of one source."""

    text: str
    source: int  # index of the source in the conversation
    paragraph: int  # paragraph number within the source: list items follow their lead-in in one
    heading: str = ""  # the nearest heading above, "" if none
    list_marker: str = ""  # "-", "1." ... for list items
    is_heading: bool = False

    @property
    def asks(self) -> bool:
        """A question in the context (an FAQ entry): it points at the answer after it."""
        return self.text.rstrip().endswith("?")

    @property
    def leads_into_list(self) -> bool:
        return self.text.rstrip().endswith(":")


def split_units(text: str, source: int) -> list[Unit]:
    """Units of one source's text, in reading order."""
    units: list[Unit] = []
    heading = ""
    paragraph = 0
    pending: list[str] = []  # lines of the current prose run, joined before sentence splitting

    def flush() -> None:
        if pending:
            for sentence in split_sentences(" ".join(pending)):
                units.append(Unit(text=sentence, source=source, paragraph=paragraph, heading=heading))
            pending.clear()

    lines = text.splitlines()
    columns: list[str] = []  # the header cells of the table being read
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line or _TABLE_RULE_RE.match(line):
            flush()
            paragraph += 1
            columns = columns if line else []
            continue
        if _is_table_row(line):
            flush()
            cells = _cells(line)
            if index + 1 < len(lines) and _TABLE_RULE_RE.match(lines[index + 1].strip()):
                columns = cells
            else:
                units.append(Unit(text=_row_text(cells, columns), source=source, paragraph=paragraph, heading=heading))
            continue
        heading_text = _heading_text(line, lines, index)
        if heading_text is not None:
            flush()
            paragraph += 1
            heading = heading_text
            units.append(Unit(text=heading_text, source=source, paragraph=paragraph, heading="", is_heading=True))
            continue
        item = _LIST_RE.match(line)
        if item:
            flush()
            text_part = item.group("text")
            marker = item.group("marker")
            units.append(Unit(text=text_part, source=source, paragraph=paragraph, heading=heading, list_marker=marker))
            continue
        if pending and (pending[-1].endswith(_TERMINAL) or not line[:1].islower()):
            flush()
        pending.append(_ANSWER_PREFIX_RE.sub("", line))
    flush()
    return [u for u in units if u.text]


def _heading_text(line: str, lines: list[str], index: int) -> str | None:
    """The heading's text if this line is one: markdown "#", "Title:", or a short unpunctuated line
    standing alone before more text."""
    for pattern in (_HEADING_RE, _TITLE_RE):
        match = pattern.match(line)
        if match:
            return match.group("text").strip().strip("*_").strip()
    bold = re.fullmatch(r"(?:\*\*|__)(.+?)(?:\*\*|__):?", line)
    if bold:
        return bold.group(1).strip()
    words = line.split()
    if len(words) > 8 or line.endswith(_TERMINAL + (",",)) or _LIST_RE.match(line) or _is_table_row(line):
        return None
    following = next((lines[j].strip() for j in range(index + 1, len(lines)) if lines[j].strip()), "")
    previous = lines[index - 1].strip() if index > 0 else ""
    starts_block = not previous or previous.endswith(_TERMINAL) or bool(_HEADING_RE.match(previous))
    continues = following[:1].islower()  # a sentence wrapped onto the next line, not a heading
    return line.strip("*_ ") if following and not continues and starts_block and line[:1].isupper() else None


def _is_table_row(line: str) -> bool:
    return line.startswith("|") and line.endswith("|") and len(line) > 2


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def _row_text(cells: list[str], columns: list[str]) -> str:
    """A markdown table row as a sentence: "plan: Team; price: $12." under a header, else "Team, $12"."""
    if columns and len(columns) == len(cells):
        pairs = [f"{name}: {value}" if name else value for name, value in zip(columns, cells, strict=True) if value]
        return "; ".join(pairs) + "."
    return ", ".join(cell for cell in cells if cell)


def split_sentences(text: str) -> list[str]:
    """Sentences of a prose run; abbreviations (e.g., Dr., a.m.) and initials do not end one."""
    pieces = _SENTENCE_END_RE.split(text.strip())
    sentences: list[str] = []
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if sentences and _ends_with_abbreviation(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    out: list[str] = []
    for sentence in sentences:
        out.extend(_cut_long(sentence))
    return out


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rsplit(None, 1)[-1].rstrip(".").lower().lstrip("(\"'")
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def _cut_long(sentence: str) -> list[str]:
    if len(sentence) <= MAX_UNIT_CHARS:
        return [sentence]
    parts: list[str] = []
    rest = sentence
    while len(rest) > MAX_UNIT_CHARS:
        cut = rest.rfind(" ", 0, MAX_UNIT_CHARS)
        cut = cut if cut > 0 else MAX_UNIT_CHARS
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts
