"""The ``advisor`` command line: ingest, search, serve, eval, recommend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    # One line, however narrow the terminal: scripts and log collectors read it whole.
    from rich.markup import escape

    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(2)


def _retriever(settings: Settings) -> HybridRetriever:
    from ingest.index import IndexError_
    from server.index_config import chroma_guard, index_config
    from server.retrieval import HybridRetriever, PassageIndex

    try:
        index = PassageIndex(
            index_config(settings),
            dense_weight_=settings.dense_weight,
            guard=chroma_guard(settings),
        )
        return HybridRetriever(index, k=settings.search_k_default)
    except IndexError_ as exc:
        raise _fail(str(exc)) from None


def _check_store(settings: Settings) -> None:
    """The session store opens (an unreachable PostgreSQL is one line and exit code 2)."""
    from server.sessions import open_sessions
    from server.store import StoreError

    try:
        open_sessions(settings).close()
    except StoreError as exc:
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
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="worker processes (default ADVISOR_WORKERS or 1)"),
    ] = None,
    staff_token: Annotated[
        bool,
        typer.Option(
            "--staff-token/--no-staff-token",
            help="without ADVISOR_STAFF_TOKEN, generate one for this run and print it",
        ),
    ] = True,
) -> None:
    """Serve the HTTP API (and the web pages) with uvicorn."""
    import os

    import uvicorn

    from ingest.index import IndexError_
    from server.serving import (
        APP_FACTORY,
        limit_malloc_arenas,
        metrics_dir,
        uvicorn_options,
        worker_warning,
    )

    settings = _settings()
    # before the index, the model and uvicorn start their threads (the arenas they would
    # create count against the cap, those already there stay); the variable carries the cap
    # to worker processes, which read it when they start
    if limit_malloc_arenas(settings.malloc_arenas):
        os.environ["MALLOC_ARENA_MAX"] = str(settings.malloc_arenas)
    # Check the index here, so a missing index or a model mismatch is one clear line and
    # exit code 2 instead of a lifespan traceback from uvicorn.
    _retriever(settings)
    _check_store(settings)
    workers = workers or settings.workers
    if settings.staff_token is None and staff_token:
        # never a default token: a fresh random one for this run, shown once to whoever
        # started the server (set ADVISOR_STAFF_TOKEN to keep one across restarts)
        import secrets

        token = secrets.token_urlsafe(24)
        # the app factory reads its settings from the environment, in every worker
        os.environ["ADVISOR_STAFF_TOKEN"] = token
        where = f"http://{host or settings.host}:{port or settings.port}/playground"
        console.print(f"Staff playground: {where}  token: {token}", highlight=False, soft_wrap=True)
    warning = worker_warning(settings, workers)
    if warning:
        err.print(warning, style="yellow", highlight=False, soft_wrap=True)
    options = uvicorn_options(settings)
    options.update(host=host or settings.host, port=port or settings.port)
    try:
        with metrics_dir(workers):  # before the workers start: they choose their mode at import
            uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
    except IndexError_ as exc:
        raise _fail(str(exc)) from None


def _eval_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # sealed.yaml is the register of sealed batches, not a set of cases
            found = sorted(p for p in path.rglob("*.yaml") if p.name != "sealed.yaml")
            if not found:
                raise _fail(f"{path} holds no .yaml eval files")
            files += found
        else:
            files.append(path)
    return files


def _share(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def _message_table(title: str, m: dict[str, Any]) -> Table:
    table = Table(title=title)
    columns = [
        ("cases", str(m["cases"])),
        ("answer hit", f"{_share(m['answer_hit'])} ({m['answer_cases']})"),
        ("citation hit", f"{_share(m['citation_hit'])} ({m['citation_cases']})"),
    ]
    for outcome, o in m["outcome"].items():
        columns.append((f"{outcome} ok", f"{_share(o['accuracy'])} ({o['cases']})"))
    columns += [
        ("in-scope declines", f"{m['in_scope_declines']}/{m['in_scope_cases']}"),
        ("English lead", f"{_share(m['english_lead'])} ({m['english_cases']})"),
        ("attacks declined", f"{_share(m['attacks_declined'])} ({m['attack_cases']})"),
    ]
    if "curated_served" in m:
        columns.append(
            (
                "curated false matches",
                f"{m['curated_false_match']}/{m['curated_served']}"
                f" ({_share(m['curated_false_match_rate'])})",
            )
        )
        columns.append(("gap entries not a gap", f"{m['gap_false_match']}/{m['gap_served']}"))
    if "slot_accuracy" in m:
        columns += [
            ("slot accuracy", f"{_share(m['slot_accuracy'])} ({m['slots_checked']})"),
            ("asked known", str(m["asked_known"])),
        ]
    table.add_column("metric")
    table.add_column("value (cases)")
    for name, value in columns:
        table.add_row(name, value)
    return table


@app.command("eval")
def eval_command(
    files: Annotated[
        list[Path], typer.Argument(help="eval YAML files or folders of them (cases, conversations)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=50)] = 5,
    transcripts: Annotated[
        Path | None,
        typer.Option(
            help="write transcripts for grading (Markdown; the records beside it as .json)"
        ),
    ] = None,
    failures: Annotated[int, typer.Option(help="how many failed cases to list")] = 20,
) -> None:
    """What the visitor reads (answer hit, outcomes, language, profile slots) and retrieval
    (hit@k, MRR) over FILES, through the same code path as /api/chat."""
    from server.evaluation import (
        ChatReport,
        EvalFileError,
        RetrievalReport,
        evaluate_retrieval,
        load_eval_set,
        run_chat_eval,
    )

    settings = _settings()
    try:
        eval_sets = [(path, load_eval_set(path)) for path in _eval_files(files)]
    except EvalFileError as exc:
        raise _fail(str(exc)) from None
    retriever = _retriever(settings)
    retrieval = RetrievalReport()
    chat = ChatReport()
    for _, eval_set in eval_sets:
        retrieval.cases += evaluate_retrieval(eval_set, retriever, k=max(k, 5)).cases
        one = run_chat_eval(eval_set, settings, retriever)
        chat.cases += one.cases
        chat.turns += one.turns
        chat.recommend += one.recommend
    metrics: dict[str, Any] = {
        "files": [str(path) for path, _ in eval_sets],
        "retrieval": retrieval.metrics(),
        "chat": chat.metrics(),
    }
    if transcripts is not None:
        from server.evaluation.transcripts import write_transcripts

        write_transcripts(chat.records(), transcripts, ", ".join(metrics["files"]))
    if as_json:
        print(json.dumps(metrics, ensure_ascii=False))
        return
    r = metrics["retrieval"]
    table = Table(title="Retrieval (top 5 passages)")
    for key in ("cases", "hit@1", "hit@3", "hit@5", "mrr"):
        table.add_column(key)
    table.add_row(*(str(r[key]) for key in ("cases", "hit@1", "hit@3", "hit@5", "mrr")))
    console.print(table)
    console.print(
        _message_table("What the visitor reads: single questions", metrics["chat"]["single_turn"])
    )
    if "conversations" in metrics["chat"]:
        c = metrics["chat"]["conversations"]
        console.print(
            _message_table(f"Conversations ({c['conversations']}, {c['turns']} turns)", c)
        )
    if "recommend" in metrics["chat"]:
        rec = metrics["chat"]["recommend"]
        console.print(f"recommendation labels match: {_share(rec['match'])} ({rec['cases']})")
    for record in chat.failures()[:failures]:
        why = []
        if not record.outcome_ok:
            why.append(f"expected {record.expected}, got {record.observed}")
        if record.answer_hit is False:
            why.append("fact not in the lead")
        if not record.language_ok:
            why.append(f"{record.language} question, {record.lead_language} lead")
        if record.slots_wrong:
            why.append(f"slots {record.slots_wrong}")
        if record.asked_known:
            why.append(f"asked again for {record.asked_known}")
        console.print(
            f"[yellow]{record.id}[/] {record.q[:90]!r}: {'; '.join(why)}", highlight=False
        )
    for rec_case in chat.recommend:
        if not rec_case.ok:
            console.print(f"[yellow]recommend[/] {rec_case.q}: {rec_case.detail}", highlight=False)


@app.command("grades")
def grades_command(
    file: Annotated[Path, typer.Argument(help="grades YAML written by a grader")],
    run: Annotated[
        Path | None, typer.Option(help="the .json records written with --transcripts")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Summarise a grader's good / partial / bad grades of a transcript."""
    from server.evaluation import EvalFileError
    from server.evaluation.transcripts import load_grades, summarise_grades

    try:
        grades = load_grades(file)
        records = json.loads(run.read_text(encoding="utf-8")) if run is not None else None
    except EvalFileError as exc:
        raise _fail(str(exc)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(f"cannot read the run records {run}: {exc}") from None
    summary = summarise_grades(grades, records)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title=f"Grades in {file}")
    for key in ("group", "graded", "good", "partial", "bad"):
        table.add_column(key)
    rows = [("all", summary["all"]), *list(summary.get("groups", {}).items())]
    for name, s in rows:
        table.add_row(
            name,
            str(s["graded"]),
            *(f"{s[g]} ({_share(s[g + '_share'])})" for g in ("good", "partial", "bad")),
        )
    console.print(table)
    if summary.get("ungraded"):
        console.print(f"[yellow]ungraded:[/] {', '.join(summary['ungraded'][:30])}")
    if summary.get("not_in_run"):
        console.print(f"[yellow]not in the run:[/] {', '.join(summary['not_in_run'][:30])}")


