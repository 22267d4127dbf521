"""The collector's own state for operators (CONTRACT §3): health, metrics, the checks it sees."""
