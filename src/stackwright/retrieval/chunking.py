"""Cutting a document's text into chunks, counted in tokens of the local tokenizer (WordLlama's).

Three strategies, chosen per collection:

``fixed``
    Windows of ``size`` tokens that overlap by ``overlap`` tokens; a window ends at the last sentence
    end in its second half when there is one, else at the token limit.
``structure`` (default)
    Sections under headings (Markdown, HTML; blank-line paragraphs for plain text); paragraphs are
    packed together up to ``size`` tokens, never across a heading. A section's first chunk starts with
    its heading. A paragraph longer than ``size`` is cut like ``fixed``.
``semantic``
    Sentences of each section are embedded with WordLlama; a chunk ends where the similarity of two
    neighbouring sentences falls below the document's ``SEMANTIC_PERCENTILE``-th percentile (once
    the chunk has ``size // 8`` tokens), or before it would pass ``size`` tokens.

Every chunk has its text (a slice of the document's text, so ``text[start_char:end_char]`` gives it
back), its position, the heading path above it and its token count.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

SEMANTIC_PERCENTILE = 20
_PIECE_CHARS = 4000  # text is tokenized in pieces of about this size, in parallel
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n+(?=\s*(?:[-*+•]|\d{1,3}[.)])\s)|(?<=[.!?:;])\n+")


@dataclass
class Block:
    """A heading or a run of text (paragraph, list, table, code) of a parsed document, by offsets."""

    kind: str  # "heading" | "text"
    start: int
    end: int
    level: int = 0  # 1-6 for headings
    title: str = ""  # a heading's text


@dataclass
class Chunk:
    text: str
    position: int
    heading_path: list[str] = field(default_factory=list)
    start_char: int = 0
    end_char: int = 0
    token_count: int = 0
    token_ids: list[int] | None = field(default=None, repr=False, compare=False)  # WordLlama's, not stored


def paragraph_blocks(text: str, start: int = 0, end: int | None = None) -> list[Block]:
    """Text blocks separated by blank lines (plain text, PDF pages)."""
    end = len(text) if end is None else end
    blocks, cursor = [], start
    for match in _BLANK_LINES.finditer(text, start, end):
        if match.start() > cursor:
            blocks.append(Block("text", cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        blocks.append(Block("text", cursor, end))
    return [b for b in (_trimmed(text, b) for b in blocks) if b is not None]


def _trimmed(text: str, block: Block) -> Block | None:
    segment = text[block.start : block.end]
    stripped = segment.strip()
    if not stripped:
        return None
    start = block.start + (len(segment) - len(segment.lstrip()))
    return Block(block.kind, start, start + len(stripped), block.level, block.title)


class Tokens:
    """Token boundaries of a text (char offsets) and the token ids, for counting and cutting by tokens."""

    def __init__(self, starts: list[int], ends: list[int], ids: list[int]):
        self.starts = starts
        self.ends = ends
        self.ids = ids

    @classmethod
    def of_many(cls, documents: list[tuple[str, list[Block]]]) -> list[Tokens]:
        """Tokenize many documents in one parallel batch (pieces of about _PIECE_CHARS each)."""
        import numpy as np

        from stackwright.local.embedder import load_model

        owners: list[int] = []
        spans: list[tuple[int, int]] = []
        texts: list[str] = []
        for owner, (text, blocks) in enumerate(documents):
            for start, end in _pieces(text, blocks):
                owners.append(owner)
                spans.append((start, end))
                texts.append(text[start:end])
        encodings = load_model().tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        parts: list[list[tuple[Any, Any]]] = [[] for _ in documents]
        for owner, (offset, _), encoding in zip(owners, spans, encodings, strict=True):
            if not encoding.ids:
                continue
            offsets = np.asarray(encoding.offsets, dtype=np.int64) + offset
            keep = offsets[:, 1] > offsets[:, 0]
            parts[owner].append((offsets[keep], np.asarray(encoding.ids, dtype=np.int64)[keep]))
        out = []
        for pieces in parts:
            if not pieces:
                out.append(cls([], [], []))
                continue
            offsets = np.concatenate([p[0] for p in pieces])
            ids = np.concatenate([p[1] for p in pieces])
            out.append(cls(offsets[:, 0].tolist(), offsets[:, 1].tolist(), ids.tolist()))
        return out

    def count(self, start: int, end: int) -> int:
        """Tokens that start within [start, end)."""
        return bisect.bisect_left(self.starts, end) - bisect.bisect_left(self.starts, start)

    def index_at(self, char: int) -> int:
        return bisect.bisect_left(self.starts, char)

    def ids_of(self, start: int, end: int) -> list[int]:
        return self.ids[self.index_at(start) : self.index_at(end)]


def _pieces(text: str, blocks: list[Block]) -> list[tuple[int, int]]:
    """Spans covering the text from the first block to the last, each at most about _PIECE_CHARS (cut
    after a line break or a space when longer)."""
    if not blocks:
        return []
    spans: list[tuple[int, int]] = []
    start, end = blocks[0].start, blocks[-1].end
    while end - start > _PIECE_CHARS:
        window = start + _PIECE_CHARS
        cut = text.rfind("\n", start + _PIECE_CHARS // 2, window)
        if cut < 0:
            cut = text.rfind(" ", start + _PIECE_CHARS // 2, window)
        cut = cut + 1 if cut >= 0 else window
        spans.append((start, cut))
        start = cut
    spans.append((start, end))
    return spans


def chunk_document(text: str, blocks: list[Block] | None, spec: dict[str, Any]) -> list[Chunk]:
    """Chunks of one document by the collection's chunking ``spec`` ({strategy, size, overlap})."""
    return chunk_documents([(text, blocks)], spec)[0]


