"""Stores and the devices registered in them.

- `models`
- `registry`
"""
