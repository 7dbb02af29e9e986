"""Jinja2 expressions in workflow definitions: render, evaluate and validate them safely.

Why: definitions are written by users and rendered inside the scheduler just before a step
starts (spec: "Params and expressions"). So expressions run in Jinja's immutable sandbox with
``StrictUndefined``, under size limits, and *every* failure comes out as one
:class:`~maestro.errors.ExpressionError` naming the expression: a bad template fails its step,
never the scheduler.

What:

- :func:`render` renders the strings inside a value (nested dicts, lists, tuples). A string that
  is exactly one ``{{ expr }}`` gives the expression's native value; other templates give text.
- :func:`evaluate` / :func:`evaluate_condition` take a bare expression (``when``,
  ``foreach.items``); braces around it are accepted too.
- :func:`check_template` / :func:`check_expression` only compile, for definition validation.
- Filters: ``ds``, ``ds_nodash``, ``ts``, ``add_days``, ``add_hours``, ``strftime``,
  ``to_date``, ``tojson`` (real JSON, dates as ISO strings) and ``fromjson``.

Semantics worth knowing:

- ``a.b`` on a mapping looks up the key ``b`` first (one ``__getitem__``, never iterating the
  mapping, so lazy mappings such as the engine's ``steps`` stay lazy) and only then an attribute:
  a step output called ``items`` or ``keys`` is reachable as ``outputs.items``.
- Jinja's ``**`` is left-associative: ``2 ** 3 ** 2`` is ``(2 ** 3) ** 2``.

Limits: the sandbox refuses private and internal attributes (``__class__``, ``__globals__``,
``mro``, ``func_globals``…) and changes to lists and dicts; ``range`` is capped by Jinja;
``*``, ``**``, ``%`` and ``+``, the string-growing filters and ``str`` methods (``center``,
``replace``, ``join``, ``format``…) refuse results over :data:`MAX_VALUE_BYTES`; every rendered
value is limited to :data:`MAX_VALUE_BYTES`; so is every ``~`` (Jinja compiles it to a plain
string join, which ``_CodeGenerator`` routes through the sandbox), hence every intermediate
value of a loop. Time: each top-level render or evaluation must end within
``expression_deadline.MAX_RENDER_SECONDS``, checked in every loop iteration, call, lookup and
operator.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing, object_type_repr

from maestro import expression_deadline
from maestro.errors import ExpressionError
from maestro.expression_filters import _OUR_FILTERS
from maestro.expression_limits import (
    _FILTER_PROJECTIONS,
    MAX_VALUE_BYTES,
    _bounded_list,
    _check_binop,
    _check_format,
    _check_size,
    _check_str_method,
    _estimate,
    _guard_filter,
    _guard_join,
    _limit,
    _lipsum,
    _Refused,
    _text_bytes,
)
from maestro.expression_maestro import MAESTRO_GLOBALS

#: How many compiled templates and expressions are kept.
CACHE_SIZE = 4096

#: Attributes refused on top of the sandbox's own rules (most are Python 2 names, kept for safety).
_BLOCKED_ATTRIBUTES = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "func_closure",
        "func_defaults",
        "func_dict",
        "im_func",
        "im_self",
        "im_class",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "f_back",
        "tb_frame",
        "tb_next",
    }
)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def contains_template(s: str) -> bool:
    """True if ``s`` has Jinja markup to render (``{{`` or ``{%``)."""
    return "{{" in s or "{%" in s


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (dict values, list and tuple items; not dict keys).

    A string without markup is returned unchanged. A string that is exactly one ``{{ expr }}``
    (whitespace around it allowed) gives the expression's native value; any other template
    gives a string. Raises :class:`ExpressionError` naming the failing string.
    """
    with expression_deadline.deadline():
        return _render_value(value, context)


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _render_string(value, context) if contains_template(value) else value
    if isinstance(value, dict):
        return {key: _render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    if isinstance(value, tuple):
        return tuple(_render_value(item, context) for item in value)
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The native value of a bare expression (``when``, ``foreach.items``).

    ``"{{ expr }}"`` is accepted as well. Raises :class:`ExpressionError`.
    """
    try:
        with expression_deadline.deadline():
            return _native(_compile_expression(_bare(expression))(context))
    except ExpressionError:
        raise
    except Exception as exc:
        raise _expression_error(expression, exc, context) from exc


def evaluate_condition(expression: str, context: Mapping[str, Any]) -> bool:
    """The truthiness of :func:`evaluate` (an empty list, 0, "" and None are false)."""
    value = evaluate(expression, context)
    try:
        return bool(value)
    except Exception as exc:
        raise _expression_error(expression, exc, context) from exc


def check_template(s: str) -> None:
    """Compile a template string without rendering it; raise :class:`ExpressionError` if invalid."""
    if not contains_template(s):
        return
    try:
        body = _single_expression(s)
        if body is None:
            _compile_template(s)
        else:
            _compile_expression(body)
    except Exception as exc:
        raise _expression_error(s, exc, None) from exc


def check_expression(s: str) -> None:
    """Compile a bare expression without evaluating it; raise :class:`ExpressionError` if bad."""
    try:
        _compile_expression(_bare(s))
    except Exception as exc:
        raise _expression_error(s, exc, None) from exc


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _render_string(source: str, context: Mapping[str, Any]) -> Any:
    try:
        body = _single_expression(source)
        if body is not None:
            return _native(_compile_expression(body)(context))
        return _render_text(_compile_template(source), context)
    except ExpressionError:
        raise
    except Exception as exc:
        raise _expression_error(source, exc, context) from exc


def _render_text(template: Template, context: Mapping[str, Any]) -> str:
    """Render to text, stopping as soon as the output passes the size limit."""
    parts: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        _limit(size, "the rendered text")
        parts.append(chunk)
    text = "".join(parts)
    _limit(_text_bytes(text), "the rendered text")
    return text


def _native(value: Any) -> Any:
    """Check an expression's result and make it a plain value (iterators become lists).

    An undefined value, even nested in a list or dict, raises (``_estimate`` sees it).
    """
    if isinstance(value, range | Iterator | KeysView | ValuesView | ItemsView):
        value = _bounded_list(value, "the value")
    elif isinstance(value, str) and type(value) is not str:
        value = str(value)  # Markup from |safe and friends
    _limit(_estimate(value), "the value")
    return value


def _bare(expression: str) -> str:
    """The expression without its braces, if it was written as ``{{ expr }}``."""
    if not expression.strip():
        raise _Refused("empty expression")
    if not expression.lstrip().startswith("{{"):
        return expression
    body = _single_expression(expression)
    if body is None:
        raise _Refused('expected one expression, such as "steps.a.outputs.rowcount > 0"')
    return body


@functools.lru_cache(maxsize=CACHE_SIZE)
def _single_expression(source: str) -> str | None:
    """The inner source if ``source`` is exactly one ``{{ expr }}`` with only whitespace around."""
    try:
        tokens = list(_environment().lex(source))
    except TemplateSyntaxError:
        return None  # compiling the template reports the error
    kinds = [kind for _, kind, _ in tokens]
    if kinds.count("variable_begin") != 1 or kinds.count("variable_end") != 1:
        return None
    start, end = kinds.index("variable_begin"), kinds.index("variable_end")
    outside = tokens[:start] + tokens[end + 1 :]
    if any(kind != "data" or text.strip() for _, kind, text in outside):
        return None
    return "".join(text for _, _, text in tokens[start + 1 : end])


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile_template(source: str) -> Template:
    return _environment().from_string(source)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile_expression(source: str) -> TemplateExpression:
    return _environment().compile_expression(source, undefined_to_none=False)


# --------------------------------------------------------------------------------------------
# The sandboxed environment
# --------------------------------------------------------------------------------------------


class _Missing(str):
    """An undefined value's message that remembers what was looked up, to name it better later."""

    name: Any
    owner: Any

    def __new__(cls, text: str, name: Any, owner: Any) -> _Missing:
        message = super().__new__(cls, text)
        message.name = name
        message.owner = owner
        return message


class _Undefined(StrictUndefined):
    """``StrictUndefined`` whose error says which name, attribute or key was missing."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        name, owner = self._undefined_name, self._undefined_obj
        if self._undefined_hint:
            return self._undefined_hint
        if owner is missing:
            return _Missing(f"undefined name {name!r}", name, owner)
        what = "attribute" if isinstance(name, str) else "element"
        return _Missing(f"{object_type_repr(owner)!r} has no {what} {name!r}", name, owner)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with the operations that gather many values checked as they go.

    Jinja compiles ``a ~ b ~ c`` to a plain ``str_join((a, b, c))`` that no sandbox hook sees,
    and list, tuple and dict literals to Python displays: every operand is computed before
    anything can look at the whole. Each may be within the value limit while all together are
    not — a ``~`` doubling a string in a loop reached 2 GiB in a worker, a 1,000-term ``~``
    chain of 1 MiB strings took the API server to 2 GB. Here each operand becomes a lambda and
    ``environment.tilde``/``environment.literal`` compute them one by one, refusing as soon as
    the total passes the limit.
    """

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self._lazily("tilde", node.nodes, frame)

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("list(")
        self._lazily("literal", node.items, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target: ``{% for a, b in pairs %}``
            super().visit_Tuple(node, frame)
            return
        self._lazily("literal", node.items, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("dict(")
        pairs = [nodes.Tuple([item.key, item.value], "load") for item in node.items]
        self._lazily("literal", pairs, frame)
        self.write(")")

    def _lazily(self, method: str, items: Sequence[nodes.Expr], frame: Frame) -> None:
        self.write(f"environment.{method}((")
        for item in items:
            self.write("(lambda: ")
            self.visit(item, frame)
            self.write("), ")
        self.write("))")


#: the most arguments one call, filter or test may take: their values coexist
MAX_CALL_ARGUMENTS = 64


def _guarded_tree(tree: nodes.Template) -> nodes.Template:
    """Every ``{% for %}`` iterates through ``environment.checked_iter`` (the deadline), and no
    call takes more than ``MAX_CALL_ARGUMENTS`` arguments."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(
            nodes.EnvironmentAttribute("checked_iter"), [loop.iter], [], None, None
        )
    for call in tree.find_all((nodes.Call, nodes.Filter, nodes.Test)):
        assert isinstance(call, nodes.Call | nodes.Filter | nodes.Test)
        if len(call.args) + len(call.kwargs) > MAX_CALL_ARGUMENTS:
            raise TemplateSyntaxError(
                f"a call with more than {MAX_CALL_ARGUMENTS} arguments", call.lineno
            )
    return tree


class _Environment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus key-first lookups on mappings, size and time limits."""

    intercepted_binops = frozenset({"+", "*", "%", "**"})
    code_generator_class = _CodeGenerator

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        return super()._generate(_guarded_tree(source), name, filename, defer_init)

    @staticmethod
    def checked_iter(items: Any) -> Iterator[Any]:
        return expression_deadline.checked_iter(items)

    @staticmethod
    def tilde(parts: tuple[Callable[[], Any], ...]) -> str:
        """``a ~ b ~ …``: the operands one by one, refused once the text passes the limit."""
        texts: list[str] = []
        size = 0
        for part in parts:
            expression_deadline.check()
            value = part()
            if not isinstance(value, str):
                # a list sharing itself many times over is tiny in memory but not as text
                _limit(size + _estimate(value, MAX_VALUE_BYTES - size), "the result of '~'")
                value = str(value)
            size += _text_bytes(value)
            _limit(size, "the result of '~'")
            texts.append(value)
        return "".join(texts)

    @staticmethod
    def literal(items: tuple[Callable[[], Any], ...]) -> tuple[Any, ...]:
        """The items of a list, tuple or dict literal, refused once they pass the limit."""
        values: list[Any] = []
        size = 0
        for item in items:
            expression_deadline.check()
            value = item()
            size += _estimate(value, MAX_VALUE_BYTES - size)
            _limit(size, "the literal")
            values.append(value)
        return tuple(values)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr not in _BLOCKED_ATTRIBUTES and super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.name``: on a mapping, one key lookup first, then a (safe) attribute."""
        expression_deadline.check()
        if not isinstance(obj, Mapping):
            return super().getattr(obj, attribute)
        try:
            return obj[attribute]
        except KeyError:
            pass
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            return self.undefined(obj=obj, name=attribute)
        if self.is_safe_attribute(obj, attribute, value):
            return value
        return self.unsafe_undefined(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        expression_deadline.check()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        expression_deadline.check()
        _check_binop(operator, left, right)
        return _check_size(self.binop_table[operator](left, right), f"the result of {operator!r}")

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        expression_deadline.check()
        args = _check_str_method(obj, args)
        return _check_size(super().call(context, obj, *args, **kwargs), "the call's result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        template: str = value.__self__

        def guarded_format(*args: Any, **kwargs: Any) -> str:
            _check_format(template, args, kwargs)
            return _check_size(formatter(*args, **kwargs), "format()")

        return guarded_format


@functools.cache
def _environment() -> _Environment:
    env = _Environment(
        undefined=_Undefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.globals["lipsum"] = _lipsum
    env.globals.update(MAESTRO_GLOBALS)  # Maestro's helpers (maestro.expression_maestro)
    env.filters.update(_OUR_FILTERS)
    for name, func in list(env.filters.items()):
        env.filters[name] = _guard_filter(name, func, _FILTER_PROJECTIONS.get(name))
    env.filters["join"] = _guard_join(env.filters["join"])
    return env


def _finalize(value: Any) -> Any:
    """Runs on every ``{{ }}`` output before it becomes text: refuse values too large to print."""
    _limit(_estimate(value), "the value")
    return value


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------


def _expression_error(
    source: str, exc: Exception, context: Mapping[str, Any] | None
) -> ExpressionError:
    return ExpressionError(source, _detail(source, exc, context))


def _detail(source: str, exc: Exception, context: Mapping[str, Any] | None) -> str:
    """A readable one-line reason for ``exc``."""
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno})" if "\n" in source.strip() else ""
        return f"syntax error: {exc.message}{where}"
    if isinstance(exc, UndefinedError):
        return _undefined_detail(source, exc, context)
    if isinstance(exc, SecurityError):
        return f"not allowed: {exc.message}"
    if isinstance(exc, TemplateError):
        return exc.message or type(exc).__name__
    if isinstance(exc, _Refused | expression_deadline.DeadlineExceeded):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _undefined_detail(source: str, exc: UndefinedError, context: Mapping[str, Any] | None) -> str:
    message = exc.message
    if not isinstance(message, _Missing):
        return str(message)
    if message.owner is missing:
        candidates = [*(context or {}), *_environment().globals]
        return str(message) + _did_you_mean(message.name, candidates)
    found = _owner_path(source, message.name)
    text = str(message) if found is None else f"{found[0]!r} has no {found[1]} {message.name!r}"
    if isinstance(message.owner, dict):
        text += _key_hint(message.name, message.owner)
    return text


def _did_you_mean(name: Any, candidates: Iterable[Any]) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _key_hint(name: Any, owner: dict[Any, Any]) -> str:
    """For a plain dict: a close key, else the keys it has (never used for lazy mappings)."""
    keys = sorted(str(key) for key in owner)
    if not keys:
        return " (it is empty)"
    suggestion = _did_you_mean(name, keys)
    if suggestion:
        return suggestion
    shown = ", ".join(keys[:10]) + (", …" if len(keys) > 10 else "")
    return f" (it has: {shown})"


def _owner_path(source: str, name: Any) -> tuple[str, str] | None:
    """Where ``name`` was looked up, as written (``steps.extract.outputs``), if unambiguous."""
    text = source if contains_template(source) else "{{ " + source + " }}"
    try:
        tree = _environment().parse(text)
    except TemplateSyntaxError:
        return None
    found: dict[str | None, str] = {}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        kind = _lookup_kind(node, name)
        if kind is not None and isinstance(node, nodes.Getattr | nodes.Getitem):
            found.setdefault(_static_path(node.node), kind)
    if len(found) != 1:
        return None
    ((path, kind),) = found.items()
    return None if path is None else (path, kind)


def _lookup_kind(node: nodes.Node, name: Any) -> str | None:
    """How ``node`` looks ``name`` up ("attribute", "key" or "element"), or None if it doesn't."""
    if isinstance(node, nodes.Getattr):
        return "attribute" if node.attr == name else None
    arg = node.arg if isinstance(node, nodes.Getitem) else None
    if isinstance(arg, nodes.Const) and type(arg.value) is type(name) and arg.value == name:
        return "key" if isinstance(name, str) else "element"
    return None


def _static_path(node: nodes.Node) -> str | None:
    """``a.b['c']`` for a chain of names, attributes and constant subscripts; else None."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        base = _static_path(node.node)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _static_path(node.node)
        return None if base is None else f"{base}[{node.arg.value!r}]"
    return None
