"""The benchmark's Django app: one target per process, chosen by environment variables."""
