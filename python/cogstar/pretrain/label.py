"""Label documents: the four behavior counts, and whether a document holds a problem and a solution.

Two labellers share one output format (:class:`~cogstar.pretrain.Label`, one JSON line per
document):

* ``heuristic`` (:func:`heuristic_label`): rules over sentences, offline and instant; good for
  a first pass over millions of pages, for tests and for demos;
* ``llm`` (:func:`label_requests`, :func:`parse_label`): five questions to a judge model per
  document, one per behavior with a math-flavoured definition and examples, answered as
  ``<count>N</count>``, and one about problem and solution, answered as
  ``<problem>yes|no</problem><solution>yes|no</solution>``. The paper's judge for this step was
  Qwen-2.5-32B-Instruct; any :class:`~cogstar.llm.Backend` works.

:func:`label_documents` runs either over a stream of documents, appending each label to a JSONL
file as it goes; run it again after a crash or a kill and it skips the ids already there::

    from cogstar.llm import OpenAIBackend
    from cogstar.pretrain.label import label_documents
    from cogstar.pretrain.sources import iter_documents

    judge = OpenAIBackend(model="Qwen/Qwen2.5-32B-Instruct", base_url="http://gpu:8000/v1",
                          api_key_env=None, cache_dir="runs/cache/judge")
    stats = label_documents(iter_documents("hf:open-web-math/open-web-math", limit=20_000),
                            "runs/curation/labels.jsonl", backend=judge, judge="llm",
                            progress=True)
    print(stats)   # 20000 labelled, 0 skipped, ... docs/s, tokens, cost

Heuristic rules
---------------
The text is split into sentences (at ``.``, ``!``, ``?`` followed by white space, and at line
ends). A behavior's count is the number of distinct sentences that match any of its patterns
(:data:`BEHAVIOR_PATTERNS`; case-insensitive):

* verification: an announced check ("let's check", "verify", "double-check", "sanity check", a
  sentence opening with "Check"), substituting or plugging a value back in, an agreement
  statement ("which matches", "checks out", "as required", "consistent with", "in agreement
  with", "the same as the"), or a tick mark;
* backtracking: "wait", "oops", "scratch that", "that's not right / wrong / incorrect", "can't be
  right", a mistake or error owned up to, "let me go back / start again / try again / redo",
  "dead end", "doesn't work", "leads nowhere", "try something else", "... instead" after "let
  me / let's / I'll";
* subgoal setting: "first we need to", "we first / also / next need", "our first goal is",
  "step N: find ...", "it suffices to", "break the problem down", "subgoal", "intermediate
  goal"; a numbered step that only does arithmetic ("Step 1: subtract 5") does not count;
* backward chaining: "working / reasoning backwards", "backwards from", "work back", "start
  from the end / goal / target / answer", "to get / reach / obtain / make X, we need", "we want
  X, so we need".

A document has a problem when a line opens with a problem header ("Problem 3.", "Exercise:",
"Question:", "Example 2", "Countdown puzzle:"), a sentence opens with an imperative task word
("Find", "Solve", "Compute", "Calculate", "Evaluate", "Determine", "Prove", "Show that",
"Simplify", "Using the numbers ..."), or a sentence ends with "?" and holds mathematics (a digit,
an operator or a one-letter variable) or follows a sentence that does. It has a solution when,
*after* its first problem sentence, a sentence states an answer ("the answer is", "the solution
is", a "Solution:"/"Answer:"/"A:" header, "therefore / thus / hence / so / gives / we get"
followed by a number or an equation, ∎ or QED). Rules read words, not mathematics: a page that
says "a common mistake is ..." gets a backtracking instance nobody performed; prose that checks
without saying so gets none. ``tests/test_pretrain_label.py`` measures the agreement on the
generated sample corpus.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar.errors import ArgumentError, DataError
from cogstar.io import append_jsonl, read_jsonl
from cogstar.llm import Backend, Reply, Request, Usage
from cogstar.pretrain import BEHAVIORS, Document, Label

__all__ = [
    "BEHAVIOR_PATTERNS",
    "DEFINITIONS",
    "DataError",
    "LabelStats",
    "explain_heuristic",
    "heuristic_label",
    "label_documents",
    "label_requests",
    "parse_label",
    "read_labels",
    "sentences",
]


# --- the heuristic labeller -----------------------------------------------------------------

_I = re.IGNORECASE

BEHAVIOR_PATTERNS: dict[str, re.Pattern[str]] = {
    "verification": re.compile(
        r"\b(let'?s|let us|we can|i'?ll|we'?ll|to|now)\s+(now\s+)?(check|verify|confirm)\b"
        r"|^\W*check\b"
        r"|\bverif(y|ies|ied|ying|ication)\b"
        r"|\bdouble[- ]check"
        r"|\bsanity[- ]check"
        r"|\bsubstitut\w*\b[^.]{0,40}\bback\b"
        r"|\bplug\w*\b[^.]{0,30}\b(back|in|into)\b"
        r"|\bwhich (matches|agrees|checks out|is correct)\b"
        r"|\bchecks out\b"
        r"|\bas (required|expected)\b"
        r"|\b(consistent|in agreement) with\b"
        r"|\bthe same as (the|our|what)\b"
        r"|[✓✔]",
        _I,
    ),
    "backtracking": re.compile(
        r"\bwait\b|\boops\b|\bscratch that\b"
        r"|\b(that|this|which)\b[^.;]{0,20}(\bis|\bwas|'s) (not right|wrong|incorrect)\b"
        r"|\bcan'?t be (right|correct)\b"
        r"|\b(i|we) (made|make) (a|an) (mistake|error)\b|\bmy (mistake|error)\b"
        r"|\bmistake\b"
        r"|\b(let me|let's|let us|i'll|we'll|we should)\s+(go back|start (again|over)|try again"
        r"|redo|re-do|try (something|another|a different))\b"
        r"|\bgo(ing)? back (to|and)\b"
        r"|\bdead end\b|\bleads nowhere\b"
        r"|\b(doesn'?t|does not|didn'?t|did not) work\b"
        r"|\btry (again|something else)\b|\bstart (this part )?(again|over)\b"
        r"|\b(let me|let's|i'll|we'll)\b[^.]{0,60}\binstead\b",
        _I,
    ),
    "subgoal": re.compile(
        r"\bfirst,? (we|i) (need|have|must|should|want) to\b"
        r"|\b(we|i) (first|also|next|then) (need|have to|must|want)\b"
        r"|\bnext,? (we|i) (need|have|must|want)\b"
        r"|\b(our|my|the) (first |next |main )?(goal|aim|sub-?goal) (is|will be)\b"
        r"|\bstep \d+\s*[:.)]\s*(find|compute|determine|calculate|work out|get)\b"
        r"|\bit (suffices|is enough) to\b"
        r"|\bbreak (it|this|the (problem|task))? ?(down|into)\b"
        r"|\bsub-?goals?\b|\bsub-?problems?\b|\bintermediate (goal|target)\b",
        _I,
    ),
    "backward": re.compile(
        r"\b(work|working|worked|reason|reasoning) backwards?\b"
        r"|\bbackwards? from\b|\bwork back\b"
        r"|\b(start|starting|begin|beginning) (from|with|at) (the end|the goal|the target"
        r"|the answer|the result|what we want)\b"
        r"|\bto (get|reach|obtain|make|end up with|arrive at) [^,.;]{1,60},? (we|i) "
        r"(would |will |still )?need\b"
        r"|\bwe want\b[^.;]{1,80}\bso (we|i) need\b",
        _I,
    ),
}

_PROBLEM_HEADER = re.compile(
    r"^\W*(\w+ )?(problem|exercise|question|example|puzzle)\b\s*\d*\s*([:.)]|$)", _I
)
_TASK_START = re.compile(
    r"^\W*(find|solve|compute|calculate|evaluate|determine|prove|show that|simplify|factor"
    r"|using the numbers)\b",
    _I,
)
_MATHS = re.compile(r"[0-9=+*/^\u00d7\u00f7\u2212$]|(?<![\w'])[b-zB-HJ-Z](?![\w'])")
_SOLUTION = re.compile(
    r"\b(the )?(final )?answer is\b|\bthe solution is\b"
    r"|^\W*(solution|answer|a)\s*[:.]"
    r"|\b(therefore|thus|hence|so|gives|giving|we get|we obtain)\b[^.?]{0,200}?\$?-?\d"
    r"|∎|\bQED\b",
    _I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def sentences(text: str) -> list[str]:
    """The text's sentences: split at line ends and at ``.!?`` followed by white space."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def explain_heuristic(text: str) -> dict[str, list[str]]:
    """The distinct sentences that make up each behavior's heuristic count (for inspection)."""
    found: dict[str, list[str]] = {b: [] for b in BEHAVIORS}
    seen: dict[str, set[str]] = {b: set() for b in BEHAVIORS}
    for sentence in sentences(text):
        key = " ".join(sentence.lower().split())
        for behavior in BEHAVIORS:
            if key not in seen[behavior] and BEHAVIOR_PATTERNS[behavior].search(sentence):
                seen[behavior].add(key)
                found[behavior].append(sentence)
    return found


