"""Steps: retries, timeouts, fallbacks, typed results, cache, composition, spans and cost."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel

from stackwright.flows import StepError, current_step, parallel, sequence, step
from tests.flows.conftest import finished


class Answer(BaseModel):
    text: str
    score: float


def test_a_flaky_step_is_retried_until_it_succeeds() -> None:
    calls = []

    @step(retries=2, backoff_s=0.001)
    async def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise ConnectionError("upstream reset")
        return x * 2

    assert asyncio.run(flaky(21)) == 42
    assert calls == [21, 21, 21]


def test_a_step_that_keeps_raising_names_step_attempt_and_reason() -> None:
    @step(retries=1, backoff_s=0.001, name="fetch-order")
    def fetch(order_id: str) -> dict:
        raise KeyError(order_id)

    with pytest.raises(StepError) as caught:
        fetch.sync("o-1")
    err = caught.value
    assert (err.step, err.attempt) == ("fetch-order", 2)
    assert "KeyError" in err.reason and "o-1" in err.reason
    assert "fetch-order" in str(err) and "attempt 2 of 2" in str(err) and "KeyError" in str(err)


def test_a_hanging_async_step_times_out_on_every_attempt() -> None:
    attempts = []

    @step(retries=1, timeout_s=0.05, backoff_s=0.001)
    async def hangs() -> str:
        attempts.append(1)
        await asyncio.sleep(3600)
        return "never"

    with pytest.raises(StepError) as caught:
        asyncio.run(hangs())
    assert caught.value.attempt == 2 and "timed out after 0.05 s" in caught.value.reason
    assert len(attempts) == 2


def test_a_hanging_sync_step_times_out() -> None:
    release = threading.Event()

    @step(timeout_s=0.05)
    def blocks() -> str:
        release.wait(30)
        return "late"

    try:
        with pytest.raises(StepError, match="timed out"):
            blocks.sync()
    finally:
        release.set()


def test_fallback_value_and_callable_after_attempts_are_spent() -> None:
    @step(retries=1, backoff_s=0.001, fallback="(no answer)")
    async def answer(question: str) -> str:
        raise RuntimeError("model down")

    @step(fallback=lambda question: f"sorry: {question}")
    def answer2(question: str) -> str:
        raise RuntimeError("model down")

    assert asyncio.run(answer("why?")) == "(no answer)"
    assert answer2.sync("why?") == "sorry: why?"


def test_a_failing_fallback_is_reported_with_the_original_reason() -> None:
    def broken(question: str) -> str:
        raise ValueError("fallback broke")

    @step(fallback=broken, name="answer")
    def answer(question: str) -> str:
        raise RuntimeError("model down")

    with pytest.raises(StepError) as caught:
        answer.sync("q")
    assert "model down" in caught.value.reason and "fallback broke" in caught.value.reason


def test_a_wrong_return_type_fails_the_step_naming_it() -> None:
    @step(name="score")
    def score(text: str) -> float:
        return "high"  # type: ignore[return-value]

    with pytest.raises(StepError) as caught:
        score.sync("x")
    assert caught.value.step == "score" and caught.value.attempt == 1
    assert "returned str" in caught.value.reason and "float" in caught.value.reason


def test_a_wrong_return_type_is_retried_then_falls_back() -> None:
    outputs = iter([{"text": "hi"}, {"text": "hi", "score": 0.9}])

    @step(retries=1, backoff_s=0.001)
    def parse() -> Answer:
        return next(outputs)  # type: ignore[return-value]

    result = parse.sync()
    assert result == Answer(text="hi", score=0.9)


def test_a_model_return_value_is_validated() -> None:
    @step
    async def build() -> Answer:
        return {"text": "ok", "score": "not a number"}  # type: ignore[return-value]

    with pytest.raises(StepError, match="not a valid Answer"):
        asyncio.run(build())


def test_bad_arguments_fail_at_once_without_retries() -> None:
    calls = []

    @step(retries=3, name="double")
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    with pytest.raises(StepError) as caught:
        double.sync("not a number")
    assert caught.value.attempt == 0 and "argument 'x'" in caught.value.reason
    with pytest.raises(StepError, match="bad arguments"):
        double.sync(1, 2)
    assert calls == []
    assert double.sync("3") == 6  # lax input validation: "3" is a valid int


def test_bad_step_options_are_refused_at_decoration() -> None:
    with pytest.raises(ValueError, match="retries"):
        step(retries=-1)(lambda: 1)
    with pytest.raises(ValueError, match="timeout_s"):
        step(timeout_s=0)(lambda: 1)
    with pytest.raises(ValueError, match="cache"):
        step(cache="yes")(lambda: 1)


def test_cache_by_input_and_ttl() -> None:
    calls = []

    @step(cache=True)
    def embed(text: str) -> int:
        calls.append(text)
        return len(text)

    assert embed.sync("abc") == 3 and embed.sync("abc") == 3 and embed.sync("abcd") == 4
    assert calls == ["abc", "abcd"]
    embed.clear_cache()
    embed.sync("abc")
    assert calls == ["abc", "abcd", "abc"]

    expiring = []

    @step(cache=0.000001)
    def tiny(text: str) -> str:
        expiring.append(text)
        return text

    tiny.sync("a")
    threading.Event().wait(0.01)
    tiny.sync("a")
    assert expiring == ["a", "a"]  # expired between the calls


def test_failures_are_not_cached() -> None:
    calls = []

    @step(cache=True)
    def once_broken(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(StepError):
        once_broken.sync(1)
    assert once_broken.sync(1) == 1 and len(calls) == 2


def test_sequence_and_parallel_composition() -> None:
    @step
    async def words(text: str) -> list[str]:
        return text.split()

    @step
    def count(items: list[str]) -> int:
        return len(items)

    @step
    async def longest(items: list[str]) -> str:
        return max(items, key=len)

    flow = sequence(words, parallel(n=count, longest=longest), lambda stats: f"{stats['n']}:{stats['longest']}")
    assert asyncio.run(flow("a quick brown fox")) == "4:quick"
    assert asyncio.run(parallel(count, longest)(["x", "yyy"])) == [2, "yyy"]
    with pytest.raises(ValueError):
        parallel(count, n=count)
    with pytest.raises(ValueError):
        sequence()


def test_parallel_failure_cancels_the_other_parts() -> None:
    cancelled = []

    @step
    async def slow(x: int) -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    @step(name="boom")
    async def boom(x: int) -> int:
        raise RuntimeError("no")

    with pytest.raises(StepError, match="'boom'"):
        asyncio.run(parallel(slow, boom)(1))
    assert cancelled == [1]


def test_spans_nest_with_attempts_latency_and_cost(sink) -> None:
    from stackwright.sdk.observe import observe

    @step(retries=1, backoff_s=0.001, name="llm-call")
    async def call_model(prompt: str) -> str:
        current_step().add_cost(0.002, tokens=150)
        if current_step().attempt == 1:
            raise TimeoutError("slow upstream")
        return prompt.upper()

    @step(name="tokens")
    def tokens(text: str) -> int:
        current_step().add_cost(0.001, tokens=10)
        return len(text)

    pipeline = sequence(call_model, tokens, name="answer-flow")

    async def main() -> int:
        with observe("request", kind="chain"):
            return await pipeline("hello")

    assert asyncio.run(main()) == 5
    spans = {span.name: span for span in finished(sink)}
    request, flow, llm, tok = spans["request"], spans["answer-flow"], spans["llm-call"], spans["tokens"]
    assert {s.trace_id for s in (flow, llm, tok)} == {request.trace_id}
    assert flow.parent_span_id == request.span_id
    assert llm.parent_span_id == flow.span_id and tok.parent_span_id == flow.span_id
    assert llm.attributes["stackwright.step.attempts"] == 2
    assert "slow upstream" in llm.attributes["stackwright.step.last_error"]
    assert llm.attributes["stackwright.cost"] == pytest.approx(0.004)  # both attempts cost
    assert llm.attributes["llm.token_count.total"] == 300
    assert tok.attributes["stackwright.step.cache_hit"] is False
    assert flow.attributes["stackwright.step.total_cost"] == pytest.approx(0.005)
    assert flow.attributes["stackwright.step.total_tokens"] == 310
    assert "stackwright.cost" not in flow.attributes  # trace totals add up the steps' own costs only
    assert llm.end_time >= llm.start_time > 0 and flow.end_time >= tok.end_time


def test_a_failed_step_span_has_error_status(sink) -> None:
    @step(name="fails")
    def fails() -> int:
        raise RuntimeError("broken tool")

    with pytest.raises(StepError):
        fails.sync()
    (span,) = [s for s in finished(sink) if s.name == "fails"]
    assert span.status_code == 2 and "broken tool" in span.status_message


def test_sync_steps_nest_under_the_calling_step(sink) -> None:
    @step(name="inner")
    def inner(x: int) -> int:
        current_step().add_cost(0.5)
        return x + 1

    @step(name="outer")
    async def outer(x: int) -> int:
        return await inner(x) + await inner(x)

    assert asyncio.run(outer(1)) == 4
    spans = finished(sink)
    (outer_span,) = [s for s in spans if s.name == "outer"]
    inners = [s for s in spans if s.name == "inner"]
    assert len(inners) == 2 and all(s.parent_span_id == outer_span.span_id for s in inners)
    assert outer_span.attributes["stackwright.step.total_cost"] == pytest.approx(1.0)


def test_a_step_on_a_method_gets_its_instance() -> None:
    class Bot:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        @step(retries=1, backoff_s=0.001, name="greet")
        async def greet(self, name: str) -> str:
            return f"{self.greeting}, {name}"

    assert asyncio.run(Bot("Hello").greet("Ada")) == "Hello, Ada"
    with pytest.raises(StepError, match="argument 'name'"):
        asyncio.run(Bot("Hi").greet(["not", "a", "name"]))
