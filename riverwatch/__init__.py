"""riverwatch: shared domain types, settings, configuration and the command line.

The four stage packages (`ingest`, `detectors`, `alerts`, `api`) depend on this package and
never on each other's internals; `riverwatch.hub` is the one place that wires them together.
"""

__version__ = "0.1.0"