def _problem_and_solution(parts: Sequence[str]) -> tuple[bool, bool]:
    first_problem = None
    for i, sentence in enumerate(parts):
        question = sentence.endswith("?") and (
            bool(_MATHS.search(sentence)) or (i > 0 and bool(_MATHS.search(parts[i - 1])))
        )
        if _PROBLEM_HEADER.search(sentence) or _TASK_START.search(sentence) or question:
            first_problem = i
            break
    if first_problem is None:
        return False, False
    return True, any(_SOLUTION.search(s) for s in parts[first_problem + 1 :])


def heuristic_label(doc: Document) -> Label:
    """The rule-based label of one document (see the module docstring for the rules)."""
    found = explain_heuristic(doc.text)
    has_problem, has_solution = _problem_and_solution(sentences(doc.text))
    return Label(
        id=doc.id,
        verification=len(found["verification"]),
        backtracking=len(found["backtracking"]),
        subgoal=len(found["subgoal"]),
        backward=len(found["backward"]),
        has_problem=has_problem,
        has_solution=has_solution,
        judge="heuristic",
    )


# --- the LLM labeller -----------------------------------------------------------------------

DEFINITIONS: dict[str, str] = {
    "verification": (
        "Verification: the author checks a result they have obtained and says whether it "
        "holds: substituting a solution back into the original equation, recomputing a value "
        "another way, testing it against a condition of the problem, or comparing it with an "
        "estimate. Count each distinct check. Examples: 'Substituting x = 4 into 2x + 3 gives "
        "11, the right-hand side, so x = 4 is correct.' is one check; 'That makes the "
        "probability 1.3, impossible since no probability exceeds 1.' is another. A "
        "calculation that is simply carried out, or a general remark that answers can be "
        "checked, does not count."
    ),
    "backtracking": (
        "Backtracking: the author notices that a step is wrong or that an approach leads "
        "nowhere, abandons it, and returns to an earlier point to do something different. "
        "Count each abandoned path. Examples: 'Wait, I dropped the minus sign; going back to "
        "the second line, the coefficient is -3.' is one; 'Integration by parts only makes "
        "the integral longer, so let us try the substitution u = x^2 instead.' is another. "
        "A first attempt that works, or a second method shown after a correct first one, "
        "does not count; nor does a mention of mistakes in general."
    ),
    "subgoal": (
        "Subgoal setting: the author splits the problem into intermediate goals, naming a "
        "quantity or fact to establish before working towards it. Count each distinct "
        "intermediate goal. Examples: 'To find the area of the triangle we first need its "
        "height.' sets one subgoal; 'First find the common ratio; then use it to get the "
        "tenth term.' sets two. Restating the question, or numbered steps that are plain "
        "calculations ('Step 1: subtract 5 from both sides'), do not count."
    ),
    "backward": (
        "Backward chaining: the author starts from what is to be found or proved and works "
        "back towards the given information, asking what would be needed to reach it. Count "
        "each backward step. Examples: 'To end with 60 dollars after a 20% increase, the "
        "amount before it must have been 60 / 1.2 = 50.' is one backward step; 'We want the "
        "digit sum to be a multiple of 9, so the missing digit must make it 18.' is another. "
        "Reasoning forward from the given data to the answer does not count."
    ),
}

