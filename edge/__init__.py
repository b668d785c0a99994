"""fer-edge: real-time facial-emotion recognition on small CPUs (the device runtime)."""

__version__ = "0.1.0"
