"""Digit-string formats as automata: a small regular-expression subset compiled to a DFA.

Constrained decoding (`recognizer.serving.decoding.constrained_beam_search`) walks this automaton while it
extends CTC prefixes, so only strings of the format survive. The alphabet is the ten digits; a
pattern always matches the whole string (as `re.fullmatch` does).

Supported subset (anything else is refused with a `PatternError` naming it):
  digits `0`..`9`; `.` and `\\d` (any digit); classes `[...]` of digits and ranges (`[0-35]`),
  negated within the digits (`[^0]`); grouping `(...)` and `(?:...)`; alternation `|`;
  repetition `?`, `*`, `+`, `{m}`, `{m,}`, `{m,n}` (greedy or lazy: the same set of strings).
Construction: a recursive-descent parser builds a Thompson NFA (epsilon moves), the subset
construction turns it into a DFA, and states from which no accepting state can be reached are
removed, so a prefix the automaton keeps can still be completed.

Size bound: a pattern may be at most `MAX_PATTERN_LENGTH` characters and its NFA and DFA at most
`MAX_STATES` states each; a larger one is refused as soon as the bound is crossed, so compiling
takes at most about a second whatever the pattern (`[0-9]{1,1000}` compiles; nested repetitions
such as `(([0-9]{1,30}){1,30}){1,30}` and `[0-9]{1,100000}` are refused at once).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

DIGITS = 10
DEAD = -1
MAX_PATTERN_LENGTH = 1000
MAX_STATES = 5000
"""The size bound (module docstring)."""


class PatternError(ValueError):
    """A pattern outside the supported subset, not a regular expression, or matching nothing."""


@dataclasses.dataclass(frozen=True)
class Automaton:
    """A DFA over the digits: `transitions [states, 10]` (next state or `DEAD`), `accepting
    [states]`; state 0 is the start. Every state can still reach an accepting one."""

    transitions: np.ndarray
    accepting: np.ndarray
    pattern: str

    def step(self, state: int, digit: int) -> int:
        return int(self.transitions[state, digit])

    def fullmatch(self, digits: str) -> bool:
        """Whether the digit string `digits` is in the language."""
        state = 0
        for char in digits:
            state = self.step(state, int(char))
            if state == DEAD:
                return False
        return bool(self.accepting[state])


class _Nfa:
    def __init__(self):
        self.epsilon: list[list[int]] = []
        self.moves: list[list[tuple[frozenset, int]]] = []

    def state(self) -> int:
        if len(self.epsilon) >= MAX_STATES:
            raise PatternError(_too_large("NFA"))
        self.epsilon.append([])
        self.moves.append([])
        return len(self.epsilon) - 1


_ALL = frozenset(range(DIGITS))


class _Parser:
    """Recursive descent over the pattern; each method returns an NFA fragment `(start, end)`."""

    def __init__(self, pattern: str, nfa: _Nfa):
        self.text, self.at, self.nfa = pattern, 0, nfa

    def peek(self) -> str | None:
        return self.text[self.at] if self.at < len(self.text) else None

    def take(self) -> str:
        char = self.text[self.at]
        self.at += 1
        return char

    def fail(self, what: str):
        raise PatternError(
            f"{what} at position {self.at} is not supported (digits, classes, "
            f"'.', groups, '|', '?', '*', '+', '{{m,n}}')"
        )

    def parse(self) -> tuple[int, int]:
        fragment = self.alternation()
        if self.peek() is not None:
            self.fail(f"'{self.peek()}'")
        return fragment

    def alternation(self) -> tuple[int, int]:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        start, end = self.nfa.state(), self.nfa.state()
        for s, e in branches:
            self.nfa.epsilon[start].append(s)
            self.nfa.epsilon[e].append(end)
        return start, end

    def sequence(self) -> tuple[int, int]:
        start = end = self.nfa.state()
        while self.peek() not in (None, "|", ")"):
            s, e = self.repeat()
            self.nfa.epsilon[end].append(s)
            end = e
        return start, end

    def repeat(self) -> tuple[int, int]:
        span_start = self.at
        first = self.atom()
        span = (span_start, self.at)
        char = self.peek()
        if char in ("?", "*", "+"):
            self.take()
            low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}[char]
        elif char == "{":
            match = re.match(r"\{(\d+)(,(\d*))?\}", self.text[self.at :])
            if not match:
                self.fail("'{'")
            self.at += match.end()
            low = int(match.group(1))
            high = (
                low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
            )
        else:
            return first
        if self.peek() == "?":
            self.take()
        if self.peek() in ("*", "+", "{"):
            self.fail(f"a repeated repetition '{self.peek()}'")
        unused = [first]

        def copy() -> tuple[int, int]:
            return unused.pop() if unused else self._again(span)

        start = end = self.nfa.state()
        for _ in range(low):
            s, e = copy()
            self.nfa.epsilon[end].append(s)
            end = e
        if high is None:
            s, e = copy()
            loop = self.nfa.state()
            self.nfa.epsilon[end].append(loop)
            self.nfa.epsilon[loop].append(s)
            self.nfa.epsilon[e].append(loop)
            return start, loop
        final = self.nfa.state()
        for _ in range(high - low):
            s, e = copy()
            self.nfa.epsilon[end] += [s, final]
            end = e
        self.nfa.epsilon[end].append(final)
        return start, final

    def _again(self, span: tuple[int, int]) -> tuple[int, int]:
        saved = self.at
        self.at = span[0]
        fragment = self.atom()
        self.at = saved
        return fragment

    def atom(self) -> tuple[int, int]:
        char = self.peek()
        if char is None:
            self.fail("the end of the pattern")
        if char == "(":
            self.take()
            if self.text.startswith("?:", self.at):
                self.at += 2
            elif self.peek() == "?":
                self.fail("a group extension '(?'")
            fragment = self.alternation()
            if self.peek() != ")":
                self.fail("an unclosed group")
            self.take()
            return fragment
        if char == "[":
            return self.edge(self.char_class())
        self.take()
        if char == ".":
            return self.edge(_ALL)
        if char == "\\":
            escaped = self.take() if self.peek() is not None else ""
            if escaped == "d":
                return self.edge(_ALL)
            raise PatternError(
                f"'\\{escaped}' at position {self.at - 2} can match a non-digit "
                f"or is not supported; expected digits only"
            )
        if char in "0123456789":
            return self.edge(frozenset([int(char)]))
        if char in "^$":
            self.fail(f"the anchor '{char}' (patterns always match the whole string)")
        raise PatternError(
            f"'{char}' at position {self.at - 1} can match a non-digit; expected digits only"
        )

    def char_class(self) -> frozenset:
        self.take()
        negate = self.peek() == "^"
        if negate:
            self.take()
        members: set[int] = set()
        first = True
        while True:
            char = self.peek()
            if char is None:
                self.fail("an unclosed class")
            if char == "]" and not first:
                self.take()
                break
            first = False
            self.take()
            if char == "\\" and self.peek() == "d":
                self.take()
                members |= _ALL
                continue
            if char not in "0123456789":
                raise PatternError(
                    f"class member '{char}' at position {self.at - 1} can match a "
                    f"non-digit; expected digits only"
                )
            if (
                self.peek() == "-"
                and self.at + 1 < len(self.text)
                and self.text[self.at + 1] != "]"
            ):
                self.take()
                last = self.take()
                if last not in "0123456789":
                    raise PatternError(
                        f"range {char}-{last} can match a non-digit; expected digits only"
                    )
                members |= set(range(int(char), int(last) + 1))
            else:
                members.add(int(char))
        if negate:
            return _ALL - members
        return frozenset(members)

    def edge(self, digits: frozenset) -> tuple[int, int]:
        start, end = self.nfa.state(), self.nfa.state()
        self.nfa.moves[start].append((digits, end))
        return start, end


def _closure(nfa: _Nfa, states) -> frozenset:
    seen, stack = set(states), list(states)
    while stack:
        for nxt in nfa.epsilon[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return frozenset(seen)


def compile_pattern(pattern: str) -> Automaton:
    """The DFA of a digit pattern (module docstring: the subset).

    Raises:
      PatternError: not a regular expression, outside the subset, able to match a non-digit, or
        matching no non-empty digit string.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"{len(pattern)} characters long; expected at most {MAX_PATTERN_LENGTH}")
    try:
        re.compile(pattern)
    except re.error as err:
        raise PatternError(f"not a valid regular expression ({err})") from None
    nfa = _Nfa()
    start, end = _Parser(pattern, nfa).parse()
    first = _closure(nfa, [start])
    index, queue, rows, accepting = {first: 0}, [first], [], []
    while queue:
        current = queue.pop(0)
        row = []
        for digit in range(DIGITS):
            moved = [target for s in current for digits, target in nfa.moves[s] if digit in digits]
            if not moved:
                row.append(DEAD)
                continue
            target = _closure(nfa, moved)
            if target not in index:
                if len(index) >= MAX_STATES:
                    raise PatternError(_too_large("DFA"))
                index[target] = len(index)
                queue.append(target)
            row.append(index[target])
        rows.append(row)
        accepting.append(end in current)
    return _pruned(
        rows,
        accepting,
        pattern=pattern,
        empty="matches no digit string; expected a pattern that some non-empty "
        "string of digits matches",
    )


