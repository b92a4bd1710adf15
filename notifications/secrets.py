"""Secret references (moved to settings/secrets.py, below the models in the import order); re-exported."""

from settings.secrets import SecretMissing, SecretRef

__all__ = ["SecretMissing", "SecretRef"]
