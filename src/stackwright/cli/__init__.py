"""The `stackwright` command. Each layer owns its commands; this package mounts them."""