_BEHAVIOR_PROMPT = (
    "You are reading a document taken from a web page about mathematics. Your task is to "
    "count how often one reasoning behavior occurs in it.\n\n"
    "{definition}\n\n"
    "The document:\n<document>\n{text}\n</document>\n\n"
    "Go through the document and list each instance you find as a short markdown bullet "
    "quoting a few of its words. Then give the number of distinct instances as a whole number "
    "inside <count></count> tags, for example <count>2</count>. If the behavior does not "
    "occur, end with <count>0</count>."
)

_PROBLEM_PROMPT = (
    "You are reading a document taken from a web page about mathematics.\n\n"
    "The document:\n<document>\n{text}\n</document>\n\n"
    "Answer two questions about it.\n"
    "1. Does it contain a mathematical problem: a question, exercise or task that asks for "
    "something to be computed, found or proved? A definition, or an explanation with "
    "examples, is not a problem.\n"
    "2. Does it contain a solution to such a problem: worked steps that reach an answer, or "
    "a stated final answer? A problem statement alone, or a hint, is not a solution.\n"
    "Explain in one or two sentences, then answer with <problem>yes</problem> or "
    "<problem>no</problem>, followed by <solution>yes</solution> or <solution>no</solution>."
)

_COUNT = re.compile(r"<count>\s*(\d{1,6})\s*</count>", _I)
_YES_NO = {
    tag: re.compile(rf"<{tag}>\s*(yes|no)\s*</{tag}>", _I) for tag in ("problem", "solution")
}
REQUESTS_PER_DOCUMENT = len(BEHAVIORS) + 1


