"""Plugin registries: the built-in `local` executor through its entry point, runtime registration, errors."""

from __future__ import annotations

import logging
import threading
from importlib.metadata import EntryPoint

import pytest

from stackwright.core import plugins
from stackwright.core.errors import NotFound
from stackwright.core.executors import LocalExecutor


def test_local_executor_comes_from_its_entry_point():
    assert plugins.executors.get("local") is LocalExecutor
    assert "local" in plugins.executors.names()
    assert plugins.executors.describe()["local"] == "entry point stackwright.core.executors:LocalExecutor"


def test_local_executor_works():
    factory = plugins.executors.get("local")
    with factory(max_workers=3) as executor:
        assert executor.max_workers == 3
        assert executor.submit(pow, 2, 10).result(timeout=30) == 1024
        assert list(executor.map(lambda x: x * x, range(20))) == [x * x for x in range(20)]  # input order kept
        names = set(executor.map(lambda _: threading.current_thread().name, range(6)))
        assert all(n.startswith("stackwright-local") for n in names)
    with pytest.raises(RuntimeError):
        executor.submit(pow, 2, 2)  # shut down on leaving the block
    assert LocalExecutor().max_workers >= 1


def test_every_registry_is_listed():
    kinds = [r.kind for r in plugins.all_registries()]
    assert kinds == ["layers", "providers", "embedders", "vector_stores", "scorers", "guardrail_checks", "executors"]
    assert all(r.group == f"stackwright.{r.kind}" for r in plugins.all_registries())


def test_runtime_registration():
    class Inline:
        name = "inline"

    try:
        plugins.executors.register("inline-test", Inline)
        assert plugins.executors.get("inline-test") is Inline
        assert plugins.executors.describe()["inline-test"] == "runtime"
        plugins.executors.register("inline-test", Inline)  # the same object again is fine
        with pytest.raises(ValueError, match="already registered"):
            plugins.executors.register("inline-test", object())
        other = object()
        plugins.executors.register("inline-test", other, replace=True)
        assert plugins.executors.get("inline-test") is other
        assert plugins.executors.get("local") is LocalExecutor  # the built-in is still there
    finally:
        plugins.executors.unregister("inline-test")
    assert "inline-test" not in plugins.executors.names()


def test_unknown_name_lists_what_is_registered():
    with pytest.raises(NotFound) as info:
        plugins.executors.get("ray-not-installed")
    assert info.value.status == 404
    assert "'ray-not-installed'" in info.value.message and "Registered: local" in info.value.message
    empty = plugins.Registry("nothing_here", "A registry nobody provides.")
    with pytest.raises(NotFound, match="Registered: none"):
        empty.get("x")


def test_a_broken_entry_point_does_not_break_the_others(monkeypatch, caplog):
    group = "stackwright.executors"
    fake = [
        EntryPoint(name="broken", value="stackwright_no_such_module:Thing", group=group),
        EntryPoint(name="local", value="stackwright.core.executors:LocalExecutor", group=group),
        EntryPoint(name="raises", value="stackwright.core.plugins:does_not_exist", group=group),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: [ep for ep in fake if ep.group == group])
    registry = plugins.Registry("executors", "Fresh registry for this test.")
    with caplog.at_level(logging.ERROR, logger="stackwright.plugins"):
        assert registry.get("local") is LocalExecutor
    assert registry.names() == ["local"]
    assert "broken" in caplog.text and "raises" in caplog.text
    with pytest.raises(NotFound, match="Registered: local"):
        registry.get("broken")


def test_runtime_registration_wins_over_an_entry_point(monkeypatch):
    registry = plugins.Registry("executors", "Fresh registry for this test.")
    sentinel = object()
    registry.register("local", sentinel)
    assert registry.get("local") is sentinel
    assert registry.describe()["local"] == "runtime"  # (the ray executor comes from its entry point)


# -- loading from two threads at once ---------------------------------------------------------------------
RACE_STARTED = threading.Event()  # set by the slow plugin's module while it is being imported
RACE_RELEASE = threading.Event()  # the slow plugin's import finishes once this is set


def _install_distribution(root, group: str, module: str, body: str) -> None:
    """A real installed distribution on sys.path: its dist-info declares one entry point in ``group``."""
    info = root / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nslow = {module}:Plugin\nsecond = {module}:Other\n")
    (root / f"{module}.py").write_text(body)


def test_a_thread_never_sees_a_half_loaded_registry(tmp_path, monkeypatch):
    """Thread A imports a slow plugin; thread B asks meanwhile: B waits for the loading, then sees every plugin."""
    import sys
    import uuid

    module = f"sw_slow_plugin_{uuid.uuid4().hex[:8]}"
    _install_distribution(tmp_path, "stackwright.race_test", module, (
        "from tests.core import test_plugins as t\n"
        "t.RACE_STARTED.set()\n"
        "t.RACE_RELEASE.wait(60)\n"
        "class Plugin: pass\n"
        "class Other: pass\n"
    ))  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    RACE_STARTED.clear()
    RACE_RELEASE.clear()
    registry = plugins.Registry("race_test", "Loaded from two threads.")
    seen: dict[str, list[str]] = {}
    first = threading.Thread(target=lambda: seen.__setitem__("first", registry.names()))
    second = threading.Thread(target=lambda: seen.__setitem__("second", registry.names()))
    try:
        first.start()
        assert RACE_STARTED.wait(60), "the plugin's import never started"
        second.start()
        second.join(0.5)  # before the fix, the second thread returned an empty list here
    finally:
        RACE_RELEASE.set()
        first.join(60)
        second.join(60)
        sys.modules.pop(module, None)
    assert seen == {"first": ["second", "slow"], "second": ["second", "slow"]}


def test_guardrail_checks_come_from_both_groups():
    """The built-ins are declared in `stackwright.guardrails`; the documented group is `stackwright.guardrail_checks`."""
    assert plugins.guardrail_checks.groups == ("stackwright.guardrail_checks", "stackwright.guardrails")
    described = plugins.guardrail_checks.describe()
    assert {"pii", "secrets", "length", "prompt_injection"} <= set(described)
    assert described["pii"] in ("entry point stackwright.guardrails.checks:PII", "built-in")
