"""Expansion of Prometheus 2.42 alert templates (Go ``text/template`` with Prometheus' function map).

:func:`expand` reproduces ``template.NewTemplateExpander(...).Expand()`` as ``rules/alerting.go`` calls it:
the preamble ``{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}
{{$value := .Value}}`` is prepended, ``missingkey=zero`` holds, and a failure raises :class:`TemplateError`
whose message is Expand()'s error, so ``f"<error expanding template: {err}>"`` is what Prometheus stores in
the alert (see :func:`expand_alert`). Templates are untrusted: no ``eval``, bounded nesting and template
recursion, a step budget, and outputs (and intermediate strings) above 1 MiB are a TemplateError.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from alerts.template_fmt import MAX_OUTPUT, AlertData, ArgsMap, Sample, TemplateError, go_type, sprint_value
from alerts.template_funcs import FUNCS, FuncError, truth
from alerts.template_parse import Node, parse

__all__ = ["Sample", "TemplateError", "check", "expand", "expand_alert"]

PREAMBLE = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}" \
           "{{$value := .Value}}"
MAX_CALL_DEPTH = 50
MAX_STEPS = 1_000_000
_FIELDS = {"Labels": "labels", "ExternalLabels": "external_labels", "ExternalURL": "external_url", "Value": "value"}
_TYPES = {"s": (str, "string"), "f": (float, "float64"), "S": (Sample, "*template.sample"),
          "V": (list, "template.queryResult")}


class _ExecError(Exception):
    def __init__(self, node: Node | None, msg: str) -> None:
        super().__init__(msg)
        self.node, self.msg = node, msg


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    def __init__(self, text: str, name: str, funcs: dict[str, Any], defines: dict[str, list[Node]]) -> None:
        self.text, self.name, self.funcs, self.defines = text, name, funcs, defines
        self.out: list[str] = []
        self.size = 0
        self.vars: list[tuple[str, Any]] = []
        self.steps = 0
        self.depth = 0

    def error(self, node: Node | None, msg: str) -> TemplateError:
        """Go's ``template: NAME:LINE:COL: executing "NAME" at <CONTEXT>: MSG``."""
        if node is None:
            return TemplateError(f"template: {self.name}: {msg}")
        before = self.text[:node.pos]
        nl = before.rfind("\n")
        col = len(before[nl + 1:].encode())
        ctx = node.src
        return TemplateError(f"template: {self.name}:{before.count(chr(10)) + 1}:{col}: "
                             f'executing "{self.name}" at <{ctx}>: {msg}')

    def write(self, s: str) -> None:
        self.size += len(s)
        if self.size > MAX_OUTPUT:
            raise _ExecError(None, "template output exceeds 1 MiB")
        self.out.append(s)

    def step(self, node: Node) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _ExecError(node, "template execution exceeds its step budget")

    def var(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise _ExecError(None, f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise _ExecError(None, f"undefined variable: {name}")

    # ---- statements ----
    def walk(self, dot: Any, nodes: list[Node]) -> None:
        for node in nodes:
            self.step(node)
            k = node.kind
            if k == "text":
                self.write(node.value)
            elif k == "action":
                assert node.pipe is not None
                v = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.write(sprint_value(v))
            elif k in ("if", "with"):
                self.if_with(dot, node)
            elif k == "range":
                self.range_(dot, node)
            elif k == "template":
                self.template(dot, node)
            else:
                raise _Break() if k == "break" else _Continue()

    def scoped(self, dot: Any, nodes: list[Node]) -> None:
        mark = len(self.vars)
        try:
            self.walk(dot, nodes)
        finally:
            del self.vars[mark:]

    def if_with(self, dot: Any, node: Node) -> None:
        mark = len(self.vars)
        assert node.pipe is not None
        v = self.pipeline(dot, node.pipe)
        if truth(v):
            self.scoped(v if node.kind == "with" else dot, node.body)
        else:
            self.scoped(dot, node.orelse)
        del self.vars[mark:]

    def range_(self, dot: Any, node: Node) -> None:
        mark = len(self.vars)
        assert node.pipe is not None
        v = self.pipeline(dot, node.pipe)
        if isinstance(v, dict):
            items: list[tuple[Any, Any]] = [(k, v[k]) for k in sorted(v)]
        elif isinstance(v, list):
            items = list(enumerate(v))
        elif v is None:
            items = []
        else:
            raise _ExecError(node.pipe, f"range can't iterate over {sprint_value(v)}")
        decl = node.pipe.decl
        for key, elem in items:
            if len(decl) == 1:
                self.set_var(decl[0], elem)
            elif len(decl) == 2:
                self.set_var(decl[0], key)
                self.set_var(decl[1], elem)
            try:
                self.scoped(elem, node.body)
            except _Continue:
                continue
            except _Break:
                break
        if not items:
            self.scoped(dot, node.orelse)
        del self.vars[mark:]

    def template(self, dot: Any, node: Node) -> None:
        body = self.defines.get(node.value)
        if body is None:
            raise _ExecError(node, f'template "{node.value}" not defined')
        new_dot = self.pipeline(dot, node.pipe) if node.pipe is not None else None
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            raise _ExecError(node, f"exceeded maximum template depth ({MAX_CALL_DEPTH})")
        saved, self.vars = self.vars, [("$", new_dot)]
        try:
            self.walk(new_dot, body)
        finally:
            self.vars = saved
            self.depth -= 1

    # ---- expressions ----
    def pipeline(self, dot: Any, pipe: Node) -> Any:
        value: Any = _MISSING
        for cmd in pipe.args:
            value = self.command(dot, cmd, value)
        if pipe.decl:
            if pipe.assign:
                try:
                    self.set_var(pipe.decl[0], value)
                except _ExecError as exc:
                    raise _ExecError(pipe.args[-1].args[0], exc.msg) from None
            else:
                for name in pipe.decl:
                    self.vars.append((name, value))
        return value

    def command(self, dot: Any, cmd: Node, final: Any) -> Any:
        first = cmd.args[0]
        k = first.kind
        if k == "ident":
            return self.call(dot, cmd, first.value, final)
        if k in ("field", "var", "chain"):
            at = first
            if k == "chain":  # Go reports a chain's field errors at the last node it evaluated
                term = first.args[0]
                recv, names, at = self.arg(dot, term), first.value, term.args[-1] if term.kind == "paren" else term
            elif k == "field":
                recv, names = dot, first.value
            else:
                recv, names = self.var(first.value[0]), first.value[1:]
            has_args = len(cmd.args) > 1 or final is not _MISSING
            for i, name in enumerate(names):
                recv = self.field(at, recv, name, has_args and i == len(names) - 1)
            if not names:
                self.not_a_function(cmd, final)
            return recv
        self.not_a_function(cmd, final)
        return self.arg(dot, first)

    def not_a_function(self, cmd: Node, final: Any) -> None:
        if len(cmd.args) > 1 or final is not _MISSING:
            raise _ExecError(cmd, f"can't give argument to non-function {cmd.args[0].src}")

    def field(self, node: Node, recv: Any, name: str, has_args: bool) -> Any:
        if isinstance(recv, dict):
            if has_args:
                raise _ExecError(node, f"{name} is not a method but has arguments")
            return recv.get(name, None if isinstance(recv, ArgsMap) else "")
        attrs = {"Labels": "labels", "Value": "value"} if isinstance(recv, Sample) else \
            _FIELDS if isinstance(recv, AlertData) else getattr(type(recv), "go_fields", {})
        if name in attrs:
            if has_args:
                raise _ExecError(node, f"{name} has arguments but cannot be invoked as function")
            return getattr(recv, attrs[name])
        if recv is None:
            raise _ExecError(node, f"nil pointer evaluating interface {{}}.{name}")
        raise _ExecError(node, f"can't evaluate field {name} in type {go_type(recv)}")

    def arg(self, dot: Any, node: Node) -> Any:
        k = node.kind
        if k in ("str", "num", "bool"):
            return node.value
        if k == "nil":
            raise _ExecError(node, "nil is not a command")
        if k == "dot":
            return dot
        if k == "paren":
            mark = len(self.vars)
            v = self.pipeline(dot, node)
            del self.vars[mark:]  # Go keeps them, but the parser already rejected later uses
            return v
        return self.command(dot, Node("cmd", node.pos, args=[node], src=node.src), _MISSING)

    def typed_arg(self, dot: Any, node: Node, kind: str) -> Any:
        if kind == "s" and node.kind in ("num", "bool", "nil"):
            raise _ExecError(node, f"expected string; found {node.src}")
        if kind == "f" and node.kind == "num":
            return float(node.value)
        if kind == "s" and node.kind == "str":
            return node.value
        if kind in "SVf" and node.kind in ("num", "str", "bool") or kind == "f" and node.kind == "nil":
            raise _ExecError(node, f"can't handle {node.src} for arg of type {_TYPES[kind][1]}")
        if kind in "SV" and node.kind == "nil":
            return None if kind == "S" else []
        if kind in "ri" and node.kind == "nil":
            return None
        return self.check(node, self.arg(dot, node), kind)

    def check(self, node: Node, v: Any, kind: str) -> Any:
        if kind in _TYPES:
            typ, name = _TYPES[kind]
            if v is None:
                if kind == "S":
                    return None
                raise _ExecError(node, f"invalid value; expected {name}")
            if not isinstance(v, typ) or isinstance(v, bool):
                raise _ExecError(node, f"wrong type for value; expected {name}; got {go_type(v)}")
        return v

    def call(self, dot: Any, cmd: Node, name: str, final: Any) -> Any:
        params, variadic, fn = self.funcs[name]
        argn = cmd.args[1:]
        got = len(argn) + (final is not _MISSING)
        if (variadic is None and got != len(params)) or got < len(params):
            want = f"at least {len(params)}" if variadic else str(len(params))
            raise _ExecError(cmd.args[0], f"wrong number of args for {name}: want {want} got {got}")
        if name in ("and", "or"):
            return self.and_or(dot, name, argn, final)
        values = []
        for i, a in enumerate(argn):
            values.append(self.typed_arg(dot, a, params[i] if i < len(params) else variadic or "i"))
        if final is not _MISSING:
            values.append(self.check(cmd, final, params[got - 1] if got - 1 < len(params) else variadic or "i"))
        try:
            result = fn(*values)
        except FuncError as exc:
            raise _ExecError(cmd, f"error calling {name}: {exc}") from None
        except TemplateError as exc:
            raise _ExecError(cmd, f"error calling {name}: {exc}") from None
        if isinstance(result, str) and len(result) > MAX_OUTPUT:
            raise _ExecError(cmd, f"error calling {name}: result exceeds 1 MiB")
        return result

    def and_or(self, dot: Any, name: str, argn: list[Node], final: Any) -> Any:
        v: Any = None
        for a in argn:
            v = self.arg(dot, a)
            if truth(v) == (name == "or"):
                return v
        return final if final is not _MISSING else v


_MISSING = object()


def _nil_url() -> str:
    raise FuncError("runtime error: invalid memory address or nil pointer dereference")


def _funcs(query: Callable[[str], list[Sample]] | None, external_url: str, nil_url: bool) -> dict[str, Any]:
    def run_query(q: str) -> list[Sample]:
        if query is None:
            raise FuncError("query function is not available in this context")
        try:
            return list(query(q))
        except TemplateError:
            raise
        except Exception as exc:  # the query engine's error becomes the template's error
            raise FuncError(str(exc)) from exc

    funcs = dict(FUNCS)
    funcs["query"] = ("s", None, run_query)
    funcs["pathPrefix"] = ("", None, _nil_url if nil_url else lambda: urllib.parse.urlsplit(external_url).path)
    funcs["externalURL"] = ("", None, _nil_url if nil_url else lambda: external_url)
    return funcs


def expand(text: str, *, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str] | None = None,
           external_url: str = "", name: str = "__alert_x",
           query: Callable[[str], list[Sample]] | None = None, nil_url_funcs: bool = False) -> str:
    """Expand `text` as Prometheus 2.42 does for an alert.

    That is template.NewTemplateExpander with the `$labels`, `$externalLabels`, `$externalURL`, `$value`
    variables defined by the preamble, and data .Labels, .ExternalLabels, .ExternalURL, .Value.

    ``labels`` are the alert's series labels (``__name__`` included, rule labels not), as in alerting.go.
    ``nil_url_funcs=True`` reproduces ``promtool test rules``, whose expander has no external URL:
    ``pathPrefix`` and ``externalURL`` then fail with Go's nil pointer dereference error.

    Raises:
        TemplateError: on a parse or execution error, with Expand()'s message (``error parsing template
            NAME: ...`` / ``error executing template NAME: ...``), or when ``query`` is called but is None.
    """
    funcs = _funcs(query, external_url, nil_url_funcs)
    data = AlertData(dict(labels), dict(external_labels or {}), external_url, float(value))
    return _execute(PREAMBLE + text, name, funcs, data)


def _execute(full: str, name: str, funcs: dict[str, Any], data: Any) -> str:
    try:
        nodes, defines = parse(full, name, funcs)
    except TemplateError as exc:
        raise TemplateError(f"error parsing template {name}: {exc}") from None
    except RecursionError:
        raise TemplateError(f"error parsing template {name}: template nested too deeply") from None
    st = _State(full, name, funcs, defines)
    st.vars.append(("$", data))
    try:
        st.walk(data, nodes)
    except _ExecError as exc:
        raise TemplateError(f"error executing template {name}: {st.error(exc.node, exc.msg)}") from None
    except (_Break, _Continue):
        raise TemplateError(f"error executing template {name}: break or continue outside range") from None
    except RecursionError:
        raise TemplateError(f"error executing template {name}: template nested too deeply") from None
    return "".join(st.out)


def render(text: str, data: Any, *, name: str = "notification", external_url: str = "") -> str:
    """Execute Go template ``text`` with ``.`` = ``data``, without the alert preamble; raises like :func:`expand`.

    ``data``: dicts, lists, scalars, or objects whose class maps Go field names to attributes in ``go_fields``.
    """
    return _execute(text, name, _funcs(None, external_url, False), data)


def check(text: str, *, name: str = "__alert_x") -> None:
    """Prometheus' load-time template check (rulefmt ``testTemplateParsing``: ParseTest with the preamble).

    Raises:
        TemplateError: with Go's parse error, e.g. ``template: __alert_x:1: unexpected {{end}}``.
    """
    try:
        parse(PREAMBLE + text, name, _funcs(None, "", False))
    except RecursionError:
        raise TemplateError(f"template: {name}:1: template nested too deeply") from None


def expand_alert(text: str, **kwargs: Any) -> str:
    """What Prometheus stores for an alert label or annotation (``rules/alerting.go``).

    That is :func:`expand`'s result, or on failure ``<error expanding template: MSG>``.
    """
    try:
        return expand(text, **kwargs)
    except TemplateError as exc:
        return f"<error expanding template: {exc}>"