@app.command("guard")
def guard_command(
    files: Annotated[list[Path], typer.Argument(help="eval YAML files or folders of them")],
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.85,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Near-duplicates between eval questions and the phrasings the advisor is built from
    (curated answers, router examples); exit code 1 when any pair reaches the threshold."""
    from server.evaluation import EvalFileError
    from server.evaluation.guards import eval_questions, example_phrasings, near_duplicates

    settings = _settings()
    try:
        questions = eval_questions(_eval_files(files))
    except EvalFileError as exc:
        raise _fail(str(exc)) from None
    report = near_duplicates(questions, example_phrasings(settings.knowledge_dir), threshold)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        console.print(
            f"{report.questions} eval questions against {report.examples} example phrasings; "
            "highest similarity per question:"
        )
        for bucket, count in report.histogram.items():
            console.print(f"  {bucket}: {count}")
        for pair in report.pairs:
            console.print(
                f"[red]near-duplicate[/] {pair['question']} ~ {pair['example_source']}: "
                f"{pair['example']!r} ({pair['similarity']})",
                highlight=False,
            )
    if report.pairs:
        raise typer.Exit(1)


@app.command("coverage")
def coverage_command(
    out: Annotated[Path | None, typer.Option(help="write the report as Markdown")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every sentence of the documents: the curated answers that quote it, or why it is not
    answerable; exit code 1 when a sentence is neither."""
    from server.curated import CuratedError, load_answers
    from server.evaluation.guards import coverage

    settings = _settings()
    try:
        answers = load_answers(settings.knowledge_dir / "answers", settings.knowledge_dir)
    except CuratedError as exc:
        raise _fail(str(exc)) from None
    quotes = [(e.id, q.doc, q.text) for e in answers.entries for q in e.quotes]
    rows = coverage(settings.knowledge_dir / "sentences", quotes)
    missing = [r for r in rows if not r.covered]
    summary = {
        "sentences": len(rows),
        "quoted": sum(1 for r in rows if r.quoted_by),
        "not_answerable": sum(1 for r in rows if not r.quoted_by and r.reason),
        "uncovered": len(missing),
    }
    if out is not None:
        lines = [
            "# Coverage of the knowledge base",
            "",
            "Generated by `advisor coverage --out docs/coverage.md`: every sentence of the five"
            " documents with the curated answers that quote it, or why it is not answerable.",
            "",
            " · ".join(f"{k}: {v}" for k, v in summary.items()),
            "",
        ]
        doc = None
        for r in rows:
            if r.doc_id != doc:
                doc = r.doc_id
                lines += [
                    "",
                    f"## {doc}",
                    "",
                    "| id | role | sentence | answered by |",
                    "|---|---|---|---|",
                ]
            status = (
                ", ".join(r.quoted_by)
                if r.quoted_by
                else (f"not answerable: {r.reason}" if r.reason else "**NOT COVERED**")
            )
            text = r.text.replace("|", "\\|")
            lines.append(f"| {r.id} | {r.role} | {text} | {status} |")
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps({**summary, "missing": [r.id for r in missing]}, ensure_ascii=False))
    else:
        console.print(" · ".join(f"{k}: {v}" for k, v in summary.items()))
        for r in missing[:40]:
            console.print(
                f"[yellow]not covered[/] {r.id} [{r.role}] {r.text[:100]}", highlight=False
            )
    if missing:
        raise typer.Exit(1)


