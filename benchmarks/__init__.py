"""Load and soak runs against real servers (not collected by pytest)."""
