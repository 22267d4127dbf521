"""SLA reports: built from the store, rendered as JSON, CSV and HTML, served and printed."""
