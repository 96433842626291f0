"""``qa train-reader``: data preparation, calibration, and a real few-step training run."""

from __future__ import annotations

import json

import pytest
import torch

from qa.cli import main
from qa.reader import MANIFEST_FILE, WEIGHTS_DIR, WEIGHTS_FILE, Reader
from qa.settings import CMRC_TRAIN
from qa.training import (
    Candidate,
    Case,
    Example,
    TrainConfig,
    anchor,
    choose_threshold,
    fit_confidence,
    is_right,
    split_heldout,
    train,
)


def test_anchor_keeps_a_right_offset_and_moves_a_wrong_one_to_the_nearest_occurrence():
    context = "甲乙丙，甲乙丙，丁"
    assert anchor(context, "甲乙", 4) == 4
    assert anchor(context, "甲乙", 5) == 4
    assert anchor(context, "甲乙", 1) == 0
    assert anchor(context, "戊", 0) == -1


def test_held_out_split_never_shares_a_paragraph():
    examples = [Example(f"q{i}", f"p{i % 7}", "问", "文", 0, "文") for i in range(70)]
    train_set, held = split_heldout(examples, 0.3, seed=1)
    assert held and train_set
    assert not {e.paragraph for e in train_set} & {e.paragraph for e in held}
    assert split_heldout(examples, 0.3, seed=1) == (train_set, held)


def _case(margin: float, prediction: str, gold: str, answerable: bool, support: float = 1.0) -> Case:
    return Case((Candidate(margin, support, prediction),), (gold,), answerable)


MARGIN_ONLY = [1.0, 0.0, 0.0]


def test_right_means_nested_in_the_gold_answer_and_close_in_length():
    assert is_right("1.99亿元", _case(1.0, "", "1.99亿元", True))
    assert is_right("1.99亿", _case(1.0, "", "1.99亿元", True))
    assert not is_right("120人", _case(1.0, "", "1950人", True))
    assert not is_right("1.99亿元", _case(1.0, "", "1.99亿元", False))  # no passage held the answer


def test_threshold_is_squad2_best_f1():
    right = [_case(m, "1.99亿元", "1.99亿元", True) for m in (5.0, 4.0, 1.0)]
    wrong = [_case(m, "120人", "1950人", True) for m in (3.0, 0.5)]
    unanswerable = [_case(m, "某处", "1950人", False) for m in (2.0, 0.8, 0.7)]
    threshold = choose_threshold(right + wrong + unanswerable, MARGIN_ONLY)
    # confidence = σ(margin). Above σ(3.0): two F1 1 + three abstentions = 5; above σ(2.0) adds the wrong answer's
    # F1 0.5 = 5.5; above σ(1.0) answers the 2.0 unanswerable = 4.5; above σ(0.8) adds one more right = 5.5 (a
    # tie goes to the lower threshold); lower answers more unanswerables for one F1 0.5
    assert torch.sigmoid(torch.tensor(0.8)) <= threshold < torch.sigmoid(torch.tensor(1.0))


def test_confidence_fit_learns_that_margin_and_support_both_speak_for_an_answer():
    cases = [_case(m, "1.99亿元", "1.99亿元", True, s) for m, s in ((5.0, 0.9), (3.0, 1.0), (1.0, 0.8), (0.5, 0.9))]
    cases += [_case(m, "120人", "1950人", True, s) for m, s in ((4.0, 0.2), (1.0, 0.9), (-1.0, 0.3))]
    cases += [_case(m, "某处", "1950人", False, s) for m, s in ((2.5, 0.1), (0.0, 0.4), (-3.0, 0.8), (-1e9, 0.0))]
    w_margin, w_support, bias = fit_confidence(cases)
    assert w_margin > 0 and w_support > 0 and abs(bias) < 100


