"""Reference applications built on every Stackwright layer (the top of the dependency order)."""
