"""The eight answers (ARCHITECTURE.md): one request explained from stored data only.

``service.explain`` reads a trace (once, through the tracing service), the release its route went
through and the eval runs of that release's configs (through the releases and evals services), and
answers the prompt version, model, context, failure, eval delta, cost, slowest step and rollback.
``api`` serves it at ``GET /api/v1/traces/{trace_id}/explain``; ``cli`` adds `stackwright traces explain`.
"""
