"""Data at scale: streamed training, chunked scoring into files, shards and progress.

Streamed files here are tiny but cut into many small row groups (or chunks), so that
every code path that only matters for large files runs: shuffling across fragments,
chunk boundaries inside batches, one hook call per chunk, shards on row-group edges.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from barrage import BarrageModel, IdentityTransformer, KeySelector, RecordMode, hookimpl
from barrage.cli import cli
from barrage.progress import Progress
from barrage.records import RecordStream, RecordTable, open_records
from barrage.runtime import default_runtime, reset_default_runtime
from barrage.sources import StreamSource, make_batch_source
from sample_data import BASE_CONFIG, make_records

ROW_GROUP = 17  # rows per Parquet row group in these tests
SCORED = 150  # records of the scoring file: 8 row groups of 17 and one of 14


def labelled_frame(count: int, seed: int) -> pd.DataFrame:
    frame = pd.DataFrame(make_records(count, seed))
    frame.insert(0, "id", [f"r{seed}-{i:04d}" for i in range(count)])
    return frame


def write(frame: pd.DataFrame, path: Any) -> str:
    path = str(path)
    if path.endswith(".parquet"):
        frame.to_parquet(path, row_group_size=ROW_GROUP, index=False)
    elif path.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif path.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_json(path, orient="records")
    return path


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def small_config(**dataset: Any) -> Dict[str, Any]:
    config = copy.deepcopy(BASE_CONFIG)
    config["dataset"].update(dataset)
    config["solver"]["epochs"] = 1
    config["services"] = {"tensorboard": None}
    return config


# -- training from a stream -----------------------------------------------------------------


def test_streamed_training_matches_in_memory_training_with_shuffling_off(tmp_path, monkeypatch):
    train = write(labelled_frame(240, 1), tmp_path / "train.parquet")
    validation = write(labelled_frame(60, 2), tmp_path / "validation.parquet")
    passes: List[int] = []
    original = StreamSource._pass
    monkeypatch.setattr(StreamSource, "_pass", lambda self, *a: passes.append(1) or original(self, *a))
    runs = {}
    for streaming in (True, False):
        config = small_config(streaming=streaming, shuffle=False)
        config["dataset"]["transformer"] = {"import": "Standardizer", "params": {"inputs": ["features"]}}
        config["solver"]["epochs"] = 2
        artifact_dir = str(tmp_path / f"streamed-{streaming}")
        BarrageModel(artifact_dir).train(config, train, validation, verbose=0)
        model = BarrageModel(artifact_dir).load()
        with open(os.path.join(artifact_dir, "dataset", "standardizer.json"), encoding="utf-8") as handle:
            statistics = json.load(handle)
        runs[streaming] = (pd.read_csv(os.path.join(artifact_dir, "training_report.csv")), statistics,
                           model.network.get_weights())
        if streaming:
            assert passes, "streaming: true did not train from a stream"
            passes.clear()
    assert not passes, "streaming: false streamed"
    (streamed_report, streamed_stats, streamed_weights), (report, stats, weights) = runs[True], runs[False]
    for column in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(streamed_report[column], report[column], rtol=1e-5)
    inputs, streamed_inputs = stats["inputs"], streamed_stats["inputs"]
    assert streamed_inputs["features"]["count"] == inputs["features"]["count"] == 240
    for key in ("mean", "std"):
        np.testing.assert_allclose(streamed_inputs["features"][key], inputs["features"][key], rtol=1e-12)
    for got, expected in zip(streamed_weights, weights):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def numbered_stream(tmp_path: Any, count: int = 200) -> RecordStream:
    frame = pd.DataFrame({"n": np.arange(count), "copies": np.arange(count) % 3})
    return RecordStream(write(frame, tmp_path / "numbered.parquet"))


def drawn_numbers(stream: RecordStream, passes: int = 2, start_batch: int = 0, **options: Any) -> List[np.ndarray]:
    """The record numbers (column ``n``) of the first ``passes`` passes, pass by pass."""
    loader = KeySelector(RecordMode.TRAIN, inputs={"n": "n"}, outputs={"y": "n"})
    options = {"batch_size": 16, "seed": 5, "shuffle_buffer": 50, **options}
    source = make_batch_source(stream, mode=RecordMode.TRAIN, loader=loader,
                               transformer=IdentityTransformer(RecordMode.TRAIN, loader), **options)
    batches = source.dataset(start_batch).take(passes * source.batches_per_pass - start_batch)
    numbers = np.concatenate([np.ravel(inputs["n"].numpy()) for inputs, _ in batches]).astype(int)
    per_pass = len(numbers) // passes if not start_batch else len(numbers)
    return [numbers[i:i + per_pass] for i in range(0, len(numbers), per_pass)]


@pytest.mark.parametrize("per_record", [False, True], ids=["columns", "per-record"])
def test_streamed_shuffling_visits_every_record_once_per_pass_in_a_seeded_order(tmp_path, per_record):
    stream = numbered_stream(tmp_path)
    first, second = drawn_numbers(stream, per_record=per_record)
    assert sorted(first) == sorted(second) == list(range(200))
    assert list(first) != list(range(200)) and list(first) != list(second)  # shuffled, anew each pass
    assert len(set(first[:16] // ROW_GROUP)) > 1  # a batch mixes row groups (the shuffle buffer)
    again = drawn_numbers(stream, per_record=per_record)
    assert all(np.array_equal(a, b) for a, b in zip(again, [first, second]))
    other_seed = drawn_numbers(stream, per_record=per_record, seed=6)
    assert not np.array_equal(other_seed[0], first)
    resumed = drawn_numbers(stream, per_record=per_record, start_batch=5)[0]
    np.testing.assert_array_equal(resumed, np.concatenate([first, second])[5 * 16:])


def test_streamed_sample_count_repeats_records_and_shuffle_off_keeps_file_order(tmp_path):
    stream = numbered_stream(tmp_path)
    (counted,) = drawn_numbers(stream, passes=1, sample_count="copies")
    assert np.array_equal(np.bincount(counted, minlength=200), np.arange(200) % 3)
    (ordered,) = drawn_numbers(stream, passes=1, shuffle=False)
    np.testing.assert_array_equal(ordered, np.arange(200))


def test_streaming_auto_streams_files_too_large_for_a_quarter_of_memory(tmp_path, monkeypatch):
    import barrage.records as records

    path = write(labelled_frame(40, 0), tmp_path / "train.parquet")
    assert isinstance(open_records(path), RecordTable)
    needed = RecordStream(path).estimated_bytes()
    monkeypatch.setattr(records, "physical_memory", lambda: 4 * needed - 4)
    assert isinstance(open_records(path), RecordStream)
    assert isinstance(open_records(path, streaming=False), RecordTable)
    array = write(labelled_frame(40, 0), tmp_path / "train.json")
    assert isinstance(open_records(array, streaming=True), RecordTable)  # a JSON array is read whole
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in range(3):
        write(labelled_frame(10, part), folder / f"part-{part}.parquet")
    assert len(open_records(str(folder), streaming=True)) == 30
    assert len(open_records(str(folder / "part-*.parquet"), streaming=True)) == 30


# -- scoring into files ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoring(tmp_path_factory: Any) -> Dict[str, Any]:
    """A trained model and the records to score (150, in every input format)."""
    folder = tmp_path_factory.mktemp("scoring")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BARRAGE_DISABLE_PLUGINS", "mlflow")
        reset_default_runtime()
        BarrageModel(str(folder / "run")).train(small_config(), make_records(96, 1), make_records(32, 2), verbose=0)
        reset_default_runtime()
    frame = labelled_frame(SCORED, 9).drop(columns=["label", "target"])
    files = {extension: write(frame, folder / f"score{extension}") for extension in (".parquet", ".csv", ".jsonl")}
    return {"run": str(folder / "run"), "frame": frame, "files": files}


def expected_scores(scoring: Dict[str, Any]) -> np.ndarray:
    scores = BarrageModel(scoring["run"]).predict(scoring["frame"])
    return np.stack([score["label"] for score in scores])


def read_scores(path: str) -> pd.DataFrame:
    """A scores file as a frame with the ``id`` column and ``label`` as one array per row."""
    if path.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif path.endswith(".csv"):
        flat = pd.read_csv(path)
        assert list(flat.columns) == ["id", "label_0", "label_1"]  # kept columns first, vectors split
        frame = pd.DataFrame({"id": flat["id"], "label": list(flat[["label_0", "label_1"]].to_numpy())})
    elif path.endswith(".jsonl"):
        frame = pd.read_json(path, lines=True)
    else:
        with open(path, encoding="utf-8") as handle:
            frame = pd.DataFrame(json.load(handle))
    assert list(frame.columns) == ["id", "label"]
    return frame


@pytest.mark.parametrize("extension", [".parquet", ".csv", ".json", ".jsonl"])
def test_every_output_format_reads_back_as_the_scores_predict_returns(scoring, tmp_path, extension):
    output = str(tmp_path / f"scores{extension}")
    written = BarrageModel(scoring["run"]).score_file(scoring["files"][".parquet"], output, keep=["id"])
    assert written == SCORED
    frame = read_scores(output)
    assert list(frame["id"]) == list(scoring["frame"]["id"])
    np.testing.assert_allclose(np.stack(frame["label"]), expected_scores(scoring), rtol=1e-6, atol=1e-7)
    assert [name for name in os.listdir(tmp_path) if name.startswith(".barrage-tmp")] == []


@pytest.mark.parametrize("extension", [".parquet", ".csv", ".jsonl"])
def test_sharded_outputs_concatenate_to_the_unsharded_output(scoring, tmp_path, extension):
    data = scoring["files"][extension]
    whole = tmp_path / "whole.parquet"
    assert invoke("score", scoring["run"], data, "-o", whole, "--keep", "id", "--quiet").exit_code == 0
    shards = []
    for number in (1, 2, 3):
        output = tmp_path / f"shard-{number}.parquet"
        result = invoke("score", scoring["run"], data, "-o", output, "--keep", "id", "--shard", f"{number}/3",
                        "--quiet")
        assert result.exit_code == 0, result.output
        shards.append(pd.read_parquet(output))
    pd.testing.assert_frame_equal(pd.concat(shards, ignore_index=True), pd.read_parquet(whole))
    sizes = [len(shard) for shard in shards]
    assert sum(sizes) == SCORED and min(sizes) > 0
    if extension == ".parquet":  # shards end on row-group edges
        assert all(size % ROW_GROUP == 0 for size in sizes[:-1]), sizes


def test_sharding_records_in_memory_and_bad_shards(scoring, tmp_path):
    model = BarrageModel(scoring["run"])
    parts = []
    for number in range(4):
        output = str(tmp_path / f"part-{number}.jsonl")
        model.score_file(scoring["frame"], output, keep=["id"], shard=_shard(number, 4))
        parts.append(pd.read_json(output, lines=True))
    assert list(pd.concat(parts)["id"]) == list(scoring["frame"]["id"])
    from barrage import DataError

    for index, count in ((4, 4), (-1, 4), (0, 0)):  # in memory as from a file: one clear error, nothing written
        with pytest.raises(DataError, match=rf"shard {index + 1}/{count}: the "):
            model.score_file(scoring["frame"], str(tmp_path / "none.csv"), shard=_shard(index, count))
    assert not (tmp_path / "none.csv").exists()
    model.score_file(scoring["frame"][:5], str(tmp_path / "one.csv"), keep="id")  # one column, named alone
    assert list(pd.read_csv(tmp_path / "one.csv")["id"]) == list(scoring["frame"]["id"][:5])
    for text in ("4/3", "0/3", "a/b", "3", "1_0/2_0", "\uff11/\uff12", "1/0"):
        result = invoke("score", scoring["run"], scoring["files"][".csv"], "-o", tmp_path / "s.csv", "--shard", text)
        assert result.exit_code == 2 and f"--shard {text}:" in result.output, result.output
        assert not (tmp_path / "s.csv").exists()


def _shard(index: int, count: int) -> Any:
    from barrage.scoring import Shard

    return Shard(index, count)


def test_keep_names_a_missing_column_or_a_clash_and_writes_nothing(scoring, tmp_path):
    output = tmp_path / "scores.csv"
    missing = invoke("score", scoring["run"], scoring["files"][".parquet"], "-o", output, "--keep", "nope")
    assert missing.exit_code == 2 and "--keep nope:" in missing.output and "missing key 'nope'" in missing.output
    labelled = write(labelled_frame(20, 3), tmp_path / "labelled.parquet")
    clash = invoke("score", scoring["run"], labelled, "-o", output, "--keep", "label")
    assert clash.exit_code == 2 and "--keep label: the scores have an output named 'label'" in clash.output
    # in CSV the vector output 'label' is the columns label_0 and label_1: a kept label_1 would be overwritten
    split = write(labelled_frame(20, 3).rename(columns={"label": "label_1"}), tmp_path / "split.parquet")
    clash = invoke("score", scoring["run"], split, "-o", output, "--keep", "label_1")
    assert clash.exit_code == 2 and "--keep label_1: the CSV scores have a column named 'label_1'" in clash.output
    assert sorted(os.listdir(tmp_path)) == ["labelled.parquet", "split.parquet"]


def test_scores_never_replace_their_input(scoring, tmp_path):
    data = tmp_path / "records.csv"
    scoring["frame"][:10].to_csv(data, index=False)
    before = data.read_bytes()
    result = invoke("score", scoring["run"], data, "-o", data, "--overwrite")
    assert result.exit_code == 2 and f"{data}: is the input" in result.output
    assert data.read_bytes() == before


def test_a_keep_clash_is_refused_before_anything_is_predicted(scoring, tmp_path, monkeypatch):
    from barrage import DataError
    from barrage.scoring import Scorer

    predicted = []
    monkeypatch.setattr(Scorer, "_predict", lambda self, source: predicted.append(source) or {})
    frame = labelled_frame(20, 3).rename(columns={"label": "label_0"})
    with pytest.raises(DataError, match="--keep label_0: the CSV scores have a column named 'label_0'"):
        BarrageModel(scoring["run"]).score_file(frame, str(tmp_path / "scores.csv"), keep=["label_0"])
    assert predicted == [] and os.listdir(tmp_path) == []


def test_a_keep_named_like_an_output_a_plugin_renames_is_not_refused(scoring, tmp_path):
    """barrage_post_score may change the score columns: they are only known once scored."""
    from barrage import Runtime
    from barrage.hookspecs import hookimpl

    class Renamer:
        @hookimpl
        def barrage_post_score(self, context, scores):
            return [{"score": score["label"]} for score in scores]

    runtime = Runtime()
    runtime.register_plugin(Renamer(), "renamer")
    frame = labelled_frame(20, 3)
    output = str(tmp_path / "scores.jsonl")
    BarrageModel(scoring["run"], runtime=runtime).score_file(frame, output, keep=["label"])
    written = pd.read_json(output, lines=True)
    assert list(written.columns) == ["label", "score"] and list(written["label"]) == list(frame["label"])


@pytest.mark.parametrize("extension", [".csv", ".jsonl", ".parquet"])
def test_kept_columns_keep_their_first_chunks_type_and_missing_values_are_null(
        scoring, tmp_path, monkeypatch, extension):
    """A CSV is read in chunks whose types are guessed one by one: an integer identifier
    with a missing value in the second chunk comes back as floats, a note column is text
    with gaps (NaN to pandas). The output keeps integers, writes missing values as
    missing (null, or an empty CSV cell; never NaN or 'nan'), and a code that turns to
    text in a later chunk is refused naming the column and the chunk's first record."""
    import barrage.records.files as files

    monkeypatch.setattr(files, "CHUNK_ROWS", 64)
    frame = scoring["frame"].copy()
    frame["customer"] = pd.array([None if i == 100 else 1000 + i for i in range(SCORED)], dtype="Int64")
    frame["note"] = [None if i % 3 else f"n{i}" for i in range(SCORED)]
    data = write(frame, tmp_path / "keep.csv")
    output = str(tmp_path / f"scores{extension}")
    BarrageModel(scoring["run"]).score_file(data, output, keep=["customer", "note"])
    if extension == ".jsonl":
        lines = open(output, encoding="utf-8").read().splitlines()
        assert "NaN" not in "".join(lines)
        records = [json.loads(line) for line in lines]
        customers, notes = [r["customer"] for r in records], [r["note"] for r in records]
    elif extension == ".csv":
        text = pd.read_csv(output, dtype=str, keep_default_na=False)
        assert text["customer"][0] == "1000"  # not 1000.0
        customers = [int(v) if v else None for v in text["customer"]]
        notes = [v or None for v in text["note"]]
    else:
        table = __import__("pyarrow.parquet", fromlist=["read_table"]).read_table(output)
        assert str(table.schema.field("customer").type) == "int64"
        customers, notes = table.column("customer").to_pylist(), table.column("note").to_pylist()
    assert customers == [None if i == 100 else 1000 + i for i in range(SCORED)]
    assert all(type(customer) is int for customer in customers if customer is not None)
    assert notes == [None if i % 3 else f"n{i}" for i in range(SCORED)]
    frame["code"] = [str(i) if i < 70 else f"A{i}" for i in range(SCORED)]  # digits, then text from record 70
    coded = write(frame, tmp_path / "code.csv")
    from barrage import DataError

    with pytest.raises(DataError, match=r"--keep code: the values from record 64 on do not fit the column's type "
                                        r"in the records before \(int64\)"):
        BarrageModel(scoring["run"]).score_file(coded, str(tmp_path / f"coded{extension}"), keep=["code"])
    assert not os.path.exists(tmp_path / f"coded{extension}")


