"""What tests share: the world of people, database helpers, problem and balance checks, per-domain builders.

Test modules import helpers from here, never from another test module (tests/unit/test_boundaries.py).
"""
