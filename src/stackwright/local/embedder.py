"""WordLlama, loaded offline once per process: text embeddings and a local token counter.

The wordllama wheel ships its weights (``l2_supercat``, 256 dimensions, trained as a matryoshka:
the first 64 or 128 dimensions are embeddings too) and its tokenizer (Llama 2's BPE, through the
``tokenizers`` library). ``WordLlama.load()`` looks for the tokenizer in the wrong folder and then
downloads it, so we load with ``cache_dir`` set to the package folder and ``disable_download=True``:
no network, ever.

Embeddings are the mean of the token vectors (what WordLlama computes), unit length, float32.
They are computed in batches of texts of similar length, long texts in pieces, so memory stays
bounded whatever the input.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FULL_DIMENSIONS = 256
MATRYOSHKA_DIMENSIONS = (64, 128, 256)  # the sizes WordLlama was trained for; others work, less well
_SEGMENT_TOKENS = 512  # a long text is summed in pieces of this many tokens
_SEGMENTS_PER_BATCH = 64  # pieces gathered at once: at most 64 x 512 x 256 x 4 bytes = 32 MB

_lock = threading.Lock()
_model: WordLlamaModel | None = None


@dataclass(frozen=True)
class WordLlamaModel:
    """The embedding table and tokenizer."""

    vectors: Any  # numpy float32 (vocab + 1, 256); the extra last row is zeros, used for padding
    tokenizer: Any  # tokenizers.Tokenizer, no padding, no truncation


def _quiet_import_wordllama() -> Any:
    """Import wordllama without keeping the root logging handler it installs at import."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return wordllama


def _load() -> WordLlamaModel:
    from pathlib import Path

    import numpy as np
    from tokenizers import Tokenizer

    wordllama = _quiet_import_wordllama()
    package_dir = Path(wordllama.__file__).parent
    inference = wordllama.WordLlama.load(cache_dir=package_dir, disable_download=True, dim=FULL_DIMENSIONS)
    tokenizer = Tokenizer.from_str(inference.tokenizer.to_str())  # our own copy: WordLlama turns padding on
    tokenizer.no_padding()
    tokenizer.no_truncation()
    zero_row = np.zeros((1, inference.embedding.shape[1]), dtype=np.float32)
    vectors = np.ascontiguousarray(np.vstack([inference.embedding, zero_row]), dtype=np.float32)
    return WordLlamaModel(vectors=vectors, tokenizer=tokenizer)


def load_model() -> WordLlamaModel:
    """The process-wide WordLlama model, loaded on first use (about 0.3 s), thread-safe."""
    global _model
    model = _model
    if model is None:
        with _lock:
            if _model is None:
                _model = _load()
            model = _model
    return model


def preload() -> None:
    """Load the model now (e.g. in a background thread at server start) rather than on first request."""
    load_model()


def preload_soon(delay_s: float = 2.0) -> None:
    """Load the model in the background soon after a server starts, so the first local request does not
    pay for it (and start-up itself does not wait)."""
    import threading

    def load() -> None:
        try:
            preload()
        except Exception:  # the first request will load it, or report why it cannot
            pass

    timer = threading.Timer(delay_s, load)
    timer.daemon = True
    timer.start()


# The tokenizer (Llama 2 BPE, normalised as "▁" + text with spaces as "▁", no pre-tokenizer) runs BPE
# over a whole text at once, with no cache: ~0.2 ms for 1 KB. No vocabulary entry has "▁" after another
# character except runs of "▁" alone, so no merge ever crosses the start of a "▁+word" piece: a text's
# ids are the ids of its pieces (" +[^ ]*" of " " + text) one after the other, exactly. Pieces repeat
# (words), so their ids are cached, and only new pieces go through the tokenizer. Texts holding a
# special token (<s>, </s>, <unk>: split out before normalisation) or a literal "▁" take the whole-text path.
_PIECE = re.compile(r" +[^ ]*")
_SPECIALS = ("<s>", "</s>", "<unk>")
_PIECE_CACHE_MAX = 50_000  # pieces (words with their spaces); cleared when full
_JOINED_CHARS = 4_000  # new pieces tokenized together, per group
_piece_ids: dict[str, tuple[int, ...]] = {}


def _whole_text(text: str) -> bool:
    return "\u2581" in text or ("<" in text and any(special in text for special in _SPECIALS))


def _piece_ids_for(pieces: set[str]) -> dict[str, tuple[int, ...]]:
    """Ids of pieces not in the cache, and cached. Pieces ending in a word are tokenized joined, a few
    thousand characters at a time (one BPE pass each, as a text would be), and their ids told apart by
    the tokens' offsets; pieces of spaces only (a text's trailing spaces) one by one."""
    from bisect import bisect_right

    tokenizer = load_model().tokenizer
    found: dict[str, tuple[int, ...]] = {}
    groups: list[list[str]] = [[]]
    size = 0
    for piece in pieces:
        if not piece.strip(" "):
            found[piece] = tuple(tokenizer.encode(piece[1:], add_special_tokens=False).ids) if len(piece) > 1 else (tokenizer.token_to_id("\u2581"),)
            continue
        if size >= _JOINED_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += len(piece)
    groups = [group for group in groups if group]
    encodings = tokenizer.encode_batch(["".join(group)[1:] for group in groups], add_special_tokens=False)
    for group, encoding in zip(groups, encodings, strict=True):
        starts, position = [], 0  # where each piece starts in the joined text less its first space
        for piece in group:
            starts.append(max(0, position - 1))
            position += len(piece)
        ids: list[list[int]] = [[] for _ in group]
        for token, (begin, _) in zip(encoding.ids, encoding.offsets, strict=True):
            ids[bisect_right(starts, begin) - 1].append(token)
        found.update((piece, tuple(piece_ids)) for piece, piece_ids in zip(group, ids, strict=True))
    if len(_piece_ids) + len(found) > _PIECE_CACHE_MAX:
        _piece_ids.clear()
    _piece_ids.update(found)
    return found


