"""Which kind of answer a message gets, and why.

The router's label (``server.router``) decides first; rules override it (a prompt injection
is an attack, an outage happening now goes to support), the conversation decides what a
follow-up refers to, and for a question the knowledge path tries, in order, a curated
answer, a passage answer, a clarifying question (only when the router is unsure and there is
no context), and finally "not covered". Every step writes its reason into ``draft.trace``.
"""

from __future__ import annotations

import itertools
import re

from ingest.sentences import split_text
from server.answers import (
    clarification,
    computed,
    costs,
    curated,
    decline,
    followup,
    passage,
    policy,
    recommendation,
    smalltalk,
    uncovered,
)
from server.answers.base import AnswerContext, Draft
from server.answers.common import contact_offer
from server.answers.subject import Subject, asked_part, subject_of
from server.compose import CitationRegistry

__all__ = ["choose", "knowledge"]

DECLINES = {"offtopic", "support", "attack"}
POLICIES = set(policy.TOPICS)
# The router must be this sure to decline: declining an answerable question is as bad as a
# wrong answer, so a doubtful message goes down the knowledge path, where "not covered" is
# the fallback.
DECLINE_CONFIDENCE = 0.5
POLICY_CONFIDENCE = 0.5
CLARIFY_BELOW = 0.35
# A curated answer this likely overrides a decline or policy label the router is not sure of;
# the router must be this sure to override it back.
STRONG_CURATED = 0.35
SURE_ROUTER = 0.85
# A curated answer matched with less probability than this must name most of a German
# question's nouns, as a passage answer must (tuned on the tuning and used sealed sets: at
# 0.2 it turned 2–3 false matches per set into "not covered" or a passage answer and lost no
# hit; with the phrasings grown to 7,700, 0.3 turns one more per set and loses none).
WEAK_CURATED = 0.3
# the learned probability from which an entry may answer a figure question that words one
# subject word differently, or an "ab wann" question without a number
SURE_ENTRY = 0.35
# Below the acceptance threshold, an entry this likely is still tried when nothing else
# answers (and must name the question's subject): tuned on the tuning and used sealed sets,
# where it answered 1–2 more questions per set and 0–1 silent ones.
DOUBTFUL_FLOOR = 0.04


def _states_what_is_asked(ctx: AnswerContext, draft: Draft) -> bool:
    """Whether ``draft`` answers what was asked. A question for an amount, a duration or a
    share is only answered by a text that states one, about the thing asked: "Was kostet eine
    Firewall?" is not answered by the managed service price per user, nor "Wie viel Prozent
    vom Umsatz …?" by the 62 % who outsource. Any other German question answered by document
    sentences (or by a doubtful curated match) must find most of its nouns named there. A
    refusal is noted in ``ctx.subject_missing``. A known gap passes: it says by name what
    the documents do not give."""
    if draft.trace.get("gap"):
        return True  # a known gap: its lead names what the documents do not give
    unit = _rate_unit(ctx.message)
    figure = _asks_for_figure(ctx.message)
    match = draft.trace.get("match") or {}
    sure = draft.module == "curated" and float(match.get("probability", 0.0)) >= SURE_ENTRY
    if figure and sure and not _asks_for_figure(_WHEN.sub(" ", ctx.message)):
        # "Ab wann sollte man einen IT-Profi dazuholen?" asks for a point in time, which an
        # entry the ranking is sure of may give without a number ("so früh wie möglich")
        figure = False
    if not figure:
        weak = draft.module == "curated" and float(match.get("probability", 1.0)) < WEAK_CURATED
        if (draft.module != "passage" and not weak) or ctx.english:
            # a curated entry matched with confidence rests on its many phrasings; a passage
            # sentence (or a doubtful entry) only on its words, and one naming little of a
            # German question's subject (its nouns: "Gibt es Förderprogramme …?" answered by
            # "Outsourcing bedeutet heute …") answers another question. An English question's
            # subject is every content word, which a translated sentence rarely repeats.
            return True
    text = " ".join(draft.pieces) if isinstance(draft.pieces, list) else ""
    draft.pieces = [text]
    if not figure:
        return _names_all(ctx, draft, _unanswered_subject(ctx, draft, text, lenient=True))
    if not passage.HAS_NUMBER.search(_without_question_numbers(ctx.message, text)):
        return False
    if unit is not None and not unit[1].search(text):
        return _names_all(ctx, draft, [unit[0]])
    missing = _unanswered_subject(ctx, draft, text, figure=True)
    if sure and len(missing) == 1 and len(subject_of(ctx.message, ctx.language).parts) >= 2:
        # an entry the learned ranking is sure of rests on its many phrasings: one word of
        # the subject it may leave out, when the documents use that word elsewhere ("Wie
        # viel Aufwand ist das in Mittelständlern im Schnitt?" is answered by the hours of
        # patching "im Mittelstand"); a thing they never name ("Ransomware") refuses it
        # (an English question's subject is every content word, and the documents' stems are
        # German, so English is exempt: "How long does it take to fill a position?")
        known = Subject([missing[0]], []).missing_from(ctx.bot.sentence_index.stems) == []
        # and only a word the entry's own phrasings use: "Was kostet eine Managed Firewall pro
        # Monat?" and "How much does managed print cost?" name a thing the price per user
        # is not for, though the documents name firewalls elsewhere
        if (known or ctx.english) and missing[0][:6].casefold() in _phrasing_stems(ctx, draft):
            draft.trace["subject_waived"] = missing[0]
            missing = []
    return _names_all(ctx, draft, missing)


