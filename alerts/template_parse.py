"""Lexer and parser for Go ``text/template`` source, as used by Prometheus alert templates.

``parse(text, name, funcs)`` returns the main node list and the ``define``d templates, or raises
``TemplateError`` worded like Go's ``template: NAME:LINE: ...`` parse errors. Nesting is bounded.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from alerts.template_fmt import TemplateError, go_quote
from alerts.template_lex import SPACE, Tok, lex_action, lex_error

MAX_DEPTH = 100


@dataclass
class Node:
    """A parse-tree node; ``kind`` selects which fields are meaningful (see the parser below)."""

    kind: str
    pos: int
    value: Any = None  # text / literal value / name / field names
    args: list[Any] = field(default_factory=list)  # operands, commands, or list nodes
    decl: list[str] = field(default_factory=list)
    assign: bool = False
    pipe: Node | None = None
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)
    src: str = ""


class _Parser:
    def __init__(self, text: str, name: str, funcs: Collection[str]) -> None:
        self.text, self.name, self.funcs = text, name, funcs
        self.p = 0
        self.toks: list[Tok] = []
        self.ti = 0
        self.vars: list[str] = ["$"]
        self.defines: dict[str, list[Node]] = {}
        self.depth = 0
        self.trim_next = False
        self.in_range = 0

    def error(self, msg: str, pos: int | None = None) -> TemplateError:
        return lex_error(self.text, self.name, self.p if pos is None else pos, msg)

    # ---- top level: text and actions ----
    def next_item(self) -> tuple[str, Any]:
        """The next text (``("text", str)``), action (``("action", pos)``, tokens loaded) or ``("eof", None)``."""
        text, n = self.text, len(self.text)
        while True:
            if self.p >= n:
                return "eof", None
            start = self.p
            q = text.find("{{", start)
            q = n if q < 0 else q
            chunk = text[start:q]
            if self.trim_next:
                chunk = chunk.lstrip(SPACE)
                self.trim_next = False
            if q < n and text.startswith("{{-", q) and q + 3 < n and text[q + 3] in SPACE:
                chunk = chunk.rstrip(SPACE)
                body = q + 4
            else:
                body = q + 2
            self.p = q
            if chunk:
                return "text", chunk
            if q >= n:
                return "eof", None
            if self.lex_comment(body):
                continue
            self.toks, end, self.trim_next = lex_action(text, self.name, body)
            self.toks.append(Tok("end", "}}", end))
            self.ti = 0
            self.p = end
            return "action", q

    def lex_comment(self, body: int) -> bool:
        text = self.text
        if not text.startswith("/*", body):
            return False
        q = text.find("*/", body + 2)
        if q < 0:
            raise self.error("unclosed comment")
        q += 2
        if text.startswith("}}", q):
            self.p = q + 2
        elif text.startswith(" -}}", q):
            self.p = q + 4
            self.trim_next = True
        else:
            raise self.error("comment ends before closing delimiter")
        return True

    def peek(self) -> Tok:
        return self.toks[self.ti]

    def peek_ns(self) -> Tok:
        while self.toks[self.ti].kind == "space":
            self.ti += 1
        return self.toks[self.ti]

    def take_ns(self) -> Tok:
        t = self.peek_ns()
        self.ti += 1
        return t

    def expect_end(self, ctx: str) -> None:
        t = self.take_ns()
        if t.kind != "end":
            raise self.error(f"unexpected {self.desc(t)} in {ctx}", t.pos)

    def desc(self, t: Tok) -> str:
        return "EOF" if t.kind == "eof" else f'"{t.text}"' if t.kind != "end" else "}}"

    def parse_list(self, stop: tuple[str, ...]) -> tuple[list[Node], str]:
        """Nodes up to one of the ``stop`` keywords (``end``/``else``), returning which one ended the list."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("template nested too deeply")
        nodes: list[Node] = []
        while True:
            kind, val = self.next_item()
            if kind == "eof":
                if stop:
                    raise self.error("unexpected EOF")
                self.depth -= 1
                return nodes, ""
            if kind == "text":
                nodes.append(Node("text", self.p, val))
                continue
            t = self.peek_ns()
            if t.kind == "kw" and t.text in ("end", "else"):
                if t.text not in stop:
                    raise self.error(f"unexpected {{{{{t.text}}}}}", t.pos)
                self.ti += 1
                self.depth -= 1
                return nodes, t.text
            node = self.action(val)
            if node is not None:
                nodes.append(node)

    def action(self, pos: int) -> Node | None:
        t = self.peek_ns()
        if t.kind == "kw":
            self.ti += 1
            return self.keyword(t)
        pipe = self.pipeline("command", pos)
        return Node("action", pos, pipe=pipe)

    def keyword(self, t: Tok) -> Node | None:
        kw = t.text
        if kw in ("if", "with", "range"):
            return self.control(kw, t.pos)
        if kw in ("break", "continue"):
            if not self.in_range:
                raise self.error(f"{{{{{kw}}}}} outside {{{{range}}}}", t.pos)
            self.expect_end(f"{{{{{kw}}}}}")
            return Node(kw, t.pos)
        if kw in ("template", "block"):
            return self.template(kw, t.pos)
        if kw == "define":
            if self.depth > 1:
                raise self.error("unexpected <define> in command", t.pos)
            name_tok = self.take_ns()
            if name_tok.kind != "str":
                raise self.error(f"unexpected {self.desc(name_tok)} in define clause", name_tok.pos)
            self.expect_end("define clause")
            saved, self.vars, in_range, self.in_range = self.vars, ["$"], self.in_range, 0
            body, _ = self.parse_list(("end",))
            self.vars, self.in_range = saved, in_range
            self.defines[name_tok.value] = body
            return None
        raise self.error(f"unexpected {{{{{kw}}}}}", t.pos)

    def template(self, kw: str, pos: int) -> Node:
        name_tok = self.take_ns()
        if name_tok.kind != "str":
            raise self.error(f'unexpected {self.desc(name_tok)} in {kw} clause', name_tok.pos)
        pipe = None
        if self.peek_ns().kind != "end":
            pipe = self.pipeline(f"{kw} clause", pos)
        else:
            self.ti += 1
        if kw == "block":
            saved, self.vars = self.vars, ["$"]
            body, _ = self.parse_list(("end",))
            self.vars = saved
            self.defines[name_tok.value] = body
        src = f'{{{{template {name_tok.text}{" " + pipe.src if pipe is not None else ""}}}}}'
        return Node("template", name_tok.pos, name_tok.value, pipe=pipe, src=src)

    def control(self, kw: str, pos: int) -> Node:
        mark = len(self.vars)
        pipe = self.pipeline(kw, pos)
        self.in_range += kw == "range"
        body, ended = self.parse_list(("end", "else"))
        self.in_range -= kw == "range"
        orelse: list[Node] = []
        if ended == "else":
            nt = self.peek_ns()
            if kw == "if" and nt.kind == "kw" and nt.text == "if":
                self.ti += 1
                orelse = [self.control("if", nt.pos)]
            else:
                self.expect_end("else")
                orelse, ended = self.parse_list(("end", "else"))
                if ended == "else":
                    raise self.error("expected end; found {{else}}")
        else:
            self.expect_end("end")
        del self.vars[mark:]
        return Node(kw, pos, pipe=pipe, body=body, orelse=orelse)

    # ---- pipelines ----
    def pipeline(self, ctx: str, pos: int) -> Node:
        pipe = Node("pipe", self.peek_ns().pos)
        self.declarations(pipe, ctx)
        while True:
            t = self.peek_ns()
            if t.kind in ("end", ")"):
                if t.kind == "end" and ctx.endswith("paren"):
                    raise self.error("unclosed left paren", pos)
                if t.kind == ")" and not ctx.endswith("paren"):
                    raise self.error('unexpected ")" in command', t.pos)
                self.ti += 1
                if not pipe.args:
                    raise self.error(f"missing value for {ctx.replace(' paren', '')}", t.pos)
                for i, c in enumerate(pipe.args[1:]):
                    if c.args[0].kind in ("bool", "dot", "nil", "num", "str"):
                        raise self.error(f"non executable command in pipeline stage {i + 2}", t.pos)
                last = self.toks[self.ti - 2]
                pipe.src = self.text[pipe.pos:last.pos + len(last.text)].strip()
                return pipe
            pipe.args.append(self.command())

    def declarations(self, pipe: Node, ctx: str) -> None:
        """Go's ``$x :=`` / ``$x =`` / ``$k, $v :=`` (range only) pipeline declarations."""
        while True:
            save = self.ti
            v = self.peek_ns()
            if v.kind != "var":
                return
            self.ti += 1
            nxt = self.peek_ns()
            if nxt.kind in (":=", "="):
                self.ti += 1
                pipe.assign = nxt.kind == "="
                pipe.decl.append(v.text)
                self.vars.append(v.text)
                return
            if nxt.kind != ",":
                self.ti = save
                return
            self.ti += 1
            pipe.decl.append(v.text)
            self.vars.append(v.text)
            if ctx == "range" and len(pipe.decl) < 2:
                if self.peek_ns().kind not in ("var", "end", ")"):
                    raise self.error("range can only initialize variables")
                continue
            raise self.error(f"too many declarations in {ctx}")

    def command(self) -> Node:
        cmd = Node("cmd", self.peek_ns().pos)
        while True:
            self.peek_ns()
            cmd.args.append(self.operand())
            t = self.peek()
            if t.kind == "space":
                t = self.peek_ns()
                if t.kind not in ("end", ")", "pipe"):
                    continue
            if t.kind in ("end", ")"):
                break
            if t.kind == "pipe":
                self.ti += 1
                break
            raise self.error(f"unexpected {self.desc(t)} in operand", t.pos)
        cmd.src = self.text[cmd.pos:self.toks[self.ti - 1].pos + len(self.toks[self.ti - 1].text)].rstrip(" |")
        return cmd

    def operand(self) -> Node:
        node = self.term()
        if self.peek().kind == "field":
            names = []
            chain_pos = self.peek().pos
            while self.peek().kind == "field":
                names.append(self.peek().text[1:])
                self.ti += 1
            src = self.text[node.pos:self.toks[self.ti - 1].pos + len(self.toks[self.ti - 1].text)]
            if node.kind in ("field", "var"):
                node.value = (*node.value, *names)
                node.pos, node.src = chain_pos, src
            elif node.kind in ("str", "num", "bool", "nil", "dot"):
                raise self.error(f"unexpected . after term {go_quote(node.src)}", node.pos)
            else:
                node = Node("chain", chain_pos, tuple(names), args=[node], src=src)
        return node

    def term(self) -> Node:
        t = self.take_ns()
        k = t.kind
        if k == "ident":
            if t.text not in self.funcs:
                raise self.error(f'function "{t.text}" not defined', t.pos)
            return Node("ident", t.pos, t.text, src=t.text)
        if k == "var":
            if t.text not in self.vars:
                raise self.error(f'undefined variable "{t.text}"', t.pos)
            return Node("var", t.pos, (t.text,), src=t.text)
        if k == "field":
            return Node("field", t.pos, (t.text[1:],), src=t.text)
        if k in ("str", "num", "char", "bool"):
            return Node("num" if k == "char" else k, t.pos, t.value, src=t.text)
        if k in ("nil", "dot"):
            return Node(k, t.pos, None, src=t.text)
        if k == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error("template nested too deeply")
            pipe = self.pipeline("parenthesized pipeline paren", t.pos)
            self.depth -= 1
            pipe.kind = "paren"
            pipe.src = self.text[t.pos:self.toks[self.ti - 1].pos + 1]
            return pipe
        raise self.error(f"unexpected {self.desc(t)} in operand", t.pos)


def parse(text: str, name: str, funcs: Collection[str]) -> tuple[list[Node], dict[str, list[Node]]]:
    """Parse ``text``; returns the main template's nodes and the named (``define``/``block``) templates."""
    p = _Parser(text, name, funcs)
    nodes, _ = p.parse_list(())
    return nodes, p.defines
