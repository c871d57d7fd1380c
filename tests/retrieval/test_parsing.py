"""Parsers: every format, and every kind of file that cannot be used (reported with its reason)."""

from __future__ import annotations

import orjson
import pytest

from stackwright.core.errors import InvalidInput
from stackwright.retrieval.parsing import ParsedDocument, ParseError, SourceFailure, collect_files, parse_file, parse_text
from tests.retrieval.files import encrypted_pdf, make_pdf, write_files

MB = 1_000_000


def _one(path, source="doc", **options):
    results = list(parse_file(path, source, max_bytes=options.pop("max_bytes", 50 * MB), **options))
    assert len(results) == 1, results
    return results[0]


def _section(doc: ParsedDocument, block) -> str:
    return doc.text[block.start : block.end]


def test_markdown_headings_front_matter_and_blocks():
    text = "---\ntitle: Passwords\nlang: en\ntags: [account]\n---\n# Account\n\nIntro *text*.\n\nSetext\n------\n\n```\ncode here\n```\n\n- one\n- two\n"
    doc = parse_text("a.md", text, "markdown")
    assert doc.title == "Passwords" and doc.metadata == {"lang": "en", "tags": ["account"]}
    kinds = [(b.kind, b.level, b.title) for b in doc.blocks]
    assert kinds == [("heading", 1, "Account"), ("text", 0, ""), ("heading", 2, "Setext"), ("text", 0, ""), ("text", 0, "")]
    assert [_section(doc, b) for b in doc.blocks] == ["# Account", "Intro *text*.", "Setext\n------", "```\ncode here\n```", "- one\n- two"]
    assert parse_text("b.md", "## Only a sub heading\n\nBody.", "markdown").title == ""  # no h1, no front matter
    assert parse_text("c.md", "\r\n# Windows\r\n\r\nline\r\n", "markdown").text == "\n# Windows\n\nline\n"


def test_html_visible_text_and_headings():
    html = """<html><head><title>Help center</title><style>.x{color:red}</style><script>alert(1)</script></head>
    <body><nav><a href="/">Home</a></nav><h1>Billing</h1><p>Invoices are   sent <b>monthly</b>.</p>
    <!-- a comment --><ul><li>Card</li><li>Wire</li></ul><table><tr><th>Plan</th><th>Price</th></tr><tr><td>Team</td><td>$12</td></tr></table>
    <pre>  keep   spacing</pre><noscript>enable js</noscript></body></html>"""
    doc = parse_text("page.html", html, "html")
    assert doc.title == "Help center"
    assert doc.text == "Billing\n\nInvoices are sent monthly.\n\nCard\n\nWire\n\nPlan Price\n\nTeam $12\n\n  keep   spacing"
    assert [(b.kind, b.title) for b in doc.blocks][:2] == [("heading", "Billing"), ("text", "")]
    assert all(_section(doc, b) == doc.text[b.start : b.end] for b in doc.blocks)
    for hidden in ("alert", "color", "Home", "comment", "enable js"):
        assert hidden not in doc.text


def test_plain_text_paragraphs_and_empty_text():
    doc = parse_text("t.txt", "First paragraph\nstill first.\n\n\n  Second one.  \n")
    assert [_section(doc, b) for b in doc.blocks] == ["First paragraph\nstill first.", "Second one."]
    for text, fmt in [("   \n\t", "text"), ("<script>x</script>", "html"), ("", "markdown")]:
        with pytest.raises(ParseError, match="empty"):
            parse_text("e", text, fmt)


def test_pdf_text_encrypted_corrupt_and_scanned(tmp_path):
    files = write_files(tmp_path, {
        "guide.pdf": make_pdf(["Reset your password\nOpen settings.", "Page two text."]),
        "open.pdf": encrypted_pdf(["Readable without a password."], user_password=""),
        "locked.pdf": encrypted_pdf(["Secret text."]),
        "truncated.pdf": make_pdf(["Some text"])[:200],
        "fake.pdf": b"this is not a pdf",
        "scan.pdf": make_pdf([""]),
    })  # fmt: skip
    doc = _one(files / "guide.pdf", "guide.pdf")
    assert doc.text == "Reset your password\nOpen settings.\n\nPage two text." and doc.title == "guide" and doc.metadata == {"format": "pdf"}
    assert _one(files / "open.pdf").text == "Readable without a password."
    assert _one(files / "locked.pdf").reason.startswith("encrypted PDF: it needs a password")
    assert _one(files / "truncated.pdf").reason.startswith("not a readable PDF: ")
    assert _one(files / "fake.pdf").reason == "not a readable PDF: the file does not start with %PDF"
    assert "no text could be extracted" in _one(files / "scan.pdf").reason


