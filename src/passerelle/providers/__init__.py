"""Provider profiles (data) and the pure sovereignty checks over them."""

from passerelle.providers.catalog import (
    Prices,
    ProviderProfile,
    Region,
    infer_provider,
    load_profiles,
    profile_named,
)
from passerelle.providers.requirements import (
    REQUIREMENTS,
    RequirementFailure,
    check_requirements,
    parse_requirements,
)

__all__ = [
    "REQUIREMENTS",
    "Prices",
    "ProviderProfile",
    "Region",
    "RequirementFailure",
    "check_requirements",
    "infer_provider",
    "load_profiles",
    "parse_requirements",
    "profile_named",
]