def chunk_documents(documents: list[tuple[str, list[Block] | None]], spec: dict[str, Any]) -> list[list[Chunk]]:
    """``chunk_document`` for many documents, tokenized together (faster on several cores).

    Each chunk also carries its token ids (``token_ids``), which WordLlama embeds without tokenizing again.
    """
    prepared = []
    for text, blocks in documents:
        blocks = blocks if blocks is not None else paragraph_blocks(text)
        prepared.append((text, [b for b in blocks if b.end > b.start]))
    all_tokens = Tokens.of_many(prepared)
    return [_chunk_one(text, blocks, tokens, spec) for (text, blocks), tokens in zip(prepared, all_tokens, strict=True)]


def _chunk_one(text: str, blocks: list[Block], tokens: Tokens, spec: dict[str, Any]) -> list[Chunk]:
    if not blocks or not tokens.starts:
        return []
    strategy = spec.get("strategy", "structure")
    size, overlap = int(spec.get("size", 256)), int(spec.get("overlap", 32))
    if strategy == "fixed":
        spans = _fixed(text, tokens, blocks, size, overlap)
    elif strategy == "semantic":
        spans = _semantic(text, tokens, blocks, size, overlap)
    else:
        spans = _structure(text, tokens, blocks, size, overlap)
    chunks: list[Chunk] = []
    for start, end, path in spans:
        segment = text[start:end]
        stripped = segment.strip()
        if not stripped:
            continue
        start += len(segment) - len(segment.lstrip())
        end = start + len(stripped)
        ids = tokens.ids_of(start, end)
        chunks.append(Chunk(stripped, len(chunks), list(path), start, end, len(ids), ids))
    return chunks


# -- windows -----------------------------------------------------------------------------------------


def _windows(text: str, tokens: Tokens, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) cut into windows of at most ``size`` tokens overlapping by ``overlap``, each ending
    at a sentence end in its second half when one is there."""
    first, last = tokens.index_at(start), tokens.index_at(end)
    if last - first <= size:
        return [(start, end)]
    out: list[tuple[int, int]] = []
    a = first
    while a < last:
        b = min(a + size, last)
        if b < last:
            b = _sentence_cut(text, tokens, a, b, size)
        window_start = start if a == first else tokens.starts[a]
        window_end = end if b >= last else tokens.ends[b - 1]
        out.append((window_start, window_end))
        if b >= last:
            break
        a = max(a + 1, b - overlap)
    return out


def _sentence_cut(text: str, tokens: Tokens, a: int, b: int, size: int) -> int:
    """Where to end the window [a, b): after the last sentence (or line) end in its second half, else
    before the last word that starts in its second half, else at b."""
    low = a + max(1, size // 2)
    for j in range(b, low, -1):
        piece = text[tokens.starts[j - 1] : tokens.ends[j - 1]]
        gap = text[tokens.ends[j - 1] : tokens.starts[j]] if j < len(tokens.starts) else ""
        if piece.rstrip().endswith((".", "!", "?", "。", "！", "？")) or "\n" in piece or "\n" in gap:
            return j
    for j in range(b, low, -1):
        if j < len(tokens.starts) and (tokens.starts[j] > tokens.ends[j - 1] or text[tokens.starts[j]].isspace()):
            return j
    return b


def _fixed(text: str, tokens: Tokens, blocks: list[Block], size: int, overlap: int) -> list[tuple[int, int, list[str]]]:
    paths = _HeadingIndex(blocks)
    start, end = blocks[0].start, blocks[-1].end
    return [(s, e, paths.at(s)) for s, e in _windows(text, tokens, start, end, size, overlap)]


class _HeadingIndex:
    """The heading path in force at any character position."""

    def __init__(self, blocks: list[Block]):
        self.positions: list[int] = []
        self.paths: list[list[str]] = []
        stack: list[Block] = []
        for block in blocks:
            if block.kind == "heading":
                stack = _push(stack, block)
                self.positions.append(block.start)
                self.paths.append([h.title for h in stack])

    def at(self, char: int) -> list[str]:
        index = bisect.bisect_right(self.positions, char) - 1
        return self.paths[index] if index >= 0 else []


def _push(stack: list[Block], heading: Block) -> list[Block]:
    return [h for h in stack if h.level < heading.level] + [heading]


# -- structure ---------------------------------------------------------------------------------------


def _sections(blocks: list[Block]) -> list[tuple[list[str], Block | None, list[Block]]]:
    """(heading path, heading block, text blocks) per section, in order."""
    sections: list[tuple[list[str], Block | None, list[Block]]] = []
    stack: list[Block] = []
    current: tuple[list[str], Block | None, list[Block]] = ([], None, [])
    for block in blocks:
        if block.kind == "heading":
            if current[1] is not None or current[2]:
                sections.append(current)
            stack = _push(stack, block)
            current = ([h.title for h in stack], block, [])
        else:
            current[2].append(block)
    if current[1] is not None or current[2]:
        sections.append(current)
    return sections


def _structure(text: str, tokens: Tokens, blocks: list[Block], size: int, overlap: int) -> list[tuple[int, int, list[str]]]:
    out: list[tuple[int, int, list[str]]] = []
    headings_only: list[tuple[int, int, list[str]]] = []
    for path, heading, body in _sections(blocks):
        if not body:
            if heading is not None:
                headings_only.append((heading.start, heading.end, path))
            continue
        units = [(b.start, b.end) for b in body]
        if heading is not None:  # the heading opens the section's first chunk
            units[0] = (heading.start, units[0][1])
        out.extend((s, e, path) for s, e in _pack(text, tokens, units, size, overlap))
    return out or headings_only


def _pack(text: str, tokens: Tokens, units: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    """Consecutive units packed up to ``size`` tokens; a unit larger than that is cut into windows."""
    out: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for start, end in units:
        if current is not None and tokens.count(current[0], end) <= size:
            current = (current[0], end)
            continue
        if current is not None:
            out.append(current)
            current = None
        if tokens.count(start, end) > size:
            out.extend(_windows(text, tokens, start, end, size, overlap))
        else:
            current = (start, end)
    if current is not None:
        out.append(current)
    return out


# -- semantic ----------------------------------------------------------------------------------------


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as offsets; abbreviations (e.g., Dr.) and initials do not end one."""
    from stackwright.local.sentences import _ends_with_abbreviation

    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        sentence = text[cursor : match.start()]
        if sentence.strip() and not (match.group().strip() == "" and "\n" not in match.group() and _ends_with_abbreviation(sentence)):
            spans.append((cursor, match.start()))
            cursor = match.end()
    if cursor < end and text[cursor:end].strip():
        spans.append((cursor, end))
    return spans


