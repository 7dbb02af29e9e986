"""The engine: pure decisions plus the functions that apply them in units of work."""
