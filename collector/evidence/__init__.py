"""Evidence bundles (CONTRACT §7): signed ZIPs a customer's auditor checks with slawatch alone,
and the period close that sends each period's reports once and keeps its bundle."""
