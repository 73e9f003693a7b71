"""netladder: check network connectivity layer by layer and say which layer fails."""

__all__ = ["__version__"]

__version__ = "0.1.0"
