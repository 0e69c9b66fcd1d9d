"""The ``barrage`` command line.

Every failure prints one ``error: ...`` line and no traceback (``--debug`` shows it):

- exit status 2: a problem the user can fix (a bad config, records or output path, a
  missing component, a damaged or misplaced artifact directory, a failing plugin, a file
  the system cannot read or write);
- 1: an internal fault (a bug in Barrage or in a component);
- 130 on Ctrl-C and 143 on SIGTERM; an interrupted ``train`` says how to resume.

``--help`` and ``components list`` never import TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import traceback
import warnings
from importlib import metadata
from typing import Any, Callable, Iterator, List, Optional, Tuple

import click

from barrage.errors import BarrageError, PluginError
from barrage.plugins import ENTRY_POINT_GROUP
from barrage.registry import KIND_NAMES
from barrage.runtime import Runtime

EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class UsageError(BarrageError):
    """A command's arguments are wrong in a way worth explaining (not just malformed)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is (so that clean-up runs as for Ctrl-C)."""


class Interrupted(Exception):
    """A command stopped by a signal: the line to print and the exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class BarrageGroup(click.Group):
    """A click group that turns every failure into one ``error:`` line and its exit status
    (see the module docstring); ``--debug`` re-raises instead. While plugins add their
    commands (``barrage_register_commands``) none may replace one that exists."""

    adding_plugin_commands = False

    def add_command(self, cmd: click.Command, name: Optional[str] = None) -> None:
        name = name or cmd.name
        if self.adding_plugin_commands and name in self.commands:
            raise PluginError(f"the command '{name}' exists already; a plugin adds commands, it does not replace them")
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _sigterm_as_interrupt():  # every command cleans up after SIGTERM as after Ctrl-C
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BaseException as exc:
            if isinstance(exc, SystemExit) or (ctx.obj and ctx.obj.get("debug")):
                raise
            message, code = failure(exc)
            click.echo(f"error: {message}", err=True)
            ctx.exit(code)


def failure(exc: BaseException) -> "tuple[str, int]":
    """The one line and the exit status for an exception that ended a command."""
    if isinstance(exc, Interrupted):
        return str(exc), exc.code
    if isinstance(exc, Terminated):
        return "terminated", EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, BarrageError):
        return str(exc), EXIT_USER_ERROR
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", EXIT_USER_ERROR
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    frame = _user_frame(exc)
    if frame is not None:  # the error is in the user's own code (a component named by its Python path)
        return (f"{type(exc).__name__}: {text}, raised in your code at {frame.filename}:{frame.lineno} "
                f"({frame.name}); run with --debug to see the traceback", EXIT_USER_ERROR)
    return (
        f"internal error: {type(exc).__name__}: {text} (a bug in Barrage or in a component; "
        "run with --debug to see the traceback)",
        EXIT_INTERNAL_ERROR,
    )


def _user_frame(exc: BaseException) -> Optional[traceback.FrameSummary]:
    """The innermost frame of ``exc``'s traceback in code that is neither Barrage's, an
    installed package's nor Python's own: the user's component where it went wrong."""
    from barrage.registry.trust import is_library_file

    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if not is_library_file(frame.filename)]
    return frames[-1] if frames else None


