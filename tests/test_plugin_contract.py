"""Meta-tests that keep the plugin contract and its documentation honest.

- every hook declared in ``barrage/hookspecs.py`` has a section in ``docs/plugins.md``
  whose signature is the declaration's, and the page documents no hook that is not declared;
- every declared hook is exercised by a test (see :func:`exercised_hooks` for what counts);
- every entry-point group of the kinds table, the hook group and every ``BARRAGE_*``
  switch read by the code are documented;
- the tutorial's files, taken from the page, install and list exactly as the page shows,
  and the broken-plugin messages it quotes are the ones Barrage prints.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Set

import pytest

from barrage import hookspecs
from barrage.plugins import ENTRY_POINT_GROUP
from barrage.registry import KINDS
from plugins_fixture import BROKEN, EXAMPLE, InstalledPlugins, install_directories, tomllib

KIND_GROUPS = {kind.name: kind.group for kind in KINDS.values()}
pytest_plugins = ["plugins_fixture"]  # the session fixture `installed_plugins`

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"
TUTORIAL_FILE = re.compile(r"<!-- tutorial-file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def declared_hooks() -> Dict[str, Callable]:
    """Every function ``hookspecs`` marks as a hook specification."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    }


HOOKS = sorted(declared_hooks())


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def doc_sections(text: str, level: str = "###") -> Dict[str, str]:
    """``{heading: body}`` for the headings of one level (backticks stripped).

    A body runs to the next heading of the same or a higher level; lines inside fenced
    code blocks are never headings.
    """
    sections: Dict[str, List[str]] = {}
    current = None
    in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else re.match(r"(#+) (.+)$", line)
        if heading and len(heading.group(1)) <= len(level):
            current = heading.group(2).strip().strip("`") if heading.group(1) == level else None
            if current is not None:
                sections[current] = []
            continue
        if current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines) + "\n" for name, lines in sections.items()}


def canonical_signature(function: ast.FunctionDef) -> str:
    """``name(arg: Annotation, ...) -> Return`` with string-annotation quotes removed."""

    def annotation(node) -> str:
        return ast.unparse(node).replace("'", "").replace('"', "") if node is not None else "<none>"

    args = function.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
        raise AssertionError(f"{function.name}: hooks take plain named arguments only")
    params = ", ".join(f"{a.arg}: {annotation(a.annotation)}" for a in args.args)
    return f"{function.name}({params}) -> {annotation(function.returns)}"


def declared_signature(name: str) -> str:
    source = inspect.getsource(declared_hooks()[name])
    return canonical_signature(ast.parse(source).body[0])


def documented_signature(section: str, name: str) -> str:
    """The signature of ``def name`` in the first ```python block of a doc section."""
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        for node in ast.parse(block).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return canonical_signature(node)
    raise AssertionError(f"docs/plugins.md section `{name}` has no ```python block with `def {name}(...)`")


def exercised_hooks(test_files: Iterable[Path], names: Iterable[str]) -> Set[str]:
    """The hook names some test module exercises.

    A test module exercises a hook when its code (docstrings and comments do not count)
    implements it (``def barrage_x(``), calls it through the hook relay
    (``pm.hook.barrage_x(...)``), or names it in a string that is exactly the hook name
    (``manager.call("barrage_x", ...)``, or an expected firing order in an assertion).
    """
    wanted = set(names)
    found: Set[str] = set()
    for path in test_files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.add(node.name)
            elif isinstance(node, ast.Attribute):
                found.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.add(node.value)
    return wanted & found


def all_test_modules() -> List[Path]:
    """Every test module of the suite except this one (a meta-test exercises nothing)."""
    return sorted(p for p in TESTS.rglob("test_*.py") if p.resolve() != Path(__file__).resolve())


# -- hooks: documented and tested -----------------------------------------------------


def test_hookspecs_declare_the_hooks_of_the_design():
    assert set(HOOKS) >= {
        "barrage_register_components", "barrage_prepare_config", "barrage_callbacks", "barrage_pre_fit",
        "barrage_post_fit", "barrage_pre_score", "barrage_post_score", "barrage_register_commands",
    }
    for name, function in declared_hooks().items():
        assert inspect.getdoc(function), f"{name} has no docstring in barrage/hookspecs.py"


