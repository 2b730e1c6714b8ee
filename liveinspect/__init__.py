"""liveinspect: compliance inspection of live-stream marketing."""

__version__ = "0.1.0"