@click.group(cls=BarrageGroup)
@click.version_option(version=None, package_name="barrage", prog_name="barrage")
@click.option("--strict", is_flag=True, help="Refuse every component that is not registered (also BARRAGE_STRICT=1).")
@click.option(
    "--allow-unsafe-layers", is_flag=True,
    help="Allow layers that load or run external code or graphs, e.g. TFSMLayer (also BARRAGE_ALLOW_UNSAFE_LAYERS=1).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, strict: bool, allow_unsafe_layers: bool, debug: bool) -> None:
    """Config-driven supervised deep learning on TensorFlow 2 / Keras 3."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    previous, warnings.showwarning = warnings.showwarning, _show_warning  # plain "warning: ..." lines
    ctx.call_on_close(lambda: setattr(warnings, "showwarning", previous))
    runtime = ctx.obj.get("runtime") or Runtime()  # main() makes it early, to add plugin commands
    changes = {key: True for key, flag in (("strict", strict), ("allow_unsafe_layers", allow_unsafe_layers)) if flag}
    ctx.obj["runtime"] = runtime.with_policy(**changes) if changes else runtime
    if ctx.invoked_subcommand not in ("components", "plugins"):  # those list failures themselves
        _warn_failed_plugins()
    _warn_unknown_disabled_plugins()


def current_runtime() -> Runtime:
    """The runtime of the command being run (one per command)."""
    return click.get_current_context().find_root().obj["runtime"]


def _import_tensorflow_quietly(before_devices: Optional[Callable[[], Any]] = None) -> Any:
    """Import TensorFlow with the C++ start-up chatter (oneDNN, CUDA probing, absl
    pre-init lines) kept off the terminal; Python errors still surface as usual.
    ``--debug`` skips this and shows everything. Called by the commands that need
    TensorFlow, once their arguments are parsed (so ``--help`` stays cheap).

    ``before_devices`` runs once TensorFlow is imported but before it sets up its devices
    (a ``tf.distribute`` strategy must be created then); its result is returned."""
    root = click.get_current_context().find_root()
    if "tensorflow" in sys.modules or (root.obj or {}).get("debug"):
        return before_devices() if before_devices else None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        result = before_devices() if before_devices else None
        tensorflow.config.list_logical_devices()  # device probing logs here, not mid-run
        return result
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _warn_failed_plugins() -> None:
    for failure in current_runtime().plugins.failures:
        click.echo(
            f"warning: plugin '{failure.name}' ({failure.distribution} {failure.version}) failed to load "
            f"and was skipped: {failure.error}",
            err=True,
        )


def _warn_unknown_disabled_plugins() -> None:
    unknown = current_runtime().plugins.unknown_disabled
    installed = ", ".join(sorted(metadata.entry_points(group=ENTRY_POINT_GROUP).names)) if unknown else ""
    for name in unknown:  # a misspelt name would otherwise leave the plugin on, silently
        click.echo(f"warning: BARRAGE_DISABLE_PLUGINS names '{name}', which no installed plugin is called "
                   f"(installed: {installed or 'none'})", err=True)


def _not_blank(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must name a directory, not be empty")
    return value


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    click.echo(f"warning: {message}", err=True)


# -- components -----------------------------------------------------------------------


@cli.group()
def components() -> None:
    """Inspect the component registry."""


@components.command("list")
@click.option("--kind", type=click.Choice(KIND_NAMES), help="Only this kind.")
@click.option("--source", "source_filter", help="Only components from this distribution (e.g. 'barrage', 'keras').")
@click.option("--keras", "include_keras", is_flag=True, help="Also list every Keras name (imports TensorFlow).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def components_list(kind: Optional[str], source_filter: Optional[str], include_keras: bool, as_json: bool) -> None:
    """List components: kind, name, source (distribution and version, or keras), target."""
    registry = current_runtime().registry
    include_keras = include_keras or (source_filter or "").lower().startswith("keras")
    found = registry.components(kind, include_keras=include_keras)
    if source_filter:
        wanted = source_filter.lower()
        found = [c for c in found if str(c.source).lower() == wanted or str(c.source).lower().startswith(wanted + " ")]
    rows = [c.describe() for c in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows, ["kind", "name", "source", "target"])
    _warn_failed_plugins()
    for entries in registry.conflicts():
        sources = "; ".join(f"{e.target} from {e.source}" for e in entries)
        click.echo(f"warning: {entries[0].kind} '{entries[0].name}' is registered twice ({sources})", err=True)


def _print_table(rows: List[dict], columns: List[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())


# -- plugins --------------------------------------------------------------------------


@cli.group()
def plugins() -> None:
    """Inspect hook plugins (entry-point group 'barrage')."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_list(as_json: bool) -> None:
    """Show loaded plugins (distribution, version, hooks) and the ones that failed."""
    manager = current_runtime().plugins
    loaded = [
        {"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": list(i.hooks)}
        for i in manager.infos.values()
    ]
    failed = [
        {"name": f.name, "distribution": f.distribution, "version": f.version, "error": f.error}
        for f in manager.failures
    ]
    disabled = manager.disabled
    if as_json:
        click.echo(json.dumps({"loaded": loaded, "failed": failed, "disabled": disabled}, indent=2))
        return
    for info in loaded:
        click.echo(f"{info['name']}  {info['distribution']} {info['version']}  hooks: {', '.join(info['hooks'])}")
    for failure in failed:
        click.echo(f"{failure['name']}  {failure['distribution']} {failure['version']}  FAILED: {failure['error']}")
    for name in disabled:
        click.echo(f"{name}  disabled (BARRAGE_DISABLE_PLUGINS)")
    if not loaded and not failed and not disabled:
        click.echo("(no plugins)")


# -- validate -------------------------------------------------------------------------


SET_OPTION = click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE",
    help="Override a config value (repeatable): a dotted path with list indices and a JSON value "
         "(text if not JSON), e.g. --set solver.epochs=5 --set model.outputs[0].loss_weight=0.5.",
)


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the resolved config.")
@SET_OPTION
def validate(config_path: str, show: bool, overrides: Tuple[str, ...]) -> None:
    """Check CONFIG and report every problem at once (exit 2 if any); writes nothing.

    Beyond the schema and the imports, the loader and the transformer are constructed
    with their params, and the names they declare are checked against each other and
    against the outputs."""
    from barrage.components import check_components
    from barrage.config import apply_overrides, load_config_file, prepare_config

    config = apply_overrides(load_config_file(config_path), overrides)
    _import_tensorflow_quietly()
    runtime = current_runtime()
    resolved = prepare_config(config, runtime)
    check_components(resolved, runtime.registry)
    if show:
        click.echo(json.dumps(resolved, indent=2))
    else:
        click.echo(f"{config_path}: ok")


