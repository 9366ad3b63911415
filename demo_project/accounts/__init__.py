"""Demo-only helpers: the ``ensure_demo_user`` management command."""
