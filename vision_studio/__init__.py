"""Vision Studio: label images, train CNNs with transfer learning, review the errors."""

__version__ = "0.1.0"
