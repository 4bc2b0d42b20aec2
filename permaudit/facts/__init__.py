"""Stage 2: facts read from a loaded package: ``manifest``, ``code`` (bytecode reads),
``hybrid`` (cross-platform frameworks) and ``attribution`` (whose code it is)."""
