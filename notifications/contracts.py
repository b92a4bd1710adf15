"""The notification contracts moved to domain/messages.py (pure data, below the models); re-exported."""

from domain.messages import *  # noqa: F403
