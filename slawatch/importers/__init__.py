"""`slawatch import`: another monitoring tool's checks and alerts as slawatch config."""
