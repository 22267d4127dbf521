"""The agent: probes checks on a schedule, spools samples on disk, ships them to the collector."""
