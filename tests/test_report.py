"""``barrage report``: learning curves and a self-contained HTML page, for finished,
partial (stopped) and resumed runs."""

from __future__ import annotations

import base64
import html.parser
import io
import shutil

import keras
import matplotlib.image
import pandas as pd
import pytest
from click.testing import CliRunner

from barrage import BarrageModel, hookimpl
from barrage.cli import cli
from barrage.manifest import Manifest, best_checkpoint_digest
from barrage.report import Run, html_page
from barrage.runtime import Runtime
from test_cli_basics import _probe

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input"}


def invoke(*args, runtime=None):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={"runtime": runtime} if runtime else None)


class Page(html.parser.HTMLParser):
    """Checks that tags nest and close, and collects images and links."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list = []
        self.images: list = []
        self.references: list = []
        self.problems: list = []
        self.text: list = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        self.references.extend(v for k, v in attrs if k in ("href", "src") and not v.startswith("data:"))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"unexpected </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def one_epoch_run(tmp_path, config, records):
    """A run of one epoch in ``tmp_path / "run"``."""
    config["solver"]["epochs"] = 1
    BarrageModel(tmp_path / "run").train(config, records(32, seed=1), records(16, seed=2), verbose=0)
    return tmp_path / "run"


def parsed(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page.problems and not page.open, (page.problems, page.open)
    assert not page.references  # self-contained: nothing outside the file
    return page


def png_size(content: bytes):
    assert content.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(content), format="png").shape


def embedded(page: Page):
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in page.images)
    return [base64.b64decode(src[len(prefix):]) for src in page.images]


class StopAfterEpoch(keras.callbacks.Callback):
    """Ctrl-C after epoch ``epoch`` (counted from 0) ends."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt()


class Stopper:
    @hookimpl
    def barrage_callbacks(self, context):
        return [StopAfterEpoch(1)]


def test_a_finished_run_with_an_evaluation(tmp_path, config, records):
    config["solver"]["epochs"] = 3
    BarrageModel(tmp_path / "run").train(config, records(48, seed=1), records(16, seed=2), verbose=0)
    pd.DataFrame(records(20, seed=3)).to_csv(tmp_path / "data.csv", index=False)
    assert invoke("evaluate", tmp_path / "run", tmp_path / "data.csv").exit_code == 0
    done = invoke("report", tmp_path / "run")
    assert done.exit_code == 0, done.output
    folder = tmp_path / "run" / "report"
    assert sorted(p.name for p in folder.iterdir()) == ["confusion_label.png", "learning_curves.png", "report.html"]
    assert f"wrote {folder / 'report.html'}" in done.output
    height, width, _ = png_size((folder / "learning_curves.png").read_bytes())
    assert width > height > 100  # loss, accuracy and learning-rate panels side by side
    assert png_size((folder / "confusion_label.png").read_bytes())[0] > 100
    page = parsed(folder / "report.html")
    pictures = embedded(page)
    assert pictures == [(folder / "learning_curves.png").read_bytes(), (folder / "confusion_label.png").read_bytes()]
    text = " ".join(page.text)
    for expected in ("finished", "3 of at most 3", "best epoch", "20 record(s) of", "label · predictions · accuracy",
                     '"sparse_categorical_crossentropy"', "Resolved config"):
        assert expected in text, expected
    probe = _probe("report", str(tmp_path / "run"), "-o", str(tmp_path / "again"))
    assert probe["code"] == 0 and probe["heavy"] == [], probe  # matplotlib only, no TensorFlow
    assert (tmp_path / "again" / "report.html").read_text() == (folder / "report.html").read_text()


def test_a_stopped_run_gets_a_partial_report_and_the_resumed_run_a_whole_one(tmp_path, config, records):
    config["solver"]["epochs"] = 4
    runtime = Runtime()
    runtime.register_plugin(Stopper(), "stopper")
    with pytest.raises(KeyboardInterrupt):
        BarrageModel(tmp_path / "run", runtime).train(config, records(48, seed=1), records(16, seed=2), verbose=0)
    assert not Manifest(str(tmp_path / "run")).finished()
    partial = invoke("report", tmp_path / "run", "-o", tmp_path / "partial")
    assert partial.exit_code == 0, partial.output
    text = " ".join(parsed(tmp_path / "partial" / "report.html").text)
    assert "stopped before it finished (a partial report)" in text and "2 of at most 4" in text
    assert not (tmp_path / "partial" / "confusion_label.png").exists()  # no evaluation yet
    png_size((tmp_path / "partial" / "learning_curves.png").read_bytes())
    pd.DataFrame(records(20, seed=3)).to_csv(tmp_path / "data.csv", index=False)
    assert invoke("evaluate", tmp_path / "run", tmp_path / "data.csv").exit_code == 0  # of epoch 2's checkpoint
    evaluated = best_checkpoint_digest(str(tmp_path / "run"))

    BarrageModel(tmp_path / "run", Runtime()).train(config, records(48, seed=1), records(16, seed=2), resume=True,
                                                    verbose=0)
    kept = invoke("report", tmp_path / "run", "-o", tmp_path / "partial")
    assert kept.exit_code == 2 and "partial: already exists; remove it or pass --overwrite" in kept.output
    whole = invoke("report", tmp_path / "run", "-o", tmp_path / "partial", "--overwrite")
    assert whole.exit_code == 0, whole.output
    text = " ".join(parsed(tmp_path / "partial" / "report.html").text)
    assert "finished" in text and "4 of at most 4" in text and "partial report" not in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".barrage-tmp-")]
    # the evaluation shown is of the checkpoint before resuming, and the report says so
    assert best_checkpoint_digest(str(tmp_path / "run")) != evaluated  # epochs 3 and 4 did better
    assert "warning: this evaluation is of an earlier best checkpoint" in whole.output
    assert "this evaluation is of an earlier best checkpoint" in text
    assert invoke("evaluate", tmp_path / "run", tmp_path / "data.csv").exit_code == 0
    fresh = invoke("report", tmp_path / "run", "-o", tmp_path / "fresh")
    assert fresh.exit_code == 0 and "warning" not in fresh.output
    assert "earlier best checkpoint" not in (tmp_path / "fresh" / "report.html").read_text()


