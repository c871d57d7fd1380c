"""Reading files and raw text into documents: txt, md, html, pdf, json/jsonl records.

Each parser returns the document's text and its structure (``chunking.Block`` headings and text
runs by character offsets), so chunks keep their heading path. A file that cannot be used is
reported as a ``SourceFailure`` with a reason a person can act on; the rest still ingests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.retrieval.chunking import Block, paragraph_blocks

FORMATS = {
    ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".pdf": "pdf", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip
TEXT_FORMATS = ("text", "markdown", "html")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_DROPPED_TAGS = ["script", "style", "nav", "noscript", "template", "svg", "iframe", "head"]
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "aside", "header", "footer", "ul", "ol", "li", "dl", "dt", "dd", "table",
    "thead", "tbody", "tfoot", "tr", "pre", "blockquote", "figure", "figcaption", "caption", "form", "fieldset",
    "details", "summary", "address", "hr", "br", "body", "html",
}  # fmt: skip


@dataclass
class ParsedDocument:
    source: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    format: str = "text"
    blocks: list[Block] | None = None


@dataclass
class SourceFailure:
    """A source that was not ingested, and why. ``skipped`` marks files left out on purpose
    (unsupported type) rather than ones that failed."""

    source: str
    reason: str
    skipped: bool = False

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}


class ParseError(Exception):
    """The reason a text or file cannot be used."""


# -- text --------------------------------------------------------------------------------------------


def parse_text(source: str, text: str, fmt: str = "text", title: str = "") -> ParsedDocument:
    """A document from text in one of TEXT_FORMATS; ParseError if nothing is left to index."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if fmt == "markdown":
        doc = _markdown(source, text)
    elif fmt == "html":
        doc = _html(source, text)
    else:
        doc = ParsedDocument(source, text, format="text", blocks=paragraph_blocks(text))
    if not doc.text.strip() or not doc.blocks:
        raise ParseError("empty: no text to index")
    doc.title = (title or doc.title or "").strip()[:500]
    return doc


def _markdown(source: str, text: str) -> ParsedDocument:
    from markdown_it import MarkdownIt

    metadata: dict[str, Any] = {}
    title, body_start = "", 0
    match = _FRONT_MATTER.match(text)
    if match:
        title, metadata = _front_matter(match.group(1) or "")
        body_start = match.end()
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    first_line = text.count("\n", 0, body_start)
    tokens = MarkdownIt("commonmark").enable("table").parse(text[body_start:])
    blocks: list[Block] = []
    for index, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1 or token.type == "hr":
            continue
        first, last = token.map[0] + first_line, token.map[1] + first_line
        start = line_starts[first] if first < len(line_starts) else len(text)
        end = line_starts[last] if last < len(line_starts) else len(text)
        if token.type == "heading_open":
            inline = tokens[index + 1]
            heading = "".join(c.content for c in (inline.children or []) if c.type in ("text", "code_inline")) or inline.content
            blocks.append(Block("heading", start, end, int(token.tag[1]), heading.strip()))
        else:
            blocks.append(Block("text", start, end))
    blocks = [b for b in (_trim(text, b) for b in blocks) if b is not None]
    if not title:
        title = next((b.title for b in blocks if b.kind == "heading" and b.level == 1), "")
    return ParsedDocument(source, text, title, metadata, "markdown", blocks)


def _front_matter(raw: str) -> tuple[str, dict[str, Any]]:
    """YAML front matter: its title, and its other plain fields as metadata."""
    import yaml

    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        return "", {}
    if not isinstance(data, dict):
        return "", {}
    title = str(data.pop("title", "") or "")
    metadata = {str(k): v for k, v in data.items() if isinstance(v, (str, int, float, bool, list)) and v is not None}
    return title, metadata


def _trim(text: str, block: Block) -> Block | None:
    segment = text[block.start : block.end]
    if not segment.strip():
        return None
    start = block.start + len(segment) - len(segment.lstrip())
    return Block(block.kind, start, start + len(segment.strip()), block.level, block.title)