_WHEN = re.compile(r"\bab wann\b", re.IGNORECASE)


def _phrasing_stems(ctx: AnswerContext, draft: Draft) -> set[str]:
    """The first six letters of every word of the served entry's example phrasings."""
    entry = ctx.bot.curated.by_id(str(draft.trace.get("entry", "")))
    if entry is None:
        return set()
    return {w[:6].casefold() for q in entry.questions for w in re.findall(r"\w+", q)}


def _names_all(ctx: AnswerContext, draft: Draft, missing: list[str]) -> bool:
    """True when nothing of the subject is ``missing``; else the refusal is noted in the
    draft's trace and in ``ctx`` (which then says "not covered" rather than asking back)."""
    if missing:
        draft.trace["subject_missing"] = missing
        ctx.subject_missing = missing
    return not missing


def _without_question_numbers(question: str, text: str) -> str:
    """The answer without its citation marks and without the names with numbers the question
    already has: "Microsoft 365", "ISO 27001" or "24/7" state no figure that was asked for."""
    text = re.sub(r"\[\d+\]", "", text)
    names = re.findall(r"\b[A-Z][a-zA-Z]*[\s-]\d+\b|\b\d+/\d+\b", question)
    for name in sorted(set(names), key=len, reverse=True):
        # "Microsoft-365-Lizenz" in the question, "Microsoft 365" in the answer
        pattern = re.escape(name).replace(r"\ ", "[\\s-]").replace("\\-", "[\\s-]")
        text = re.sub(pattern, " ", text)
    return text


# A price asked per hour, per server or per terabyte is not answered by a price per user:
# the answer must name the unit asked for.
_RATE_UNITS = {
    "hour": (
        re.compile(
            r"(stundensatz|stundenlohn|stundenpreis|pro stunde|je stunde|per hour|an hour|"
            r"hourly|/ ?h\b)",
            re.IGNORECASE,
        ),
        re.compile(
            r"(stundensatz|stundenlohn|(pro|je|per|/) ?(stunde|hour|h\b)|hourly)", re.IGNORECASE
        ),
    ),
    "day": (
        re.compile(
            r"(tagessatz|tagessätze|tagessaetze|\b(pro|je|per) tag\b|per day|day rate|"
            r"daily rate)",
            re.IGNORECASE,
        ),
        re.compile(
            r"(tagessatz|\b(pro|je|per|/|am) ?(tag|day)\b|day rate|daily|täglich|taeglich)",
            re.IGNORECASE,
        ),
    ),
    "device": (
        re.compile(r"\b(pro|je|per|/) ?(gerät|geraet|device|handy|smartphone)\b", re.IGNORECASE),
        re.compile(r"(gerät|geraet|device)", re.IGNORECASE),
    ),
    "server": (
        re.compile(r"\b(pro|je|per|/) ?server\b", re.IGNORECASE),
        re.compile(r"server", re.IGNORECASE),
    ),
    "storage": (
        re.compile(r"\b(pro|je|per|/) ?(tb|gb|terabyte|gigabyte)\b|\d+ ?(tb|gb)\b", re.IGNORECASE),
        re.compile(r"\b(tb|gb|terabyte|gigabyte|speicher\w*|storage)\b", re.IGNORECASE),
    ),
    "licence": (
        re.compile(
            r"\b(pro|je|per|/) ?(lizenz|licen[cs]e)|lizenzkosten|licen[cs]e (costs?|fees?)",
            re.IGNORECASE,
        ),
        re.compile(r"(lizenz|licen[cs]e)", re.IGNORECASE),
    ),
}


def _asks_for_figure(question: str) -> bool:
    """An amount, a duration, a share or a price per some unit."""
    return passage.wants_number(question) or _rate_unit(question) is not None


# "pro Gerät" is a figure's unit in "Was kostet das pro Gerät?", but a billing model in "Wie
# rechnen Dienstleister ab – pro Gerät oder pro Nutzer?"; "pro Tag" a rate in "Was kostet ein
# Berater pro Tag?", a frequency in "Wie oft pro Tag sollte ein Backup laufen?"
_PRICED_ONLY = frozenset({"device", "day"})


# "pro Stunde oder pauschal?", "Rechnen MSPs pro Stunde ab oder nach Aufwand?", "hourly, or
# per device?": a unit offered beside another billing option (up to two words away) asks how
# providers bill, not for a rate in that unit; a closing "oder?" only asks for agreement
_OR_AFTER = re.compile(r"^(?:\s+\w+){0,2}?[\s,;?!.–-]*\b(?:oder|or)\s+\w", re.IGNORECASE)
_OR_BEFORE = re.compile(r"\b(?:oder|or)\s+(?:\w+\s+){0,2}$", re.IGNORECASE)


