"""Maintenance commands of the course: notebook execution and checks."""