def clear_token_cache() -> None:
    """Forget the cached ids of pieces (benchmarks measuring a cold tokenizer use it)."""
    _piece_ids.clear()


def token_ids(texts: list[str]) -> list[list[int]]:
    """Token ids of each text with WordLlama's tokenizer (no special tokens)."""
    load_model()
    cache = _piece_ids
    split: list[list[str] | None] = []
    missing: set[str] = set()
    for text in texts:
        if not text or _whole_text(text):
            split.append(None)
            continue
        found: list[str] = _PIECE.findall(" " + text)
        split.append(found)
        missing.update(p for p in found if p not in cache)
    known = _piece_ids_for(missing) if missing else {}
    out: list[list[int]] = []
    for text, pieces in zip(texts, split, strict=True):
        if pieces is None:
            out.append(load_model().tokenizer.encode(text, add_special_tokens=False).ids if text else [])
            continue
        ids: list[int] = []
        for piece in pieces:
            got = cache.get(piece)
            if got is None:  # computed just now, or the cache was cleared meanwhile
                got = known.get(piece)
                if got is None:
                    got = _piece_ids_for({piece})[piece]
            ids.extend(got)
        out.append(ids)
    return out


def count_tokens(text: str) -> int:
    """Tokens in ``text`` by the local tokenizer (Llama 2 BPE): what local models report as usage."""
    if not text:
        return 0
    return len(token_ids([text])[0])


def count_tokens_many(texts: list[str]) -> list[int]:
    """``count_tokens`` for many texts in one call."""
    return [len(ids) for ids in token_ids(texts)]


def truncate_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """The longest prefix of ``text`` within ``max_tokens`` tokens, and whether anything was cut."""
    encoding = load_model().tokenizer.encode(text, add_special_tokens=False)
    if len(encoding.ids) <= max_tokens:
        return text, False
    if max_tokens <= 0:
        return "", True
    end = encoding.offsets[max_tokens - 1][1]
    return text[:end].rstrip(), True


def check_dimensions(dimensions: int | None) -> int:
    """The output size for a requested ``dimensions`` (None: all 256); ValueError when out of range."""
    if dimensions is None:
        return FULL_DIMENSIONS
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= FULL_DIMENSIONS:
        raise ValueError(f"dimensions must be an integer from 1 to {FULL_DIMENSIONS}, got {dimensions!r}.")
    return dimensions


def embed_token_ids(ids_per_text: list[list[int]], dimensions: int | None = None) -> np.ndarray:
    """Unit-length mean-of-token-vector embeddings for texts tokenized by ``token_ids`` (empty: zeros)."""
    import numpy as np

    size = check_dimensions(dimensions)
    vectors = load_model().vectors  # its last row is zeros: the padding id
    pad_id = vectors.shape[0] - 1
    sums = np.zeros((len(ids_per_text), FULL_DIMENSIONS), dtype=np.float32)
    segments, owners = _segments(ids_per_text)
    order = sorted(range(len(segments)), key=lambda i: len(segments[i]))  # similar lengths pad little
    for start in range(0, len(order), _SEGMENTS_PER_BATCH):
        batch = order[start : start + _SEGMENTS_PER_BATCH]
        lengths = np.fromiter((len(segments[i]) for i in batch), dtype=np.int64, count=len(batch))
        width = int(lengths[-1])
        padded = np.full((len(batch), width), pad_id, dtype=np.int64)
        flat = np.fromiter(chain.from_iterable(segments[i] for i in batch), dtype=np.int64, count=int(lengths.sum()))
        padded[np.arange(width) < lengths[:, None]] = flat  # row by row, left-aligned
        batch_sums = vectors[padded].sum(axis=1)
        batch_owners = [owners[i] for i in batch]
        if len(set(batch_owners)) == len(batch_owners):  # one segment per text: no repeated index
            sums[batch_owners] += batch_sums
        else:
            np.add.at(sums, batch_owners, batch_sums)
    out = sums[:, :size]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return np.ascontiguousarray(out)


def _segments(ids_per_text: list[list[int]]) -> tuple[list[list[int]], list[int]]:
    """Texts cut into pieces of at most _SEGMENT_TOKENS ids, and the text each piece belongs to (empty
    texts have none)."""
    segments: list[list[int]] = []
    owners: list[int] = []
    for owner, ids in enumerate(ids_per_text):
        for start in range(0, len(ids), _SEGMENT_TOKENS):
            segments.append(ids[start : start + _SEGMENT_TOKENS])
            owners.append(owner)
    return segments, owners


def embed(texts: list[str] | str, dimensions: int | None = None) -> np.ndarray:
    """Embed texts: a float32 array (len(texts), dimensions or 256), rows of unit length.

    ``dimensions`` below 256 keeps the first dimensions and renormalises (matryoshka truncation;
    64 and 128 are the trained sizes). An empty text gets a zero row.
    """
    if isinstance(texts, str):
        texts = [texts]
    return embed_token_ids(token_ids(list(texts)), dimensions)
