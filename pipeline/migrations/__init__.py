"""leadscore's versioned migrations of the scores store (Alembic; run by ``pipeline.store.upgrade``)."""
