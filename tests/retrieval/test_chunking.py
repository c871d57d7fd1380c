"""Chunking strategies: token limits, overlap, sentence ends, headings, semantic breaks, offsets, ids."""

from __future__ import annotations

from stackwright.local.embedder import count_tokens
from stackwright.retrieval.chunking import chunk_document, sentence_spans
from stackwright.retrieval.ingest import chunk_ids
from stackwright.retrieval.parsing import parse_text

PROSE = " ".join(f"Sentence number {i} is about the weather in town {i % 7}." for i in range(60))


def _check_offsets(text: str, chunks) -> None:
    for position, chunk in enumerate(chunks):
        assert chunk.position == position
        assert text[chunk.start_char : chunk.end_char] == chunk.text and chunk.text == chunk.text.strip()
        assert abs(chunk.token_count - count_tokens(chunk.text)) <= 2  # counted once over the whole text


def test_fixed_windows_respect_size_overlap_and_sentence_ends():
    chunks = chunk_document(PROSE, None, {"strategy": "fixed", "size": 64, "overlap": 16})
    _check_offsets(PROSE, chunks)
    assert len(chunks) > 5 and all(c.token_count <= 64 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # every window ends a sentence (there is one in its second half)
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert right.start_char < left.end_char  # overlapping windows
        assert left.end_char - right.start_char < len(left.text) // 2
    no_overlap = chunk_document(PROSE, None, {"strategy": "fixed", "size": 64, "overlap": 0})
    assert all(b.start_char >= a.end_char for a, b in zip(no_overlap, no_overlap[1:], strict=False))
    assert len(no_overlap) < len(chunks)


def test_fixed_cuts_text_without_sentence_ends_at_the_token_limit():
    text = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_document(text, None, {"strategy": "fixed", "size": 50, "overlap": 0})
    _check_offsets(text, chunks)
    assert all(c.token_count <= 50 for c in chunks) and max(c.token_count for c in chunks) >= 45
    assert " ".join(c.text for c in chunks).split() == text.split()  # nothing lost at the cuts


def test_structure_keeps_sections_and_heading_paths():
    text = "\n\n".join([
        "# Guide", "Welcome to the guide.",
        "## Install", "Download the package.", "Run the installer.",
        "### Linux", "Use the tarball.",
        "## Usage", PROSE,
    ])  # fmt: skip
    doc = parse_text("guide.md", text, "markdown")
    chunks = chunk_document(doc.text, doc.blocks, {"strategy": "structure", "size": 64, "overlap": 8})
    _check_offsets(text, chunks)
    assert [c.heading_path for c in chunks[:3]] == [["Guide"], ["Guide", "Install"], ["Guide", "Install", "Linux"]]
    assert chunks[0].text == "# Guide\n\nWelcome to the guide."
    assert chunks[1].text == "## Install\n\nDownload the package.\n\nRun the installer."  # paragraphs packed
    assert chunks[2].text == "### Linux\n\nUse the tarball."
    usage = chunks[3:]
    assert len(usage) > 1 and all(c.heading_path == ["Guide", "Usage"] and c.token_count <= 64 for c in usage)
    assert usage[0].text.startswith("## Usage\n\nSentence number 0")  # the long paragraph, cut in windows


def test_structure_of_plain_text_and_headings_only():
    text = "First paragraph.\n\nSecond paragraph.\n\n" + PROSE
    chunks = chunk_document(text, None, {"strategy": "structure", "size": 48, "overlap": 0})
    _check_offsets(text, chunks)
    assert chunks[0].text.startswith("First paragraph.\n\nSecond paragraph.") and all(c.heading_path == [] for c in chunks)
    headings = parse_text("h.md", "# Title\n\n## Sub", "markdown")
    only = chunk_document(headings.text, headings.blocks, {"strategy": "structure", "size": 64, "overlap": 0})
    assert [c.text for c in only] == ["# Title", "## Sub"]  # nothing else to keep: the headings are the content


def test_semantic_splits_where_the_topic_changes():
    cooking = [
        "Preheat the oven to two hundred degrees before baking the bread.",
        "Knead the dough with flour, yeast, water and a pinch of salt.",
        "Let the dough rise for an hour in a warm kitchen.",
        "Bake the loaf until the crust is golden brown.",
    ]
    networking = [
        "Configure the router firewall to block incoming TCP ports.",
        "The DHCP server assigns IP addresses to every device on the network.",
        "Use a VPN tunnel to encrypt traffic between the office networks.",
        "Check the DNS resolver when hostnames do not resolve.",
    ]
    text = " ".join(cooking + networking)
    chunks = chunk_document(text, None, {"strategy": "semantic", "size": 256, "overlap": 0})
    _check_offsets(text, chunks)
    assert len(chunks) >= 2
    boundaries = {c.end_char for c in chunks}
    assert text.index(networking[0]) - 1 in boundaries  # a chunk ends right before the networking sentences
    small = chunk_document(text * 3, None, {"strategy": "semantic", "size": 32, "overlap": 0})
    assert all(c.token_count <= 32 for c in small)


def test_sentence_spans_keep_abbreviations_together():
    text = "Dr. Smith met e.g. the team. Then U.S. sales rose! Did they? Yes.\n- item one\n- item two"
    spans = [text[s:e] for s, e in sentence_spans(text, 0, len(text))]
    assert spans == ["Dr. Smith met e.g. the team.", "Then U.S. sales rose!", "Did they?", "Yes.", "- item one", "- item two"]


def test_chunk_ids_are_stable_and_count_repeats():
    ids = chunk_ids("doc", ["same", "other", "same"])
    assert len(set(ids)) == 3 and ids == chunk_ids("doc", ["same", "other", "same"])
    assert chunk_ids("doc", ["same"])[0] == ids[0] and chunk_ids("doc2", ["same"])[0] != ids[0]
    assert chunk_document("", None, {"strategy": "fixed", "size": 32, "overlap": 0}) == []