def test_records_json_and_jsonl(tmp_path):
    records = [{"id": "r1", "text": "Refunds take five days.", "title": "Refunds", "lang": "en"}, {"id": "r2", "body": "x"}]
    write_files(tmp_path, {
        "a.json": orjson.dumps(records).decode(),
        "one.json": orjson.dumps({"text": "A single record."}).decode(),
        "b.jsonl": '{"id": 7, "text": "Line one."}\n\n{not json}\n["array"]\n{"id": 9, "text": "   "}\n{"text": "no id"}\n',
        "empty.jsonl": "\n\n",
        "bad.json": "{\"text\": ",
    })  # fmt: skip
    first, second = parse_file(tmp_path / "a.json", "a.json", max_bytes=MB)
    assert (first.source, first.text, first.title, first.metadata) == ("a.json#0", "Refunds take five days.", "Refunds",
                                                                       {"id": "r1", "title": "Refunds", "lang": "en"})  # fmt: skip
    assert isinstance(second, SourceFailure) and second.reason == "record 1 has no 'text' text field (its fields: body, id); pick one with --text-field"
    by_id = list(parse_file(tmp_path / "a.json", "a.json", max_bytes=MB, id_field="id", text_field="body"))
    assert [type(r).__name__ for r in by_id] == ["SourceFailure", "ParsedDocument"] and by_id[1].source == "a.json#r2"
    assert _one(tmp_path / "one.json", "one.json").source == "one.json#0"
    lines = list(parse_file(tmp_path / "b.jsonl", "b.jsonl", max_bytes=MB, id_field="id"))
    assert [(r.source, getattr(r, "reason", None)) for r in lines] == [
        ("b.jsonl#7", None),
        ("b.jsonl#3", "line 3 is not valid JSON: " + lines[1].reason.split(": ", 1)[1]),
        ("b.jsonl#4", "line 4 is not a JSON object"),
        ("b.jsonl#9", "line 5 is empty: its 'text' field has no text"),
        ("b.jsonl#6", "line 6 has no 'id' field (the --id-field) with a plain value"),
    ]
    assert _one(tmp_path / "empty.jsonl").reason == "empty: no records"
    assert _one(tmp_path / "bad.json").reason.startswith("not valid JSON: ")


def test_files_that_cannot_be_used(tmp_path):
    write_files(tmp_path, {
        "binary.txt": b"abc\x00\x01\x02def",
        "latin1.md": "caf\xe9".encode("latin-1"),
        "empty.txt": "",
        "blank.md": "  \n\n  ",
        "big.txt": "x" * 2000,
        "logo.png": b"\x89PNG\r\n",
        "noext": "text without an extension",
    })  # fmt: skip
    assert _one(tmp_path / "binary.txt").reason == "binary file (it contains NUL bytes), not text"
    assert _one(tmp_path / "latin1.md").reason.startswith("not UTF-8 text (undecodable byte at position 3)")
    assert _one(tmp_path / "empty.txt").reason == "empty file"
    assert _one(tmp_path / "blank.md").reason == "empty file (only whitespace)"
    big = _one(tmp_path / "big.txt", max_bytes=1000)
    assert big.reason == "too large: 2.0 KB (the limit is 1.0 KB; raise STACKWRIGHT_RETRIEVAL_MAX_FILE_MB)" and not big.skipped
    png = _one(tmp_path / "logo.png")
    assert png.skipped and png.reason.startswith("unsupported file type '.png' (supported: .htm, .html, .json")
    assert _one(tmp_path / "noext").reason.startswith("unsupported file type '(no extension)'")
    assert _one(tmp_path / "missing.txt").reason.startswith("cannot be read: ")


def test_collect_files_names_sources_by_folder(tmp_path):
    root = write_files(tmp_path / "docs", {"a.md": "# A", "sub/b.txt": "B", ".git/config": "x", ".hidden.md": "x", "sub/.cache/c.md": "x"})
    single = write_files(tmp_path / "other", {"records.jsonl": '{"text": "x"}', "note.txt": "n"})
    files, prefixes = collect_files([root, single / "records.jsonl", single / "note.txt"])
    assert [(f.source, f.path.name) for f in files] == [("docs/a.md", "a.md"), ("docs/sub/b.txt", "b.txt"),
                                                       ("records.jsonl", "records.jsonl"), ("note.txt", "note.txt")]  # fmt: skip
    assert prefixes == ["docs/", "records.jsonl#"]
    with pytest.raises(InvalidInput, match="does not exist"):
        collect_files([tmp_path / "nope"])