def test_train_reader_names_missing_data_and_exits_2(tmp_path, capsys):
    assert main(["train-reader", "--data", str(tmp_path / "absent.json"), "--work", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(not CMRC_TRAIN.is_file(), reason=f"CMRC 2018 train not at {CMRC_TRAIN}")
def test_a_few_training_steps_export_a_loadable_reader_and_resume(tmp_path, settings):
    config = TrainConfig(data=str(CMRC_TRAIN), limit=12, epochs=2 / 3, batch_size=8, heldout=0.34,
                         checkpoint_every=1, seed=3)
    out, work = tmp_path / "out", tmp_path / "work"
    manifest = train(config, work, out, settings, command="test")
    assert (out / WEIGHTS_FILE).is_file() and manifest["steps"] >= 1
    history = manifest["history"]
    assert history and all(row["loss"] > 0 for row in history)
    assert manifest["training"]["questions"] + manifest["training"]["heldout_questions"] <= 12
    reader = Reader.load(out)
    assert reader.threshold == manifest["calibration"]["threshold"]
    again = train(config, work, out, settings, command="test")  # resumes at the last step: nothing to do
    assert json.loads((out / MANIFEST_FILE).read_text())["sha256"] == again["sha256"]
    # the checkpoint lost: the run resumes from the weights it exported, at their step, with their history
    for checkpoint in work.glob("checkpoint-*.pt"):
        checkpoint.unlink()
    history_file = next(work.glob("history-*.jsonl"))
    history_file.unlink()
    resumed = train(config, work, tmp_path / "resumed", settings, command="test", resume_weights=out)
    assert resumed["history"][: len(history)] == history
    assert resumed["steps"] >= manifest["steps"]


@pytest.mark.skipif(not CMRC_TRAIN.is_file(), reason=f"CMRC 2018 train not at {CMRC_TRAIN}")
def test_fine_tuning_an_exported_reader_further_starts_from_its_weights(tmp_path, settings):
    shipped = json.loads((WEIGHTS_DIR / MANIFEST_FILE).read_text())
    config = TrainConfig(data=str(CMRC_TRAIN), limit=12, epochs=1 / 3, batch_size=8, heldout=0.34,
                         checkpoint_every=1, seed=3, learning_rate=1e-5, start_from=shipped["sha256"])
    manifest = train(config, tmp_path / "work", tmp_path / "out", settings, command="test",
                     start_from=WEIGHTS_DIR)
    start = manifest["history"][0]
    assert start["step"] == 0 and start["loss"] is None and start["gold_f1"] > 0.5  # the trained reader, not e5
    assert manifest["training"]["started_from"]["sha256"] == shipped["sha256"]
    assert manifest["training"]["command"].startswith(shipped["training"]["command"])
    assert manifest["heldout"]["gold_f1"] >= start["gold_f1"]  # the start stays the export unless beaten


def test_from_weights_names_a_folder_without_a_reader_and_exits_1(tmp_path, capsys):
    assert main(["train-reader", "--work", str(tmp_path), "--from-weights", str(tmp_path)]) == 1
    assert "manifest" in capsys.readouterr().err


def test_from_weights_refuses_to_write_over_the_reader_it_starts_from(tmp_path, capsys):
    data = tmp_path / "train.json"
    data.write_text('{"data": []}', encoding="utf-8")
    code = main(["train-reader", "--data", str(data), "--work", str(tmp_path), "--from-weights", str(WEIGHTS_DIR),
                 "--out", str(WEIGHTS_DIR)])
    assert code == 2
    assert "--out another folder" in capsys.readouterr().err


def test_resume_weights_refuses_a_reader_trained_with_other_options(tmp_path, capsys):
    data = tmp_path / "train.json"
    data.write_text('{"data": []}', encoding="utf-8")
    code = main(["train-reader", "--data", str(data), "--work", str(tmp_path), "--resume-weights", str(WEIGHTS_DIR)])
    assert code == 2
    assert "other options" in capsys.readouterr().err
