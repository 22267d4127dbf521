"""The config file shared by every process: `loader` reads it through `reader` and `sections`
(one module per top-level key, each declaring its keys) into the dataclasses of `schema`;
`values` parses single values; `registry` is where check types and channels declare theirs;
`contract` holds the contract's constants."""
