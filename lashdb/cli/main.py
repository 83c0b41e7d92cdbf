"""The ``lashdb`` console script: the root Typer app and the single place errors become one line.

Contract: this package imports only typer (and the standard library) at module level, so
``lashdb --help``/``--version`` and shell completion stay fast; the engine, apsw and rich are
imported inside commands. A run imports and builds only the command module it runs (the whole app,
``app``, for ``--help``, ``help`` and anything unknown), shell completion included: ``MODULES``
and ``app`` are made on first access. Every lashdb error raised by a command becomes one
``lashdb: error: …`` line on stderr and its documented exit code (:func:`common.exit_code`);
``LASHDB_DEBUG=1`` shows the traceback instead. A reader of stdout that goes away (``| head``) ends
the command quietly with exit 141 (:data:`common.EXIT_BROKEN_PIPE`): no traceback, no error line.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from lashdb import __version__

from . import coerce, common


def _tolerant_streams() -> None:
    """Let file names that are not UTF-8 (surrogate-escaped by Python) print as escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # A stream that cannot be reconfigured (already in use) keeps its strict handler.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _broken_pipe(exc: BaseException) -> bool:
    """True for the error a write raises once the reading end of its pipe is closed."""
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def _silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so what is still buffered flushes nowhere at exit
    instead of raising again during interpreter shutdown (the Python docs' recipe for SIGPIPE)."""
    with contextlib.suppress(OSError, ValueError):  # no descriptor (an in-memory stream): nothing to flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


# The order an operator reaches for the commands in (sessions first); commands not named here follow.
COMMAND_ORDER = ("sessions", "head", "graph", "node", "blob", "stats", "doctor", "gc", "vacuum", "unlock",
                 "effects", "attachments", "processes", "triggers", "migrate", "demo", "help")
_TYPE_METAVARS = {"int": "N", "int range": "N", "float": "X", "str": "TEXT", "path": "PATH", "file": "FILE"}


def _argument_name(param: Any) -> str:
    """``SESSION`` / ``SESSION…``: the metavar (brackets and dots of an older spelling dropped)."""
    name = (param.metavar or param.name or "").strip("[].").upper() or "ARG"
    return name + ("…" if param.nargs != 1 else "")


class _Argument(TyperArgument):
    """An argument shown as ``SESSION`` or ``[SESSION…]``: no ``{}``, doubled brackets or type label;
    its value coerced without pydantic where Typer would only make a str or Path of it."""

    def get_runtime_param(self) -> Any:
        return coerce.runtime_param(self)

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return _argument_name(self)

    def _usage_display_name(self) -> str:
        name = _argument_name(self)
        return name if self.required else f"[{name}]"


class _Option(TyperOption):
    """An option's value shown as its metavar, ``[a|b]`` for choices, else ``N``/``TEXT``/``PATH``;
    coerced as :class:`_Argument`'s."""

    def get_runtime_param(self) -> Any:
        return coerce.runtime_param(self)

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        label = self.display_type(ctx).strip("<>")
        if label.startswith("list[") and label.endswith("]"):
            label = label[5:-1]
        if self.type_descriptor.is_choice:
            return f"[{label}]"
        return _TYPE_METAVARS.get(label, label.upper())


class LashdbCommand(TyperCommand):
    """Every lashdb command: arguments and option values spelled as an operator reads them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _Argument
            elif type(param) is TyperOption:
                param.__class__ = _Option

    def get_params(self, ctx: Any) -> list[Any]:
        return _quick_params(super().get_params(ctx))  # --help


def _click_message(exc: Any) -> str:
    """A click error's text for one error line: the command it is about, its message, where help is."""
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None and ctx.command_path != "lashdb" else ""
    message = " ".join(exc.format_message().replace("Value error, ", "").split())
    return where + message + (f" (see `{ctx.command_path} --help`)" if ctx is not None else "")


class _PlainOption(TyperOption):
    """An option shown as Typer shows it (the root's, ``--help``), coerced as :class:`_Argument`'s."""

    def get_runtime_param(self) -> Any:
        return coerce.runtime_param(self)


def _quick_params(params: list[Any]) -> list[Any]:
    """``params`` with every plain Typer option made a :class:`_PlainOption` (no pydantic)."""
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _PlainOption
    return params


class LashdbSubGroup(TyperGroup):
    """A command group below the root (``sessions``, ``blob``…): its options coerced without pydantic."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _quick_params(super().get_params(ctx))


class LashdbGroup(TyperGroup):
    """Root command group and the one error edge: a lashdb error raised anywhere in a run (parsing,
    the root callback, a command) becomes one :func:`common.error_line` on stderr and its
    :func:`common.exit_code`; ``LASHDB_DEBUG=1`` lets it through with its traceback."""

    def get_params(self, ctx: Any) -> list[Any]:
        # Here, not in __init__: Typer adds --install-completion/--show-completion and --help later.
        return _quick_params(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: n for n, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), names.index(name)))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError as ClickUsageError

        standalone = kwargs.pop("standalone_mode", True)
        try:
            # Not standalone: click's own errors come here instead of being printed its way.
            done = super().main(*args, standalone_mode=False, **kwargs)
            code = done if isinstance(done, int) else common.EXIT_OK  # an int: the code of an Exit
        except NoArgsIsHelpError as exc:  # a bare group: its help, as click shows it
            exc.show()
            code = exc.exit_code
        except ClickException as exc:
            # click prints a usage error as three lines: here it is one line, like every other error.
            sys.stderr.write(common.error_line(exc, _click_message(exc)) + "\n")
            code = common.EXIT_USAGE if isinstance(exc, ClickUsageError) else exc.exit_code
        except typer.Abort:  # Ctrl-C or end of input at a prompt
            sys.stderr.write("lashdb: aborted; nothing done\n")
            code = common.EXIT_PROBLEMS
        except Exception as exc:
            from lashdb.engine.errors import LashdbError

            if not isinstance(exc, LashdbError) or common.debug():
                raise
            sys.stderr.write(common.error_line(exc) + "\n")
            code = common.exit_code(exc)
        if not standalone:
            return code  # click's contract: without standalone mode, main returns the exit code
        sys.exit(code)

    def invoke(self, ctx: Any) -> Any:
        _tolerant_streams()
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if not _broken_pipe(exc):
                raise
            # Caught here, inside click's main: click would answer a broken pipe with exit 1, which
            # means "found problems" here.
            _silence_stdout()
            raise typer.Exit(common.EXIT_BROKEN_PIPE) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lashdb {__version__}")
        raise typer.Exit()


def root(
    root_dir: Annotated[Optional[Path], typer.Option(
        "--root", metavar="DIR", help="Sessions directory [default: $LASHDB_ROOT, $LASH_HOME/sessions or ~/.lash/sessions].",
        show_default=False)] = None,
    store: Annotated[Optional[str], typer.Option(
        "--store", metavar="TARGET", help="Store: a sessions directory or a postgresql:// URL "
        "[default: $LASHDB_STORE, else --root's default].", show_default=False)] = None,
    recursive: Annotated[bool, typer.Option("--recursive", help="Look for databases below the root too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, hints or lock-wait notices "
                                        "on stderr.")] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Do not page output on a terminal "
                                           "[pager: $LASHDB_PAGER, $PAGER, less -FRX].")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """Inspect and maintain lash session databases."""
    common.set_state(common.State(common.store_target(store, root_dir), recursive, quiet, pager=not no_pager))
    common.install_lock_wait_notice(quiet)


# The command modules (``lashdb.cli.commands.<name>``), in the order the whole app registers them.
MODULE_NAMES = ("sessions", "head", "graph", "blob", "maintenance", "doctor", "unlock", "effects", "attachments",
                "processes", "triggers", "demo", "migrate", "stats")

# Top-level command → the module that registers it. main() imports and builds only that module's
# commands: Typer turns every command's signature into a click parser on each run, 30–40 ms for the
# whole tree, paid before any command starts. A test keeps this table equal to what MODULES register.
COMMAND_MODULES = {
    "sessions": "sessions", "head": "head", "graph": "graph", "node": "graph", "blob": "blob", "gc": "maintenance",
    "vacuum": "maintenance", "doctor": "doctor", "effects": "effects", "processes": "processes",
    "triggers": "triggers", "demo": "demo", "migrate": "migrate", "unlock": "unlock", "attachments": "attachments",
    "stats": "stats",
}


def command_module(name: str) -> Any:
    """The command module ``name`` of :data:`MODULE_NAMES` (imported on first use)."""
    return importlib.import_module(f"{__package__}.commands.{name}")


def build_app(modules: tuple | None = None) -> typer.Typer:
    """The root app with the commands of ``modules`` (default: all of them, and ``help``)."""
    whole = modules is None
    if modules is None:
        modules = tuple(command_module(name) for name in MODULE_NAMES)
    new = typer.Typer(
        name="lashdb",
        cls=LashdbGroup,
        help="Inspect and maintain lash session databases.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    new.callback()(root)
    for module in modules:
        module.register(new)
    if whole:  # `help COMMAND` needs the whole tree (app_for builds it for "help")
        new.command("help")(help_)
    for info in _command_infos(new):
        if info.cls in (None, TyperCommand):
            info.cls = LashdbCommand
    for group in _group_infos(new):
        group.cls = LashdbSubGroup
    return new


def _group_infos(app: typer.Typer) -> list[Any]:
    """The group registrations under ``app``, at any depth."""
    out = list(app.registered_groups)
    for group in app.registered_groups:
        out += _group_infos(group.typer_instance)
    return out


def _command_infos(app: typer.Typer) -> list[Any]:
    """The command registrations of ``app`` and of every group under it."""
    out = list(app.registered_commands)
    for group in app.registered_groups:
        out += _command_infos(group.typer_instance)
    return out


def help_(
    ctx: typer.Context,
    command: Annotated[Optional[list[str]], typer.Argument(
        metavar="COMMAND", help="The command (and subcommand) to explain.", show_default=False)] = None,
) -> None:
    """Show the help of a command (the same as COMMAND --help).

    \b
    Examples:
      lashdb help sessions list
      lashdb help gc
    """
    from lashdb.engine.errors import UsageError

    here = ctx.find_root()
    names: list[str] = []
    for name in command or []:
        group = here.command
        sub = group.get_command(here, name) if hasattr(group, "get_command") else None
        if sub is None:
            known = ", ".join(group.list_commands(here)) if hasattr(group, "list_commands") else ""
            raise UsageError(f"no command `{' '.join(names + [name])}`" + (f" (commands: {known})" if known else ""))
        # A child of the one above, as a real run makes it: the same usage line and -h/--help.
        here = sub.make_context(name, [], parent=here, resilient_parsing=True)
        names.append(name)
    typer.echo(here.command.get_help(here))


_WHOLE: list[typer.Typer] = []


def whole_app() -> typer.Typer:
    """The app with every command (built once)."""
    if not _WHOLE:
        _WHOLE.append(build_app())
    return _WHOLE[0]


def __getattr__(name: str) -> Any:
    # ``app`` and ``MODULES`` as before, made on first access: a run that needs one command never
    # imports the other command modules.
    if name == "app":
        return whole_app()
    if name == "MODULES":
        return tuple(command_module(n) for n in MODULE_NAMES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ROOT_FLAGS = {"--recursive", "--quiet", "-q", "--no-pager"}


def _command_name(args: list[str]) -> str | None:
    """The top-level command ``args`` run, past the root options; ``None`` when unsure."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--root", "--store"):
            i += 2
        elif arg in _ROOT_FLAGS or arg.startswith(("--root=", "--store=")):
            i += 1
        elif arg.startswith("-"):
            return None  # --help, --version or a mistake: the whole app answers
        else:
            return arg
    return None


