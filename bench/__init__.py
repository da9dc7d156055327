"""Benchmark harness: start the real server, drive it with concurrent keep-alive clients.

Run `python bench/run.py --help`. Scenarios (the rows of the table) live in `bench/scenarios.py`.
"""
