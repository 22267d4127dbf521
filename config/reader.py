"""Reading a config file: YAML with the line of every key path, `${VAR}` substitution, and the
problems found on the way, each with its key path and line and never a secret's value.

`read_yaml` parses the text (a syntax error becomes one problem with its line, column and
offending token, hidden when it sits in a secret's value); a `Reader` then takes values out of
the parsed data by their declared keys (`slawatch.config.keys`), collecting every problem instead
of stopping at the first, so that `check-config` can list them all.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from slawatch.config.keys import Key, Table
from slawatch.config.values import ValueProblems

T = TypeVar("T")
KeyPath = tuple[str | int, ...]

_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def render(self, source: str) -> str:
        where = source
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, problems: Iterable[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(problem.render(self.source) for problem in self.problems)


def render_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Invalid:
    """What a value that failed to parse becomes, so reading can go on to find more problems."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


# ------------------------------------------------------------------------------------- YAML


@dataclass(slots=True)
class Document:
    """A parsed file: its data, and the line and source text of each key path."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    raw: dict[KeyPath, str] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int]] = field(default_factory=list)


FAST_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
"""libyaml's parser, when PyYAML was built with it: about 8 times faster on a big file."""


def read_yaml(text: str, source: str, is_secret: Callable[[KeyPath], bool]) -> Document:
    """Parse `text` (safe YAML, one document), or raise ConfigError naming where it breaks.

    A file libyaml refuses is read again by PyYAML's own parser, which decides: its messages
    name the offending token, and its events let `_path_at` name the key."""
    if FAST_LOADER is not None:
        with contextlib.suppress(yaml.YAMLError, ValueError, OverflowError):
            return _parse(FAST_LOADER, text)
    try:
        return _parse(yaml.SafeLoader, text)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(source, [_syntax_problem(error, text, is_secret)]) from None
    except yaml.YAMLError as error:
        raise ConfigError(source, [ConfigProblem("", f"invalid YAML: {error}")]) from None
    except (ValueError, OverflowError) as error:  # `2026-13-01`: a timestamp that is no date
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raise ConfigError(source, [_bad_scalar(node, error, is_secret)]) from None


def _parse(loader_class: Callable[[str], Any], text: str) -> Document:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        document = Document(None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()
    if node is not None:
        _index(node, (), document)
    return document


def _index(node: yaml.Node, path: KeyPath, document: Document) -> None:
    document.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        document.raw[path] = node.value
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), document)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen and key != "<<":
                document.duplicates.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            document.lines[(*path, key)] = key_node.start_mark.line + 1
            _index(value_node, (*path, key), document)


_HINTS = (
    ("'\\t'", "indent with spaces: YAML allows no tabs there"),
    ("undefined alias", "a value starting with * must be quoted"),
    ("that cannot start any token", "quote a value that starts with this character"),
    (
        "mapping values are not allowed here",
        "check the indentation of this line, or quote a value that contains ': '",
    ),
    ("could not determine a constructor", "quote a value that starts with !"),
    ("found unexpected end of stream", "close the quote"),
)


def _syntax_problem(
    error: yaml.MarkedYAMLError, text: str, is_secret: Callable[[KeyPath], bool]
) -> ConfigProblem:
    """Line, column and offending token of a syntax error; the token is hidden when the error
    sits in a secret's value (`admin_token: *S3cret…` is read as an alias)."""
    mark = error.problem_mark or error.context_mark
    path = _path_at(text, mark.index) if mark else ()
    problem = str(error.problem or error.context or "syntax error")
    context, where = error.context or "", error.context_mark
    if context and error.problem and not context.startswith("while "):
        problem = f"{context}, {problem}"  # "expected a single document…, but found…"
    if path and is_secret(path):
        hidden = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", problem)
        problem = hidden + " (in a secret, not shown)" if hidden != problem else problem
    message = f"invalid YAML: {problem}"
    if context.startswith("while ") and where and mark and where.index != mark.index:
        what = re.sub(r"^while (?:parsing|scanning) an? ", "", context)
        message += f" (in the {what} that starts at line {where.line + 1}, column "
        message += f"{where.column + 1})"
    hint = next((hint for needle, hint in _HINTS if needle in problem), None)
    if hint:
        message += f"; {hint}"
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return ConfigProblem(render_path(path), message, line, column)