def test_kept_columns_of_other_types(scoring, tmp_path):
    """Timestamps become ISO 8601 text in JSON; lists are refused for CSV (which has
    no lists) and kept as lists elsewhere."""
    frame = scoring["frame"].head(5).copy()
    frame["when"] = pd.to_datetime(["2024-01-02", None, "2024-03-04 05:06:07", "2024-01-01", "2024-01-01"],
                                   format="mixed")
    frame["tags"] = [["a"], [], ["b", "c"], ["d"], ["e"]]
    data = write(frame, tmp_path / "typed.parquet")
    model = BarrageModel(scoring["run"])
    model.score_file(data, str(tmp_path / "s.jsonl"), keep=["when", "tags"])
    records = [json.loads(line) for line in open(tmp_path / "s.jsonl", encoding="utf-8")]
    assert [r["when"] for r in records][:3] == ["2024-01-02T00:00:00", None, "2024-03-04T05:06:07"]
    assert [r["tags"] for r in records][:3] == [["a"], [], ["b", "c"]]
    from barrage import DataError

    with pytest.raises(DataError, match=r"--keep tags: a column of list<item: string> cannot be written to CSV"):
        model.score_file(data, str(tmp_path / "s.csv"), keep=["tags"])


def test_score_reports_progress_on_stderr_unless_quiet(scoring, tmp_path):
    loud = invoke("score", scoring["run"], scoring["files"][".jsonl"], "-o", tmp_path / "a.csv")
    assert loud.exit_code == 0, loud.output
    assert f"{SCORED} / {SCORED} records scored (100%)" in loud.stderr and "records/s" in loud.stderr
    assert loud.stdout.strip() == f"wrote {SCORED} scores to {tmp_path / 'a.csv'}"
    quiet = invoke("score", scoring["run"], scoring["files"][".jsonl"], "-o", tmp_path / "b.csv", "--quiet")
    assert quiet.exit_code == 0 and "records scored" not in quiet.stderr
    failed = invoke("score", scoring["run"], scoring["files"][".jsonl"], "-o", tmp_path / "c.csv", "--keep", "nope")
    assert failed.exit_code == 2 and "records scored" not in failed.stderr  # the error alone, no "0 / N"


