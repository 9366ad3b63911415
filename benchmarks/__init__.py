"""sessionkit's benchmark harness: end to end (``python -m benchmarks.run``, ``make bench``)
and micro (``benchmarks/micro``, ``make bench-micro``). Not part of ``make test``."""
