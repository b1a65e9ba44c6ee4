"""Placeholder until the sudoku environment lands."""

REGISTRATIONS: list[dict] = []
