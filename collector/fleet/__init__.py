"""The fleet side of the collector (CONTRACT §5): the checks it hands to agents, and reload."""
