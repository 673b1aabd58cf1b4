"""Ideas: what a valid submission is, and what processing one computes. No I/O here."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
SUBMITTER_MAX = 200
STATUSES = ("submitted", "processed")


class InvalidIdeaError(ValueError):
    """The submission breaks a rule; the message says which, for the client."""


@dataclass(frozen=True)
class NewIdea:
    """A checked submission."""

    title: str
    description: str = ""
    submitter: str = ""

    @classmethod
    def from_json(cls, payload: Any) -> NewIdea:
        """Check a decoded JSON body and return the submission it describes."""
        if not isinstance(payload, dict):
            raise InvalidIdeaError("the body must be a JSON object")
        unknown = sorted(set(payload) - {"title", "description", "submitter"})
        if unknown:
            raise InvalidIdeaError(f"unknown fields: {', '.join(unknown)}")
        title = payload.get("title")
        if not isinstance(title, str) or not title.strip():
            raise InvalidIdeaError("title is required and must be a non-empty string")
        values = {"title": title.strip()}
        for name, limit in (("title", TITLE_MAX), ("description", DESCRIPTION_MAX),
                            ("submitter", SUBMITTER_MAX)):
            value = payload.get(name, "")
            if not isinstance(value, str):
                raise InvalidIdeaError(f"{name} must be a string")
            if len(value) > limit:
                raise InvalidIdeaError(f"{name} is longer than {limit} characters")
            values.setdefault(name, value)
        return cls(**values)


@dataclass(frozen=True)
class Idea:
    """A stored idea."""

    id: uuid.UUID
    title: str
    description: str
    submitter: str
    status: str
    created_at: dt.datetime
    processed_at: dt.datetime | None = None
    word_count: int | None = None
    keywords: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = str(self.id)
        data["created_at"] = self.created_at.isoformat()
        data["processed_at"] = self.processed_at.isoformat() if self.processed_at else None
        return data


class IdeaStore(Protocol):
    """Where ideas live (PostgreSQL in the app, a dict in unit tests)."""

    def create(self, new: NewIdea) -> Idea: ...

    def get(self, idea_id: uuid.UUID) -> Idea | None: ...

    def mark_processed(self, idea_id: uuid.UUID, word_count: int, keywords: list[str]) -> bool: ...

    def stale_submitted(self, older_than_seconds: int, limit: int) -> list[uuid.UUID]: ...

    def search(self, text: str, limit: int) -> list[Idea]: ...


SEARCH_MAX = 200
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100


def parse_listing(args: Any) -> tuple[str, int]:
    """The search text (`q`, may be empty) and the page size (`limit`) of a listing request."""
    text = (args.get("q") or "").strip()
    if len(text) > SEARCH_MAX:
        raise InvalidIdeaError(f"q is longer than {SEARCH_MAX} characters")
    raw = args.get("limit") or str(LIST_LIMIT_DEFAULT)
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise InvalidIdeaError(f"limit must be a whole number from 1 to {LIST_LIMIT_MAX}")
    return text, int(raw)


def parse_id(text: str) -> uuid.UUID | None:
    """The UUID in a URL segment, or None when it is not one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "in",
    "is", "it", "its", "of", "on", "or", "our", "that", "the", "this", "to", "was", "we", "will",
    "with", "you", "your",
})


def analyse(idea: Idea, keyword_count: int = 5) -> tuple[int, list[str]]:
    """What processing computes: the word count and the most frequent non-trivial words."""
    words = [w.lower() for w in _WORD.findall(f"{idea.title} {idea.description}")]
    counts: dict[str, int] = {}
    for word in words:
        if word not in _STOPWORDS and len(word) > 2:
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return len(words), ranked[:keyword_count]


def process(store: IdeaStore, idea_id: uuid.UUID) -> Idea | None:
    """Process one idea: compute its analysis and mark it processed. Returns the stored result,
    or None when the idea does not exist. Processing an already processed idea changes nothing."""
    idea = store.get(idea_id)
    if idea is None or idea.status == "processed":
        return idea
    word_count, keywords = analyse(idea)
    store.mark_processed(idea_id, word_count, keywords)
    return store.get(idea_id)
