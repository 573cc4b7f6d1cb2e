"""One module per kind of answer, each ``answer(ctx) -> Draft | None``; ``dispatch.choose``
picks one and says why."""