def _rate_unit(question: str) -> tuple[str, re.Pattern[str]] | None:
    priced = passage.wants_number(question)
    for name, (asked, stated) in _RATE_UNITS.items():
        if name in _PRICED_ONLY and not priced:
            continue
        found = asked.search(question)
        if found is None:
            continue
        offered = _OR_AFTER.match(question[found.end() :]) or _OR_BEFORE.search(
            question[: found.start()]
        )
        if offered and not priced:
            continue
        return name, stated
    return None


def _figure_sentences(question: str, text: str) -> list[str]:
    """The sentences (and list items) of ``text`` that state a figure the question does not
    already have."""
    pieces = [p for s in split_text(text) for p in re.split(r";\s+|\n+", s)]
    return [p for p in pieces if passage.FIGURE.search(_without_question_numbers(question, p))]


def _unanswered_subject(
    ctx: AnswerContext, draft: Draft, text: str, lenient: bool = False, figure: bool = False
) -> list[str]:
    """The question's subject words that neither the answer nor what it rests on names. For
    a ``figure`` question only the sentences with a figure count, of the answer and of the
    passages it cites: "Was kostet eine Managed Firewall pro Monat?" is not answered by the
    price per user of a package, though the passage beside it names managed firewalls."""
    sources = _figure_sentences(ctx.message, text) if figure else [text]
    entry = (
        ctx.bot.curated.by_id(str(draft.trace.get("entry"))) if draft.trace.get("entry") else None
    )
    if entry is not None:
        # the entry's phrasings ask for its figure in the visitor's words
        sources += list(entry.questions)
        for quote in entry.quotes:
            sources += _figure_sentences(ctx.message, quote.text) if figure else [quote.text]
    # where it is from names it too: "Was steht im Glossar zu SLA?"
    for c in ctx.registry.citations:
        body = " ".join(_figure_sentences(ctx.message, c.text)) if figure else c.text
        if body:  # a passage without a figure names nothing for a figure question
            sources.append(f"{c.title} {c.heading} {body}")
    if not lenient:
        return subject_of(ctx.message, ctx.language).unanswered(sources)
    # for a document sentence: the documents' word for a thing names it ("Notebook" for
    # "Laptop"), and words naming the field itself ("Dienstleister", "Outsourcing") are no
    # subject it must repeat
    subject = _lenient_subject(ctx)
    if not subject.named_by_nouns:
        # without nouns ("Was empfehlt ihr?") the words left are verbs and fillers, not a
        # subject a sentence must repeat
        return []
    # more than half of it: a sentence naming "Systeme" answers "Was muss die
    # Geschäftsleitung festlegen, wenn ein Externer unsere Systeme betreut?"
    return subject.unanswered(sources, most=True, corpus=ctx.bot.sentence_index.stems)


def _lenient_subject(ctx: AnswerContext) -> Subject:
    """The question's subject with the documents' synonyms and without the field's words."""
    lexicon = ctx.bot.sentence_index.lexicon
    return subject_of(ctx.message, ctx.language, lexicon.synonyms, lexicon.domain)


_MONEY = re.compile(r"\d[\d.,]*\s*(?:€|eur\b|euro|k\b|tsd|tausend)|€\s*\d", re.IGNORECASE)


def _costs_name_the_subject(ctx: AnswerContext, draft: Draft) -> bool:
    """The company's cost figures answer "Was kostet uns das?" or "Was würde der Helpdesk
    extern kosten?", not "Mit welchen Kosten für eine Cyberversicherung müssen wir rechnen?":
    those figures are for IT staff and managed services."""
    if any(ctx.state.profile.get(f) is not None for f in costs.USER_PRICES) or _MONEY.search(
        ctx.message
    ):
        return True  # the visitor's own prices: the computation is what was asked
    text = "".join(draft.pieces)
    draft.pieces = [text]
    # the figures' lines and what they are about; not the whole passages they cite, which
    # mention much besides ("Cyberversicherer fordern Nachweise …")
    synonyms = ctx.bot.sentence_index.lexicon.synonyms
    subject = subject_of(ctx.message, ctx.language, synonyms)
    if _names_all(ctx, draft, subject.unanswered([text, ctx.templates.cost_scope])):
        return True
    ctx.registry = CitationRegistry()  # a draft not taken leaves no citations behind
    return False


def _about_the_company(ctx: AnswerContext) -> bool:
    return bool(ctx.understanding.facts) or ctx.route.label == "company"


