"""Unit tests of the reference app (examples/app). They run without PostgreSQL or Redis: the app
takes its store, readiness checks and queue as arguments, and tests pass fakes. Modules that
need a library the controller venv lacks (prometheus_client, celery) skip themselves."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[3] / "examples" / "app"
sys.path.insert(0, str(APP_DIR))

from ideation_app.ideas import Idea, NewIdea


class MemoryStore:
    """An IdeaStore in a dict."""

    def __init__(self) -> None:
        self.ideas: dict[uuid.UUID, Idea] = {}

    def create(self, new: NewIdea) -> Idea:
        idea = Idea(id=uuid.uuid4(), title=new.title, description=new.description,
                    submitter=new.submitter, status="submitted",
                    created_at=dt.datetime.now(dt.UTC))
        self.ideas[idea.id] = idea
        return idea

    def get(self, idea_id: uuid.UUID) -> Idea | None:
        return self.ideas.get(idea_id)

    def mark_processed(self, idea_id: uuid.UUID, word_count: int, keywords: list[str]) -> bool:
        idea = self.ideas.get(idea_id)
        if idea is None or idea.status != "submitted":
            return False
        self.ideas[idea_id] = Idea(**{**idea.__dict__, "status": "processed",
                                      "processed_at": dt.datetime.now(dt.UTC),
                                      "word_count": word_count, "keywords": keywords})
        return True

    def stale_submitted(self, older_than_seconds: int, limit: int) -> list[uuid.UUID]:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than_seconds)
        return [i.id for i in self.ideas.values()
                if i.status == "submitted" and i.created_at < cutoff][:limit]


    def search(self, text: str, limit: int) -> list[Idea]:
        found = [i for i in self.ideas.values()
                 if not text or text.lower() in f"{i.title} {i.description}".lower()]
        return sorted(found, key=lambda i: i.created_at, reverse=True)[:limit]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()
