"""What a valid idea is, and what processing does to it."""

import uuid

import pytest
from ideation_app.ideas import InvalidIdeaError, NewIdea, analyse, parse_id, process


def test_a_minimal_submission_is_accepted_and_trimmed():
    assert NewIdea.from_json({"title": "  Solar roofs  "}) == NewIdea("Solar roofs", "", "")


@pytest.mark.parametrize(("payload", "message"), [
    (None, "must be a JSON object"),
    (["title"], "must be a JSON object"),
    ({}, "title is required"),
    ({"title": "   "}, "title is required"),
    ({"title": 3}, "title is required"),
    ({"title": "x" * 201}, "title is longer than 200"),
    ({"title": "t", "description": 5}, "description must be a string"),
    ({"title": "t", "description": "d" * 5001}, "description is longer than 5000"),
    ({"title": "t", "status": "processed"}, "unknown fields: status"),
])
def test_bad_submissions_are_refused_with_a_reason(payload, message):
    with pytest.raises(InvalidIdeaError, match=message):
        NewIdea.from_json(payload)


def test_parse_id_accepts_uuids_only():
    value = uuid.uuid4()
    assert parse_id(str(value)) == value
    assert parse_id("42") is None


def test_analysis_counts_words_and_ranks_keywords(store):
    idea = store.create(NewIdea("Solar roofs", "Solar panels on every school roof; solar pays."))
    words, keywords = analyse(idea)
    assert words == 10
    assert keywords[0] == "solar"
    assert "on" not in keywords


def test_processing_marks_the_idea_processed_once(store):
    idea = store.create(NewIdea("Bike lanes", "Protected bike lanes downtown"))
    done = process(store, idea.id)
    assert done.status == "processed"
    assert done.word_count == 6
    assert done.processed_at is not None
    again = process(store, idea.id)
    assert again.processed_at == done.processed_at


def test_processing_a_missing_idea_returns_none(store):
    assert process(store, uuid.uuid4()) is None

