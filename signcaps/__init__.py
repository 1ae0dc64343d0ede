"""signcaps: sign-language digit recognition with Capsule Networks."""

__version__ = "0.1.0"
