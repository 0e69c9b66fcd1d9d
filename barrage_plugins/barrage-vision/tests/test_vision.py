"""barrage-vision's ``ImageLoader`` and seeded augmentors, as installed, and the example."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from barrage import BarrageModel, DataError, IdentityTransformer, RecordMode
from barrage.cli import cli
from barrage.components import build_augmentors
from barrage.runtime import default_runtime
from barrage.sources import make_batch_source
from barrage.records import read_records
from barrage_vision.images import ImageLoader, random_brightness, random_crop, random_flip

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "vision"  # the repository's examples
AUGMENTORS = {"random_flip": random_flip, "random_crop": random_crop, "random_brightness": random_brightness}


def write_image(path, pixels: np.ndarray) -> str:
    import tensorflow as tf

    encode = tf.io.encode_jpeg if str(path).endswith(".jpg") else tf.io.encode_png
    tf.io.write_file(str(path), encode(pixels))
    return str(path)


def gradient(height=4, width=6) -> np.ndarray:
    """uint8 RGB image whose red channel counts up pixel by pixel, green 0, blue 255."""
    red = (np.arange(height * width) * 10).reshape(height, width)
    return np.stack([red, np.zeros_like(red), np.full_like(red, 255)], axis=-1).astype(np.uint8)


def one_image(image: np.ndarray, label=0):
    return ({"image": image}, {"label": np.asarray(label)})


# -- registration ---------------------------------------------------------------------


def test_loader_and_augmentors_are_listed_as_entry_points_of_the_barrage_vision_distribution():
    result = CliRunner().invoke(cli, ["components", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(row["kind"], row["name"]): row for row in json.loads(result.stdout)}
    expected = [("loader", "ImageLoader")] + [("augmentor", name) for name in AUGMENTORS]
    for kind, name in expected:
        assert rows[(kind, name)]["source"] == f"barrage-vision {metadata.version('barrage-vision')}"
        assert rows[(kind, name)]["target"] == f"barrage_vision.images:{name}"


def test_the_listing_quoted_in_the_plugins_doc_is_the_real_one():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = doc.split("## Installing and uninstalling plugins", 1)[1].split("\n## ", 1)[0]
    result = CliRunner().invoke(cli, ["components", "list", "--source", "barrage-vision"])
    assert result.exit_code == 0, result.output
    assert f"```\n{result.stdout.strip()}\n```" in section, result.stdout


def test_importing_the_plugin_does_not_import_tensorflow(fresh_python):
    fresh_python(
        "import sys\n"
        "import barrage_vision.images\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'barrage-vision imported tensorflow'\n"
    )


# -- ImageLoader ----------------------------------------------------------------------


def test_png_decodes_to_float32_in_unit_range_with_exact_values(tmp_path):
    pixels = gradient()
    path = write_image(tmp_path / "g.png", pixels)
    loader = ImageLoader(RecordMode.TRAIN, image_size=[4, 6])
    x, y = loader.load({"path": path, "label": 1})
    image = x["image"]
    assert image.dtype == np.float32 and image.shape == (4, 6, 3)
    np.testing.assert_allclose(image, pixels / 255.0, atol=1e-6)  # no resize: exact scaling
    assert int(y["label"]) == 1


def test_images_are_resized_converted_and_jpeg_decodes(tmp_path):
    pixels = np.full((10, 12, 3), 200, dtype=np.uint8)
    png = write_image(tmp_path / "flat.png", pixels)
    jpeg = write_image(tmp_path / "flat.jpg", pixels)
    loader = ImageLoader(RecordMode.SCORE, image_size=[5, 7], channels=1, label_key=None)
    for path in (png, jpeg):
        (x,) = loader.load({"path": path})
        assert x["image"].shape == (5, 7, 1)
        np.testing.assert_allclose(x["image"], 200 / 255.0, atol=0.02)  # grey of a flat colour, JPEG loss
        assert 0.0 <= x["image"].min() and x["image"].max() <= 1.0


def test_sixteen_bit_grey_scales_by_its_own_range_and_fills_every_channel(tmp_path):
    import tensorflow as tf

    grey = (np.arange(12, dtype=np.uint16).reshape(3, 4, 1) * 5000)  # up to 55000 of 65535
    path = str(tmp_path / "deep.png")
    tf.io.write_file(path, tf.io.encode_png(grey))
    (x,) = ImageLoader(RecordMode.SCORE, image_size=[3, 4], channels=4, label_key=None).load({"path": path})
    np.testing.assert_allclose(x["image"][..., :3], np.repeat(grey / 65535.0, 3, axis=-1), atol=1e-6)
    np.testing.assert_array_equal(x["image"][..., 3], 1.0)  # opaque alpha


def test_relative_paths_directory_and_class_names(tmp_path):
    write_image(tmp_path / "a.png", gradient())
    loader = ImageLoader(
        RecordMode.VALIDATION, path_key="file", input="picture", label_key="kind", output="animal",
        image_size=[4, 6], directory=str(tmp_path), classes=["cat", "dog"],
    )
    x, y = loader.load({"file": "a.png", "kind": "dog"})
    assert set(x) == {"picture"} and set(y) == {"animal"}
    assert int(y["animal"]) == 1 and y["animal"].dtype == np.int32
    with pytest.raises(ValueError, match=r"label 'fox' is not one of the classes \['cat', 'dog'\]"):
        loader.load({"file": "a.png", "kind": "fox"})


def test_bad_params_and_files_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="needs 'label_key' to train"):
        ImageLoader(RecordMode.TRAIN, label_key=None)
    with pytest.raises(ValueError, match=r"'image_size' must be \[height, width\]"):
        ImageLoader(RecordMode.TRAIN, image_size=[16])
    with pytest.raises(ValueError, match="'channels' must be 1, 3 or 4"):
        ImageLoader(RecordMode.TRAIN, channels=2)
    loader = ImageLoader(RecordMode.TRAIN, image_size=[4, 4])
    with pytest.raises(FileNotFoundError, match="no image file at"):
        loader.load({"path": str(tmp_path / "missing.png"), "label": 0})
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="is not a readable image"):
        loader.load({"path": str(tmp_path / "text.png"), "label": 0})


def test_a_missing_image_is_reported_with_its_record(tmp_path):
    write_image(tmp_path / "ok.png", gradient(4, 4))
    records = [{"path": str(tmp_path / "ok.png"), "label": 0}, {"path": str(tmp_path / "gone.png"), "label": 1}]
    loader = ImageLoader(RecordMode.VALIDATION, image_size=[4, 4])
    transformer = IdentityTransformer(RecordMode.VALIDATION, loader)
    table = read_records(records, "images.csv")
    source = make_batch_source(table, mode=RecordMode.VALIDATION, loader=loader, transformer=transformer, batch_size=2)
    with pytest.raises(DataError, match=r"images.csv: record 1: loader ImageLoader failed: .*gone.png"):
        source.numpy_batches()


# -- augmentors -----------------------------------------------------------------------

IMAGE = np.random.default_rng(0).uniform(0.1, 0.9, size=(6, 5, 3)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(AUGMENTORS))
def test_augmentors_are_deterministic_for_a_seed_and_never_change_their_input(name):
    function = AUGMENTORS[name]
    original = IMAGE.copy()
    outputs = [function(one_image(IMAGE), rng=np.random.default_rng(seed))[0]["image"] for seed in (1, 1, 2, 3, 4, 5)]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert any(not np.array_equal(outputs[0], other) for other in outputs[2:])  # the seed matters
    np.testing.assert_array_equal(IMAGE, original)
    for output in outputs:
        assert output.shape == IMAGE.shape and output.dtype == np.float32


def test_augmentors_keep_labels_and_other_inputs():
    record = ({"image": IMAGE, "meta": np.array([1.0])}, {"label": np.asarray(1)}, {"label": 0.5})
    for function in AUGMENTORS.values():
        augmented = function(record, rng=np.random.default_rng(7))
        assert augmented[1] is record[1] and augmented[2] is record[2]
        assert augmented[0]["meta"] is record[0]["meta"]


def test_random_flip_mirrors_with_its_probability():
    always = random_flip(one_image(IMAGE), rng=np.random.default_rng(0), probability=1.0)[0]["image"]
    np.testing.assert_array_equal(always, IMAGE[:, ::-1])
    vertical = random_flip(one_image(IMAGE), rng=np.random.default_rng(0), probability=1.0, horizontal=False)
    np.testing.assert_array_equal(vertical[0]["image"], IMAGE[::-1])
    never = random_flip(one_image(IMAGE), rng=np.random.default_rng(0), probability=0.0)[0]["image"]
    np.testing.assert_array_equal(never, IMAGE)
    rng = np.random.default_rng(3)
    flipped = [
        not np.array_equal(random_flip(one_image(IMAGE), rng=rng, probability=0.3)[0]["image"], IMAGE)
        for _ in range(400)
    ]
    assert 0.22 < np.mean(flipped) < 0.38


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved by (dy, dx) pixels with zeros coming in (independent of random_crop)."""
    out = np.zeros_like(image)
    height, width = image.shape[:2]
    out[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = image[
        max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)
    ]
    return out