def test_progress_lines_on_a_terminal_and_in_a_log():
    progress = Progress(1000)
    progress.started, progress.done = 100.0, 250
    assert progress.line(110.0) == "250 / 1,000 records scored (25%), 25 records/s, 30 s left"
    progress.done = 1000
    assert progress.line(110.0) == "1,000 / 1,000 records scored (100%), 100 records/s"
    unknown = Progress(None, label="read")
    unknown.started, unknown.done = 0.0, 7200
    assert unknown.line(2.0) == "7,200 records read, 3,600 records/s"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(20, stream=stream, interval=3600)
        for _ in range(4):
            progress.update(5)
        progress.close()
    assert terminal.getvalue().count("\r\033[K") == 5 and terminal.getvalue().endswith("records/s\n")
    assert terminal.getvalue().count("\n") == 1  # redrawn in place, one line at the end
    assert log.getvalue().count("\n") == 2  # the first update, then the interval, then the end
    cut = Terminal()
    stopped = Progress(20, stream=cut, interval=3600)
    stopped.update(5)
    stopped.close(failed=True)  # the line drawn in place is ended, not redrawn, before the error
    assert cut.getvalue().count("\r\033[K") == 1 and cut.getvalue().endswith("\n")
    never = io.StringIO()
    Progress(20, stream=never).close(failed=True)
    assert never.getvalue() == ""
    silent = io.StringIO()
    quiet = Progress(20, stream=silent, quiet=True)
    quiet.update(20)
    quiet.close()
    assert silent.getvalue() == ""


