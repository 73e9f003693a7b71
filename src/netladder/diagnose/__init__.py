"""`netladder diagnose`: walk the ladder for one target and name the first failing layer."""
