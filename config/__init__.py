"""The config file shared by every process: schema, loader, validator, contract constants."""