def label_requests(doc: Document, *, max_tokens: int = 512) -> list[Request]:
    """The judge's five requests for one document: one per behavior (in ``BEHAVIORS`` order),
    then the problem/solution question."""
    requests = [
        Request(
            user=_BEHAVIOR_PROMPT.format(definition=DEFINITIONS[b], text=doc.text),
            temperature=0.0,
            max_tokens=max_tokens,
        )
        for b in BEHAVIORS
    ]
    requests.append(
        Request(user=_PROBLEM_PROMPT.format(text=doc.text), temperature=0.0, max_tokens=max_tokens)
    )
    return requests


def parse_label(doc_id: str, replies: Sequence[Reply | str], judge: str) -> Label:
    """A label from the judge's replies to :func:`label_requests` (same order).

    The last tag of each kind counts. A reply without its tag reads as 0 (or False) and is
    named in ``extra["parse_failures"]``, so such labels can be found and asked again.
    """
    if len(replies) != REQUESTS_PER_DOCUMENT:
        raise ArgumentError(
            f"parse_label needs {REQUESTS_PER_DOCUMENT} replies (one per behavior, then the "
            f"problem/solution one), got {len(replies)}"
        )
    texts = [r.text if isinstance(r, Reply) else r for r in replies]
    failures: list[str] = []
    counts: dict[str, int] = {}
    for behavior, text in zip(BEHAVIORS, texts, strict=False):
        found = _COUNT.findall(text)
        if not found:
            failures.append(behavior)
        counts[behavior] = int(found[-1]) if found else 0
    flags: dict[str, bool] = {}
    for tag, pattern in _YES_NO.items():
        answers = pattern.findall(texts[-1])
        if not answers:
            failures.append(tag)
        flags[tag] = bool(answers) and answers[-1].lower() == "yes"
    return Label(
        id=doc_id,
        verification=counts["verification"],
        backtracking=counts["backtracking"],
        subgoal=counts["subgoal"],
        backward=counts["backward"],
        has_problem=flags["problem"],
        has_solution=flags["solution"],
        judge=judge,
        extra={"parse_failures": failures} if failures else {},
    )


