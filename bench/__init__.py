"""Benchmarks (not tests): each prints one JSON document on stdout."""