def test_random_crop_is_a_shift_within_the_padding():
    seen = set()
    for seed in range(30):
        cropped = random_crop(one_image(IMAGE), rng=np.random.default_rng(seed), padding=2)[0]["image"]
        shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
        matches = [shift for shift in shifts if np.array_equal(cropped, shifted(IMAGE, *shift))]
        assert len(matches) == 1, seed
        seen.add(matches[0])
    assert len(seen) > 5  # different windows, not one fixed shift
    unpadded = random_crop(one_image(IMAGE), rng=np.random.default_rng(0), padding=0)[0]["image"]
    np.testing.assert_array_equal(unpadded, IMAGE)


def test_random_brightness_adds_one_bounded_offset_and_clips():
    for seed in range(10):
        brighter = random_brightness(one_image(IMAGE), rng=np.random.default_rng(seed), max_delta=0.05)[0]["image"]
        delta = brighter - IMAGE
        assert np.ptp(delta) < 1e-6 and abs(delta.flat[0]) <= 0.05 + 1e-6
    extremes = one_image(np.array([[[0.0, 1.0, 0.5]]], dtype=np.float32))
    for seed in range(10):
        out = random_brightness(extremes, rng=np.random.default_rng(seed), max_delta=0.9)[0]["image"]
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_augmentor_params_and_inputs_are_checked():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="random_flip: 'probability' must be in"):
        random_flip(one_image(IMAGE), rng=rng, probability=1.5)
    with pytest.raises(ValueError, match="random_crop: 'padding'"):
        random_crop(one_image(IMAGE), rng=rng, padding=-1)
    with pytest.raises(ValueError, match="random_brightness: 'max_delta'"):
        random_brightness(one_image(IMAGE), rng=rng, max_delta=-0.1)
    with pytest.raises(ValueError, match=r"no input 'photo' \(inputs: \['image'\]\)"):
        random_flip(one_image(IMAGE), rng=rng, input="photo")
    with pytest.raises(ValueError, match=r"must be one image \[height, width, channels\]"):
        random_crop(one_image(IMAGE[None]), rng=rng)