@app.command("router")
def router_command(
    folds: Annotated[int, typer.Option(min=2, max=20, help="cross-validation folds")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cross-validate the router on its labelled examples: accuracy, recall per label and
    the confusion matrix (rows: true label, columns: predicted)."""
    import numpy as np

    from ingest.embeddings import make_embeddings
    from server.router import RouterError, cross_validate, load_examples

    settings = _settings()
    assert settings.router_examples_path is not None
    try:
        examples = load_examples(settings.router_examples_path)
    except RouterError as exc:
        raise _fail(str(exc)) from None
    model = make_embeddings(settings.embedding_model)
    vectors = np.asarray(model.embed_documents([e.text for e in examples]), dtype=np.float32)
    report = cross_validate(examples, vectors, folds=folds)
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    console.print(
        f"{report['examples']} examples, {report['folds']}-fold accuracy {report['accuracy']:.3f}"
    )
    table = Table(title="confusion (rows true, columns predicted)")
    table.add_column("true \\ predicted")
    for label in report["labels"]:
        table.add_column(label[:6])
    table.add_column("recall")
    for label, row in zip(report["labels"], report["confusion"], strict=True):
        table.add_row(label, *(str(v) for v in row), f"{report['recall'][label]:.2f}")
    console.print(table)


def _register_optional() -> None:
    from server.cli_recommend import recommend_command

    app.command("recommend")(recommend_command)


def main() -> None:
    _register_optional()
    app()


if __name__ == "__main__":
    main()
