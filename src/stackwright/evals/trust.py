"""Who may run code named in an eval spec (``target: {python: module:function}``, ``{type: python,
function: ...}``): the only place that imports such code.

Running code in the server is the operator's capability. A spec loaded from a file by the CLI runs as the
operator: anything goes (``CodePolicy.operator()``). Anything else (the API, jobs, online rules: specs a
tenant wrote) runs under ``CodePolicy.server(settings)``: only callables on ``STACKWRIGHT_EVAL_PYTHON_ALLOW``,
for every key, instance admins' too. An entry is a module (it and its submodules) or one exact
``module:function``. Under a module entry the function must be a plain public name defined in an allowed
module, so ``allowed.mod:os.system`` or a re-exported ``system`` is refused. A refused name is a 403
naming the setting, checked before anything is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackwright.core.errors import Forbidden

SETTING = "STACKWRIGHT_EVAL_PYTHON_ALLOW"


@dataclass(frozen=True)
class CodePolicy:
    is_operator: bool
    allow: tuple[str, ...] = ()

    @classmethod
    def operator(cls) -> CodePolicy:
        """The CLI running a spec from a file, as the operator of this host: any module may be imported."""
        return cls(True)

    @classmethod
    def server(cls, settings: Any) -> CodePolicy:
        """Specs that came in through the server (API, jobs, online rules): the operator's allow-list only."""
        return cls(False, tuple(settings.eval_python_allow))

    def _module_entries(self, module: str) -> list[str]:
        return [e for e in self.allow if ":" not in e and (module == e or module.startswith(e + "."))]

    def check(self, ref: str, what: str) -> None:
        """Forbidden (403, naming the setting) unless this policy lets ``ref`` be imported and called."""
        if self.is_operator or ref in self.allow:
            return
        module, _, attr = ref.partition(":")
        if self._module_entries(module) and attr.isidentifier() and not attr.startswith("_"):
            return
        raise self._refusal(ref, what)

    def load(self, ref: str, what: str) -> Any:
        """``module:function`` checked, imported and resolved; ValueError saying what is wrong with it."""
        from importlib import import_module

        module_name, _, attr = ref.partition(":")
        if not module_name or not attr:
            raise ValueError(f"{what} must be module:function, not {ref!r}")
        self.check(ref, what)
        try:
            module = import_module(module_name)
        except Exception as exc:
            raise ValueError(f"cannot import {module_name!r} for {what}: {exc}") from None
        fn: Any = module
        for part in attr.split("."):
            fn = getattr(fn, part, None)
            if fn is None:
                raise ValueError(f"{module_name} has no {attr!r} for {what}")
        if not callable(fn):
            raise ValueError(f"{ref} is not callable")
        if not self.is_operator and ref not in self.allow and not self._module_entries(getattr(fn, "__module__", None) or ""):
            raise self._refusal(ref, what)  # allowed module, but the function is defined elsewhere (an import)
        return fn

    def _refusal(self, ref: str, what: str) -> Forbidden:
        module = ref.partition(":")[0]
        return Forbidden(
            f"{what} {ref!r} names Python code, and the operator has not allowed it: through the server, python targets "
            f"and scorers run only if listed in {SETTING} (this applies to every key, instance admins' too).",
            hint=f"Ask the operator to add {ref!r} or its module {module!r} to {SETTING}, or to run the spec from a file "
            "with `stackwright evals run SPEC`. Registered scorers (`stackwright plugins list`) need no allowing.",
            code="python_not_allowed",
            details={"callable": ref, "setting": SETTING},
        )
