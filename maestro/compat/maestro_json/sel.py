"""Maestro SEL expressions → our Jinja expressions: a tokenizer, a precedence-climbing parser
to a small AST, and an emitter.

Only the subset Maestro definitions use in practice is accepted (docs/maestro.md); anything
else raises :class:`NotImportable`, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Maestro's built-in params and what they become in our scope
BUILTINS = {
    "TARGET_RUN_DATE": "maestro_builtin('TARGET_RUN_DATE', run)",
    "RUN_TS": "maestro_builtin('RUN_TS', run)",
    "DERIVED_RUN_DATE_UTC": "maestro_builtin('DERIVED_RUN_DATE_UTC', run)",
    "TARGET_RUN_HOUR": "maestro_builtin('TARGET_RUN_HOUR', run)",
    "RUN_DATE": "maestro_builtin('RUN_DATE', run)",
}
UTIL = {
    "dateIntsBetween": "date_ints_between",
    "intsBetween": "ints_between",
    "dateIntHourToTs": "date_int_hour_to_ts",
}
JODA_METHODS = {
    "withZone": 1,
    "plusDays": 1,
    "minusDays": 1,
    "plusHours": 1,
    "minusHours": 1,
    "toString": 1,
    "monthOfYear": 0,
    "getAsText": 0,
    "getMillis": 0,
}


class NotImportable(Exception):
    """A SEL construct outside the subset; ``str()`` says which."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?[lLdDfF]?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:(),.;\[\]={}]))"
)


@dataclass
class Tok:
    kind: str
    text: str


def tokenize(src: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise NotImportable(f"cannot read {src[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append(Tok(kind, m.group(kind)))
        pos = m.end()
        while pos < len(src) and src[pos].isspace():
            pos += 1
    return out


@dataclass
class Node:
    kind: str  # num str bool null name unary bin tern call attr new
    value: object = None
    args: list[Node] = field(default_factory=list)


_BIN = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.t = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, text: str | None = None) -> Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text):
            raise NotImportable(
                f"expected {text or 'more'}, found {tok.text if tok else 'the end'}"
            )
        self.i += 1
        return tok

    def expr(self) -> Node:
        cond = self.binary(1)
        if self.peek() and self.peek().text == "?":  # type: ignore[union-attr]
            self.take("?")
            yes = self.expr()
            self.take(":")
            return Node("tern", None, [cond, yes, self.expr()])
        return cond

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while (tok := self.peek()) and tok.kind == "op" and _BIN.get(tok.text, 0) >= min_prec:
            self.i += 1
            right = self.binary(_BIN[tok.text] + 1)
            left = Node("bin", tok.text, [left, right])
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok and tok.text in ("!", "-"):
            self.i += 1
            return Node("unary", tok.text, [self.unary()])
        return self.postfix(self.primary())

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            text = tok.text.rstrip("lLdDfF")
            return Node("num", float(text) if "." in text else int(text))
        if tok.kind == "str":
            return Node("str", bytes(tok.text[1:-1], "utf-8").decode("unicode_escape"))
        if tok.text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if tok.kind == "id":
            if tok.text in ("true", "false"):
                return Node("bool", tok.text == "true")
            if tok.text == "null":
                return Node("null")
            if tok.text == "new":
                cls = self.take().text
                return Node("new", cls, self.call_args())
            return Node("name", tok.text)
        raise NotImportable(f"unexpected {tok.text!r}")

    def call_args(self) -> list[Node]:
        self.take("(")
        args: list[Node] = []
        while self.peek() and self.peek().text != ")":  # type: ignore[union-attr]
            args.append(self.expr())
            if self.peek() and self.peek().text == ",":  # type: ignore[union-attr]
                self.take(",")
        self.take(")")
        return args

    def postfix(self, node: Node) -> Node:
        while (tok := self.peek()) and tok.text == ".":
            self.take(".")
            name = self.take().text
            if self.peek() and self.peek().text == "(":  # type: ignore[union-attr]
                node = Node("call", name, [node, *self.call_args()])
            else:
                node = Node("attr", name, [node])
        if (tok := self.peek()) and tok.text == "[":
            raise NotImportable("array indexing is not in the imported SEL subset")
        return node


def parse(src: str) -> Node:
    """Parse one SEL expression (``return`` and a trailing ``;`` accepted)."""
    toks = tokenize(src)
    while toks and toks[-1].text == ";":
        toks.pop()
    if toks and toks[0].text == "return":
        toks = toks[1:]
    if any(t.text == ";" for t in toks):
        raise NotImportable("several statements (only one expression is imported)")
    if not toks:
        raise NotImportable("an empty expression")
    p = _Parser(toks)
    node = p.expr()
    if p.peek() is not None:
        raise NotImportable(f"unexpected {p.peek().text!r}")  # type: ignore[union-attr]
    return node


@dataclass
class Scope:
    """Names an expression may reach: run params, loop variables, step params."""

    run_params: set[str] = field(default_factory=set)
    loop_vars: set[str] = field(default_factory=set)
    #: the step whose params a bare name means (a step param's own expression, or a condition)
    local_params: set[str] = field(default_factory=set)
    step_ids: set[str] = field(default_factory=set)