def _too_large(kind: str) -> str:
    return (
        f"too large: its {kind} needs more than {MAX_STATES} states; expected a digit format "
        f"with smaller repetition counts (nested repetitions multiply them)"
    )


def _pruned(rows: list[list[int]], accepting: list[bool], *, pattern: str, empty: str) -> Automaton:
    """The automaton of `rows` with transitions into states that cannot reach an accepting one
    sent to `DEAD`.

    Raises:
      PatternError: `empty`, when no non-empty string is accepted.
    """
    transitions, accepting = np.array(rows, np.int64), np.array(accepting, bool)
    live = accepting.copy()
    while True:
        grown = live | np.array([any(t != DEAD and live[t] for t in row) for row in transitions])
        if (grown == live).all():
            break
        live = grown
    if not any(t != DEAD and live[t] for t in transitions[0]):
        raise PatternError(empty)
    transitions = np.where(
        (transitions != DEAD) & live[np.maximum(transitions, 0)], transitions, DEAD
    )
    return Automaton(transitions=transitions.astype(np.int32), accepting=accepting, pattern=pattern)


def length_pattern(low: int, high: int | None = None) -> str:
    """The pattern of digit strings of `low` (to `high`) digits: `[0-9]{5}`, `[0-9]{2,4}`."""
    return f"[0-9]{{{low}}}" if high is None or high == low else f"[0-9]{{{low},{high}}}"


