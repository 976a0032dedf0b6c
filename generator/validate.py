"""Stage 3: semantic checks across all descriptions, producing an indexed, validated catalog.

Contracts are checked first (validate_contracts), then spec factories (validate_specs), so one
broken description is reported once, not again by every spec that uses it; then what every name
means in the generated modules (validate_names); last, each adapter's call against its
implementation's constructor (validate_calls).
"""

from generator.errors import DescriptionErrors
from generator.model import Description
from generator.validate_calls import check_calls
from generator.validate_contracts import Adapter, Catalog
from generator.validate_names import check_names
from generator.validate_specs import SpecChecker

__all__ = ["Adapter", "Catalog", "validate"]


def validate(descriptions: list[Description]) -> Catalog:
    """Checks everything; raises DescriptionErrors with every problem found.

    Specs are checked only once the contracts they refer to are valid, so one broken
    description is reported once, not again by every spec that uses it.
    """
    checker = SpecChecker(descriptions)
    for phase in (checker.check_contracts, checker.check_specs):
        errors = list(phase())
        if errors:
            raise DescriptionErrors(errors)
    catalog = checker.catalog()
    for names_then_calls in (check_names, check_calls):  # once every name is known
        errors = list(names_then_calls(catalog))
        if errors:
            raise DescriptionErrors(errors)
    return catalog