# -- train and score ------------------------------------------------------------------


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.argument("train_data", metavar="TRAIN_DATA", type=click.Path())
@click.argument("validation_data", metavar="VALIDATION_DATA", type=click.Path())
@click.option("-a", "--artifact-dir", default="artifacts", show_default=True, type=click.Path(), callback=_not_blank,
              help="Where to write the run (a directory that does not exist yet, unless --resume).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in ARTIFACT_DIR.")
@click.option("--verbose", type=click.IntRange(0, 2), default=None, help="Keras verbosity (default: progress bar).")
@SET_OPTION
@click.option("--distribute", type=click.Choice(["auto", "off", "mirrored", "multi-worker"]), default="auto",
              show_default=True,
              help="tf.distribute strategy: auto is multi-worker when TF_CONFIG lists several tasks, mirrored with "
                   "several GPUs, else off.")
@click.option("--replicas", type=click.IntRange(min=1), default=None,
              help="With --distribute mirrored: how many devices (on a machine without GPUs, the CPU is split "
                   "into this many).")
def train(config_path: str, train_data: str, validation_data: str, artifact_dir: str, resume: bool,
          verbose: Optional[int], overrides: Tuple[str, ...], distribute: str, replicas: Optional[int]) -> None:
    """Train CONFIG (JSON or YAML) on TRAIN_DATA, validating on VALIDATION_DATA (.csv/.json/.jsonl/.parquet)."""
    from barrage.config import apply_overrides, load_config_file
    from barrage.distribute import choose_distribution

    config = apply_overrides(load_config_file(config_path), overrides)
    distribution = _import_tensorflow_quietly(lambda: choose_distribution(distribute, replicas))
    from barrage.engine import BarrageModel

    model = BarrageModel(artifact_dir, current_runtime())
    try:
        with _sigterm_as_interrupt():
            model.train(config, train_data, validation_data, resume=resume,
                        verbose="auto" if verbose is None else verbose, distribute=distribution)
    except KeyboardInterrupt as exc:
        command = ["barrage", "train", config_path, train_data, validation_data, "-a", artifact_dir, "--resume",
                   *(f"--set={assignment}" for assignment in overrides)]
        command += ["--distribute", distribute] if distribute != "auto" else []
        command += ["--replicas", str(replicas)] if replicas else []
        raise _interrupted(exc, model, " ".join(map(shlex.quote, command))) from None
    if model.is_chief:
        click.echo(model.summary())
    else:
        click.echo(f"{model.describe_distribution()}: done; the chief wrote {artifact_dir}")


