"""Placeholder until the maze environment lands."""

REGISTRATIONS: list[dict] = []
