"""Loaders: turn files as communities really have them into validated records of the `geodata` store."""
