"""Benchmarks: each compares clickpipe against a named peer measured in the same run."""
