"""Find the context and the question in OpenAI-style chat messages.

Context is what the caller put there for the model to answer from: system and developer messages,
tool results, and the parts of user messages that are not the question. Recognised shapes:

- tags: ``<context>``, ``<documents>``, ``<document index="1">`` (Anthropic's ``<document_content>``
  too), ``<doc>``, ``<source>``, ``<passage>``, ``<chunk>``, ``<search_results>``, ``<result>``...
- header lines: ``Context:``, ``Documents:``, ``Sources:``, ``Here is the context:``...
- numbered sources: lines starting ``[1]``, ``[doc-2]``, ``Source 3:``, ``Document 4:``.

Numbered sources keep their label (``[1]`` is cited as [1]); the others are numbered after them in
the order they appear. The question is the last user message's question part: the text after a
``Question:`` / ``Query:`` / ``Q:`` line, else the last paragraph with a question mark, else what is
left of that message once context is taken out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ITEM_TAGS = "document|doc|passage|chunk|snippet|excerpt|result|article|source"
CONTAINER_TAGS = (
    r"context|contexts|documents|docs|passages|chunks|snippets|excerpts|search_results|results|sources"
    r"|articles|knowledge|knowledge_base|retrieved_context|retrieved_documents|reference|references|background"
)
_ITEM_RE = re.compile(rf"<({ITEM_TAGS})(\s[^>]*)?>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_CONTAINER_RE = re.compile(rf"<({CONTAINER_TAGS})(\s[^>]*)?>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_LABEL_ATTR_RE = re.compile(r"""\b(?:index|id|number|num|n|ref|key)\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_INNER_CONTENT_RE = re.compile(
    r"<(document_content|content|text|page_content|body)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL
)
_INNER_TITLE_RE = re.compile(r"<(source|title|name|url)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_ANY_TAG_RE = re.compile(r"</?[A-Za-z_][\w:-]*(\s[^>]*)?/?>")

_CONTEXT_WORDS = frozenset(
    "context contexts document documents docs source sources reference references passage passages excerpt"
    " excerpts snippet snippets article articles results knowledge background information info facts"
    " material materials chunks".split()
)
# words that may start a header with the context on the same line: "Context: Refunds take 5 days."
_INLINE_HEADER_WORDS = frozenset(
    "context contexts documents docs passages excerpts snippets sources background knowledge".split()
)
_HEADER_RE = re.compile(
    r"^\s*(?P<hashes>#+\s*)?(?:\*\*|__)?(?P<words>[A-Za-z][\w ,'()/-]{0,60})(?:\*\*|__)?\s*"
    r"(?P<colon>:)?\s*(?:\*\*|__)?\s*(?P<rest>.*)$"
)
_QUESTION_MARKER_RE = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*|__)?(?:(?:user|customer|the|final|your|my)\s+)?(?:question|query|q|ask|request)"
    r"(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_STOP_MARKER_RE = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*|__)?(?:helpful\s+|final\s+|your\s+)?(?:answer|response|instructions?|task|rules"
    r"|guidelines|output)(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*$",
    re.IGNORECASE,
)
_SOURCE_MARKER_RE = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?(?:\[\s*(?:source|doc(?:ument)?|ref|passage)?\s*#?\s*(?P<bracket>[\w.-]{1,24})\s*\]"
    r"|(?:source|document|doc|passage|excerpt|article|result|chunk)\s*#?\s*(?P<word>\d{1,4}|[A-Z])\b)"
    r"(?:\*\*)?\s*[:.)\-–—]?\s*(?:\*\*)?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_SEPARATOR_RE = re.compile(r"^\s*(?:-{3,}|={3,}|\*{3,}|_{3,})\s*$")
_PARAGRAPH_SPLIT_RE = re.compile(r"\n\s*\n")


@dataclass
class Source:
    """One block of context. ``label`` is the caller's (``1`` for ``[1]``) or None until numbered."""

    text: str
    label: str | None = None
    title: str = ""
    from_prompt: bool = False  # loose prompt text: may hold instructions to the model, filtered later
    whole: bool = False  # a small record (a tool's JSON result): quoted whole, not sentence by sentence


@dataclass
class Conversation:
    question: str
    sources: list[Source]


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n\n".join(parts)
    return ""


def read_conversation(messages: list[dict[str, Any]]) -> Conversation:
    """The question and the context sources in ``messages``, sources numbered in reading order."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    question = ""
    sources: list[Source] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        text = message_text(message)
        if not text.strip():
            continue
        if role in ("tool", "function"):
            record = tool_result_text(text)
            sources.append(Source(text=record, title=str(message.get("name") or ""), whole=record != text))
        elif role in ("system", "developer"):
            sources.extend(split_sources(text))
        elif role == "user" and index == last_user:
            question, rest = split_question(text)
            sources.extend(split_sources(rest))
        elif role == "user":
            sources.extend(split_sources(text))
    number_sources(sources)
    return Conversation(question=question, sources=[s for s in sources if s.text.strip()])


def number_sources(sources: list[Source]) -> None:
    """Give unlabelled sources the numbers after the highest numeric label, in order."""
    numeric = [int(s.label) for s in sources if s.label and s.label.isdigit()]
    next_number = max(numeric, default=0) + 1
    for source in sources:
        if source.label is None:
            source.label = str(next_number)
            next_number += 1


RECORD_MAX_CHARS = 400  # a JSON tool result up to this long is one "key: value; ..." sentence


def tool_result_text(text: str) -> str:
    """A tool result as readable text: JSON is flattened to ``key: value`` pairs, on one line when
    short (``status: shipped; carrier: DHL.``), else one per line."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return text
    try:
        value = json.loads(stripped)
    except ValueError:
        return text
    pairs: list[str] = []
    _flatten_json(value, "", pairs)
    if not pairs:
        return text
    one_line = "; ".join(pairs) + "."
    return one_line if len(one_line) <= RECORD_MAX_CHARS else "\n".join(f"{pair}." for pair in pairs)


def _flatten_json(value: Any, prefix: str, lines: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key).replace("_", " ")
            _flatten_json(item, f"{prefix} {name}".strip(), lines)
    elif isinstance(value, list):
        for item in value:
            _flatten_json(item, prefix, lines)
    elif value is not None and value != "":
        text = (str(value).lower() if isinstance(value, bool) else str(value)).rstrip(".")
        lines.append(f"{prefix}: {text}" if prefix else text)


def split_question(text: str) -> tuple[str, str]:
    """The question part of the last user message, and the rest of it (context or instructions)."""
    lines = text.splitlines()
    marker_at = _question_marker_line(lines)
    if marker_at is not None:
        body = [_QUESTION_MARKER_RE.match(lines[marker_at]).group("rest")]  # type: ignore[union-attr]
        end = marker_at + 1
        while end < len(lines) and not _STOP_MARKER_RE.match(lines[end]) and not _is_header(lines[end]):
            body.append(lines[end])
            end += 1
        question = " ".join(part.strip() for part in body if part.strip())
        while end < len(lines) and _STOP_MARKER_RE.match(lines[end]):
            end += 1  # "Answer:" after the question: a cue for the model, not context
        if question:
            return question, "\n".join(lines[:marker_at] + lines[end:])
    question = _unmarked_question(text)
    return question, _remove_once(text, question) if question else text


def _unmarked_question(text: str) -> str:
    """With no "Question:" line: the last paragraph asking something outside the context blocks;
    else the last paragraph if it asks (after a "Context:" block); else the last plain paragraph."""
    outside_tags = _ITEM_RE.sub("\n\n", _CONTAINER_RE.sub("\n\n", text))
    paragraphs = _paragraphs(outside_tags)
    plain = _paragraphs(_strip_header_blocks(outside_tags))
    asking = [p for p in plain if "?" in p]
    if asking:
        return _asking_line(asking[-1])
    last = paragraphs[-1] if paragraphs else ""
    if "?" in last and not _is_source_marker(_asking_line(last)):
        return _asking_line(last)
    if plain:
        return plain[-1]
    return last if last and not _is_source_marker(last) and not _is_header(last.splitlines()[0]) else ""


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPH_SPLIT_RE.split(text) if p.strip()]


def _asking_line(paragraph: str) -> str:
    """A paragraph of context lines ending with the question line gives that line."""
    if "\n" not in paragraph:
        return paragraph
    lines = paragraph.splitlines()
    return lines[max(i for i, line in enumerate(lines) if "?" in line)].strip()


def _question_marker_line(lines: list[str]) -> int | None:
    """The last "Question:"/"Query:" line; a "Q:" line only when no "A:" line follows (not an FAQ)."""
    marked = [(i, m) for i, line in enumerate(lines) if (m := _QUESTION_MARKER_RE.match(line)) is not None]
    for i, match in reversed(marked):
        if not re.match(r"\s*(?:\*\*|__)?q\b", match.group(0), re.IGNORECASE):
            return i
    for i, _ in reversed(marked):
        if not any(re.match(r"\s*(?:\*\*|__)?a\s*:", line, re.IGNORECASE) for line in lines[i + 1 :]):
            return i
        break
    return None


def _remove_once(text: str, part: str) -> str:
    at = text.rfind(part)
    return text if at < 0 else text[:at] + text[at + len(part) :]


def header_rest(line: str) -> str | None:
    """For a line that opens a context block ("Context:", "## Sources", "Here is the relevant
    information:"), the text after the colon ("" if none); None for any other line."""
    match = _HEADER_RE.match(line)
    if match is None or len(line) > 300:
        return None
    words = re.findall(r"[a-z]+", match.group("words").lower())
    if not words or len(words) > 7 or not _CONTEXT_WORDS.intersection(words):
        return None
    rest = match.group("rest").strip()
    if match.group("colon"):
        if not rest:
            return ""
        return rest if len(words) <= 2 and words[-1] in _INLINE_HEADER_WORDS else None
    if match.group("hashes") and len(words) <= 4 and not rest:
        return ""
    return None


def _is_header(line: str) -> bool:
    return header_rest(line) is not None


def _strip_header_blocks(text: str) -> str:
    """Text with its header-introduced context blocks and numbered sources removed."""
    return "\n".join(line for line, in_block in _lines_in_blocks(text) if not in_block)


def _lines_in_blocks(text: str) -> list[tuple[str, bool]]:
    """Each line of ``text`` with whether it belongs to a context block or a numbered source."""
    out: list[tuple[str, bool]] = []
    in_block = False
    for line in text.splitlines():
        if _QUESTION_MARKER_RE.match(line) or _STOP_MARKER_RE.match(line):
            in_block = False
        elif _is_header(line) or _is_source_marker(line):
            in_block = True
        out.append((line, in_block))
    return out


def split_sources(text: str) -> list[Source]:
    """The context sources in one message's text, in order of appearance."""
    sources: list[Source] = []
    remainder = _ITEM_RE.sub(lambda m: _take_item(m, sources), text)
    remainder = _CONTAINER_RE.sub(lambda m: _take_container(m, sources), remainder)
    return sources + split_plain_sources(_ANY_TAG_RE.sub(" ", remainder))


def _take_item(match: re.Match[str], sources: list[Source]) -> str:
    attributes, body = match.group(2) or "", match.group(3)
    label_match = _LABEL_ATTR_RE.search(attributes)
    inner = _INNER_CONTENT_RE.search(body)
    title_match = _INNER_TITLE_RE.search(body)
    title = _ANY_TAG_RE.sub(" ", title_match.group(2)).strip() if title_match else ""
    content = inner.group(2) if inner else _INNER_TITLE_RE.sub("\n", body)
    sources.append(Source(text=_ANY_TAG_RE.sub(" ", content).strip(), title=title))
    if label_match:
        sources[-1].label = label_match.group(1)
    return "\n\n"


def _take_container(match: re.Match[str], sources: list[Source]) -> str:
    body = _ANY_TAG_RE.sub(" ", match.group(3))
    found = split_plain_sources(body)
    for source in found:
        source.from_prompt = False  # inside a context tag: all of it is context
    sources.extend(found)
    return "\n\n"


def split_plain_sources(text: str) -> list[Source]:
    """Sources in untagged text: numbered sources, header blocks, and the loose prompt text between."""
    sources: list[Source] = []
    current: list[str] = []
    current_label: str | None = None
    current_loose = True

    def close() -> None:
        body = "\n".join(current).strip()
        if body and not all(_SEPARATOR_RE.match(line) for line in body.splitlines()):
            sources.append(Source(text=body, label=current_label, from_prompt=current_loose))
        current.clear()

    for line in text.splitlines():
        numbered = _is_source_marker(line)
        header = header_rest(line)
        if numbered:
            close()
            current_label = numbered.group("bracket") or numbered.group("word")
            current_loose = False
            current.append(numbered.group("rest"))
        elif header is not None:
            close()
            current_label, current_loose = None, False
            current.append(header)
        elif _STOP_MARKER_RE.match(line):
            close()
            current_label, current_loose = None, True
        elif _SEPARATOR_RE.match(line) and current_label is not None:
            close()
            current_label, current_loose = None, True
        else:
            current.append(line)
    close()
    return sources


def _is_source_marker(line: str) -> re.Match[str] | None:
    """``[1] text`` or ``Source 2: text``; not a markdown link ``[text](url)`` or a checkbox ``[x]``."""
    match = _SOURCE_MARKER_RE.match(line)
    if match is None:
        return None
    label = match.group("bracket")
    if label is not None and (match.group("rest").startswith("(") or label.lower() == "x"):
        return None
    return match