def test_the_pipeline_seeds_the_augmentors_and_applies_them_in_train_only(tmp_path, config):
    records = [{"path": write_image(tmp_path / f"{i}.png", gradient(4, 4)), "label": i % 2} for i in range(4)]
    config["dataset"]["augmentor"] = [{"import": "random_brightness", "params": {"max_delta": 0.5}}]
    augmentors = build_augmentors(config, default_runtime().registry)
    assert augmentors[0].wants_rng

    def first_batch(mode):
        loader = ImageLoader(mode, image_size=[4, 4])
        pipeline = make_batch_source(read_records(records), mode=mode, loader=loader,
                                     transformer=IdentityTransformer(mode, loader), augmentors=augmentors,
                                     batch_size=4, seed=5)
        return pipeline.numpy_batches(limit=1)[0][0]["image"]

    clean = np.stack([gradient(4, 4) / 255.0] * 4)
    np.testing.assert_allclose(first_batch(RecordMode.VALIDATION), clean, atol=1e-6)
    train = first_batch(RecordMode.TRAIN)
    assert not np.allclose(np.sort(train.ravel()), np.sort(clean.ravel()), atol=1e-3)
    np.testing.assert_array_equal(train, first_batch(RecordMode.TRAIN))  # same seed, same augmentation


# -- the example ----------------------------------------------------------------------


def test_vision_example_generates_images_trains_a_conv_net_and_scores(tmp_path, example_module):
    data = example_module("vision")
    train = data.make_images(str(tmp_path / "images"), 96, seed=1, prefix="train")
    validation = data.make_images(str(tmp_path / "images"), 32, seed=2, prefix="validation")
    assert len(os.listdir(tmp_path / "images")) == 128
    with open(os.path.join(EXAMPLE, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    assert [block["import"] for block in config["dataset"]["augmentor"]] == [
        "random_flip", "random_crop", "random_brightness"
    ]
    config["solver"]["epochs"] = 3
    config["services"]["tensorboard"] = None
    artifact_dir = str(tmp_path / "stripes")
    BarrageModel(artifact_dir).train(config, train, validation, verbose=0)

    scores = BarrageModel(artifact_dir).predict([{"path": r["path"]} for r in validation])
    predicted = [data.CLASSES[int(np.argmax(score["label"]))] for score in scores]
    accuracy = np.mean([p == r["label"] for p, r in zip(predicted, validation)])
    assert accuracy > 0.8, accuracy
