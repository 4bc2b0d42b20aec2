"""The single place the version lives; setup.cfg reads it."""

__version__ = "0.1.0"
