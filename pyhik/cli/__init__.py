"""The ``pyhik`` command: one module per command, shared helpers apart.

Job: ``main`` builds the argument parser and dispatches; each command lives in its own
module; what several commands share lives in its own module too.

Rules:
- The top of the stack: it may import every part of pyhik, and no part of the library
  may import it (import-linter contract). Expected failures print one clear line to
  stderr and exit non-zero.
"""