def _q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_str(node: Node) -> bool:
    return node.kind == "str" or (
        node.kind == "bin" and node.value == "+" and any(_is_str(a) for a in node.args)
    )


class _Emitter:
    def __init__(self, scope: Scope) -> None:
        self.s = scope

    def emit(self, n: Node) -> str:  # noqa: C901 - one branch per node kind
        k = n.kind
        if k == "num":
            return repr(n.value)
        if k == "str":
            return _q(str(n.value))
        if k == "bool":
            return "true" if n.value else "false"
        if k == "null":
            return "none"
        if k == "name":
            return self.name(str(n.value))
        if k == "unary":
            inner = self.emit(n.args[0])
            return f"(not {inner})" if n.value == "!" else f"(-{inner})"
        if k == "bin":
            a, b = (self.emit(x) for x in n.args)
            op = {"&&": "and", "||": "or", "~": "~"}.get(str(n.value), str(n.value))
            if op == "+" and any(_is_str(x) for x in n.args):
                op = "~"
            if op == "/":
                op = (
                    "//"
                    if not any(x.kind == "num" and isinstance(x.value, float) for x in n.args)
                    else "/"
                )
            return f"({a} {op} {b})"
        if k == "tern":
            c, y, no = (self.emit(x) for x in n.args)
            return f"({y} if {c} else {no})"
        if k == "new":
            if n.value == "DateTime" and len(n.args) == 1:
                return f"joda_datetime({self.emit(n.args[0])})"
            raise NotImportable(f"new {n.value}(...) is not in the imported SEL subset")
        if k == "call":
            return self.call(n)
        if k == "attr":
            raise NotImportable(f"field access .{n.value} is not in the imported SEL subset")
        raise NotImportable(f"cannot translate {k}")  # pragma: no cover

    def name(self, name: str) -> str:
        if name in self.s.loop_vars:
            return name
        if name in self.s.local_params:
            return f"params[{_q(name)}]"
        if name in self.s.run_params:
            return f"params[{_q(name)}]"
        if name in BUILTINS:
            return BUILTINS[name]
        if "__" in name:
            step, _, param = name.rpartition("__")
            if step in self.s.step_ids:
                return f"steps[{_q(step)}].params[{_q(param)}]"
        raise NotImportable(f"unknown name {name!r} (not a param, loop variable or step param)")

    def call(self, n: Node) -> str:  # noqa: C901 - one branch per known call
        recv, args = n.args[0], n.args[1:]
        meth = str(n.value)
        if recv.kind == "name":
            owner = recv.value
            if owner == "params":
                if meth == "get" and len(args) == 1 and args[0].kind == "str":
                    return self.name(str(args[0].value))
                if meth == "getFromStep" and len(args) == 2 and all(a.kind == "str" for a in args):
                    return f"steps[{_q(str(args[0].value))}].params[{_q(str(args[1].value))}]"
                if (
                    meth == "getFromSignal"
                    and len(args) == 2
                    and all(a.kind == "str" for a in args)
                ):
                    raise NotImportable(
                        "params.getFromSignal needs the matched signal's params in the step's"
                        " scope, which this engine does not offer yet"
                    )
            if owner == "Util" and meth in UTIL:
                return f"{UTIL[meth]}({', '.join(self.emit(a) for a in args)})"
            if owner == "UUID" and meth == "randomUUID" and not args:
                return "uuid4()"
            if owner == "DateTimeZone" and meth == "forID" and len(args) == 1:
                return self.emit(args[0])
            if owner == "DateTimeFormat" and meth == "forPattern" and len(args) == 1:
                return f"joda_format({self.emit(args[0])})"
        if meth == "toString" and not args and recv.kind == "call" and recv.value == "randomUUID":
            return self.emit(recv)  # uuid4() is text already
        if meth in JODA_METHODS and len(args) == JODA_METHODS[meth] and self._joda(recv):
            inner = ", ".join(self.emit(a) for a in args)
            return f"{self.emit(recv)}.{meth}({inner})"
        if (
            meth == "parseDateTime"
            and len(args) == 1
            and recv.kind == "call"
            and recv.value == "forPattern"
        ):
            return f"{self.emit(recv)}.parseDateTime({self.emit(args[0])})"
        raise NotImportable(f"the call .{meth}(...) is not in the imported SEL subset")

    def _joda(self, n: Node) -> bool:
        if n.kind == "new":
            return True
        if n.kind == "call":
            return n.value in JODA_METHODS or n.value == "parseDateTime"
        return False


def translate(src: str, scope: Scope, text_result: bool = False) -> str:
    """The Jinja expression (no braces) for one SEL expression. With ``text_result`` (a STRING
    param) a top-level ``+`` chain joins as text, as Java's string ``+`` does."""
    node = parse(src)
    if text_result:
        _mark_text(node)
    return _Emitter(scope).emit(node)


def _mark_text(node: Node) -> None:
    if node.kind == "bin" and node.value == "+":
        node.value = "~"
        for arg in node.args:
            _mark_text(arg)


_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def translate_interpolation(text: str, scope: Scope) -> str:
    """A string value with ``${p}`` references → a template with ``{{ ... }}``."""
    return _INTERP.sub(lambda m: "{{ " + _Emitter(scope).name(m.group(1)) + " }}", text)