# Legal advice and provider names are asked for in words of their own; without them the
# router's "legal" or "provider" is a question the documents answer ("Was muss im Vertrag
# stehen?", "Worauf achte ich bei der Auswahl?").
_POLICY_WORDS = {
    "legal": re.compile(
        r"(recht|gesetz|haft|wirksam|klausel|erlaubt|zulässig|zulaessig|verboten|anwalt|"
        r"jurist|gericht|klage|abmahn|bußgeld|bussgeld|strafbar|legal|law|liab|lawful|allowed|"
        r"court|sue|attorney|lawyer|permitted|fine[sd]\b|darf|dürfen|duerfen|pflicht|"
        r"verpflicht|vorgeschrieben|bestellen|required by law|obliged|obligat|mandatory|dsgvo|"
        r"gdpr|fristlos|außerordentlich|ausserordentlich|terminat)",
        re.IGNORECASE,
    ),
    "provider": re.compile(
        # "better off with external IT" compares ways of running IT, not providers
        r"(empfehl|nenn|\bbeste[nrms]?\b|besser(?!\s+(?:dran|mit|aufgehoben|bedient))|"
        r"better(?!\s+(?:off|with|served|suited))|günstigste|guenstigste|billigste|\btop\b(?! of)|"
        r"liste|kennst|kennen sie|vergleich|ranking|"
        r"welche[nrs]? (?:[\w-]+-)?(?:firma|anbieter|dienstleister|msp|systemhaus)|"
        r"recommend|\bnam(?:e|en|es)\b|\bbest\b|cheapest|which (?:company|provider|msp)|compare|"
        r"\bvs\.?\b|oder (?:die )?firma|in der nähe|\bnear\b|"
        # a place ("in Stuttgart", "in münchen"): no question word ("In welchem Jahr?"), no
        # article or pronoun ("in der Cloud", "in the end") and no "in general"
        r"\bin (?!(?:welche[mnrs]?|wie|der|die|das|den|dem|des|ein\w*|unser\w*|ihr\w*|the|a|"
        r"an|our|your|general|total|house|practice|particular|short)\b)\w+)",
        re.IGNORECASE,
    ),
    # "Spricht etwas dagegen, dass wir die IT vorerst selbst betreuen?" asks for the
    # documents' view, not for a promise
    "guarantee": re.compile(
        r"(garant|zusicher|zusag|versprech|verbindlich|gewähr|gewaehr|haften|sicher sein|"
        # the separable verb ("Sichern Sie mir … zu") and a promise on paper
        # ("zu" ends the clause: "sichern wir die Daten bis zu 30 Tage" promises nothing)
        r"\bsicher(?:n|t) (?:sie |ihr |du )?(?:\w+ ){0,8}zu\b(?=\s*(?:,|dass|\?|$))|"
        r"zugesichert|schriftlich|in writing|"
        r"sicherstellen|ausschließen|ausschliessen|nie wieder|niemals|immer|100 ?%|hundert|"
        r"promise|guarantee|assur|warrant|ensure|certain|definitely|never|always|commit|"
        r"sure that|rule out)",
        re.IGNORECASE,
    ),
}


_SUPPORT_WORDS = re.compile(
    r"(wie (?:richte|konfigurier|installier|stell|setz|änder|aender|lösch|loesch|verbind|"
    r"behebe|reparier|mach)|einricht|konfigur|installier|funktioniert nicht|geht nicht|"
    r"fehler|fehlermeldung|error|fehlgeschlagen|schl(?:ä|ae)gt (?:\w+ ){0,6}fehl\b|failed|"
    r"warnung|warning|degraded|how (?:do|can|to) (?:i|we) (?:set|configure|install|reset|fix|"
    r"repair|connect|restore|add|remove|update|change|enable|disable|unlock|recover|delete|"
    r"enforce|activate|turn (?:on|off)|block|assign|grant|map|log ?in|sign ?in)|"
    r"set ?up|configure|install|reset|"
    r"not working|doesn't work|does not work|won't|broken|kaputt|abgestürzt|abgestuerzt|"
    r"druckt nicht|startet nicht|vergessen|zurücksetzen|zuruecksetzen|\bnas\b|vlan|router|"
    r"\bswitch(?:es)?\b(?!\s+(?:to|from|over|providers?|anbieter|dienstleister))|"
    r"drucker|printer|outlook|treiber|driver|wlan|wifi|vpn|firewall-regel|"
    r"\bports?\b|passwort|password|virus|gehackt|hacked|"
    r"(?:is|are|went|goes|ist|sind) (?:\w+ )?down\b|offline|langsam|slow|"
    r"f(?:ä|ae)hrt nicht (?:mehr )?hoch|piept|blue ?screen|\bst(?:ü|ue)rzt|\babsturz|friert)",
    re.IGNORECASE,
)


# A request for a call or a meeting with a person (the contact policy's own words).
_CALL_BACK = re.compile(
    r"(r(?:ü|ue)ckruf|zur(?:ü|ue)ckrufen|ruf(?:en sie|t)? (?:\w+ )?(?:mich|uns)(?: \w+){0,2} an\b|"
    r"anrufen|\btermin(?:e|en)?\b|terminvereinbarung|call (?:me|us)(?: back)?|"
    r"give (?:me|us) a (?:call|ring)|call-?back|appointment)",
    re.IGNORECASE,
)