def _interrupted(exc: KeyboardInterrupt, model: Any, resume_command: str) -> Interrupted:
    """What an interrupted training run says: how to continue, or that nothing was kept."""
    from barrage.artifacts import read_report
    from barrage.errors import ArtifactError

    how, code = failure(exc)
    try:
        epochs = len(read_report(model.layout.report)) if os.path.isdir(model.artifact_dir) else 0
    except ArtifactError as problem:  # the directory is kept (see BarrageModel): say so and why
        return Interrupted(f"{how}; the run is kept but {problem}", code)
    if epochs:
        return Interrupted(f"{how} after {epochs} epoch(s); continue with: {resume_command}", code)
    return Interrupted(f"{how} before the first epoch ended; nothing was kept", code)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the block runs (in the main thread)."""

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _scoring_options(command: Any) -> Any:
    """The options ``score`` and ``predict`` share."""
    options = [
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Scoring batch size (default: the config's)."),
        click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists."),
        click.option("--keep", multiple=True, metavar="COLUMN",
                     help="Copy this input column into the output, first (repeatable), e.g. an identifier."),
        click.option("--shard", metavar="I/N", default=None,
                     help="Score only the I-th of N contiguous blocks of DATA (shards in order concatenate to "
                          "the whole output)."),
        click.option("--quiet", is_flag=True, help="No progress report."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@click.argument("artifact_dir", metavar="ARTIFACT_DIR", type=click.Path())
@click.argument("data", metavar="DATA", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Scores file: .csv, .json, .jsonl or .parquet.")
@_scoring_options
def score(artifact_dir: str, data: str, output: str, **options: Any) -> None:
    """Score DATA with the model in ARTIFACT_DIR and write one score per record to OUTPUT,
    reading, predicting and writing chunk by chunk (memory does not grow with DATA)."""
    _score_to_file(artifact_dir, data, output, "barrage score ARTIFACT_DIR DATA", **options)


@cli.command()
@click.argument("score_data", metavar="SCORE_DATA", type=click.Path())
@click.argument("artifact_dir", metavar="ARTIFACT_DIR", type=click.Path())
@click.option("-o", "--output", default="scores.json", show_default=True, type=click.Path(),
              help="Scores file: .csv, .json, .jsonl or .parquet.")
@_scoring_options
def predict(score_data: str, artifact_dir: str, output: str, **options: Any) -> None:
    """Score SCORE_DATA with the model in ARTIFACT_DIR (the original Barrage's order and
    default output; 'score' takes ARTIFACT_DIR first)."""
    _score_to_file(artifact_dir, score_data, output, "barrage predict SCORE_DATA ARTIFACT_DIR", **options)


def _score_to_file(artifact_dir: str, data: str, output: str, usage: str, batch_size: Optional[int],
                   overwrite: bool, keep: Any, shard: Optional[str], quiet: bool) -> None:
    from barrage.progress import Progress
    from barrage.scores import check_scores_output
    from barrage.scoring import Shard

    if os.path.isfile(artifact_dir) and os.path.isfile(os.path.join(data, "config.json")):
        raise UsageError(
            f"'{data}' is an artifact directory and '{artifact_dir}' a file: the two are the other way round "
            f"({usage})"
        )
    parsed = Shard.parse(shard) if shard else None
    check_scores_output(output, overwrite, artifact_dir, data)  # before any work, even importing TensorFlow
    _import_tensorflow_quietly()
    from barrage.engine import BarrageModel

    progress = Progress(None, quiet=quiet)
    written = BarrageModel(artifact_dir, current_runtime()).score_file(
        data, output, keep=list(keep), shard=parsed, batch_size=batch_size, overwrite=overwrite, progress=progress,
    )
    click.echo(f"wrote {written} scores to {output}")


@cli.command("help")
@click.pass_context
def help_command(ctx: click.Context) -> None:
    """Show this help (the same as --help)."""
    click.echo(ctx.find_root().get_help())


# -- evaluate, export, report ---------------------------------------------------------


@cli.command()
@click.argument("artifact_dir", metavar="ARTIFACT_DIR", type=click.Path())
@click.argument("data", metavar="DATA", type=click.Path())
@click.option("-o", "--output", type=click.Path(), default=None, help="Also write the results: .json or .csv.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Evaluation batch size (default: the config's)."
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def evaluate(artifact_dir: str, data: str, output: Optional[str], batch_size: Optional[int], overwrite: bool) -> None:
    """Evaluate the model in ARTIFACT_DIR on the labelled records of DATA: the config's
    losses and metrics, and per output a confusion matrix or MAE, RMSE and R²."""
    from barrage.evaluation import EVALUATION_EXTENSIONS, record_results, table, write_results
    from barrage.outputs import check_output, refuse_input, refuse_run_files

    if output:
        check_output(output, overwrite, extensions=EVALUATION_EXTENSIONS, what="evaluation")
        refuse_run_files(output, artifact_dir)
        refuse_input(output, data)
    _import_tensorflow_quietly()
    from barrage.engine import BarrageModel

    results = BarrageModel(artifact_dir, current_runtime()).evaluate(data, batch_size=batch_size)
    click.echo(table(results))
    record_results(artifact_dir, results)
    if output:
        write_results(results, output)
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("artifact_dir", metavar="ARTIFACT_DIR", type=click.Path())
@click.argument("output", metavar="OUT", type=click.Path())
@click.option("--format", "fmt", metavar="saved_model|keras", default=None,
              help="saved_model (a folder; the default) or keras (a .keras file; the default for an OUT ending "
                   "in .keras).")
@click.option("--overwrite", is_flag=True, help="Replace OUT (and its signature description) if they exist.")
def export(artifact_dir: str, output: str, fmt: Optional[str], overwrite: bool) -> None:
    """Export the best checkpoint's network in ARTIFACT_DIR for serving without Barrage:
    a TensorFlow SavedModel (raw columns in, postprocessed outputs out, when the loader
    and transformer can be expressed in TensorFlow) or a .keras file."""
    from barrage.export import check_export_output, export_format, export_model, export_summary, signature_path
    from barrage.outputs import refuse_run_files

    fmt = export_format(output, fmt)
    for path in (output, signature_path(output, fmt)):
        refuse_run_files(path, artifact_dir)
    check_export_output(output, fmt, overwrite)
    _import_tensorflow_quietly()
    from barrage.engine import BarrageModel

    model = BarrageModel(artifact_dir, current_runtime()).load()
    assert model.transformer is not None
    description = export_model(model.network, model.transformer, output, fmt, overwrite)
    click.echo(export_summary(output, description))


@cli.command()
@click.argument("artifact_dir", metavar="ARTIFACT_DIR", type=click.Path())
@click.option("-o", "--output", "out_dir", type=click.Path(), default=None,
              help="The folder to write (default: ARTIFACT_DIR/report).")
@click.option("--overwrite", is_flag=True, help="Replace the folder if it exists.")
def report(artifact_dir: str, out_dir: Optional[str], overwrite: bool) -> None:
    """Write learning curves (PNG) and one self-contained HTML page of the run in
    ARTIFACT_DIR, finished, in progress or stopped (with the latest evaluate, if any)."""
    from barrage.report import write_report

    for path in write_report(artifact_dir, out_dir, overwrite):
        click.echo(f"wrote {path}")


# -- config tooling -------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Config tooling."""


