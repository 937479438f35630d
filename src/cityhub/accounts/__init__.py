"""Departments, users, sessions and API tokens."""
