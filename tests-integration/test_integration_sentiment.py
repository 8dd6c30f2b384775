"""The sentiment sample, end to end in batch mode: three processes on the session's stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from akx_dev import BOOTSTRAP_ENV, REGISTRY_ENV, KafkaStack

LABELLED = {
    "I love this product, it is absolutely wonderful!": "positive",
    "What a great and happy day, thank you so much.": "positive",
    "The support team was helpful and kind.": "positive",
    "This is the worst experience I have ever had.": "negative",
    "I hate waiting, the service was terrible and rude.": "negative",
    "The food was awful and cold.": "negative",
    "The meeting is at 3 pm in room 12.": "neutral",
    "The package contains two cables.": "neutral",
}


def test_batch_mode_labels_a_small_labelled_set(kafka_stack: KafkaStack, tmp_path: Path) -> None:
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(LABELLED) + "\n")
    env = {
        **os.environ,
        BOOTSTRAP_ENV: kafka_stack.bootstrap_servers,
        REGISTRY_ENV: kafka_stack.schema_registry_url,
    }
    if kafka_stack.embedded:
        env.update(
            AKX_FETCH_WAIT_MAX_MS="5",
            AKX_SESSION_TIMEOUT_MS="2000",
            AKX_HEARTBEAT_INTERVAL_MS="200",
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentiment_sample.main",
            "--input",
            str(sentences),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [row["text"] for row in rows] == list(LABELLED)
    for row in rows:
        assert row["sentiment"] == LABELLED[row["text"]], row
        assert -1.0 <= row["score"] <= 1.0
    assert f"{len(LABELLED)}/{len(LABELLED)}" in result.stderr  # the progress bar finished
