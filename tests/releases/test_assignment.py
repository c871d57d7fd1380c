"""Acceptance: 10,000 resolutions at a 10 % canary give 10 % ± 1 %, the same subject always lands on the
same arm, raising the share keeps subjects on the candidate, and a new candidate draws a new sample."""

from __future__ import annotations

from stackwright.releases import service
from stackwright.releases.assign import BUCKETS, Snapshot, bucket_of, pick, threshold
from stackwright.releases.resolver import ReleaseResolver
from tests.releases.conftest import ROUTE, ok, set_stable, start_canary

SUBJECTS = [f"user-{i}" for i in range(10_000)]


def _arms(resolver: ReleaseResolver, project_id: str, subjects: list[str | None]) -> list[str]:
    return [resolver.resolve(project_id, ROUTE, "production", s)["arm"] for s in subjects]


def test_ten_thousand_resolutions_at_ten_percent(api, prompts, prepared):
    set_stable(api)
    start_canary(api, share=10)
    resolver = ReleaseResolver(prepared)
    arms = _arms(resolver, prompts, SUBJECTS)
    share = arms.count("candidate") / len(arms)
    assert 0.09 <= share <= 0.11, share
    assert _arms(resolver, prompts, SUBJECTS) == arms  # sticky: the same subject, the same arm
    # Without a subject every request is a fresh draw, at the same share.
    random_share = _arms(resolver, prompts, [None] * 10_000).count("candidate") / 10_000
    assert 0.09 <= random_share <= 0.11, random_share
    # The uncached service path and the HTTP endpoint agree with the cached resolver.
    with prepared.read() as session:
        for subject, arm in list(zip(SUBJECTS, arms, strict=True))[:200]:
            assert service.resolve(session, prompts, ROUTE, "production", subject)["arm"] == arm
    for subject, arm in list(zip(SUBJECTS, arms, strict=True))[:100]:
        answer = ok(api.get(f"/api/v1/releases/{ROUTE}/resolve", params={"env": "production", "subject": subject}))
        assert answer["arm"] == arm and answer["bucket"] is not None


def test_raising_the_share_keeps_subjects_and_a_new_candidate_reshuffles(api, prompts, prepared):
    set_stable(api)
    start_canary(api, share=10)
    resolver = ReleaseResolver(prepared, ttl_s=60)
    at_10 = {s for s, arm in zip(SUBJECTS, _arms(resolver, prompts, SUBJECTS), strict=True) if arm == "candidate"}
    start_canary(api, share=30)
    resolver.forget(prompts, ROUTE, "production")
    at_30 = {s for s, arm in zip(SUBJECTS, _arms(resolver, prompts, SUBJECTS), strict=True) if arm == "candidate"}
    assert at_10 < at_30 and 0.28 <= len(at_30) / len(SUBJECTS) <= 0.32
    start_canary(api, "support-answer@3", share=10)  # a different candidate: a new salt
    resolver.forget(prompts)
    fresh = {s for s, arm in zip(SUBJECTS, _arms(resolver, prompts, SUBJECTS), strict=True) if arm == "candidate"}
    assert 0.09 <= len(fresh) / len(SUBJECTS) <= 0.11
    assert len(fresh & at_10) < len(at_10) * 0.3  # an independent sample overlaps by about 10 %


def test_ab_mode_splits_like_canary():
    snap = Snapshot("rel_x", ROUTE, "production", 3, {"prompt": "a@1"}, {"prompt": "a@2"}, "ab", 50.0, "salt")
    answers = [pick(snap, s) for s in SUBJECTS]
    assert 0.48 <= sum(a["arm"] == "candidate" for a in answers) / len(answers) <= 0.52
    assert all(a["mode"] == "ab" and a["shadow"] is None and a["varies"] for a in answers)
    assert all(a["config"] == (snap.candidate if a["arm"] == "candidate" else snap.stable) for a in answers)


def test_buckets_are_stable_and_shares_map_to_bucket_counts():
    assert bucket_of(ROUTE, "production", "user-1", "s") == bucket_of(ROUTE, "production", "user-1", "s")
    assert [threshold(s) for s in (0, 0.01, 10, 33.33, 100)] == [0, 1, 1000, 3333, BUCKETS]
    no_candidate = Snapshot("rel_x", ROUTE, "production", 1, {"prompt": "a@1"})
    answer = pick(no_candidate, "user-1")
    assert answer["arm"] == "stable" and answer["varies"] is False and answer["bucket"] is None and answer["mode"] is None


def test_resolver_caches_snapshots_and_unknown_routes_until_forgotten(api, prompts, prepared):
    import asyncio

    import pytest

    from stackwright.core.errors import NotFound

    resolver = ReleaseResolver(prepared, ttl_s=3600)
    with pytest.raises(NotFound, match="No release for route"):
        resolver.resolve(prompts, ROUTE, "production", "u")
    set_stable(api)
    with pytest.raises(NotFound):  # the miss is cached too, until the TTL or forget()
        resolver.resolve(prompts, ROUTE, "production", "u")
    resolver.forget(prompts, ROUTE)
    first = asyncio.run(resolver.aresolve(prompts, ROUTE, "production", "u"))
    assert first["config"]["prompt"] == "support-answer@1" and first["revision"] == 1
    set_stable(api, "support-answer@2")
    assert resolver.resolve(prompts, ROUTE, "production", "u")["revision"] == 1  # cached snapshot
    resolver.forget()
    assert asyncio.run(resolver.aresolve(prompts, ROUTE, "production", "u"))["revision"] == 2
