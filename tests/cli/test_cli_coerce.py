"""lashdb.cli.coerce gives every parameter of the app the value (or the refusal) Typer's own
pydantic-built coercion gives, for the kinds of value an operator types and the defaults."""

from __future__ import annotations

import enum
from pathlib import Path

import pytest
import typer.main
from typer._click import Context
from typer._coercion import build_runtime_param

from lashdb.cli import coerce, main

SAMPLES = {
    str: ["abc", "", "ünï code", "-x"],
    Path: ["/tmp", "rel/x", "", "rel/x/", "~", "/nonexistent/deep/path", Path("/tmp"), "/etc/hostname"],
    int: ["0", "007", "-3", "+5", "12345678901234567890", 12, "x", "1.5", " 4", "٣", ""],
}


def _params(command, path=()):
    for param in command.params:
        if getattr(param, "type_descriptor", None) is not None:
            yield " ".join(path) or "lashdb", command, param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _params(sub, (*path, name))


def _values(leaf):
    if isinstance(leaf, type) and issubclass(leaf, enum.Enum):
        first = next(iter(leaf))
        return [first, str(first.value), str(first.value).upper(), "bogus", ""]
    return SAMPLES.get(leaf, [])


def _outcome(runtime, value, param, ctx):
    try:
        return "ok", runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # the refusal itself is compared
        return type(exc).__name__, str(exc)


def _cases():
    group = typer.main.get_command(main.app)
    for where, command, param in _params(group):
        annotation = param.type_descriptor.annotation
        multi = param.multiple or param.nargs == -1
        leaf = typer.main.get_args(annotation)[0] if multi and typer.main.get_args(annotation) else annotation
        for value in _values(leaf):
            yield pytest.param(command, param, (value,) if multi else value, id=f"{where}:{param.name}:{value!r}")
        yield pytest.param(command, param, param.default, id=f"{where}:{param.name}:default")


@pytest.mark.parametrize("command, param, value", list(_cases()))
def test_same_value_or_refusal_as_typer(command, param, value):
    ctx = Context(command, info_name="lashdb")
    quick = _outcome(coerce._Coercion(param.type_descriptor), value, param, ctx)
    typers = _outcome(build_runtime_param(param.type_descriptor), value, param, ctx)
    assert quick == typers
    assert type(quick[1]) is type(typers[1])


def test_every_kind_of_parameter_is_covered_and_the_plain_ones_skip_typer():
    group = typer.main.get_command(main.app)
    kinds = {param.type_descriptor.annotation for _w, _c, param in _params(group)}
    assert {str, Path, int, bool, list[str], list[Path]} <= kinds
    typed = {str: "abc", Path: "a/b", int: "7", list[str]: ("a", "b"), list[Path]: ("a", "/b")}
    plain = [(p, typed[p.type_descriptor.annotation]) for _w, _c, p in _params(group)
             if p.type_descriptor.annotation in typed]
    assert plain
    for param, value in plain:
        runtime = coerce._Coercion(param.type_descriptor)
        runtime.coerce(value, param=param, ctx=Context(group))
        assert runtime._typer is None, param.name  # answered without building Typer's (pydantic) coercion


def test_typer_answers_what_needs_it():
    group = typer.main.get_command(main.app)
    limit = next(p for _w, _c, p in _params(group) if p.type_descriptor.annotation is int)
    runtime = coerce._Coercion(limit.type_descriptor)
    with pytest.raises(Exception) as refused:
        runtime.coerce("many", param=limit, ctx=Context(group))
    assert runtime._typer is not None and "valid integer" in str(refused.value)
