"""Renderers: turn a report (the dict of docs/report-format.md) into text for people and tools."""