# Hands-on help with one device or account right now: support, however close a curated answer
# about the same product comes ("neuen Benutzer in Microsoft 365 anlegen – wo klicke ich?").
_HANDS_ON = re.compile(
    r"(wo (?:klicke?|finde|stelle|trage) ich|wie (?:lege|richte|stelle|installiere|konfiguriere|"
    r"setze|verbinde|aktiviere|entsperre|lösche|loesche) ich (?:\w+ ){0,4}(?:benutzer|konto|"
    r"account|drucker|postfach|e-mail|mail|outlook|vpn|wlan|router|firewall|rechner|pc|laptop|"
    r"server|lizenz|passwort|nas|freigabe|treiber)|papierstau|druckt nicht|"
    r"startet nicht|fährt nicht hoch|faehrt nicht hoch|zeigt (?:\w+ ){0,3}(?:fehler|an)\b|"
    r"fehlermeldung|funktioniert (?:seit \w+ )?nicht|geht (?:seit \w+ )?nicht mehr|"
    r"(?:hängt|haengt|steckt) (?:\w+ ){0,4}(?:fest|bei \d+)|bleibt (?:\w+ ){0,3}hängen|"
    r"is stuck|got stuck|hangs at|frozen at|"
    r"where do i click|how do i (?:set up|configure|install|reset|add|create|unlock|connect)|"
    r"error message|keeps crashing|won't (?:start|print|connect)|"
    # settings in a product: "Welche Einstellungen brauche ich in Veeam …?", "Was muss ich im
    # Admin Center umstellen?"
    r"welche einstellungen (?:brauche|muss|sollte|soll) ich (?:in|im|bei|für) (?!(?:dem |den )?"
    r"vertrag)|"
    r"was muss ich (?:im |in |bei )(?!(?:dem |den )?(?:vertrag|chat|gespräch))(?:\w+ ){1,3}"
    r"(?:umstellen|einstellen|konfigurieren|anklicken)|"
    r"which settings do i need in|what (?:do|should) i (?:change|configure) in (?!the contract))",
    re.IGNORECASE,
)


def _decline_worded(ctx: AnswerContext, label: str) -> bool:
    """Off-topic has no IT-sourcing words; a support request asks for hands-on help. Without
    that, the router's decline label is doubted and the knowledge path answers."""
    from server.understand import in_domain

    if label == "offtopic":
        return not in_domain(ctx.message) and ctx.understanding.intent != "recommend"
    if label == "support":
        # a router this sure needs no word of its own: "RAID degraded – what should I do?",
        # "Wie spiele ich ein Veeam-Backup zurück?" name a device, not a support word
        return ctx.route.confidence >= SURE_ROUTER or bool(_SUPPORT_WORDS.search(ctx.message))
    return True


def _curated_likely(ctx: AnswerContext, probability: float) -> bool:
    if not ctx.bot.curated_enabled:
        return False
    match = curated.best_match(ctx)
    return match is not None and match.probability >= probability


def _policy_worded(message: str, label: str) -> bool:
    pattern = _POLICY_WORDS.get(label)
    return pattern is None or bool(pattern.search(message))


# "Wie oft sollten wir die Aufteilung überprüfen?" names the split between in-house and
# external, but asks when or how often, which the documents answer in a sentence.
_NOT_THE_SPLIT = re.compile(
    r"\b(wie oft|wie häufig|wie haeufig|in welchen abständen|in welchen abstaenden|wann|"
    r"how often|how frequently|when)\b",
    re.IGNORECASE,
)


# "Spreche ich mit einem Menschen oder einem automatisierten System?" asks what the advisor is,
# whatever document sentence about automation happens to match.
_ABOUT_ADVISOR = re.compile(
    r"\b(?:bist du|sind sie|spreche ich|rede ich|chatte ich|schreibe ich|am i (?:talking|"
    r"speaking|chatting)|are you)\b.{0,80}\b(?:mensch\w*|bot|chatbot|ki|künstlich\w*|"
    r"kuenstlich\w*|automatisiert\w*|maschine|roboter|echte[rn]? (?:person|berater\w*|"
    r"mitarbeiter\w*)|human|real person|an? ai|robot|machine|automated)\b",
    re.IGNORECASE,
)
# "Welches Sprachmodell steckt hinter diesem Chat?" asks the same
_ABOUT_MODEL = re.compile(
    r"\b(?:welche[sr]?|was für ein|which|what)\s+(?:\w+\s+)?(?:sprachmodell|ki-modell|modell|"
    r"language model|ai model|model|llm)\s+(?:steckt (?:\w+ )?hinter (?:dem|diesem|dir|ihnen)|"
    r"(?:is )?behind (?:this|the|you)|(?:bist du|sind sie|are you)|(?:do you|nutzt du|nutzen sie|"
    r"verwendest du|verwenden sie) ?(?:use|nutzen|verwenden)?\b)",
    re.IGNORECASE,
)


def _one_question(ctx: AnswerContext) -> bool:
    from server.understand import asks_about_all_tasks, is_question

    if not is_question(ctx.message):
        return False
    return not asks_about_all_tasks(ctx.message) or bool(_NOT_THE_SPLIT.search(ctx.message))