@pytest.mark.parametrize("name", HOOKS)
def test_every_declared_hook_has_a_doc_section_with_its_exact_signature(name):
    sections = doc_sections(doc_text())
    assert name in sections, f"docs/plugins.md has no '### `{name}`' section"
    assert documented_signature(sections[name], name) == declared_signature(name)
    prose = re.sub(r"```.*?```", "", sections[name], flags=re.S)
    assert len(prose.split()) >= 15, f"the `{name}` section must say when it fires and what it may do"


def test_the_doc_documents_no_hook_that_is_not_declared():
    documented = {heading for heading in doc_sections(doc_text()) if heading.startswith("barrage_")}
    assert documented == set(HOOKS)


def test_every_declared_hook_is_exercised_by_a_test():
    missing = set(HOOKS) - exercised_hooks(all_test_modules(), HOOKS)
    assert not missing, f"no test exercises {sorted(missing)}; add one that implements or calls it"


def test_the_exercise_scan_misses_a_hook_that_no_test_mentions(tmp_path):
    """The scan above must not be vacuous: a hook nobody tests is reported."""
    test_file = tmp_path / "test_fake.py"
    test_file.write_text(
        '"""barrage_in_a_docstring"""\n'
        "# barrage_in_a_comment\n"
        "def barrage_implemented(context):\n    pass\n"
        "def test_it(pm):\n    pm.hook.barrage_called(x=1)\n    pm.call('barrage_named')\n"
        "    assert 'barrage_in_a_sentence is here'\n"
    )
    names = ["barrage_implemented", "barrage_called", "barrage_named", "barrage_in_a_docstring",
             "barrage_in_a_comment", "barrage_in_a_sentence", "barrage_new_and_untested"]
    assert exercised_hooks([test_file], names) == {"barrage_implemented", "barrage_called", "barrage_named"}


# -- groups and switches --------------------------------------------------------------


def test_every_entry_point_group_is_documented_with_its_kind():
    text = doc_text()
    table = dict(re.findall(r"^\|\s*`(\w+)`\s*\|\s*`(barrage\.\w+)`\s*\|", text, re.M))
    assert table == KIND_GROUPS
    for group in KIND_GROUPS.values():
        assert f'[project.entry-points."{group}"]' in text or f"`{group}`" in text
    assert f"[project.entry-points.{ENTRY_POINT_GROUP}]" in text
    assert f"entry-point group `{ENTRY_POINT_GROUP}`" in text


def test_every_environment_switch_is_documented():
    switches = set()
    for path in (ROOT / "barrage").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"BARRAGE_[A-Z_]+", node.value):
                    switches.add(node.value)
    assert {"BARRAGE_STRICT", "BARRAGE_DISABLE_PLUGINS", "BARRAGE_DISABLE_PLUGIN_AUTOLOAD",
            "BARRAGE_STRICT_PLUGINS"} <= switches
    text = doc_text()
    assert not [s for s in sorted(switches) if f"`{s}" not in text]


# -- the doc's examples are real ------------------------------------------------------


TUTORIAL_FILES = {
    "barrage-noise/pyproject.toml", "barrage-noise/barrage_noise/__init__.py",
    "barrage-noise/barrage_noise/augmentors.py", "barrage-noise/barrage_noise/scaler.py",
    "barrage-noise/barrage_noise/plugin.py", "barrage-noise/example-config.json",
    "barrage-noise/example-train.csv", "barrage-noise/example-validation.csv", "barrage-noise/tests/test_noise.py",
}


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory) -> Dict[str, Any]:
    """The tutorial's files, written from the page and pip-installed."""
    root = tmp_path_factory.mktemp("tutorial")
    files = TUTORIAL_FILE.findall(doc_text())
    assert {path for path, _ in files} == TUTORIAL_FILES
    for path, content in files:
        target = root / "src" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    site = install_directories({"barrage-noise": root / "src" / "barrage-noise"}, root / "site")
    return {"root": root, "folder": root / "src" / "barrage-noise", "installed": InstalledPlugins(site)}


