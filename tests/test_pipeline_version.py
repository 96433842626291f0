"""The index's freshness follows the pipeline's output, not its code: the seeds' documents, chunks and BM25
tokens are fingerprinted here, and a change to them must come with a bump of ``PIPELINE_VERSION``.

When this fails after an intended change of output: bump ``qa.indexing.PIPELINE_VERSION`` ("text" for documents
and chunks, "tokens" for tokens) and record the new fingerprint:
``python tests/test_pipeline_version.py`` rewrites tests/data/pipeline_output.json.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from qa.chunking import chunk_document  # noqa: E402
from qa.cleaning import clean_text  # noqa: E402
from qa.indexing import PIPELINE_VERSION, passage_text, pipeline_version  # noqa: E402
from qa.reading import read_source  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402
from qa.terms import Segmenter, learn_place_names  # noqa: E402

FIXTURE = HERE / "data" / "pipeline_output.json"
SEEDS = PROJECT_ROOT / "seeds"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def pipeline_output() -> dict[str, dict]:
    """The versions and fingerprints of what reading + cleaning + chunking and tokenising make of the seeds."""
    settings = Settings()
    documents, chunks = [], []
    for path in sorted(SEEDS.iterdir()):
        source = read_source(path, SEEDS)
        document = clean_text(path.name, source.text, source.sha256, path.suffix)
        documents.append(document)
        chunks += chunk_document(document, settings.chunk_min_chars, settings.chunk_max_chars)
    segmenter = Segmenter(learn_place_names([document.search for document in documents]))
    tokens = [segmenter.tokens(passage_text(chunk)) for chunk in chunks]
    return {
        "text": {"version": PIPELINE_VERSION["text"],
                 "sha256": _digest([[asdict(d) for d in documents], [asdict(c) for c in chunks]])},
        "tokens": {"version": pipeline_version()["tokens"], "sha256": _digest(tokens)},
    }


def test_output_changes_only_with_a_version_bump():
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    current = pipeline_output()
    for part in ("text", "tokens"):
        if current[part]["sha256"] != recorded[part]["sha256"]:
            assert current[part]["version"] != recorded[part]["version"], (
                f"the pipeline's {part} output over the seeds changed but PIPELINE_VERSION[{part!r}] did not: "
                "bump it (indexes are then rebuilt) and record the output (see this module's docstring)")
    assert current == recorded, "the fixture is out of date: record it (see this module's docstring)"


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(pipeline_output(), indent=1) + "\n", encoding="utf-8")
    print(f"recorded {FIXTURE}")