def _html(source: str, html: str) -> ParsedDocument:
    """Visible text of an HTML page: script, style and navigation dropped, headings kept as structure."""
    import warnings

    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    builder = _HtmlText()
    builder.walk(soup)
    builder.flush()
    if not title:
        title = next((b.title for b in builder.blocks if b.kind == "heading"), "")
    return ParsedDocument(source, builder.text(), title, {}, "html", builder.blocks)


class _HtmlText:
    """Collects an HTML tree's text as blocks separated by blank lines, with their offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []
        self.buffer: list[str] = []
        self.preformatted = 0

    def walk(self, node: Any) -> None:
        from bs4 import Comment, NavigableString, Tag

        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                self.buffer.append(str(child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name in _HEADING_TAGS:
                    self.flush()
                    self.add(_SPACES.sub(" ", child.get_text(" ")).strip(), "heading", int(name[1]))
                elif name in _BLOCK_TAGS:
                    self.flush()
                    self.preformatted += name == "pre"
                    self.walk(child)
                    self.flush()
                    self.preformatted -= name == "pre"
                else:
                    if name in ("td", "th"):
                        self.buffer.append(" ")
                    self.walk(child)

    def flush(self) -> None:
        raw = "".join(self.buffer)
        self.buffer = []
        if self.preformatted:
            text = raw.strip("\n")
        else:
            text = "\n".join(line for line in (_SPACES.sub(" ", line).strip() for line in raw.split("\n")) if line)
        self.add(text, "text", 0)

    def add(self, text: str, kind: str, level: int) -> None:
        if not text.strip():
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.blocks.append(Block(kind, self.length, self.length + len(text), level, text if kind == "heading" else ""))
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


# -- files -------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 text, or ParseError for binary content."""
    if b"\x00" in data[:65536]:
        raise ParseError("binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (undecodable byte at position {exc.start}); convert it to UTF-8 or skip it") from None


def parse_pdf(source: str, data: bytes) -> ParsedDocument:
    """Text of every page (pypdf), pages separated by blank lines; ParseError when encrypted or broken."""
    from io import BytesIO

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ParseError("not a readable PDF: the file does not start with %PDF")
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("encrypted PDF: it needs a password; save a decrypted copy (e.g. qpdf --decrypt) and ingest that")
        pages = [(page.extract_text() or "").replace("\r\n", "\n").replace("\r", "\n") for page in reader.pages]
        info = reader.metadata
        title = str(info.title or "") if info is not None else ""
    except ParseError:
        raise
    except FileNotDecryptedError:
        raise ParseError("encrypted PDF: it needs a password; save a decrypted copy (e.g. qpdf --decrypt) and ingest that") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as exc:
        raise ParseError(f"not a readable PDF: {exc or type(exc).__name__}") from None
    text, blocks = "", []
    for page in pages:
        page = page.strip()
        if not page:
            continue
        if text:
            text += "\n\n"
        start = len(text)
        text += page
        blocks.extend(paragraph_blocks(text, start, len(text)))
    if not text.strip():
        raise ParseError("no text could be extracted from this PDF (scanned pages need OCR first)")
    return ParsedDocument(source, text, title.strip()[:500], {}, "pdf", blocks)