# --- labelling a stream ---------------------------------------------------------------------


@dataclass(frozen=True)
class LabelStats:
    """What one :func:`label_documents` call did.

    ``done``: documents labelled now; ``skipped``: documents whose id was already labelled (in
    the file, or earlier in the same stream); ``usage``/``cost``: the judge's requests, tokens
    and US dollars for this call (None for the heuristic; ``cost`` None without a price).
    """

    done: int
    skipped: int
    seconds: float
    docs_per_second: float
    usage: Usage | None = None
    cost: float | None = None

    def __str__(self) -> str:
        text = (
            f"{self.done} labelled, {self.skipped} skipped, {self.seconds:.1f} s "
            f"({self.docs_per_second:.1f} docs/s)"
        )
        if self.usage is not None:
            u = self.usage
            text += (
                f"; {u.requests} requests ({u.cache_hits} cached, {u.retries} retries), "
                f"{u.input_tokens:,} input + {u.output_tokens:,} output tokens"
            )
            text += "" if self.cost is None else f", ${self.cost:,.4f}"
        return text


_USAGE_FIELDS = ("requests", "cache_hits", "retries", "input_tokens", "output_tokens", "cost_usd")


def _usage_since(before: Mapping[str, float], usage: Usage) -> Usage:
    now = {f: getattr(usage, f) for f in _USAGE_FIELDS}
    return Usage(
        requests=int(now["requests"] - before["requests"]),
        cache_hits=int(now["cache_hits"] - before["cache_hits"]),
        retries=int(now["retries"] - before["retries"]),
        input_tokens=int(now["input_tokens"] - before["input_tokens"]),
        output_tokens=int(now["output_tokens"] - before["output_tokens"]),
        cost_usd=float(now["cost_usd"] - before["cost_usd"]),
    )