def _asked_first(ctx: AnswerContext) -> Draft | None:
    """The curated answer to the question a company message asks ("Wir haben 80 Mitarbeiter.
    Ist es sinnvoll, den First-Level-Support intern vorzuhalten?"), to lead the fitted
    recommendation: a consultant answers what was asked before the table. Called before the
    recommendation's pieces are drawn, so its citations are numbered first."""
    from server.understand import is_question

    if not ctx.bot.curated_enabled or not is_question(ctx.message):
        return None
    # the whole message only: its question alone ("Was sollten wir auslagern?", "Wie sollten
    # wir die IT aufstellen?") is often the request for the table itself
    return _curated_for_question(ctx, question_alone=False, siblings=False)


def _curated_for_question(
    ctx: AnswerContext, question_alone: bool = True, siblings: bool = True
) -> Draft | None:
    """The curated answer to the message, or else (``question_alone``) to the sentences in
    it that ask: in "Ich bereite eine Präsentation für die Geschäftsleitung vor. Warum
    scheitern Outsourcing-Projekte oft?" the preamble's words pull the match away from the
    question."""
    draft = curated.answer(ctx, siblings=False)
    if draft is not None and _states_what_is_asked(ctx, draft):
        # the first entry is judged alone, so a sibling's words (or, for a figure question,
        # its number) never answer for it; the sibling would also lengthen what stands
        # before the advice for a company
        if siblings and not _asks_for_figure(ctx.message):
            ctx.registry = CitationRegistry()
            return curated.answer(ctx, siblings=True) or draft
        return draft
    ctx.registry = CitationRegistry()  # a draft not taken leaves no citations behind
    if not question_alone:
        return None
    asked = asked_part(ctx.message)
    if asked == ctx.message or len(asked.split()) < 3 or _about_the_company(ctx):
        # after the company's own facts, the question alone ("Was empfehlt ihr?", "Wie
        # sollten wir die IT aufstellen?") asks for the advice fitted to them, not an entry
        return None
    match = curated.best_match(ctx, query=asked)
    if match is None or not match.accepted():
        return None
    draft = curated.answer_entry(
        ctx,
        match.entry,
        trace={"match": match.to_json(), "matched": "the question"},
        match=match,
    )
    if draft is not None and _states_what_is_asked(ctx, draft):
        return draft
    ctx.registry = CitationRegistry()
    return None


def _answer_then_advice(first: Draft, advice: Draft, offer: str = "") -> Draft:
    """The answer to the question, then the recommendation (which keeps its follow-ups, the
    question it asks and what the next turn may refer to). A known gap's contact ``offer``
    would stand in the middle: it goes."""
    pieces = list(first.pieces)
    if first.trace.get("gap") and offer:
        pieces = [str(p).replace(offer, "").rstrip() for p in pieces]
    advice.pieces = itertools.chain(pieces, ["\n\n"], advice.pieces)
    advice.trace = {
        **advice.trace,
        "answered_first": first.trace.get("entry"),
        **({"answered_first_gap": True} if first.trace.get("gap") else {}),
    }
    return advice


def _with(draft: Draft, reason: str, ctx: AnswerContext) -> Draft:
    draft.trace = {"route": ctx.route.to_json(), "why": reason, **draft.trace}
    return draft


def _knowledge_or_none(ctx: AnswerContext) -> Draft | None:
    """A curated answer, else a passage answer, when one states what is asked."""
    if ctx.bot.curated_enabled:
        draft = _curated_for_question(ctx)
        if draft is not None:
            draft.trace["why"] = "a curated answer matches"
            return draft
        draft = _agreed_curated(ctx)
        if draft is not None:
            draft.trace["why"] = "both similarity rankings put one curated answer first"
            return draft
    draft = passage.answer(ctx)
    if draft is not None and _states_what_is_asked(ctx, draft):
        draft.trace["why"] = "a document sentence answers it"
        return draft
    ctx.registry = CitationRegistry()
    return _doubtful_curated(ctx)


# "Security und Backup – gilt da die gleiche Empfehlung?", "Unterschied Helpdesk vs.
# IT-Projekte?", "cloud infrastructure vs custom software – which one to keep?": the task
# matrix's rows for the tasks named. Not "im Vergleich" or "difference" alone: they compare
# costs ("Stromkosten im Vergleich zur Cloud") or ask when a change shows.
_COMPARES = re.compile(
    r"\bunterschied\w*|\bvs\b\.?|\bversus\b|\bgleiche\w* empfehlung|"
    r"\bwhich one\b|\bwelche[sr]? (?:davon|von beiden)\b|\bsame (?:advice|recommendation)\b|"
    r"\bdifference between\b|\beach of them\b",
    re.IGNORECASE,
)


# "Welcher Anbieter ist besser für Backup vs. Security?" compares providers
_PROVIDER_NOUNS = re.compile(
    r"anbieter|dienstleister|\bmsps?\b|firma|firmen|systemh[aä]us|provider|vendor|compan",
    re.IGNORECASE,
)


