"""Helpers shared by the test folders (importable as ``testsupport``; see pytest's pythonpath)."""
