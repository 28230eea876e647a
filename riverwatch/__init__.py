"""riverwatch: the shared kernel. Domain types, settings, configuration, secrets, logging.

It imports no stage. The stage packages (`ingest`, `detectors`, `alerts`, `api`) depend on it
and not on each other's internals; `hub` (the composition root) wires them together.
"""

__version__ = "0.1.0"
