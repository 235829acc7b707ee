"""SQLAlchemy models, one module per aggregate. The schema itself lives in migrations/."""

from backend.models.access import ApiToken, AuditEntry, SigninThrottle, User
from backend.models.base import Base
from backend.models.geography import District, Region, RegionPart, Settlement
from backend.models.operations import (
    CredentialStatusList,
    IdempotentResponse,
    ImportFile,
    Job,
    OfficerCheck,
)
from backend.models.outbox import (
    OutboxMessage,
    PersonContact,
    PushSubscription,
    WebhookSubscription,
)
from backend.models.permit import Employer, Permit, PermitExtension, TerminationNotice
from backend.models.person import DuplicateReview, IinSerial, Person, PersonMerge, RegisterKey
from backend.models.policy import PolicyParameter, Preselection
from backend.models.registration import Registration
from backend.models.settlement import (
    MapArtifact,
    Quota,
    SettlementApplication,
    SettlementIndicators,
    SettlementListEntry,
    SettlementObligation,
    SupportPayment,
)
from backend.models.trace import (
    Alert,
    AlertDirty,
    DailyPresence,
    TraceLastPosition,
    TracePoint,
    TraceRefusal,
)

__all__ = [
    "Alert",
    "AlertDirty",
    "ApiToken",
    "AuditEntry",
    "Base",
    "CredentialStatusList",
    "DailyPresence",
    "District",
    "DuplicateReview",
    "Employer",
    "IdempotentResponse",
    "IinSerial",
    "ImportFile",
    "Job",
    "MapArtifact",
    "OfficerCheck",
    "OutboxMessage",
    "Permit",
    "PermitExtension",
    "Person",
    "PersonContact",
    "PersonMerge",
    "PolicyParameter",
    "Preselection",
    "PushSubscription",
    "Quota",
    "Region",
    "RegionPart",
    "RegisterKey",
    "Registration",
    "Settlement",
    "SettlementApplication",
    "SettlementIndicators",
    "SettlementListEntry",
    "SettlementObligation",
    "SigninThrottle",
    "SupportPayment",
    "TerminationNotice",
    "TraceLastPosition",
    "TracePoint",
    "TraceRefusal",
    "User",
    "WebhookSubscription",
]