def _compares_tasks(ctx: AnswerContext) -> bool:
    u = ctx.understanding
    return (
        u.intent == "fact"
        and len(u.tasks) >= 2
        and bool(_COMPARES.search(ctx.message))
        and not _PROVIDER_NOUNS.search(ctx.message)
        # "Was kostet Helpdesk vs. Backup?", "Backup vs Security – who is liable?" ask
        # for a figure or for the law, not for the advice
        and not _asks_for_figure(ctx.message)
        and not any(_policy_worded(ctx.message, t) for t in ("legal", "guarantee"))
    )


def _agreed_curated(ctx: AnswerContext) -> Draft | None:
    """The top answer entry below the learned ranking's threshold when both similarity
    rankings put it first ("Warum sollte man Strategie nicht abgeben?": the strategy row of
    the task matrix). On the tuning sets this served 12 questions that had no curated answer:
    the entry states the fact for 9 of them, the passage answer it replaced for 6, and it
    took the fact from none."""
    match = curated.best_match(ctx)
    if match is None or match.accepted() or not match.agreed or match.entry.kind != "answer":
        return None
    draft = curated.answer_entry(
        ctx, match.entry, trace={"match": match.to_json(), "matched": "agreed"}, match=match
    )
    if draft is not None and _states_what_is_asked(ctx, draft):
        return draft
    ctx.registry = CitationRegistry()
    return None


def _doubtful_curated(ctx: AnswerContext) -> Draft | None:
    """The best curated entry below the acceptance threshold, when nothing else answers a
    German question and the entry names most of its nouns, as a passage answer must: "Nach
    was für Kriterien sucht man sich denn nen IT-Dienstleister aus?" is answered by the
    selection criteria, not "not covered". A message the router would decline gets none."""
    if not ctx.bot.curated_enabled or ctx.english or ctx.route.label in DECLINES:
        return None
    match = curated.best_match(ctx)
    if match is None or match.accepted() or match.probability < DOUBTFUL_FLOOR:
        return None
    if match.entry.kind == "gap":
        return None  # a doubtful "not covered" would refuse what the passages may answer
    if not _lenient_subject(ctx).named_by_nouns:
        return None  # nothing it must name, so nothing to check a doubtful match against
    draft = curated.answer_entry(
        ctx, match.entry, trace={"match": match.to_json(), "matched": "doubtful"}, match=match
    )
    if draft is None:
        return None
    refused_before = ctx.subject_missing
    if _states_what_is_asked(ctx, draft):
        draft.trace["why"] = "a doubtful curated answer names what is asked"
        return draft
    # its refusal says nothing about the question ("not covered" or asking back stay open)
    ctx.subject_missing = refused_before
    ctx.registry = CitationRegistry()
    return None


def knowledge(ctx: AnswerContext, reason: str) -> Draft:
    """Curated answer, else passage answer, else clarification or "not covered"."""
    draft = _knowledge_or_none(ctx)
    if draft is not None:
        return _with(draft, f"{reason}; {draft.trace.pop('why')}", ctx)
    from server.understand import in_domain

    if ctx.route.label in DECLINES and not in_domain(ctx.message):
        # no curated answer, no sentence, and nothing of IT sourcing in it: off-topic after all
        return _with(
            decline.answer(ctx, ctx.route.label),  # type: ignore[arg-type]
            f"{reason}; nothing answers it and it is not about IT sourcing",
            ctx,
        )
    unsure = ctx.route.confidence < CLARIFY_BELOW
    # a figure question is clear enough: the documents lack that figure, and saying so helps
    # more than asking back; so is a question whose subject no answer names ("Gibt es
    # Förderprogramme vom Staat …?"): asking back would not make the documents name it
    clear = _asks_for_figure(ctx.message) or bool(ctx.subject_missing)
    if unsure and not clear and not ctx.previous and ctx.bot.curated_enabled:
        draft = clarification.answer(ctx)
        if draft is not None:
            return _with(draft, f"{reason}; router unsure, no context: ask back", ctx)
    return _with(uncovered.answer(ctx), f"{reason}; no curated answer or sentence fits", ctx)