def test_post_score_runs_per_chunk_and_score_end_once(scoring, tmp_path):
    class Tagger:
        def __init__(self) -> None:
            self.chunks: List[int] = []
            self.ends: List[int] = []

        @hookimpl
        def barrage_post_score(self, context, scores):
            self.chunks.append(len(scores))
            return [{**score, "tagged": 1} for score in scores]

        @hookimpl
        def barrage_score_end(self, context, count):
            self.ends.append(count)

    tagger = Tagger()
    default_runtime().register_plugin(tagger, "tagger")
    output = str(tmp_path / "scores.parquet")
    BarrageModel(scoring["run"]).score_file(scoring["files"][".parquet"], output)
    assert tagger.chunks == [ROW_GROUP] * 8 + [SCORED - 8 * ROW_GROUP]  # one call per row group
    assert tagger.ends == [SCORED]
    assert list(pd.read_parquet(output)["tagged"]) == [1] * SCORED


def test_post_score_results_that_cannot_be_used_name_the_plugin_or_the_output(scoring, tmp_path):
    """A plugin dropping a record is named; scores no format can hold are one error
    naming the output, not an internal error; nothing is written either way."""
    from barrage import DataError, PluginError
    from barrage.runtime import Runtime

    class Dropper:
        @hookimpl
        def barrage_post_score(self, context, scores):
            return scores[1:]

    class Opaque:
        @hookimpl
        def barrage_post_score(self, context, scores):
            return [{**score, "thing": object()} for score in scores]

    for plugin, error, message in ((Dropper(), PluginError, r"^plugin 'dropper' \(drop-dist 1\.0\) returned 16 scores "
                                                            r"for 17 records in barrage_post_score$"),
                                   (Opaque(), DataError, r"opaque\.(parquet|jsonl): the scores cannot be written as")):
        runtime = Runtime()
        name = type(plugin).__name__.lower()
        runtime.register_plugin(plugin, name, "drop-dist" if name == "dropper" else "", "1.0")
        for extension in (".parquet", ".jsonl"):
            output = tmp_path / f"{name}{extension}"
            with pytest.raises(error, match=message):
                BarrageModel(scoring["run"], runtime).score_file(scoring["files"][".parquet"], str(output))
            assert not output.exists()
    assert os.listdir(tmp_path) == []