def intersect(first: Automaton, second: Automaton) -> Automaton:
    """The automaton of the strings both accept (product construction, live states only)."""
    index, queue, rows, accepting = {(0, 0): 0}, [(0, 0)], [], []
    while queue:
        a, b = queue.pop(0)
        row = []
        for digit in range(DIGITS):
            ta, tb = first.step(a, digit), second.step(b, digit)
            if ta == DEAD or tb == DEAD:
                row.append(DEAD)
                continue
            if (ta, tb) not in index:
                index[(ta, tb)] = len(index)
                queue.append((ta, tb))
            row.append(index[(ta, tb)])
        rows.append(row)
        accepting.append(bool(first.accepting[a] and second.accepting[b]))
    return _pruned(
        rows,
        accepting,
        pattern=f"{first.pattern} and {second.pattern}",
        empty=f"'{first.pattern}' and '{second.pattern}' together match no digit string",
    )


def checked_pattern(field: str, pattern: str, *, decoder: str) -> Automaton:
    """A config's pattern option, compiled; the one check of every config that takes one.

    Raises:
      ConfigError: naming `field`: the decoder is not beam search (the greedy decoder cannot
        follow a format), or the pattern does not compile.
    """
    from digitseq.core.errors import ConfigError

    require_beam(field, pattern, decoder=decoder)
    try:
        return compile_pattern(pattern)
    except PatternError as err:
        raise ConfigError(
            field, pattern, f"expected a regular expression over digits: {err}"
        ) from None


def require_beam(field: str, value, *, decoder: str) -> None:
    """Raises `ConfigError` naming `field` unless `decoder` is beam search, which a format
    option (pattern, length) needs."""
    from digitseq.core.errors import ConfigError
    from digitseq.recognizer.config import BEAM

    if decoder != BEAM:
        raise ConfigError(
            field,
            value,
            "expected decoder beam: constrained decoding is a beam search (greedy decoding "
            "cannot follow a format)",
            others=["decoder"],
        )
