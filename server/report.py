"""Print a Recommendation as rich tables: tasks, costs, and the questions still open."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from server.scoring import CostFigure, Recommendation

_CONFIDENCE_DE = {"high": "hoch", "medium": "mittel", "low": "niedrig"}
_LABEL_STYLE = {"intern": "cyan", "hybrid": "yellow", "extern": "magenta"}
_SIDE_DE = {"internal": "intern", "external": "extern", "context": "Kontext"}


def print_recommendation(result: Recommendation, console: Console) -> None:
    """Tasks with label, score, confidence and top reason; then costs and open questions."""
    tasks = Table(
        title=f"IT-Aufgaben: intern, extern oder hybrid (Regeln {result.rules_version})",
        show_lines=True,
    )
    # On a narrow terminal the reason column wraps; task and recommendation stay readable.
    tasks.add_column("Aufgabe", style="bold", min_width=10, ratio=1, overflow="fold")
    tasks.add_column("Empfehlung", min_width=10, ratio=1)
    tasks.add_column("Score", justify="right", no_wrap=True)
    tasks.add_column("Konfidenz", no_wrap=True)
    tasks.add_column("Wichtigster Grund [Quelle]", min_width=16, ratio=3, overflow="fold")
    for task in result.tasks:
        top = task.reasons[0]
        more = f" (+{len(task.reasons) - 1} weitere)" if len(task.reasons) > 1 else ""
        tasks.add_row(
            task.title,
            f"[{_LABEL_STYLE[task.label]}]{task.display}[/]",
            f"{task.score:+.2f}",
            _CONFIDENCE_DE[task.confidence],
            f"{top.text} [dim]\\[{top.citation.doc_id}][/]{more}",
        )
    console.print(tasks)

    costs = Table(title="Kosten: nur Zahlen aus den Dokumenten oder Ihren Angaben")
    costs.add_column("Seite", no_wrap=True)
    costs.add_column("Angabe")
    costs.add_column("Wert", min_width=12)
    costs.add_column("Quelle", overflow="fold")
    for figure in [*result.costs.internal, *result.costs.external, *result.costs.context]:
        costs.add_row(
            _SIDE_DE[figure.side],
            figure.label + (" (trifft hier nicht zu)" if figure.applies is False else ""),
            _value(figure),
            _source(figure),
        )
    console.print(costs)
    for note in result.costs.notes:
        console.print(f"• {note}", highlight=False)

    if result.missing:
        console.print("\n[bold]Offene Fragen, die die Empfehlung ändern könnten:[/]")
        for fact in result.missing:
            console.print(
                f"• {fact.question_de} [dim](betrifft: {', '.join(fact.tasks)})[/]",
                highlight=False,
            )


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", ".")
    return f"{value:,.2f}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _value(figure: CostFigure) -> str:
    if figure.low is not None and figure.high is not None:
        amount = (
            _number(figure.low)
            if figure.low == figure.high
            else f"{_number(figure.low)}–{_number(figure.high)}"
        )
    elif figure.low is not None:
        amount = f"über {_number(figure.low)}"
    elif figure.high is not None:
        amount = f"bis zu {_number(figure.high)}"
    else:
        return f"„{figure.wording}“"
    return f"{amount} {figure.unit}"


def _source(figure: CostFigure) -> str:
    if figure.source == "user":
        return f"Ihre Angabe: {figure.basis}"
    assert figure.citation is not None  # document figures always carry their quote
    return f"„{figure.citation.quote}“ \\[{figure.citation.doc_id}]"
