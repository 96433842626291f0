"""``qa train-reader``: data preparation, calibration, and a real few-step training run."""

from __future__ import annotations

import json

import pytest

from qa.cli import main
from qa.reader import MANIFEST_FILE, WEIGHTS_FILE, Reader
from qa.settings import CMRC_TRAIN
from qa.training import Case, Example, TrainConfig, anchor, choose_threshold, platt, split_heldout, train


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


def test_threshold_is_squad2_best_f1():
    right = [Case(m, "1.99亿元", ("1.99亿元",), True) for m in (5.0, 4.0, 1.0)]
    wrong = [Case(m, "120人", ("1950人",), True) for m in (3.0, 0.5)]
    unanswerable = [Case(m, "某处", ("1950人",), False) for m in (2.0, 0.8, 0.7)]
    threshold = choose_threshold(right + wrong + unanswerable)
    # above 3.0: two F1 1 + three abstentions = 5; above 2.0 adds the wrong answer's F1 0.5 = 5.5; above 1.0
    # answers the 2.0 unanswerable = 4.5; above 0.8 adds one more right = 5.5 (a tie goes to the lower threshold);
    # lower answers more unanswerables for one F1 0.5
    assert 0.8 <= threshold < 1.0
    a, b = platt(right + wrong + unanswerable)
    assert a > 0


def test_platt_stays_finite_when_a_question_has_no_span():
    cases = [Case(m, "1.99亿元", ("1.99亿元",), True) for m in (5.0, 4.0)] + [Case(-1e9, "", ("1950人",), True)]
    cases += [Case(m, "某处", ("1950人",), False) for m in (-2.0, 4.5)]
    a, b = platt(cases)
    assert 0 < a < 100 and abs(b) < 100


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
