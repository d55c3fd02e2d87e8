"""Alembic's environment for leadscore: runs on the connection ``pipeline.store.upgrade`` opened (one
transaction), and keeps its own version table apart from MLflow's ``alembic_version``."""

from alembic import context

from pipeline.store import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
