"""`signcaps` command line: one Typer app, command groups registered from signcaps.commands."""
from __future__ import annotations

import signal
import sys


def _quit_while_importing(_signum: int, _frame: object) -> None:
    """Ctrl-C or SIGTERM while the CLI still imports (a second or two): exit 130 quietly, nothing is written yet."""
    sys.exit(130)


try:  # the main thread only; each command installs its own handling (commands.common.user_errors)
    _PREVIOUS = (signal.signal(signal.SIGINT, _quit_while_importing),
                 signal.signal(signal.SIGTERM, _quit_while_importing))
except ValueError:
    _PREVIOUS = None

import typer  # noqa: E402

from signcaps import __version__  # noqa: E402
from signcaps.commands import common  # noqa: E402, F401  (quiets MediaPipe logging before any import of it)


class _App(typer.Typer):
    """The CLI as a process: its standard streams go through `util.streams`' one writer for the whole
    run, so typer's help and usage errors follow the same rules as the commands' output (a closed or
    full standard output is one line and exit 1, a reader that went away a quiet exit)."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        from signcaps.util.streams import OutputFailed, guard_process_streams, restore_process_streams

        original = guard_process_streams()
        try:
            return super().__call__(*args, **kwargs)
        except OutputFailed as exc:  # outside a command (help, usage): commands report it themselves
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(1)
        except BrokenPipeError:
            sys.exit(common.EPIPE_EXIT)
        finally:
            restore_process_streams(original)


app = _App(
    name="signcaps",
    help="Sign-language digit recognition with Capsule Networks: crop hands, train, export, run live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        common.echo(f"signcaps {__version__}")  # the guarded writer (click's echo would hide a full disk)
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="print the version and exit")) -> None:
    """Sign-language digit recognition with Capsule Networks."""


bench = typer.Typer(help="Latency benchmarks on this machine.", no_args_is_help=True)


def _register() -> None:
    """Each command group lives in its own module; the `bench` group is made here, once, and the
    modules that time something (`deploy`: `bench model`, `live`: `bench live`, `bench hands`) add to it."""
    from signcaps.commands import adapt, calibrate, data, deploy, doctor, explain, live, training, web

    for module in (data, training, deploy):
        module.register(app)
    app.add_typer(bench, name="bench")  # here, so `signcaps --help` lists the commands in this order
    for module in (live, adapt, explain, calibrate, web, doctor):
        module.register(app)
    deploy.register_bench(bench)
    live.register_bench(bench)
    _flags_take_no_value(app)
    _empty_paths_stay_empty(app)


def _flags_take_no_value(group: typer.Typer) -> None:
    """On/off options (`--resume`, `--json`, `--window/--no-window`) get an empty metavar: Typer
    would print `<bool>` beside them, as if `--resume true` were accepted (click refuses it)."""
    import inspect

    from typer.models import OptionInfo

    for command in group.registered_commands:
        for param in inspect.signature(command.callback).parameters.values():
            if isinstance(param.default, OptionInfo) and param.annotation in (bool, "bool") \
                    and param.default.metavar is None:
                param.default.metavar = ""
    for sub in group.registered_groups:
        _flags_take_no_value(sub.typer_instance)


def _path_value(value: object) -> object:
    """A Path option's value: ``''`` becomes `inputs.EmptyPath` (Typer would make it ``Path('.')``,
    the current folder), which `config.check_options` refuses in one line, as for text options."""
    from pathlib import Path

    from signcaps.util.inputs import EmptyPath

    if isinstance(value, Path):
        return value
    return EmptyPath() if value == "" else Path(str(value))


def _empty_paths_stay_empty(group: typer.Typer) -> None:
    """Every Path option and argument of every command parsed by `_path_value`: an empty path has one
    meaning everywhere, an error (`inputs.path_complaint`), never the current folder."""
    import inspect
    import typing
    from pathlib import Path

    from typer.models import ParameterInfo

    for command in group.registered_commands:
        hints = typing.get_type_hints(command.callback)
        for param in inspect.signature(command.callback).parameters.values():
            hint = hints.get(param.name)
            kinds = {hint, *typing.get_args(hint)}
            if isinstance(param.default, ParameterInfo) and Path in kinds and param.default.parser is None:
                param.default.parser = _path_value
    for sub in group.registered_groups:
        _empty_paths_stay_empty(sub.typer_instance)


_register()
if _PREVIOUS is not None:  # from here on: KeyboardInterrupt, turned into exit 130 by every command
    signal.signal(signal.SIGINT, _PREVIOUS[0] if _PREVIOUS[0] is not None else signal.default_int_handler)
    signal.signal(signal.SIGTERM, _PREVIOUS[1] if _PREVIOUS[1] is not None else signal.SIG_DFL)
