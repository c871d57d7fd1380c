"""Schedules on SQLite and Postgres: bad cron named by field, a due schedule fires once even with two
schedulers racing (threads on separate engines, like two server processes), and a restart fires nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from stackwright.core.clock import utcnow
from stackwright.core.db import Database
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.jobs import service
from stackwright.jobs.models import Job, JobSchedule
from stackwright.jobs.runner import _fire, claim_due_schedules
from tests.jobs.conftest import set_due


def make_schedule(db: Database, project_id: str, name: str = "nightly", cron: str = "*/5 * * * *", **params):
    with db.write() as session:
        row, _ = service.set_schedule(session, project_id, name, cron, "noop", params)
        return row.id


def jobs_of(db: Database, schedule_id: str) -> list[Job]:
    with db.read() as session:
        return list(session.scalars(select(Job).where(Job.schedule_id == schedule_id)))


@pytest.mark.parametrize(
    ("cron", "needle"),
    [
        ("61 * * * *", "minute field '61'"),
        ("* 24 * * *", "hour field '24'"),
        ("* * 32 * *", "day of month field '32'"),
        ("* * * 13 *", "month field '13'"),
        ("* * * * funday", "day of week field 'funday'"),
        ("* * * *", "has 4 fields, not 5"),
        ("", "empty"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_bad_cron_is_refused_naming_the_field(prepared, project_id, cron, needle):
    with prepared.write() as session, pytest.raises(InvalidInput, match=needle):
        service.set_schedule(session, project_id, "bad", cron, "noop", {})
    with prepared.read() as session:
        assert service.list_schedules(session, project_id) == []


def test_bad_schedule_name_kind_and_params_are_refused(prepared, project_id):
    with prepared.write() as session:
        with pytest.raises(InvalidInput, match="Schedule name"):
            service.set_schedule(session, project_id, "no spaces allowed", "* * * * *", "noop", {})
        with pytest.raises(InvalidInput, match="Unknown job kind"):
            service.set_schedule(session, project_id, "s", "* * * * *", "nope", {})
        with pytest.raises(InvalidInput, match="ticks"):
            service.set_schedule(session, project_id, "s", "* * * * *", "sleep", {"ticks": 0})


def test_set_replaces_by_name_and_delete(prepared, project_id):
    first = make_schedule(prepared, project_id, cron="0 3 * * *")
    with prepared.write() as session:
        row, created = service.set_schedule(session, project_id, "nightly", "30 4 * * 1", "sleep", {"seconds": 0})
        assert not created and row.id == first and row.cron == "30 4 * * 1" and row.params["seconds"] == 0
        assert row.next_run_at > utcnow() and (row.next_run_at.hour, row.next_run_at.minute, row.next_run_at.weekday()) == (4, 30, 0)
        service.delete_schedule(session, project_id, "nightly")
        with pytest.raises(NotFound):
            service.delete_schedule(session, project_id, "nightly")


def test_a_due_schedule_fires_once_and_moves_on(prepared, project_id):
    schedule_id = make_schedule(prepared, project_id)
    assert claim_due_schedules(prepared) == []  # not due yet
    scheduled = (utcnow() - timedelta(minutes=1)).replace(microsecond=0)
    set_due(prepared, schedule_id, scheduled)
    (job_id,) = claim_due_schedules(prepared)
    assert claim_due_schedules(prepared) == []
    (job,) = jobs_of(prepared, schedule_id)
    assert job.id == job_id and job.run_key == f"{schedule_id}@{scheduled.isoformat()}" and job.status == "queued"
    with prepared.read() as session:
        row = session.get(JobSchedule, schedule_id)
        assert row.last_run_at == scheduled and row.next_run_at > utcnow() and row.next_run_at.minute % 5 == 0


def test_missed_runs_fire_once_after_downtime(prepared, project_id):
    schedule_id = make_schedule(prepared, project_id, cron="* * * * *")
    set_due(prepared, schedule_id, utcnow() - timedelta(hours=3))
    assert len(claim_due_schedules(prepared)) == 1  # not 180 jobs
    assert claim_due_schedules(prepared) == []


def test_disabled_schedules_do_not_fire(prepared, project_id):
    with prepared.write() as session:
        row, _ = service.set_schedule(session, project_id, "off", "* * * * *", "noop", {}, enabled=False)
        schedule_id = row.id
    set_due(prepared, schedule_id, utcnow() - timedelta(minutes=1))
    assert claim_due_schedules(prepared) == []


def test_two_schedulers_racing_fire_each_schedule_once(prepared, project_id, settings):
    ids = [make_schedule(prepared, project_id, name=f"s{i}") for i in range(6)]
    engines = [Database(settings), Database(settings)]  # two "server processes": separate engines and pools
    try:
        for round_ in range(3):
            scheduled = (utcnow() - timedelta(minutes=1 + round_)).replace(microsecond=0)
            for schedule_id in ids:
                set_due(prepared, schedule_id, scheduled)
            barrier = threading.Barrier(2)
            fired: list[list[str]] = [[], []]
            errors: list[BaseException] = []

            def run(index: int, barrier=barrier, fired=fired, errors=errors) -> None:
                try:
                    barrier.wait(10)
                    fired[index] = claim_due_schedules(engines[index])
                except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert errors == []
            assert len(fired[0]) + len(fired[1]) == len(ids), fired
            assert set(fired[0]).isdisjoint(fired[1])
        for schedule_id in ids:
            jobs = jobs_of(prepared, schedule_id)
            assert len(jobs) == 3 and len({j.run_key for j in jobs}) == 3
    finally:
        for engine in engines:
            engine.dispose()


def test_a_restart_fires_nothing_twice(prepared, project_id, settings):
    schedule_id = make_schedule(prepared, project_id)
    scheduled = (utcnow() - timedelta(minutes=1)).replace(microsecond=0)
    set_due(prepared, schedule_id, scheduled)
    assert len(claim_due_schedules(prepared)) == 1
    prepared.dispose()  # the server stops
    restarted = Database(settings)  # and a new process starts on the same database
    try:
        assert claim_due_schedules(restarted) == []
        # a scheduler that read the schedule before the first one advanced it loses the compare-and-set
        assert _fire(restarted, schedule_id, scheduled, scheduled + timedelta(minutes=5)) is None
        # and even a schedule rewound to a fired time cannot enqueue that time's job again (unique run_key)
        set_due(restarted, schedule_id, scheduled)
        assert claim_due_schedules(restarted) == []
        assert len(jobs_of(restarted, schedule_id)) == 1
    finally:
        restarted.dispose()


def test_schedules_fire_into_their_own_project(prepared, project_id, other, worker):
    mine = make_schedule(prepared, project_id, name="same-name")
    theirs = make_schedule(prepared, other.project_id, name="same-name")
    past = utcnow() - timedelta(minutes=1)
    set_due(prepared, mine, past)
    set_due(prepared, theirs, past)
    assert len(claim_due_schedules(prepared)) == 2
    assert [j.project_id for j in jobs_of(prepared, mine)] == [project_id]
    assert [j.project_id for j in jobs_of(prepared, theirs)] == [other.project_id]
    assert worker.run_until_idle() == 2
    with prepared.read() as session:
        assert {j.status for j in session.scalars(select(Job))} == {"succeeded"}
        assert [s.name for s in service.list_schedules(session, other.project_id)] == ["same-name"]