def parse_file(
    path: Path, source: str, *, max_bytes: int, text_field: str = "text", id_field: str | None = None
) -> Iterator[ParsedDocument | SourceFailure]:
    """The documents in one file (one, or one per record), or why it could not be used."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(sorted(FORMATS))
        yield SourceFailure(source, f"unsupported file type {path.suffix or '(no extension)'!r} (supported: {supported})", skipped=True)
        return
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ParseError(f"too large: {_human(size)} (the limit is {_human(max_bytes)}; raise STACKWRIGHT_RETRIEVAL_MAX_FILE_MB)")
        if size == 0:
            raise ParseError("empty file")
        data = path.read_bytes()
        if fmt == "pdf":
            yield _with_title(parse_pdf(source, data), path)
            return
        text = decode_text(data)
        if fmt in ("json", "jsonl"):
            yield from parse_records(source, text, fmt, text_field=text_field, id_field=id_field)
            return
        if not text.strip():
            raise ParseError("empty file (only whitespace)")
        yield _with_title(parse_text(source, text, fmt), path)
    except ParseError as exc:
        yield SourceFailure(source, str(exc))
    except OSError as exc:
        yield SourceFailure(source, f"cannot be read: {exc.strerror or exc}")


def _human(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} KB"


def _with_title(doc: ParsedDocument, path: Path) -> ParsedDocument:
    doc.title = doc.title or path.stem
    doc.metadata = {"format": doc.format, **doc.metadata}
    return doc


# -- records -----------------------------------------------------------------------------------------


def parse_records(
    source: str, text: str, fmt: str, *, text_field: str = "text", id_field: str | None = None
) -> Iterator[ParsedDocument | SourceFailure]:
    """One document per record of a JSON array (or object) or JSON Lines file. A record's source is
    ``<file>#<id>`` (``id_field``) or ``<file>#<line or index>``; fields other than the text become
    its metadata (``title`` is also its title)."""
    import orjson

    if fmt == "jsonl":
        count = 0
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            count += 1
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield SourceFailure(f"{source}#{number}", f"line {number} is not valid JSON: {exc}")
                continue
            yield _record(source, number, record, fmt, text_field, id_field)
        if not count:
            raise ParseError("empty: no records")
        return
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ParseError("empty: no records")
    for number, record in enumerate(items):
        yield _record(source, number, record, fmt, text_field, id_field)


def _record(source: str, number: int, record: Any, fmt: str, text_field: str, id_field: str | None) -> ParsedDocument | SourceFailure:
    where = f"line {number}" if fmt == "jsonl" else f"record {number}"
    if not isinstance(record, dict):
        return SourceFailure(f"{source}#{number}", f"{where} is not a JSON object")
    key: int | str = number
    if id_field:
        value = record.get(id_field)
        if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
            return SourceFailure(f"{source}#{number}", f"{where} has no {id_field!r} field (the --id-field) with a plain value")
        key = str(value).strip()
    text = record.get(text_field)
    if not isinstance(text, str):
        fields = ", ".join(sorted(map(str, record))[:10]) or "none"
        return SourceFailure(f"{source}#{key}", f"{where} has no {text_field!r} text field (its fields: {fields}); pick one with --text-field")
    if not text.strip():
        return SourceFailure(f"{source}#{key}", f"{where} is empty: its {text_field!r} field has no text")
    metadata = {str(k): v for k, v in record.items() if k != text_field}
    title = record.get("title")
    doc = parse_text(f"{source}#{key}", text, "text", title if isinstance(title, str) else "")
    doc.metadata = metadata
    return doc


# -- folders -----------------------------------------------------------------------------------------


@dataclass
class FileSource:
    path: Path
    source: str


def collect_files(paths: list[Path]) -> tuple[list[FileSource], list[str]]:
    """The files to read under ``paths`` (folders walked in name order, hidden entries left out) with
    their sources, and the source prefixes a sync may clean up. A folder's files are named
    ``<folder name>/<path inside it>``, so the same folder ingested from anywhere keeps its sources."""
    import os

    from stackwright.core.errors import InvalidInput

    files: list[FileSource] = []
    prefixes: list[str] = []
    for given in paths:
        if not given.exists():
            raise InvalidInput(f"{given} does not exist.", hint="Pass files or folders that exist.")
        if given.is_file():
            files.append(FileSource(given, given.name))
            if FORMATS.get(given.suffix.lower()) in ("json", "jsonl"):
                prefixes.append(f"{given.name}#")
            continue
        root = given.resolve()
        base = root.name or "root"
        prefixes.append(f"{base}/")
        for folder, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                files.append(FileSource(path, f"{base}/{path.relative_to(root).as_posix()}"))
    return files, prefixes
