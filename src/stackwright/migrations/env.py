"""Alembic environment: always driven programmatically with a connection from stackwright.core.migrate."""

from alembic import context

from stackwright.core.models_registry import target_metadata
from stackwright.retrieval.index_schema import include_object

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `stackwright db upgrade`, not the alembic command.")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,  # keyword/vector index objects the models do not describe
)
with context.begin_transaction():
    context.run_migrations()