def choose(ctx: AnswerContext) -> Draft:
    u, route = ctx.understanding, ctx.route
    label = route.label
    if u.injection:
        return _with(decline.answer(ctx, "attack"), "injection rule", ctx)
    if u.urgent:
        return _with(decline.answer(ctx, "urgent"), "outage happening now", ctx)
    if u.intent == "out_of_scope" and not _curated_likely(ctx, STRONG_CURATED):
        # the rules know off-topic requests (weather, jokes, cooking) the router may doubt
        kind = "support" if label == "support" else "offtopic"
        return _with(decline.answer(ctx, kind), "out-of-scope rule", ctx)  # type: ignore[arg-type]
    if _ABOUT_ADVISOR.search(ctx.message) or _ABOUT_MODEL.search(ctx.message):
        # what the advisor is, not what it keeps (the topic's other entry)
        draft = policy.answer(ctx, "about", prefer="policy-about")
        if draft is not None:
            return _with(draft, "asks what the advisor is", ctx)
    expecting = ctx.state.expecting
    if expecting and expecting in u.facts:
        # "45", "yes", "55 Euro": the answer to the question the advisor just asked
        module = costs if expecting.endswith("_eur") else recommendation
        return _with(module.answer(ctx), f"the answer to the question for {expecting}", ctx)
    if label == "followup" and ctx.previous:
        draft = followup.answer(ctx)
        if draft is not None:
            return _with(draft, f"follow-up to a {ctx.previous.get('module')} answer", ctx)
    if label in ("support", "provider") and _HANDS_ON.search(ctx.message):
        # product names ("Veeam", "Synology") read as provider names to the router
        return _with(decline.answer(ctx, "support"), f"router: {label}, hands-on request", ctx)
    # a price the visitor is offered is the cost module's computation
    offered = any(name in u.facts for name in costs.USER_PRICES)
    # "3 Ausfälle – wie viel Schadenersatz können wir einklagen?" asks for the legal policy
    legal = _policy_worded(ctx.message, "legal")
    draft = None if offered or legal else computed.answer(ctx)
    if draft is not None:
        # "3 Ausfälle – was wär das mit eurem Durchschnittswert?": a count of what a document
        # figure is per, about that figure, asking how much; whatever the router's label
        return _with(draft, f"the visitor's number scales a figure ({draft.trace['rate']})", ctx)
    if _compares_tasks(ctx):
        # whatever the router makes of "… vs …" ("provider" for "which one to outsource")
        return _with(
            recommendation.answer(ctx, focus=u.tasks), "compares the advice for named tasks", ctx
        )
    if label in DECLINES or label in POLICIES:
        match = curated.best_match(ctx) if ctx.bot.curated_enabled else None
        strong = (
            match is not None
            and match.entry.kind == "answer"  # a gap does not outweigh the legal policy
            and match.probability >= STRONG_CURATED
            and route.confidence < SURE_ROUTER
            # "Rückruf bitte, bin bis 17 Uhr erreichbar" asks for a person, whatever entry
            # its hours bring up
            and not (label == "contact" and _CALL_BACK.search(ctx.message))
        )
        if (
            label in DECLINES
            and route.confidence >= DECLINE_CONFIDENCE
            and not strong
            and _decline_worded(ctx, label)
        ):
            return _with(decline.answer(ctx, label), f"router: {label}", ctx)  # type: ignore[arg-type]
        if (
            label in POLICIES
            and route.confidence >= POLICY_CONFIDENCE
            and not strong
            and _policy_worded(ctx.message, label)
        ):
            draft = policy.answer(ctx, label)
            if draft is not None:
                return _with(draft, f"router: {label}", ctx)
        return knowledge(ctx, f"router: {label}, but unsure or a curated answer fits")
    if label == "smalltalk" and (u.intent == "smalltalk" or route.confidence >= 0.6):
        return _with(smalltalk.answer(ctx), "router: small talk", ctx)
    has_company = bool(ctx.state.profile)
    # a price the visitor states in this message ("Ein Anbieter will 45 € pro User und Monat")
    # asks for the computation (above), whatever the router makes of the sentence around it
    if label == "costs" or (u.intent == "recommend" and u.costs) or offered:
        if has_company:
            draft = costs.answer(ctx)
            if _costs_name_the_subject(ctx, draft):
                return _with(draft, "own costs, with a profile", ctx)
            return knowledge(ctx, "a cost question about something the cost figures do not name")
        return knowledge(ctx, "a cost question without company facts")
    if label == "company" or u.intent == "recommend":
        # "Wir haben 45 Rechner, lohnt sich eine eigene IT-Abteilung?" asks one question the
        # documents answer; "Was sollen wir auslagern?" asks for the whole recommendation, and
        # "Sollten wir das Backup auslagern?" for the recommendation of one task.
        if _one_question(ctx) and not u.focus:
            draft = _knowledge_or_none(ctx)
            if draft is not None:
                return _with(draft, "one question about the company the documents answer", ctx)
            figure = _asks_for_figure(ctx.message) and not u.costs and label != "costs"
            if ctx.subject_missing or figure:
                # "Wir müssen 30 Laptops erneuern. Ist Leasing oder Kauf sinnvoller?" asks
                # what the documents never name, "Wie viel Vorlauf braucht ein MSP?" for a
                # figure they lack; the table of tasks would answer another question
                return _with(
                    uncovered.answer(ctx), "one question about the company, not covered", ctx
                )
        if has_company or u.intent == "recommend":
            first = _asked_first(ctx)
            draft = recommendation.answer(ctx)
            if first is not None:
                return _with(
                    _answer_then_advice(first, draft, contact_offer(ctx)),
                    "the visitor's own company; a curated answer to the question first",
                    ctx,
                )
            return _with(draft, "the visitor's own company", ctx)
        return knowledge(ctx, "router: company, but no facts")
    if label == "followup" and ctx.state.profile and ctx.previous:
        draft = followup.answer(ctx)
        if draft is not None:
            return _with(draft, "follow-up, profile known", ctx)
    return knowledge(ctx, f"router: {label}")