def test_predict_columns_and_every_kind_of_input_give_the_same_scores(scoring):
    model = BarrageModel(scoring["run"])
    expected = expected_scores(scoring)
    columns = model.predict_columns(scoring["frame"])
    assert list(columns) == ["label"] and columns["label"].shape == (SCORED, 2)
    np.testing.assert_allclose(columns["label"], expected, rtol=1e-6)
    as_dicts = model.predict_columns(scoring["frame"].to_dict("records"))["label"]
    np.testing.assert_array_equal(as_dicts, columns["label"])
    for path in scoring["files"].values():
        np.testing.assert_allclose(model.predict_columns(path)["label"], expected, rtol=1e-6)


# -- memory ------------------------------------------------------------------------------------


FLAT_MEMORY_SCRIPT = textwrap.dedent("""
    import os, resource, sys
    import numpy as np, pandas as pd
    from barrage import BarrageModel

    folder, rows, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(0)
    names = [f"x{i}" for i in range(16)]

    def frame(count):
        values = rng.normal(size=(count, 16))
        table = pd.DataFrame(values, columns=names)
        table["y"] = values.sum(axis=1)
        return table

    config = {
        "dataset": {"loader": {"import": "KeySelector",
                               "params": {"inputs": {"x": names}, "outputs": {"y": "y"}}}},
        "model": {"network": {"import": "sequential_from_config", "params": {
                      "inputs": {"x": [16]}, "output": "y",
                      "layers": [{"import": "Dense", "params": {"units": 16, "activation": "relu"}},
                                 {"import": "Dense", "params": {"units": 1}}]}},
                  "outputs": [{"name": "y", "loss": {"import": "mse"}}]},
        "solver": {"optimizer": {"import": "Adam", "learning_rate": 0.01}, "batch_size": 4096, "epochs": 1},
        "services": {"tensorboard": None},
    }
    model = BarrageModel(os.path.join(folder, "run"))
    if step == "make":  # the model and the files, in a process of their own
        model.train(config, frame(2000), frame(500), verbose=0)
        frame(rows // 3).to_parquet(os.path.join(folder, "small.parquet"), row_group_size=65536)
        frame(rows).to_parquet(os.path.join(folder, "large.parquet"), row_group_size=65536)
        sys.exit(0)

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux

    score = model.score_file if step == "stream" else lambda data, output: model.predict(data)  # "whole": a control
    score(os.path.join(folder, "small.parquet"), os.path.join(folder, "small.out.parquet"))
    small = peak()
    score(os.path.join(folder, "large.parquet"), os.path.join(folder, "large.out.parquet"))
    print(small, peak())
""")


