"""Placeholder until the arc environment lands."""

REGISTRATIONS: list[dict] = []
