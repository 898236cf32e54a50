"""The Batches API path against a live local server (requests captured): a failed create that
reached the server is never billed twice, and polling stops at llm.batch_deadline_minutes."""

from __future__ import annotations

import copy

import pytest
from test_datagen import BATCH, _batch

from forge.config import load as config_io
from forge.curation.batch_api import generate_with_batches
from forge.project.project import Project

from llm_cassettes import FakeAnthropic


@pytest.fixture
def project(project_dir, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-key-for-tests-0000")
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    monkeypatch.setenv("FORGE_BATCH_POLL", "0")
    return Project.open(project_dir)


def serve(responses, monkeypatch) -> FakeAnthropic:
    server = FakeAnthropic(responses)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    return server


def test_a_create_that_failed_after_reaching_the_server_is_adopted_not_repeated(project, monkeypatch):
    made = _batch("in_progress")
    made["body"]["created_at"] = "{now}"
    listing = {
        "status": 200,
        "body": {
            "data": [made["body"]],
            "has_more": False,
            "first_id": "msgbatch_01FakeCanned",
            "last_id": "msgbatch_01FakeCanned",
        },
    }
    gateway = {"status": 502, "body": {"type": "error", "error": {"type": "api_error", "message": "bad gateway"}}}
    server = serve([gateway, listing, *copy.deepcopy(BATCH[2:])], monkeypatch)
    try:
        lines = []
        report = generate_with_batches(project, 4, batch_size=2, echo=lines.append)
    finally:
        server.stop()
    assert server.paths[:2] == ["POST /v1/messages/batches", "GET /v1/messages/batches"]
    assert server.paths.count("POST /v1/messages/batches") == 1  # one create: nothing billed twice
    assert any("was made: using it" in line for line in lines)
    assert report.kept == 2


def test_polling_stops_at_the_deadline_and_cancels(project, monkeypatch):
    monkeypatch.setenv("FORGE_BATCH_POLL", "0.05")  # each poll waits longer than the deadline
    config_io.patch_file(project.config_path, {"llm": {"batch_deadline_minutes": 1e-6}})
    project.reload()
    cancelling = _batch("canceling")
    server = serve([_batch("in_progress"), cancelling, *copy.deepcopy(BATCH[2:])], monkeypatch)
    try:
        lines = []
        report = generate_with_batches(project, 4, batch_size=2, echo=lines.append)
    finally:
        server.stop()
    assert "POST /v1/messages/batches/msgbatch_01FakeCanned/cancel" in server.paths
    assert any("llm.batch_deadline_minutes" in line and "cancelling" in line for line in lines)
    assert report.kept == 2  # what finished before the cancel is still used
