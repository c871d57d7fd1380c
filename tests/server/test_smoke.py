from stackwright.core.migrate import head_revisions
from tests.conftest import assert_error


def test_health_and_ready(anon):
    assert anon.get("/healthz").json()["status"] == "ok"
    ready = anon.get("/readyz")
    assert ready.status_code == 200 and ready.json()["migrations"] == sorted(head_revisions())


def test_me_needs_a_key(anon, api):
    assert_error(anon.get("/api/v1/me"), 401, "unauthenticated")
    assert api.get("/api/v1/me").json()["project"]["name"] == "default"
