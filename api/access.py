"""Who may do what (roles, permissions, a user's scope of cases): the rules live in services/access.py,
below the API, so the application layer's queries use them too; the API's modules read them here."""

from services.access import ACTORS as ACTORS
from services.access import ALL as ALL
from services.access import COMPLAINT as COMPLAINT
from services.access import PERMISSIONS as PERMISSIONS
from services.access import allowed as allowed
from services.access import can_see as can_see
from services.access import may_act as may_act
from services.access import may_unmask as may_unmask
from services.access import scope as scope
from services.access import subtree as subtree