def test_the_tutorial_package_installs_and_lists_as_documented(tutorial):
    text = doc_text()
    installed, only = tutorial["installed"], ("barrage-noise",)
    pyproject = tomllib.loads((tutorial["folder"] / "pyproject.toml").read_text(encoding="utf-8"))
    assert "barrage>=1.0" in pyproject["project"]["dependencies"]

    listed = installed.run("components", "list", "--source", "barrage-noise", distributions=only)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() in code_blocks(text), "the documented listing differs:\n" + listed.stdout
    plugins = installed.run("plugins", "list", distributions=only)
    noise = next(line for line in plugins.stdout.splitlines() if line.startswith("noise "))
    assert noise in code_blocks(text), "the documented plugins list differs:\n" + plugins.stdout

    config = str(tutorial["folder"] / "example-config.json")
    shown = installed.run("validate", "--show", config, distributions=only)
    assert shown.returncode == 0, shown.stderr
    resolved = json.loads(shown.stdout)["dataset"]
    sources = [resolved["transformer"]["source"]] + [a["source"] for a in resolved["augmentor"]]
    assert sources == ["barrage-noise 0.1.0"] * 3


def test_the_tutorial_command_runs_and_checks_its_options(tutorial):
    installed, only = tutorial["installed"], ("barrage-noise",)
    sampled = installed.run("noise-sample", "1.5", "--std", "0", "--count", "2", distributions=only)
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.split() == ["1.5000", "1.5000"]
    noisy = installed.run("noise-sample", "1.5", "--std", "0.2", distributions=only)
    assert len(set(noisy.stdout.split())) == 3
    refused = installed.run("noise-sample", "1.5", "--std", "-1", distributions=only)
    assert refused.returncode == 2 and "--std" in refused.stderr


def test_the_tutorial_config_trains_on_its_shipped_data(tutorial):
    installed, folder = tutorial["installed"], tutorial["folder"]
    artifact_dir = str(tutorial["root"] / "runs" / "noise")
    trained = installed.run("train", "example-config.json", "example-train.csv", "example-validation.csv",
                            "-a", artifact_dir, "--verbose", "0", distributions=("barrage-noise",), cwd=str(folder))
    assert trained.returncode == 0, trained.stderr
    assert f"barrage-noise: training 6 parameters into {artifact_dir}" in trained.stderr
    state = json.loads((Path(artifact_dir) / "dataset" / "range_scaler.json").read_text(encoding="utf-8"))
    assert list(state["ranges"]) == ["features"]


def test_the_tutorial_tests_pass_against_the_installed_package(tutorial):
    env = tutorial["installed"].environment(("barrage-noise",))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tutorial["folder"] / "tests")],
        cwd=str(tutorial["root"]), env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def code_blocks(text: str) -> List[str]:
    return [block.strip() for block in re.findall(r"```\w*\n(.*?)```", text, re.S)]


def test_the_broken_plugin_messages_quoted_in_the_doc_are_the_real_ones(installed_plugins, tmp_path):
    section = doc_sections(doc_text(), "##")["What a broken plugin looks like"]
    quoted = [line.strip() for block in code_blocks(section) for line in block.splitlines() if line.strip()]
    assert len(quoted) >= 5
    both = (EXAMPLE, BROKEN)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "dataset": {"loader": {"import": "ExampleValuesLoader", "params": {"size": 3}},
                    "augmentor": [{"import": "broken_shift"}]},
        "model": {"network": {"import": "sequential_from_config",
                              "params": {"inputs": {"values": [3]}, "output": "y", "layers": []}},
                  "outputs": [{"name": "y", "loss": {"import": "mse"}}]},
    }))
    outputs = [
        installed_plugins.run("components", "list", distributions=both).stderr,
        installed_plugins.run("plugins", "list", distributions=both).stdout,
        installed_plugins.run("components", "list", distributions=both, env={"BARRAGE_STRICT_PLUGINS": "1"}).stderr,
        installed_plugins.run("validate", str(config), distributions=both).stderr,
    ]
    printed = {line.strip() for output in outputs for line in output.splitlines()}
    assert not [line for line in quoted if line not in printed]
