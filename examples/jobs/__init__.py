"""Small job functions the example workflows call (python steps)."""
