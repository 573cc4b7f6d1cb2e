"""The company profile that scoring reads: every fact optional, impossible values refused."""

from __future__ import annotations

import types
from typing import Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

FactKind = Literal["bool", "number"]


class Profile(BaseModel):
    """What a company tells the advisor about itself. ``None`` means unknown, and unknown is
    neutral: no rule fires on it, and the result lists it as a question if it matters."""

    # strict: a JSON "yes" or 1 must not silently become True; extra: a misspelt field must
    # not silently be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # Upper bounds: far beyond the Mittelstand, but they keep absurd input out of the arithmetic.
    employees: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Number of employees."
    )
    pcs: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Number of PC workplaces to look after."
    )
    it_staff: float | None = Field(
        default=None,
        ge=0,
        le=100_000,
        allow_inf_nan=False,
        description="Internal IT staff in full-time equivalents (0 = nobody dedicated to IT).",
    )
    key_user: bool | None = Field(
        default=None,
        description="A tech-savvy employee with another main job who handles simple IT tasks "
        "(printer cartridges, swapping hardware) and triages calls to the provider.",
    )
    production_systems: bool | None = Field(
        default=None,
        description="Business-critical production systems, e.g. servers that directly steer "
        "machines and need people on site.",
    )
    confidential_areas: bool | None = Field(
        default=None,
        description="Highly confidential areas (e.g. an R&D lab with sensitive data) that "
        "external providers must not access.",
    )
    needs_24x7: bool | None = Field(
        default=None,
        description="IT must be available around the clock (24/7, very short reactions).",
    )
    regulated: bool | None = Field(
        default=None,
        description="Strict compliance requirements beyond the GDPR, e.g. finance or health care.",
    )
    growth: bool | None = Field(
        default=None, description="Expected growth in staff, sites or systems."
    )
    complex_it: bool | None = Field(
        default=None,
        description="Complex or strategically relevant IT infrastructure; the whitepaper then "
        "wants a technical employee with sound IT skills in-house.",
    )
    locations: int | None = Field(default=None, ge=1, le=10_000, description="Number of sites.")
    remote_work: bool | None = Field(
        default=None,
        description="Employees access data and services remotely (home office, notebooks, "
        "smartphones).",
    )
    # User-supplied prices: the documents give no salary for a non-senior administrator and no
    # exact managed-service price, so totals are only computed from the user's own figures.
    internal_cost_per_it_staff_eur: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="Your own full annual cost of one internal IT employee, in euros.",
    )
    external_price_per_user_month_eur: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        allow_inf_nan=False,
        description="A provider's price per user and month that you were offered, in euros.",
    )

    @field_validator("it_staff")
    @classmethod
    def _it_staff_within_employees(cls, value: float | None, info: ValidationInfo) -> float | None:
        # Runs after `employees` (declared earlier), so the error is located at it_staff.
        employees = info.data.get("employees")
        if value is not None and employees is not None and value > employees:
            raise ValueError(
                f"it_staff ({value:g}) cannot exceed employees ({employees}): "
                "internal IT staff are employees"
            )
        return value


def fact_kind(field: str) -> FactKind:
    """Whether a Profile field holds a yes/no fact or a number; KeyError for unknown fields."""
    annotation = Profile.model_fields[field].annotation
    if get_origin(annotation) in (Union, types.UnionType):
        args = set(get_args(annotation)) - {type(None)}
    else:
        args = {annotation}
    return "bool" if bool in args else "number"
