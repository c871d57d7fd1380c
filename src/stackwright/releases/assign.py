"""Which arm serves a request: sticky per subject, matching the candidate's share (pure functions, no I/O).

A subject (user id, session id, ...) is hashed with the route, the environment and the candidate's salt
into one of ``BUCKETS`` buckets; buckets below ``share * BUCKETS / 100`` go to the candidate. The same
subject therefore always lands on the same arm while the candidate is unchanged, raising the share only
adds subjects to the candidate, and a new candidate (new salt) draws a fresh sample. Without a subject
the bucket is drawn at random for each request.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

BUCKETS = 10_000
STABLE, CANDIDATE, SHADOW = "stable", "candidate", "shadow"
_random = random.Random()


@dataclass(frozen=True)
class Snapshot:
    """What resolution needs of a release; cached by the resolver, so it is immutable."""

    release_id: str
    route: str
    env: str
    revision: int
    stable: dict[str, Any]
    candidate: dict[str, Any] | None = None
    mode: str | None = None
    share: float | None = None
    salt: str | None = None

    @classmethod
    def of(cls, row: Any) -> Snapshot:
        return cls(
            release_id=row.id, route=row.route, env=row.environment, revision=row.revision, stable=row.stable,
            candidate=row.candidate, mode=row.candidate_mode, share=row.candidate_share, salt=row.candidate_salt,
        )  # fmt: skip


def bucket_of(route: str, env: str, subject: str, salt: str) -> int:
    """A stable bucket in [0, BUCKETS) for this subject and candidate."""
    digest = hashlib.blake2b(f"{route}\x1f{env}\x1f{salt}\x1f{subject}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def threshold(share: float | None) -> int:
    """How many buckets (of BUCKETS) go to the candidate for a share in percent."""
    return round((share or 0.0) * BUCKETS / 100)


def span_attributes(snap: Snapshot, arm: str, config: dict[str, Any]) -> dict[str, Any]:
    """Attributes to put on the request's span, so tracing can compare arms (see tracing/mapping.py)."""
    attributes = {
        "stackwright.route": snap.route,
        "stackwright.environment": snap.env,
        "stackwright.release.arm": arm,
        "stackwright.release.revision": snap.revision,
    }
    if config.get("prompt_name"):
        attributes["stackwright.prompt.name"] = config["prompt_name"]
        attributes["stackwright.prompt.version"] = str(config["prompt_version"])
    return attributes


def pick(snap: Snapshot, subject: str | None = None) -> dict[str, Any]:
    """The resolution of one request: the arm, its config, and in shadow mode the config to run on the side."""
    cut = threshold(snap.share) if snap.candidate is not None else 0
    bucket: int | None = None
    if subject is not None and snap.candidate is not None:
        bucket = bucket_of(snap.route, snap.env, subject, snap.salt or "")
        chosen = bucket < cut
    else:
        chosen = _random.randrange(BUCKETS) < cut if snap.candidate is not None else False
    shadow = snap.mode == SHADOW
    arm = CANDIDATE if chosen and not shadow else STABLE
    config = snap.candidate if arm == CANDIDATE and snap.candidate is not None else snap.stable
    shadow_config = snap.candidate if chosen and shadow else None
    result = {
        "route": snap.route,
        "env": snap.env,
        "release_id": snap.release_id,
        "revision": snap.revision,
        "arm": arm,
        "config": config,
        "mode": snap.mode,
        "share": snap.share,
        "shadow": shadow_config,
        "subject": subject,
        "bucket": bucket,
        "varies": snap.candidate is not None and 0 < cut < BUCKETS,
        "span_attributes": span_attributes(snap, arm, config),
    }
    if shadow_config is not None:
        result["shadow_span_attributes"] = span_attributes(snap, SHADOW, shadow_config)
    return result
