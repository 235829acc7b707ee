"""SQLAlchemy models, one module per aggregate. The schema itself lives in migrations/."""

from backend.models.access import ApiToken, AuditEntry, User
from backend.models.base import Base
from backend.models.geography import District, Region, RegionPart, Settlement
from backend.models.operations import IdempotentResponse, ImportFile, Job, OfficerCheck
from backend.models.permit import Employer, Permit, PermitExtension, TerminationNotice
from backend.models.person import IinSerial, Person, RegisterKey
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
    "DailyPresence",
    "District",
    "Employer",
    "IdempotentResponse",
    "IinSerial",
    "ImportFile",
    "Job",
    "MapArtifact",
    "OfficerCheck",
    "Permit",
    "PermitExtension",
    "Person",
    "PolicyParameter",
    "Preselection",
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
    "SupportPayment",
    "TerminationNotice",
    "TraceLastPosition",
    "TracePoint",
    "TraceRefusal",
    "User",
]