class _Appender:
    """Appends labels to a JSONL file, one fsync per batch (:func:`cogstar.io.append_jsonl`,
    which cuts a torn last line left by a killed run first)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, labels: Sequence[Label]) -> None:
        if labels:
            append_jsonl(self.path, *(label.to_json() for label in labels))


def label_documents(
    docs: Iterable[Document],
    out: str | os.PathLike[str],
    *,
    backend: Backend | None = None,
    judge: str = "heuristic",
    progress: bool | Callable[[int, int], None] = False,
    batch: int = 64,
) -> LabelStats:
    """Label ``docs`` and append one :class:`~cogstar.pretrain.Label` JSON line each to ``out``.

    ``judge="heuristic"`` uses :func:`heuristic_label`; ``judge="llm"`` asks ``backend`` the
    five questions of :func:`label_requests` per document, ``batch`` documents at a time (their
    labels are written when the batch is answered; give the backend a ``cache_dir`` and a batch
    cut short by an error costs nothing when run again). Ids already in ``out`` are skipped, so
    a killed run resumes where it stopped; ``out`` must hold labels of the same judge (the
    LLM's model name), else :class:`DataError`. ``progress=True`` shows a Rich bar; a callable
    gets ``(documents handled, total)``, the total being 0 when ``docs`` has no length.
    """
    if judge not in ("heuristic", "llm"):
        raise ArgumentError(f"judge must be 'heuristic' or 'llm', got {judge!r}")
    if judge == "llm" and backend is None:
        raise ArgumentError(
            "judge='llm' needs a backend, e.g. backend=OpenAIBackend(model=...) from cogstar.llm"
        )
    if batch < 1:
        raise ArgumentError(f"batch must be >= 1, got {batch}")
    path = Path(out)
    judge_name = "heuristic" if backend is None or judge == "heuristic" else backend.model
    labelled = set(_existing_ids(path, judge_name))
    total = len(docs) if isinstance(docs, Sized) else 0
    writer = _Appender(path)
    before = (
        {f: getattr(backend.usage, f) for f in _USAGE_FIELDS}
        if backend is not None and judge == "llm"
        else None
    )

    bar: Any = None
    task: Any = None
    if progress is True:
        from rich.progress import Progress

        bar = Progress(transient=False)
        bar.start()
        task = bar.add_task(f"labelling ({judge_name})", total=total or None)

    done = skipped = 0

    def report(handled: int) -> None:
        if bar is not None:
            bar.update(task, completed=handled)
        elif callable(progress):
            progress(handled, total)

    def flush(pending: list[Document]) -> None:
        nonlocal done
        if not pending:
            return
        if backend is None or judge == "heuristic":
            labels = [heuristic_label(d) for d in pending]
        else:
            requests = [r for d in pending for r in label_requests(d)]
            base = done + skipped

            def inner(answered: int, _total: int) -> None:
                report(base + answered // REQUESTS_PER_DOCUMENT)

            replies = backend.complete_many(requests, progress=inner)
            n = REQUESTS_PER_DOCUMENT
            labels = [
                parse_label(d.id, replies[i * n : (i + 1) * n], judge_name)
                for i, d in enumerate(pending)
            ]
        writer.write(labels)
        done += len(pending)
        report(done + skipped)

    start = time.perf_counter()
    try:
        pending: list[Document] = []
        for doc in docs:
            if doc.id in labelled:
                skipped += 1
                continue
            labelled.add(doc.id)
            pending.append(doc)
            if len(pending) >= batch:
                flush(pending)
                pending = []
        flush(pending)
    finally:
        if bar is not None:
            bar.stop()
    seconds = time.perf_counter() - start
    usage = None if before is None or backend is None else _usage_since(before, backend.usage)
    cost = None
    if usage is not None and backend is not None and backend.price is not None:
        cost = usage.cost_usd
    return LabelStats(
        done=done,
        skipped=skipped,
        seconds=seconds,
        docs_per_second=done / seconds if seconds > 0 else 0.0,
        usage=usage,
        cost=cost,
    )


def _existing_ids(path: Path, judge: str) -> list[str]:
    if not path.exists():
        return []
    ids = []
    for row_number, row in enumerate(read_jsonl(path), start=1):
        found = row.get("judge")
        if found != judge:
            raise DataError(
                f"{path}: row {row_number} was labelled by {found!r}, this run's judge is "
                f"{judge!r}; write these labels to another file (labels of two judges are "
                "never mixed in one)"
            )
        ids.append(str(row.get("id")))
    return ids


def _label_from_row(row: Mapping[str, Any], where: str) -> Label:
    try:
        fields = {
            "id": row["id"],
            **{b: row[b] for b in BEHAVIORS},
            "has_problem": row["has_problem"],
            "has_solution": row["has_solution"],
            "judge": row["judge"],
            "extra": row.get("extra") or {},
        }
    except KeyError as err:
        raise DataError(f"{where}: not a label, no {err.args[0]!r} field") from None
    problems = []
    if not isinstance(fields["id"], str):
        problems.append("id is not a string")
    problems += [
        f"{b} is not a count >= 0"
        for b in BEHAVIORS
        if isinstance(fields[b], bool) or not isinstance(fields[b], int) or fields[b] < 0
    ]
    problems += [
        f"{k} is not true/false"
        for k in ("has_problem", "has_solution")
        if not isinstance(fields[k], bool)
    ]
    if not isinstance(fields["extra"], dict):
        problems.append("extra is not an object")
    if problems:
        raise DataError(f"{where}: not a label ({'; '.join(problems)})")
    return Label(**fields)


def read_labels(path: str | os.PathLike[str]) -> dict[str, Label]:
    """The labels in a JSONL file written by :func:`label_documents`, by document id."""
    source = Path(path)
    if not source.exists():
        raise DataError(f"{source}: no such labels file (label_documents writes it)")
    return {
        label.id: label
        for label in (
            _label_from_row(row, f"{source}: row {i}")
            for i, row in enumerate(read_jsonl(source), start=1)
        )
    }
