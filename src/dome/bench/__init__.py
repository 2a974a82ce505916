"""Benchmarks behind ``dome bench``: kept in the package so the CLI and ``make bench`` agree.

Benchmarks read the clock and randomness (seeded), which is why they live here and not in
``dome.core``, whose modules must stay pure.
"""
