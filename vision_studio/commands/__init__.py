"""CLI sub-commands: each module defines ``register(subparsers)``; see ``vision_studio.cli``."""
