"""The SLA engine: pure functions of runs, SLAs, windows and now (CONTRACT §4)."""
