"""The `slawatch` command line: dispatches to the agent and the collector."""

__version__ = "0.1.0"
