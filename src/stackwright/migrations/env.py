"""Alembic environment: always driven programmatically with a connection from stackwright.core.migrate.
The schema to compare against is every registered layer's tables (``core.layers``)."""

from alembic import context

from stackwright.core.layers import include_object, target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `stackwright db upgrade`, not the alembic command.")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,  # objects a layer manages outside its tables (search indexes)
)
with context.begin_transaction():
    context.run_migrations()
