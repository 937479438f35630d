"""Public-transport analytics: smart-card taps to stages, journeys, OD matrices, commuting and hub crowds.

The algorithms are pure modules (no web or database imports) over Arrow tables in the shapes of
:mod:`cityhub.transit.schema`, so the single-machine engine and Spark run the same rules.
"""
