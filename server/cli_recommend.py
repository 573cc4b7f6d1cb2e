"""`advisor recommend`: score a company profile from the command line (table or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from server.profile import Profile
from server.report import print_recommendation
from server.scoring import RulesError, load_rules, recommend
from server.settings import Settings

_FACTS = "Profile (leave out what you do not know; unknown is neutral)"


def recommend_command(
    employees: Annotated[
        int | None, typer.Option(help="Number of employees.", rich_help_panel=_FACTS)
    ] = None,
    pcs: Annotated[
        int | None, typer.Option(help="Number of PC workplaces.", rich_help_panel=_FACTS)
    ] = None,
    it_staff: Annotated[
        float | None,
        typer.Option(help="Internal IT staff in full-time equivalents.", rich_help_panel=_FACTS),
    ] = None,
    key_user: Annotated[
        bool | None,
        typer.Option(
            "--key-user/--no-key-user",
            help="A tech-savvy employee handles simple IT tasks.",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    production_systems: Annotated[
        bool | None,
        typer.Option(
            "--production-systems/--no-production-systems",
            help="Systems that steer machines and need people on site.",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    confidential_areas: Annotated[
        bool | None,
        typer.Option(
            "--confidential-areas/--no-confidential-areas",
            help="Highly confidential areas (e.g. an R&D lab).",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    needs_24x7: Annotated[
        bool | None,
        typer.Option(
            "--needs-24x7/--no-needs-24x7",
            help="IT must be available around the clock.",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    regulated: Annotated[
        bool | None,
        typer.Option(
            "--regulated/--no-regulated",
            help="Strict compliance (e.g. finance, health care).",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    growth: Annotated[
        bool | None,
        typer.Option("--growth/--no-growth", help="Growth expected.", rich_help_panel=_FACTS),
    ] = None,
    complex_it: Annotated[
        bool | None,
        typer.Option(
            "--complex-it/--no-complex-it",
            help="Complex or strategically relevant IT.",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    locations: Annotated[
        int | None, typer.Option(help="Number of sites.", rich_help_panel=_FACTS)
    ] = None,
    remote_work: Annotated[
        bool | None,
        typer.Option(
            "--remote-work/--no-remote-work",
            help="Employees access data and services remotely.",
            rich_help_panel=_FACTS,
        ),
    ] = None,
    internal_cost_per_it_staff_eur: Annotated[
        float | None,
        typer.Option(help="Your annual full cost of one internal IT employee (euros)."),
    ] = None,
    external_price_per_user_month_eur: Annotated[
        float | None,
        typer.Option(help="A provider's offered price per user and month (euros)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    rules_path: Annotated[
        Path | None, typer.Option(help="Rules file or folder (default: from settings).")
    ] = None,
    knowledge_dir: Annotated[
        Path | None, typer.Option(help="Knowledge folder (default: from settings).")
    ] = None,
) -> None:
    """Recommend intern, extern or hybrid for each IT task, every reason cited."""
    try:
        profile = Profile(
            employees=employees,
            pcs=pcs,
            it_staff=it_staff,
            key_user=key_user,
            production_systems=production_systems,
            confidential_areas=confidential_areas,
            needs_24x7=needs_24x7,
            regulated=regulated,
            growth=growth,
            complex_it=complex_it,
            locations=locations,
            remote_work=remote_work,
            internal_cost_per_it_staff_eur=internal_cost_per_it_staff_eur,
            external_price_per_user_month_eur=external_price_per_user_month_eur,
        )
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "profile"
            typer.echo(f"Invalid profile: {field}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc

    settings = Settings.model_validate({})
    knowledge = knowledge_dir or settings.knowledge_dir
    rules_file = rules_path or settings.rules_path or knowledge / "rules"
    try:
        rules = load_rules(rules_file, knowledge)
    except RulesError as exc:
        typer.echo(f"Cannot load scoring rules:\n{exc}", err=True)
        raise typer.Exit(1) from exc

    result = recommend(profile, rules)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        print_recommendation(result, Console())