@config_group.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of a config (for editors), derived from the validator's schema."""
    from barrage.config.json_schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command()
@click.argument("data", metavar="DATA", type=click.Path())
@click.option("--target", required=True, help="The column to predict.")
@click.option("-o", "--output", default="config.json", show_default=True, type=click.Path(),
              help="The config to write: .json, .yaml or .yml.")
@click.option("--task", type=click.Choice(["classification", "regression"]), default=None,
              help="Force the kind of output (default: chosen from the target's values).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def init(data: str, target: str, output: str, task: Optional[str], overwrite: bool) -> None:
    """Write a starter config that predicts TARGET from the numeric columns of DATA."""
    from barrage.config import prepare_config
    from barrage.outputs import check_output
    from barrage.records import read_records
    from barrage.starter import starter_config, write_config

    check_output(output, overwrite, extensions=(".json", ".yaml", ".yml"), what="config")
    table = read_records(data, "data")
    runtime = current_runtime()
    starter = starter_config(table.to_frame(), target, runtime.registry, table.origin, task)
    _import_tensorflow_quietly()
    prepare_config(starter.config, runtime)  # it validates as written
    write_config(output, starter.config)
    classes = f" ({len(starter.classes)} classes)" if starter.classes is not None else ""
    click.echo(f"wrote {output}: {starter.task}{classes} of '{target}' from {len(starter.features)} numeric "
               f"column(s): {', '.join(starter.features)}")
    for column, reason in starter.skipped.items():
        click.echo(f"skipped column '{column}': {reason}")


def main(argv: Optional[List[str]] = None, runtime: Optional[Runtime] = None) -> None:
    """Console-script entry point: loads plugins (which may add commands), then runs.

    ``runtime`` replaces the one made from the environment (to embed the CLI)."""
    try:
        runtime = runtime or Runtime()
        plugins = runtime.plugins
    except BarrageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    cli.adding_plugin_commands = True
    try:
        plugins.call("barrage_register_commands", cli=cli)
    except PluginError as exc:  # the other commands still work (help, plugins list), unless strict
        if runtime.policy.strict_plugins:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)
        click.echo(f"warning: {exc}; its commands are not available", err=True)
    finally:
        cli.adding_plugin_commands = False
    cli.main(args=argv, prog_name="barrage", obj={"runtime": runtime})
