"""An exchange on this machine as real processes: the library under ``dome up``.

``supervisor`` starts, supervises and stops discovery and engines; ``placement`` and
``check`` read a running cluster's placement and compare its replicas. The CLI
(``dome up``, ``dome placement``, ``dome check``), the benchmarks and the tests all
build on these, so none of them imports another's command-line code.
"""
