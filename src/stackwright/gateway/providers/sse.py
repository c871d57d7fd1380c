"""A small server-sent events reader (the subset LLM APIs use: ``event:`` and ``data:`` fields)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[str, bytes]]:
    """Yield ``(event, data)`` for each event in a byte stream; multi-line data is joined with newlines,
    comments (``:``) are skipped. Lines may end in LF or CRLF and split anywhere across chunks. At the
    end of the stream, complete ``data:`` lines not yet followed by a blank line are still delivered;
    a partial last line is dropped."""
    pending = b""
    event = ""
    data: list[bytes] = []
    async for chunk in chunks:
        lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
        pending = lines.pop()
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if data:
                    yield event, data[0] if len(data) == 1 else b"\n".join(data)
                event, data = "", []
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
    if data:
        yield event, b"\n".join(data)