def _completed_words(env: Mapping[str, str]) -> list[str]:
    """During shell completion: the words before the one being completed, as the shell hook passes
    them (bash: ``COMP_WORDS``/``COMP_CWORD``; zsh, fish, PowerShell: ``_TYPER_COMPLETE_ARGS``,
    whose last word counts as unfinished unless a space follows it); [] when unsure."""
    from typer._click.shell_completion import split_arg_string

    try:
        if "COMP_WORDS" in env:
            return split_arg_string(env["COMP_WORDS"])[1:int(env.get("COMP_CWORD", "0"))]
        line = env.get("_TYPER_COMPLETE_ARGS", "")
        words = split_arg_string(line)[1:]
        return words if line.endswith(" ") else words[:-1]
    except ValueError:
        return []


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs ``args``: one command's module when the command is known, else all. During
    shell completion the command is read from the words already typed: completing an id below
    ``sessions show`` needs the ``sessions`` module only, completing the command name needs all."""
    if any(k.startswith("_LASHDB_COMPLETE") for k in os.environ):
        args = _completed_words(os.environ)
    module = COMMAND_MODULES.get(_command_name(args) or "")
    return whole_app() if module is None else build_app((command_module(module),))


def main() -> None:
    """Console-script entry point."""
    stdout = sys.stdout
    try:
        try:
            _run(sys.argv[1:])
        finally:
            if sys.stdout is not stdout:
                # Typer met a broken pipe outside a command (e.g. root --help) and swapped in a
                # wrapper that hides it, to exit 1; that is the same broken pipe.
                sys.stdout = stdout
                raise BrokenPipeError(errno.EPIPE, "stdout's reader went away")
            # Inside the try: output still buffered when the reader is gone breaks here.
            stdout.flush()
    except OSError as exc:
        if not _broken_pipe(exc):
            raise
        _silence_stdout()
        sys.exit(common.EXIT_BROKEN_PIPE)


def _run(args: list[str]) -> None:
    if args == ["--version"]:
        # Answered before Typer builds every command's parser (~25 ms of signature inspection), so
        # `lashdb --version` costs little more than importing typer; the output is _version()'s.
        sys.stdout.write(f"lashdb {__version__}\n")
        return
    app = app_for(args)
    # The command's modules are loaded and live until exit: moved out of the collector's reach, a
    # command that builds many objects (a 10,000-row listing) no longer re-scans them in each full
    # collection (~30 ms of a `sessions list --json` of 10,000 PostgreSQL sessions).
    import gc

    gc.freeze()
    app()  # LashdbGroup.main turns a lashdb error into its line and exit code


if __name__ == "__main__":
    main()
