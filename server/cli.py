"""The ``advisor`` command line: ingest, search, serve, eval, recommend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from server.settings import Settings

if TYPE_CHECKING:
    from server.retrieval import HybridRetriever

app = typer.Typer(
    help="IT-Outsourcing-Berater: answers from the knowledge base, with citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(
            f"[red]configuration error:[/] ADVISOR_{str(first['loc'][0]).upper()}: {first['msg']}"
        )
        raise typer.Exit(2) from None


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(2)


def _retriever(settings: Settings) -> HybridRetriever:
    from ingest.index import IndexError_
    from server.index_config import index_config
    from server.retrieval import HybridRetriever, PassageIndex

    try:
        return HybridRetriever(PassageIndex(index_config(settings)), k=settings.search_k_default)
    except IndexError_ as exc:
        raise _fail(str(exc)) from None


@app.command()
def ingest(
    folder: Annotated[
        Path | None, typer.Argument(help="folder with .md/.txt/.pdf/.html files")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Load, split, embed and index the documents in FOLDER (default: knowledge/)."""
    from ingest.index import IndexError_
    from ingest.index import ingest as run_ingest
    from server.index_config import index_config

    settings = _settings()
    folder = folder or settings.knowledge_dir
    if not folder.is_dir():
        raise _fail(f"{folder} is not a folder")
    show_bar = not as_json and err.is_terminal
    with Progress(
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not show_bar,
        transient=True,
    ) as progress:
        task = progress.add_task("embed", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            result = run_ingest(folder, index_config(settings), progress=report)
        except IndexError_ as exc:
            raise _fail(str(exc)) from None
    for error in result.errors:
        err.print(f"[yellow]skipped[/] {error.path}: {error.reason}")
    summary = result.summary()
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    console.print(
        f"{summary['documents']} documents, {summary['chunks']} chunks: "
        f"{summary['added']} added, {summary['updated']} updated, {summary['removed']} removed, "
        f"{summary['unchanged']} unchanged ({summary['embedded']} embedded) "
        f"in {summary['seconds']:.1f} s"
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="the question")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="how many passages")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the passages the advisor would cite for QUERY."""
    settings = _settings()
    query = query.strip()
    if not query:
        raise _fail("the query is empty")
    if len(query) > settings.max_query_chars:
        raise _fail(f"the query is too long (at most {settings.max_query_chars} characters)")
    passages = _retriever(settings).retrieve(query, k)
    if as_json:
        print(json.dumps({"passages": [p.model_dump() for p in passages]}, ensure_ascii=False))
        return
    for n, p in enumerate(passages, 1):
        console.rule(f"[{n}] {p.title} › {p.heading}  (fused {p.scores.fused:.4f})", align="left")
        console.print(p.text, markup=False, highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Serve the HTTP API (and the web pages) with uvicorn."""
    import uvicorn

    from ingest.index import IndexError_
    from server.app import create_app

    settings = _settings()
    # Check the index here, so a missing index or a model mismatch is one clear line and
    # exit code 2 instead of a lifespan traceback from uvicorn.
    _retriever(settings)
    try:
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
            access_log=False,  # query strings carry user questions: keep them out of logs
        )
    except IndexError_ as exc:
        raise _fail(str(exc)) from None


@app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="eval YAML (retrieval / out_of_scope / recommend)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=50)] = 5,
) -> None:
    """Measure retrieval (hit@k, MRR) and chat metrics (citations, declines, labels) on FILE."""
    from server.evaluation import (
        EvalFileError,
        evaluate_retrieval,
        load_eval_set,
        run_chat_eval,
    )

    settings = _settings()
    try:
        eval_set = load_eval_set(file)
    except EvalFileError as exc:
        raise _fail(str(exc)) from None
    retriever = _retriever(settings)
    report = evaluate_retrieval(eval_set, retriever, k=max(k, 5))
    chat_report = run_chat_eval(eval_set, settings, retriever)
    metrics = {"retrieval": report.metrics(), "chat": chat_report.metrics()}
    if as_json:
        print(json.dumps(metrics, ensure_ascii=False))
        return
    table = Table(title=f"Retrieval over {file}")
    for key in ("cases", "hit@1", "hit@3", "hit@5", "mrr"):
        table.add_column(key)
    table.add_row(
        *(str(metrics["retrieval"][k_]) for k_ in ("cases", "hit@1", "hit@3", "hit@5", "mrr"))
    )
    console.print(table)
    misses = [c for c in report.cases if c.rank is None or c.rank >= 5]
    for case in misses:
        console.print(f"[yellow]miss[/] {case.q}", markup=True, highlight=False)
    chat_table = Table(title=f"Chat over {file}")
    for key in metrics["chat"]:
        chat_table.add_column(key)
    chat_table.add_row(*(str(v) for v in metrics["chat"].values()))
    console.print(chat_table)
    for failure in chat_report.failures():
        console.print(f"[yellow]chat miss[/] {failure.q} ({failure.detail})", highlight=False)


def _register_optional() -> None:
    from server.cli_recommend import recommend_command

    app.command("recommend")(recommend_command)


def main() -> None:
    _register_optional()
    app()


if __name__ == "__main__":
    main()
