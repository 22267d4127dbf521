"""The collector: ingests samples, stores them, decides SLAs, alerts and reports."""
