"""Request and response schemas (marshmallow). The API validates with them and the
OpenAPI document is generated from them; bulk import validates rows with the same ones.
"""

from backend.schemas.common import *  # noqa: F403
from backend.schemas.credentials import *  # noqa: F403
from backend.schemas.devices import *  # noqa: F403
from backend.schemas.register import *  # noqa: F403
from backend.schemas.settlement import *  # noqa: F403
from backend.schemas.traces import *  # noqa: F403
