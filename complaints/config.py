"""The configuration moved to settings/ (below models/ in the import order); this name is kept so
existing imports (`from complaints.config import Config, load_config`) go on working."""

from settings.config import *  # noqa: F403
from settings.config import __all__ as _names
from settings.config import _Source, _Strict  # noqa: F401 - names older modules import

__all__ = list(_names)