def _path_at(text: str, index: int) -> KeyPath:
    """The key path of the last node that starts at or before `index` in `text`.

    A text that does not parse still has a readable start: the parser's events up to the error,
    then the tokens the scanner had read past them (it reads a whole line of a flow mapping
    ahead, to know whether the mapping is itself a key)."""
    tracker = _PathTracker(index)
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_event():
            if not tracker.event(loader.get_event()):
                return tracker.found
    except yaml.YAMLError:
        for token in loader.tokens:
            if not tracker.token(token):
                break
    finally:
        loader.dispose()
    return tracker.found


class _PathTracker:
    """Follows YAML events or tokens, keeping the path of the last node started before `index`."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.found: KeyPath = ()
        self.frames: list[list[Any]] = []
        """Per open collection: ["map", its path, the key awaiting its value or None] or
        ["seq", its path, the next index]."""

    def event(self, event: yaml.Event) -> bool:
        """Take one event; False once past `index`."""
        if event.start_mark is not None and event.start_mark.index > self.index:
            return False
        if isinstance(event, yaml.ScalarEvent):
            self._node(event.value)
        elif isinstance(event, yaml.AliasEvent):
            self._node("?")
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._open(isinstance(event, yaml.MappingStartEvent))
        elif isinstance(event, yaml.CollectionEndEvent):
            self._close()
        return True

    def token(self, token: yaml.Token) -> bool:
        if token.start_mark.index > self.index:
            return False
        if isinstance(token, yaml.ScalarToken):
            self._node(token.value)
        elif isinstance(token, yaml.AliasToken):
            self._node("?")
        elif isinstance(token, yaml.FlowMappingStartToken | yaml.BlockMappingStartToken):
            self._open(True)
        elif isinstance(token, yaml.FlowSequenceStartToken | yaml.BlockSequenceStartToken):
            self._open(False)
        elif isinstance(
            token, yaml.FlowMappingEndToken | yaml.FlowSequenceEndToken | yaml.BlockEndToken
        ):
            self._close()
        return True

    def _place(self) -> tuple[KeyPath, bool]:
        """Where the next node goes, and whether it is a key."""
        if not self.frames:
            return (), False
        frame = self.frames[-1]
        kind, prefix, slot = frame
        if kind == "seq":
            frame[2] += 1
            return (*prefix, slot), False
        if slot is None:
            return prefix, True
        frame[2] = None
        return (*prefix, slot), False

    def _node(self, value: str) -> None:
        path, is_key = self._place()
        if is_key:
            self.frames[-1][2] = value
            path = (*path, value)
        self.found = path

    def _open(self, mapping: bool) -> None:
        path, is_key = self._place()
        if is_key:  # a collection as a key: no name to give
            self.frames[-1][2] = "?"
            path = (*path, "?")
        self.found = path
        self.frames.append(["map", path, None] if mapping else ["seq", path, 0])

    def _close(self) -> None:
        if self.frames:
            self.frames.pop()


def _bad_scalar(
    root: yaml.Node | None, error: Exception, is_secret: Callable[[KeyPath], bool]
) -> ConfigProblem:
    """The scalar YAML resolved to a type it cannot build (a timestamp that is no date)."""
    constructor = yaml.SafeLoader("")
    for path, node in () if root is None else _scalars(root, ()):
        try:
            constructor.construct_object(node)
        except (ValueError, OverflowError) as failure:
            reason = "" if is_secret(path) else f" ({failure})"
            return ConfigProblem(
                render_path(path),
                f"invalid YAML: not a valid date or time{reason}; quote it if it is text",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
            )
    return ConfigProblem("", f"invalid YAML: {error}")


def _scalars(node: yaml.Node, path: KeyPath) -> Iterable[tuple[KeyPath, yaml.Node]]:
    if isinstance(node, yaml.ScalarNode):
        yield path, node
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _scalars(item, (*path, i))
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield from _scalars(value_node, (*path, str(key_node.value)))


# ------------------------------------------------------------------------------------ values


class Reader:
    """Takes values out of a parsed file by their declared keys and collects the problems."""

    def __init__(
        self,
        document: Document,
        base_dir: Path,
        environ: Mapping[str, str],
        reads: tuple[KeyPath, ...],
    ) -> None:
        self.document = document
        self.base_dir = base_dir
        self.environ = environ
        self.reads = reads
        """Key-path prefixes the process reads: an unset `${VAR}` there is a problem."""
        self.unresolved: set[KeyPath] = set()
        """Values holding an unset `${VAR}` outside what the process reads: left unparsed."""
        self.problems: list[ConfigProblem] = []
        for path, line in document.duplicates:
            self.fail(path, "duplicate key", line)

    def fail(self, path: KeyPath, message: str, line: int | None = None) -> None:
        if line is None:
            probe = path
            while probe and probe not in self.document.lines:
                probe = probe[:-1]
            line = self.document.lines.get(probe)
        self.problems.append(ConfigProblem(render_path(path), message, line))

    def reads_path(self, path: KeyPath) -> bool:
        return any(path[: len(prefix)] == prefix for prefix in self.reads)

    # ---------------------------------------------------------------------------- ${VAR}

    def substitute(self, value: Any, path: KeyPath) -> Any:
        """Replace `${NAME}` / `${NAME:-default}` in every string below `value`."""
        if isinstance(value, str):
            return self._substitute_text(value, path)
        if isinstance(value, list):
            return [self.substitute(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: self.substitute(item, (*path, str(key))) for key, item in value.items()}
        return value

    def _substitute_text(self, text: str, path: KeyPath) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            if self.reads_path(path):
                self.fail(path, f"environment variable {name} is not set")
            self.unresolved.add(path)  # not parsed: said once, or not this process's to read
            return match.group(0)

        return _ENV_REFERENCE.sub(replace, text)

    # -------------------------------------------------------------------------- structure

    def table(self, value: Any, path: KeyPath, table: Table | Iterable[str]) -> dict[str, Any]:
        """`value` as a mapping with only the table's keys; problems reported, {} if not one."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping of keys to values")
            return {}
        allowed = table.names() if isinstance(table, Table) else tuple(table)
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail((*path, str(key)), f"unknown key{hint}")
        return value

    def sequence(self, value: Any, path: KeyPath) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, "must be a list")
            return []
        return value

    def items(self, value: Any, path: KeyPath, read: Callable[[Any, KeyPath], T]) -> tuple[T, ...]:
        """`read(item, item_path)` of each item of the list at `path`."""
        return tuple(read(item, (*path, i)) for i, item in enumerate(self.sequence(value, path)))

    # ----------------------------------------------------------------------------- values

    def take(
        self,
        data: Mapping[str, Any],
        key: Key,
        path: KeyPath,
        parse: Callable[[Any], Any] | None = None,
        *,
        default: Any = None,
        required: bool | None = None,
    ) -> Any:
        """Parse `data[key.name]` (with `parse`, else the key's kind); a missing or null key
        gives `default`, else the key's own (a problem if required)."""
        name = key.name
        value = data.get(name)
        if (*path, name) in self.unresolved:
            return INVALID
        if value is None:
            if key.required if required is None else required:
                self.fail((*path, name), "is required")
                return INVALID
            return default if default is not None else key.default_value()
        if key.kind.from_source and not isinstance(value, str):
            value = self.document.raw.get((*path, name), value)
        try:
            return (parse or key.kind.parse or _unparsed)(value)
        except ValueProblems as problems:
            for part, message in problems.problems:
                self.fail((*path, name, part) if part != "" else (*path, name), message)
        except ValueError as error:
            message = str(error)
            if key.secret and isinstance(value, str) and value:
                message = message.replace(value, "…")
            self.fail((*path, name), message)
        return INVALID

    def values(self, data: Mapping[str, Any], path: KeyPath, table: Table) -> dict[str, Any]:
        """Every key of `table` that its kind parses, by name."""
        return {key.name: self.take(data, key, path) for key in table if key.kind.parse}

    def resolve_path(self, path: Path | Any) -> Path | Any:
        """A file path relative to the config file's folder; INVALID and None pass through."""
        if not isinstance(path, Path):
            return path
        return Path(os.path.normpath(path if path.is_absolute() else self.base_dir / path))

    def unique_ids(self, items: Iterable[tuple[KeyPath, str]], what: str) -> None:
        seen: dict[str, KeyPath] = {}
        for path, item_id in items:
            if item_id is INVALID or item_id is None:
                continue
            if item_id in seen:
                self.fail(
                    path, f"duplicate {what} id {item_id!r} (first at {render_path(seen[item_id])})"
                )
            else:
                seen[item_id] = path


def _unparsed(value: Any) -> Any:
    return value
