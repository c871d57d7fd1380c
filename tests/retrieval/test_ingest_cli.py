"""`stackwright collections ...` and `stackwright ingest`: folders, re-ingest after edits, sync, bad files
and bad input (error: ..., exit 1), with --json and as text."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from stackwright.retrieval.models import Collection, RetrievalChunk, RetrievalDocument, RetrievalDocumentAcl
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)
from tests.retrieval.files import encrypted_pdf, make_pdf, write_files

GUIDE = "# Guide\n\n## Passwords\n\nReset it in Settings.\n\n## Billing\n\nInvoices are monthly.\n"


def _folder(tmp_path):
    return write_files(tmp_path / "docs", {
        "guide.md": GUIDE,
        "faq.txt": "Can I export data?\n\nYes, as CSV.",
        "page.html": "<h1>Status</h1><p>All systems normal.</p>",
        "manual.pdf": make_pdf(["Manual page one.", "Manual page two."]),
        "records.jsonl": '{"id": "a", "text": "Record A text.", "lang": "en"}\n{"id": "b", "text": "Record B text.", "lang": "de"}\n',
        "images/logo.png": b"\x89PNG",
    })  # fmt: skip


def test_collections_commands(cli_ready, tmp_path):  # noqa: F811
    created = cli_ready.json("collections", "create", "kb", "--chunking", "fixed", "--chunk-size", "128", "--overlap", "16",
                             "--dimensions", "128", "--description", "Knowledge base")  # fmt: skip
    assert created["chunking"] == {"strategy": "fixed", "size": 128, "overlap": 16} and created["dimensions"] == 128
    assert "Created collection small: local/wordllama (64 dimensions)" in cli_ready.ok("collections", "create", "small", "--dimensions", "64").stdout
    assert [c["name"] for c in cli_ready.json("collections", "list")] == ["kb", "small"]
    assert "fixed 128/16" in cli_ready.ok("collections", "list").stdout
    shown = cli_ready.ok("collections", "show", "kb").stdout
    assert "Knowledge base" in shown and "embedder: local/wordllama (128 dimensions)" in shown and "documents: 0  chunks: 0" in shown
    assert cli_ready.json("collections", "show", "kb")["description"] == "Knowledge base"
    cli_ready.fails("collections", "delete", "kb", needle="Pass --yes to confirm")
    assert cli_ready.count(Collection) == 2
    assert cli_ready.json("collections", "delete", "kb", "--yes") == {"deleted": True, "name": "kb", "documents": 0, "chunks": 0}
    assert "Deleted collection small" in cli_ready.ok("collections", "delete", "small", "--yes").stdout
    assert cli_ready.count(Collection) == 0


def test_collections_bad_input(cli_ready):  # noqa: F811
    fails = cli_ready.fails
    fails("collections", "create", "bad name", needle="name: must be 1-128 letters")
    fails("collections", "create", "kb", "--embedder", "ghost", needle="Unknown embedder 'ghost'. Available: local/wordllama")
    fails("collections", "create", "kb", "--chunking", "words", needle="chunking.strategy")
    fails("collections", "create", "kb", "--chunk-size", "64", "--overlap", "40", needle="overlap (40) must be at most half")
    fails("collections", "create", "kb", "--dimensions", "100", needle="not 100")
    fails("collections", "show", "nope", needle="No collection named 'nope'")
    fails("collections", "list", "--project", "nope", needle="No project 'nope'")
    cli_ready.ok("collections", "create", "kb")
    fails("collections", "create", "kb", needle="already exists")
    assert cli_ready.count(Collection) == 1


def test_ingest_a_folder_then_edit_delete_and_reingest(cli_ready, tmp_path):  # noqa: F811
    cli_ready.ok("collections", "create", "kb")
    folder = _folder(tmp_path)
    report = cli_ready.json("ingest", str(folder), "--collection", "kb", "--acl", "group:support", "--meta", "team=cx", "--id-field", "id")
    assert report["documents_added"] == 6 and report["failures"] == []
    assert report["skipped"] == [{"source": "docs/images/logo.png", "reason": report["skipped"][0]["reason"]}]
    with cli_ready.db.read() as session:
        docs = {d.source: d for d in session.scalars(select(RetrievalDocument))}
        acl = set(session.scalars(select(RetrievalDocumentAcl.principal)))
    assert sorted(docs) == ["docs/faq.txt", "docs/guide.md", "docs/manual.pdf", "docs/page.html", "docs/records.jsonl#a", "docs/records.jsonl#b"]
    assert docs["docs/records.jsonl#b"].metadata_ == {"id": "b", "lang": "de", "team": "cx"} and acl == {"group:support"}
    assert docs["docs/guide.md"].metadata_ == {"format": "markdown", "team": "cx"} and docs["docs/manual.pdf"].title == "manual"
    chunks_before = {c.chunk_id for c in _chunks(cli_ready)}

    again = cli_ready.ok("ingest", str(folder), "--collection", "kb", "--acl", "group:support", "--meta", "team=cx", "--id-field", "id").stdout
    assert "documents 0 added, 0 updated, 6 unchanged, 0 deleted; chunks 0 added, 0 kept, 0 deleted (0 embedded)" in again
    assert "skipped docs/images/logo.png: unsupported file type '.png'" in again

    (folder / "guide.md").write_text(GUIDE.replace("monthly", "weekly"))
    (folder / "faq.txt").unlink()
    (folder / "records.jsonl").write_text('{"id": "a", "text": "Record A text.", "lang": "en"}\n')
    edited = cli_ready.json("ingest", str(folder), "--collection", "kb", "--acl", "group:support", "--meta", "team=cx", "--id-field", "id")
    assert (edited["documents_updated"], edited["documents_deleted"], edited["documents_unchanged"]) == (1, 2, 3)
    assert (edited["chunks_added"], edited["chunks_kept"], edited["chunks_embedded"]) == (1, 1, 1)
    chunks_after = {c.chunk_id for c in _chunks(cli_ready)}
    assert len(chunks_before - chunks_after) == 3 and len(chunks_after - chunks_before) == 1  # faq, record b, old Billing out

    (folder / "page.html").unlink()
    kept = cli_ready.json("ingest", str(folder), "--collection", "kb", "--no-sync", "--acl", "group:support", "--meta", "team=cx",
                          "--id-field", "id")  # fmt: skip
    assert kept["documents_deleted"] == 0 and cli_ready.count(RetrievalDocument) == 4
    shown = cli_ready.json("collections", "show", "kb")
    assert shown["document_count"] == 4 and shown["chunk_count"] == cli_ready.count(RetrievalChunk)


def _chunks(cli):
    with cli.db.read() as session:
        return list(session.scalars(select(RetrievalChunk)))


def test_bad_files_are_reported_and_the_rest_ingests(cli_ready, tmp_path):  # noqa: F811
    cli_ready.ok("collections", "create", "kb")
    folder = write_files(tmp_path / "mixed", {
        "good.md": GUIDE,
        "locked.pdf": encrypted_pdf(["secret"]),
        "broken.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog",
        "empty.txt": "",
        "binary.txt": b"\x00\x01\x02",
        "huge.txt": "x" * 3000,
        "bad.jsonl": '{"text": "fine"}\n{oops\n',
    })  # fmt: skip
    result = cli_ready(
        "ingest", str(folder), "--collection", "kb", "--json", env={"STACKWRIGHT_RETRIEVAL_MAX_FILE_MB": "0.002"}
    )
    assert result.exit_code == 1 and result.stderr.startswith("error: 6 source(s) could not be ingested")
    report = orjson.loads(result.stdout)
    reasons = {f["source"]: f["reason"] for f in report["failures"]}
    assert report["documents_added"] == 2  # good.md and the first record
    assert reasons["mixed/locked.pdf"].startswith("encrypted PDF") and reasons["mixed/broken.pdf"].startswith("not a readable PDF")
    assert reasons["mixed/empty.txt"] == "empty file" and reasons["mixed/binary.txt"].startswith("binary file")
    assert reasons["mixed/huge.txt"].startswith("too large: 3.0 KB") and reasons["mixed/bad.jsonl#2"].startswith("line 2 is not valid JSON")
    text = cli_ready("ingest", str(folder), "--collection", "kb", env={"STACKWRIGHT_RETRIEVAL_MAX_FILE_MB": "0.002"})
    assert text.exit_code == 1 and "failed mixed/locked.pdf: encrypted PDF" in text.stdout and "2 unchanged" in text.stdout


def test_ingest_bad_input(cli_ready, tmp_path):  # noqa: F811
    fails = cli_ready.fails
    folder = write_files(tmp_path / "d", {"a.txt": "A text."})
    fails("ingest", str(folder), "--collection", "nope", needle="No collection named 'nope'")
    cli_ready.ok("collections", "create", "kb")
    fails("ingest", str(tmp_path / "missing"), "--collection", "kb", needle="does not exist")
    fails("ingest", str(folder), "--collection", "kb", "--meta", "novalue", needle="--meta 'novalue' is not key=value")
    fails("ingest", str(folder), "--collection", "kb", "--acl", "support", needle="ACL principal 'support' is not valid")
    fails("ingest", str(folder), "--collection", "kb", "--project", "nope", needle="No project 'nope'")
    assert cli_ready.count(RetrievalDocument) == 0


def test_single_files_and_records_with_a_text_field(cli_ready, tmp_path):  # noqa: F811
    cli_ready.ok("collections", "create", "kb")
    files = write_files(tmp_path, {"faq.json": orjson.dumps([{"q": "Refunds?", "body": "Five days."}, {"q": "Export?", "body": "CSV."}]).decode(),
                                   "note.txt": "A single note."})  # fmt: skip
    report = cli_ready.json("ingest", str(files / "faq.json"), str(files / "note.txt"), "--collection", "kb", "--text-field", "body")
    assert report["documents_added"] == 3
    (files / "faq.json").write_text(orjson.dumps([{"q": "Refunds?", "body": "Five days."}]).decode())
    again = cli_ready.json("ingest", str(files / "faq.json"), "--collection", "kb", "--text-field", "body")
    assert again["documents_deleted"] == 1 and again["documents_unchanged"] == 1  # the file's records are synced
    with cli_ready.db.read() as session:
        assert sorted(session.scalars(select(RetrievalDocument.source))) == ["faq.json#0", "note.txt"]


def test_gateway_embedder_from_the_cli(cli_ready, tmp_path, fake_upstream):  # noqa: F811
    config = {"models": [{"name": "team-embed", "deployments": [{"provider": "openai", "base_url": fake_upstream.base_url,
                                                                  "model": "fake-embed", "timeout_s": 5}]}]}  # fmt: skip
    path = tmp_path / "gateway.yaml"
    path.write_text(orjson.dumps(config).decode())
    cli_ready.ok("gateway", "apply", str(path))
    created = cli_ready.json("collections", "create", "kb", "--embedder", "team-embed", "--dimensions", "12")
    assert created["dimensions"] == 12
    folder = write_files(tmp_path / "docs", {"a.txt": "Alpha text.", "b.txt": "Beta text."})
    report = cli_ready.json("ingest", str(folder), "--collection", "kb")
    assert report["chunks_embedded"] == 2
    bodies = [r["body"] for r in fake_upstream.requests() if r["path"] == "/v1/embeddings"]
    assert bodies[-1]["input"] == ["Alpha text.", "Beta text."] and bodies[-1]["dimensions"] == 12
    fake_upstream.script("fake-embed", [{"status": 500}] * 10)
    (folder / "c.txt").write_text("Gamma text.")
    fails = cli_ready.fails("ingest", str(folder), "--collection", "kb", needle="The embedder 'team-embed' failed")
    assert "run the same ingest again" in fails
