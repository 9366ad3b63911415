"""sessionkit test suite."""