@pytest.mark.slow
def test_scoring_memory_stays_flat_as_the_file_grows(tmp_path):
    """Scoring 1.2M records x 16 floats (150 MB of float64, as much again in float32 and
    scores) peaks within 64 MiB of scoring a third of them: what is in memory at a time is
    a few chunks, not the file."""
    rows = 1_200_000

    def run(step: str) -> List[float]:
        done = subprocess.run([sys.executable, "-c", FLAT_MEMORY_SCRIPT, str(tmp_path), str(rows), step],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "BARRAGE_DISABLE_PLUGINS": "mlflow", "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert done.returncode == 0, done.stderr[-3000:]
        return [float(value) for value in done.stdout.split()[-2:]]

    run("make")
    small, large = run("stream")
    assert large - small < 64, (small, large)
    assert len(pd.read_parquet(tmp_path / "large.out.parquet", columns=["y"])) == rows


def test_a_later_chunk_typed_otherwise_than_the_first_is_conformed_or_refused(tmp_path, monkeypatch):
    """A CSV read in chunks has each chunk's types guessed from its values: whole numbers
    written as 98.0 later on are still whole numbers; 99.5 where the first chunk had
    integers is refused naming the record, never truncated."""
    import barrage.records.files as files

    monkeypatch.setattr(files, "CHUNK_ROWS", 10)
    loader = KeySelector(RecordMode.TRAIN, inputs={"x": ["a", "b"]}, outputs={"y": "y"})

    def drawn(y_values: List[str]) -> np.ndarray:
        path = tmp_path / "drift.csv"
        path.write_text("a,b,y\n" + "".join(f"{i}.5,1.0,{y}\n" for i, y in enumerate(y_values)))
        source = make_batch_source(RecordStream(str(path)), mode=RecordMode.VALIDATION, loader=loader,
                                   transformer=IdentityTransformer(RecordMode.VALIDATION, loader), batch_size=8)
        import tensorflow as tf

        try:
            return np.concatenate([targets["y"].numpy() for _, targets in source.dataset()])
        except tf.errors.OpError:
            source.raise_pending()  # the record's own error, as the engine raises it
            raise

    whole = drawn([str(v) for v in range(10)] + [f"{v}.0" for v in range(10, 20)])  # the second chunk: floats
    assert whole.dtype == np.int64 and whole.tolist() == list(range(20))
    from barrage import DataError

    with pytest.raises(DataError, match=r"drift\.csv: record 13: y 'y' holds 13\.5, but the file's first chunk "
                                        r"gave whole numbers"):
        drawn([str(v) for v in range(10)] + ["10.0", "11.0", "12.0", "13.5"] + [str(v) for v in range(14, 20)])
    # an identifier past 2**24 cannot come back exactly from float32: refused, not rounded
    with pytest.raises(DataError, match=r"record 11: y 'y' holds 16777228\.0, but the file's first chunk"):
        drawn([str(v) for v in range(10)] + ["10.0", "16777227.0"] + [f"{v}.0" for v in range(12, 20)])


def test_shards_of_uneven_row_groups_are_never_empty(tmp_path):
    """Row groups of 30, 30, 30 and 6 records in 4 shards: snapping every bound to its
    nearest row-group edge would leave one shard empty, so the shards are equal ranges."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "uneven.parquet"
    with pq.ParquetWriter(path, pa.schema([("n", pa.int64())])) as writer:
        for start, size in ((0, 30), (30, 30), (60, 30), (90, 6)):
            writer.write_table(pa.table({"n": np.arange(start, start + size)}))
    stream = RecordStream(str(path))
    shards = [stream.shard(index, 4) for index in range(4)]
    assert [len(shard) for shard in shards] == [24, 24, 24, 24]
    numbers = [n for shard in shards for chunk in shard.chunks() for n in chunk.column("n")]
    assert numbers == list(range(96))
    assert [len(stream.shard(index, 3)) for index in range(3)] == [30, 30, 36]  # edges where they fit


def test_csv_shards_count_records_not_lines(tmp_path, monkeypatch):
    """Blank lines and a quoted line break are lines but not records: each shard still
    holds its own records, once, numbered as in the file."""
    import barrage.records.files as files

    monkeypatch.setattr(files, "CHUNK_ROWS", 2)  # shards start inside a chunk and after several
    path = tmp_path / "gappy.csv"
    path.write_text('n,note\n0,a\n1,"two\nlines"\n\n2,b\n3,c\n\n4,d\n5,e\n6,f\n')
    stream = RecordStream(str(path))
    assert len(stream) == 7
    for count in (2, 3):
        shards = [stream.shard(index, count) for index in range(count)]
        chunks = [chunk for shard in shards for chunk in shard.chunks()]
        assert [int(n) for chunk in chunks for n in chunk.column("n")] == list(range(7))
        assert [int(number) for chunk in chunks for number in chunk.record_numbers(np.arange(len(chunk)))] \
            == list(range(7))


def test_a_damaged_parquet_file_of_a_folder_is_named_and_files_that_differ_a_little_are_read(tmp_path):
    """A truncated or empty file in a folder is one ``DataError`` naming that file,
    whether the folder is read whole, measured (``streaming: auto``) or streamed. Files
    written at different times (a column missing from one, float32 where another holds
    float64) are read together in memory as when streamed."""
    from barrage import DataError
    from barrage.records import read_file

    folder = tmp_path / "parts"
    folder.mkdir()
    frame = labelled_frame(40, 5)
    write(frame, folder / "1.parquet")
    write(frame.drop(columns=["id"]).astype({"f0": "float32"}), folder / "2.parquet")
    whole = read_file(str(folder))
    assert len(whole) == 80 and whole.raw_column("f0").dtype == np.float64
    np.testing.assert_array_equal(whole.raw_column("f0")[40:], frame["f0"].to_numpy(np.float32).astype(np.float64))
    assert whole.raw_column("id")[:2].tolist() == ["r5-0000", "r5-0001"] and pd.isna(whole.raw_column("id")[40:]).all()
    data = (folder / "1.parquet").read_bytes()
    page_header = data[:4] + b"\xff" * 16 + data[20:]  # pyarrow explains this one in two lines
    readers = {"whole": lambda: read_file(str(folder)), "streamed": lambda: list(RecordStream(str(folder)).chunks()),
               "measured": lambda: RecordStream(str(folder)).estimated_bytes()}
    for damaged, failing in ((data[: len(data) // 2], readers), (b"", readers),
                             (page_header, ("whole", "streamed"))):  # its footer, hence its size, is intact
        (folder / "3.parquet").write_bytes(damaged)
        for name in failing:
            with pytest.raises(DataError, match=r"3\.parquet: cannot be read") as raised:
                readers[name]()
            assert "\n" not in str(raised.value)


def test_a_text_column_among_numeric_features_is_named_with_its_first_text_record(tmp_path):
    """Mostly text (so not refused as a few stray values when read): the error names the
    column and the first record that is not a number, as for a few stray values."""
    from barrage import DataError

    frame = labelled_frame(30, 6)
    frame["f1"] = frame["f1"].astype(object)
    frame.loc[5:, "f1"] = "bad"
    table = RecordTable.from_frame(frame, "mostly-text.csv", 1000)
    loader = KeySelector(RecordMode.SCORE, inputs={"x": ["f0", "f1"]})
    with pytest.raises(DataError, match=r"^mostly-text\.csv: column 'f1', record 1005: 'bad' cannot become a number$"):
        loader.load_columns(table)


@pytest.mark.parametrize("extension", [".csv", ".parquet", ".json"])
def test_an_empty_shard_still_writes_the_columns(scoring, tmp_path, extension):
    """Five shards of three records: two are empty, and their files still hold the
    columns (a header-only CSV, a Parquet file with the schema), so that every shard
    reads back and the shards concatenate to the whole."""
    model = BarrageModel(scoring["run"])
    frame = scoring["frame"].head(3)
    whole = tmp_path / f"whole{extension}"
    model.score_file(frame, str(whole), keep=["id"])
    parts = []
    for number in range(5):
        output = tmp_path / f"part-{number}{extension}"
        model.score_file(frame, str(output), keep=["id"], shard=_shard(number, 5))
        parts.append(output)
    read = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": pd.read_json}[extension]
    frames = [read(part) for part in parts]
    assert sorted(len(part) for part in frames) == [0, 0, 1, 1, 1]
    assert all(list(part.columns) == list(read(whole).columns) for part in frames if extension != ".json" or len(part))
    pd.testing.assert_frame_equal(pd.concat([f for f in frames if len(f)], ignore_index=True), read(whole))