def test_a_run_before_its_first_epoch_ended(tmp_path, config, records):
    one_epoch_run(tmp_path, config, records)
    shutil.copytree(tmp_path / "run", tmp_path / "early")
    (tmp_path / "early" / "training_report.csv").unlink()
    (tmp_path / "early" / "manifest.json").write_text('{"format": 1, "files": {}}')
    done = invoke("report", tmp_path / "early")
    assert done.exit_code == 0, done.output
    text = " ".join(parsed(tmp_path / "early" / "report" / "report.html").text)
    assert "0 of at most 1" in text
    png_size((tmp_path / "early" / "report" / "learning_curves.png").read_bytes())


@pytest.mark.parametrize("content, problem", [
    (b"epoch,loss\n0,\xff\xfe\n", "damaged: not UTF-8 text"),
    (b"garbage,here\n1,2\n", "damaged: its header has no 'epoch' column"),
    (b"", None),  # empty: no epoch yet, as before the first one ended
])
def test_a_damaged_training_report_is_named_not_read_as_no_epoch(tmp_path, config, records, content, problem):
    one_epoch_run(tmp_path, config, records)
    (tmp_path / "run" / "training_report.csv").write_bytes(content)
    done = invoke("report", tmp_path / "run")
    if problem is None:
        assert done.exit_code == 0, done.output
        return
    assert done.exit_code == 2
    assert f"training_report.csv: {problem}" in done.output
    assert not (tmp_path / "run" / "report").exists()


def test_a_damaged_evaluation_is_left_out_with_a_warning(tmp_path, config, records):
    one_epoch_run(tmp_path, config, records)
    (tmp_path / "run" / "evaluation.json").write_text('{"keras": 5}')
    done = invoke("report", tmp_path / "run")
    assert done.exit_code == 0, done.output
    assert "evaluation.json: damaged (no 'outputs'); the report leaves the evaluation out" in done.output
    assert (tmp_path / "run" / "report" / "report.html").is_file()


def test_overwrite_replaces_an_earlier_report_never_a_folder_of_the_users(tmp_path, config, records):
    one_epoch_run(tmp_path, config, records)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x,y\n1,2\n")
    refused = invoke("report", tmp_path / "run", "-o", data, "--overwrite")
    assert refused.exit_code == 2 and "is a folder that holds no report (no report.html)" in refused.output
    assert [p.name for p in data.iterdir()] == ["train.csv"]
    assert invoke("report", tmp_path / "run", "-o", tmp_path / "first").exit_code == 0
    again = invoke("report", tmp_path / "run", "-o", tmp_path / "first", "--overwrite")
    assert again.exit_code == 0, again.output
    (tmp_path / "empty").mkdir()
    assert invoke("report", tmp_path / "run", "-o", tmp_path / "empty", "--overwrite").exit_code == 0


def test_the_page_escapes_what_it_shows():
    run = Run(root="r", config={"note": "<script>alert(1)</script>"}, rows=[], finished=False,
              network_params={"x": "<b>"})
    page = html_page(run, PNG_SIGNATURE, {})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<b>" not in page


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    missing = invoke("report", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "no such artifact directory" in missing.output
    (tmp_path / "empty").mkdir()
    empty = invoke("report", tmp_path / "empty")
    assert empty.exit_code == 2 and "incomplete artifact directory, missing config.json" in empty.output
    assert list((tmp_path / "empty").iterdir()) == []


def test_overwriting_a_report_that_is_a_link_replaces_the_link_only(tmp_path, config, records):
    one_epoch_run(tmp_path, config, records)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not Barrage's")
    (tmp_path / "run" / "report").symlink_to(elsewhere, target_is_directory=True)
    done = invoke("report", tmp_path / "run", "--overwrite")
    assert done.exit_code == 0, done.output
    assert not (tmp_path / "run" / "report").is_symlink() and (tmp_path / "run" / "report" / "report.html").is_file()
    assert (elsewhere / "keep.txt").read_text() == "not Barrage's"
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".barrage-tmp-")]