def _semantic(text: str, tokens: Tokens, blocks: list[Block], size: int, overlap: int) -> list[tuple[int, int, list[str]]]:
    import numpy as np

    from stackwright.local.embedder import embed

    sections = []
    for path, heading, body in _sections(blocks):
        sentences = [s for b in body for s in sentence_spans(text, b.start, b.end)]
        if sentences and heading is not None:
            sentences[0] = (heading.start, sentences[0][1])
        if sentences:
            sections.append((path, sentences))
    every = [s for _, sentences in sections for s in sentences]
    if not every:
        return _structure(text, tokens, blocks, size, overlap)
    vectors = embed([text[s:e] for s, e in every])
    similarity = np.einsum("ij,ij->i", vectors[:-1], vectors[1:]) if len(every) > 1 else np.zeros(0)
    threshold = float(np.percentile(similarity, SEMANTIC_PERCENTILE)) if len(similarity) else 0.0
    out: list[tuple[int, int, list[str]]] = []
    index = 0
    for path, sentences in sections:
        gaps = similarity[index : index + len(sentences) - 1]
        for first, last in _semantic_groups(tokens, sentences, gaps, threshold, size, max(1, size // 8)):
            start, end = sentences[first][0], sentences[last][1]
            if first == last and tokens.count(start, end) > size:
                out.extend((s, e, path) for s, e in _windows(text, tokens, start, end, size, overlap))
            else:
                out.append((start, end, path))
        index += len(sentences)
    return out


def _semantic_groups(tokens: Tokens, sentences: list[tuple[int, int]], gaps: Any, threshold: float, size: int,
                     minimum: int) -> list[tuple[int, int]]:  # fmt: skip
    """Runs of sentences (first, last index): a run is cut at its least similar gap while it is larger
    than ``size`` tokens or has a gap below ``threshold`` whose both sides have ``minimum`` tokens."""
    import numpy as np

    begins = np.array([tokens.index_at(s) for s, _ in sentences])  # token index where each sentence starts
    ends = np.array([tokens.index_at(e) for _, e in sentences])  # ... and ends (exclusive)
    gaps = np.asarray(gaps, dtype=np.float64)
    done: list[tuple[int, int]] = []
    todo = [(0, len(sentences) - 1)]
    while todo:
        first, last = todo.pop()
        if first == last:
            done.append((first, last))
            continue
        fits = ends[last] - begins[first] <= size
        cuts = np.arange(first, last)  # cut g: sentences first..g | g+1..last
        allowed = (ends[cuts] - begins[first] >= minimum) & (ends[last] - begins[cuts + 1] >= minimum)
        if fits:
            allowed &= gaps[cuts] < threshold
        elif not allowed.any():
            allowed[:] = True
        if not allowed.any():
            done.append((first, last))
            continue
        cut = int(cuts[allowed][np.argmin(gaps[cuts][allowed])])
        todo.append((cut + 1, last))
        todo.append((first, cut))
    return sorted(done)
