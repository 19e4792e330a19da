"""One-pass byte scanner: finds the format, the answer block and the boxes of every completion of a batch.

All completions of a batch are UTF-8 encoded into one ``uint8`` buffer; :func:`scan_into` walks it once, with
no Python objects inside the loop. The grammar it reads is documented in ``docs/parsing.md``; in short it is a
tolerant JSON / Python-literal reader that only keeps what it can turn into boxes:

* number lists of length 4 (``[x1, y1, x2, y2]``, at any nesting depth) are boxes;
* ``(x1,y1),(x2,y2)`` (two parenthesised points next to each other) is a box;
* a box that is the value of a key inside ``{...}`` takes that object's confidence and label fields;
* a box (or a list of boxes) that is the value of an unknown key (``{"cat": [[...], ...], "dog": [...]}``)
  takes the key as label;
* bare ``x1,y1,x2,y2`` outside any bracket is a box (a line break ends a run of four numbers).

At the end of the answer, brackets still open are read as if closed when ``</answer>`` was written (the model
forgot them); without ``</answer>`` the generation was cut, and the item being written is counted once as
truncated. A non-finite confidence counts as none.

Numbers are converted exactly (Clinger's fast path: at most 2**53 mantissa and a power of ten up to 22); any
other number is flagged ``slow`` and re-parsed by Python's ``float`` from its byte span, so the result always
equals ``float(text)``. Whether a number overflows to infinity is decided exactly here (against the decimal
digits of the rounding threshold), so a box is dropped as non-finite exactly when ``float`` would give inf.

The entry point :func:`scan_into` allocates nothing (every kernel is compiled without numba's runtime,
``_nrt=False``): the caller passes the output and scratch arrays, and the scan stops at the first row whose
boxes do not fit, to be resumed with larger arrays (see ``vreward.parsing``).

One file, by necessity: every kernel the scanner runs is here, with every constant those kernels read, and this
module imports nothing from vreward. numba's disk cache (``cache=True``) checks a cached kernel against its own
source file only, so a kernel calling a kernel of another module, or reading a constant of another module (numba
freezes globals into the machine code), would keep running stale machine code after that module changed.
``tests/test_kernel_modules.py`` enforces it.

Compiled once: numba compiles a kernel once per distinct argument types, and a literal (``0``, ``True``, a module
constant ``= 0``) is a type of its own, as is each type a loop variable has while its type is being inferred. So
the values kernels pass to kernels are typed from the start: the level constants are ``np.int64``, loop variables
start from ``np.int64(-1)`` / ``np.False_``, constant flags are ``np.True_``.

The arrays of :func:`scan_into`, grouped in named tuples (B completions, N boxes of capacity; a position is a byte
index into ``buf``, -1 for none; names in capitals are constants of this module)::

    input
      buf             (L,)                   uint8    the UTF-8 text of the whole batch
      starts, ends    (B,)                   int64    byte span of each completion
    ScanRows: per row
      format_ok       (B,)                   bool     <think>...</think> <answer>...</answer> is the whole text
      answer_start    (B,)                   int64    answer span
      answer_end      (B,)                   int64
      answer_closed   (B,)                   bool     the answer ended with </answer>
      status          (B,)                   int8     reason code, OK ... TOO_DEEP (vreward.reasons.PARSE_REASONS)
      dropped         (B, N_DROPPED)         int64    items seen but dropped: the first N_DROPPED ``counts``
      offsets         (B + 1,)               int64    row r owns boxes offsets[r]:offsets[r + 1]
    ScanBoxes: per box
      boxes           (N, BOX_LEN)           float64  X1, Y1, X2, Y2
      confidences     (N,)                   float64  NaN for none
      label_start     (N,)                   int64    label span
      label_end       (N,)                   int64
      spans           (N, BOX_LEN + 1, 2)    int64    (start, end) of each coordinate, then (row SPAN_CONF) of the
                                                      confidence
      slow            (N,)                   bool     a number of the box needs Python's float (re-read from spans)
    Scratch (the scan initialises what it reads, so it is reused), with its name inside the kernels
      level_ints  LI  (MAX_DEPTH + 1, N_LI)  int64    one row per open bracket (row OUTSIDE: outside any bracket)
          LI_KIND                   LEVEL_NONE (row OUTSIDE), LEVEL_LIST, LEVEL_OBJECT or LEVEL_PAREN
          LI_KEY_S, LI_KEY_E        span of the last key read at this level
          LI_KEYC                   its class, KEY_*
          LI_N                      numbers read at this level (the first BOX_LEN are kept)
          LI_PURE                   1 while the level holds nothing but numbers
          LI_SLOW, LI_NONFIN        1 when one of its numbers is inexact / not finite
          LI_NCHILD                 brackets opened directly inside it
          LI_SP + 0 ... N_SPAN - 1  (start, end) of its first BOX_LEN numbers
        an object's pending box (read inside it, waiting for the closing brace to take the object's fields):
          LI_OB_HAS                 1 while the object holds one
          LI_OB_SLOW                1 when one of its coordinates is inexact
          LI_OB_KLAB_S, _E          its label from the key it was read under (a category, {"cat": [...]})
          LI_OB_CONF_S, _E, _SLOW   the object's confidence field: span, inexact
          LI_OB_LAB_S, _E           the object's label field
          LI_OB_SP + 0 ... N_SPAN - 1  (start, end) of its coordinates
      level_floats  LF  (MAX_DEPTH + 1, N_LF)  float64
          LF_V + 0 ... BOX_LEN - 1  the first numbers of the level
          LF_OB + 0 ... BOX_LEN - 1 an object's pending box
          LF_OB_CONF                the object's confidence (NaN for none)
      box_floats  TF  (2 * N_TF,)            float64  the box being emitted: X1 ... Y2, TF_CONF; a saved copy from
                                                      N_TF (while the one pending in an object is emitted first)
      box_ints    TI  (2 * N_TI,)            int64    the box being emitted: TI_SP + 0 ... N_SPAN - 1 spans of its
                                                      coordinates, TI_CONF_S, TI_CONF_E, TI_LAB_S, TI_LAB_E, TI_SLOW;
                                                      a saved copy from N_TI
      point       PT  (N_PT,)                float64  a point (x1,y1) waiting for its (x2,y2): PT_X, PT_Y, PT_SLOW,
                                                      PT_NONFIN, PT_SP + 0 ... 2 * POINT_LEN - 1 spans
      counts          (N_C,)                 int64    per answer: C_WRONG_ARITY, C_POINTS, C_NON_FINITE,
                                                      C_TRUNCATED (the N_DROPPED counts of items seen but dropped),
                                                      C_TOO_DEEP (1 when the nesting passed MAX_DEPTH)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# Compile options of every kernel here: no exceptions (numpy error model), no numba runtime (no allocation, no
# reference counting), cached on disk.
JIT_OPTIONS = {"cache": True, "error_model": "numpy", "_nrt": False}

# Reason codes: the index of each reason in vreward.reasons.PARSE_REASONS (a test checks that they agree).
# NOT_TEXT is set in Python.
OK = 0
NO_OBJECTS = 1
NOT_TEXT = 2
NO_ANSWER_TAG = 3
EMPTY_ANSWER = 4
UNPARSEABLE = 5
WRONG_ARITY = 6
POINTS_NOT_BOXES = 7
NON_FINITE = 8
TRUNCATED = 9
TOO_DEEP = 10

# Slots of ``counts``: items of an answer seen but dropped, then the depth flag.
C_WRONG_ARITY = 0  # a list of 1, 3 or more numbers (not 4), or a run of 3 or 5+ bare numbers
C_POINTS = 1  # a two-number list
C_NON_FINITE = 2  # a box with a nan / inf / overflowing number
C_TRUNCATED = 3  # the item cut off by the end of a truncated generation
N_DROPPED = 4
C_TOO_DEEP = 4  # 1 when the nesting went past MAX_DEPTH (the answer is read no further)
N_C = 5

# Key classes.
KEY_NONE = 0
KEY_OTHER = 1
KEY_BOX = 2
KEY_CONF = 3
KEY_LABEL = 4
KEY_CONTAINER = 5

# Level kinds (np.int64, passed to kernels: see "Compiled once" in the module docstring).
LEVEL_NONE = np.int64(0)  # outside any bracket
LEVEL_LIST = np.int64(1)
LEVEL_OBJECT = np.int64(2)
LEVEL_PAREN = np.int64(3)

MAX_DEPTH = 64
OUTSIDE = np.int64(0)  # the level outside any bracket, where runs of bare numbers are read

BOX_LEN = 4  # numbers of a box
X1 = 0
Y1 = 1
X2 = 2
Y2 = 3
POINT_LEN = 2  # numbers of a point
N_SPAN = 2 * BOX_LEN  # (start, end) of each number of a box
SPAN_CONF = BOX_LEN  # the confidence's row in ``spans``

# Bytes.
BYTE_TAB = ord("\t")  # TAB, LF, VT, FF, CR are whitespace
BYTE_LF = ord("\n")
BYTE_CR = ord("\r")
BYTE_FS = ord("\x1c")  # the separators FS, GS, RS, US are whitespace to Python
BYTE_US = ord("\x1f")
BYTE_SPACE = ord(" ")
BYTE_DQUOTE = ord('"')
BYTE_SQUOTE = ord("'")
BYTE_LPAREN = ord("(")
BYTE_RPAREN = ord(")")
BYTE_PLUS = ord("+")
BYTE_COMMA = ord(",")
BYTE_MINUS = ord("-")
BYTE_DOT = ord(".")
BYTE_0 = ord("0")
BYTE_9 = ord("9")
BYTE_COLON = ord(":")
BYTE_LT = ord("<")
BYTE_GT = ord(">")
BYTE_UPPER_A = ord("A")
BYTE_UPPER_Z = ord("Z")
BYTE_LBRACKET = ord("[")
BYTE_BACKSLASH = ord("\\")
BYTE_RBRACKET = ord("]")
BYTE_UNDERSCORE = ord("_")
BYTE_LOWER_A = ord("a")
BYTE_LOWER_E = ord("e")
BYTE_LOWER_Z = ord("z")
BYTE_LBRACE = ord("{")
BYTE_PIPE = ord("|")
BYTE_RBRACE = ord("}")
CASE_OFFSET = BYTE_LOWER_A - BYTE_UPPER_A
NON_ASCII = 0x80  # the first byte value of UTF-8 lead and continuation bytes


def _utf8_code(ch: str) -> int:
    """The UTF-8 bytes of ``ch`` read as one big-endian integer (in code point order, for one byte length)."""
    return int.from_bytes(ch.encode(), "big")


# The non-ASCII whitespace of str.isspace, as _utf8_code values.
NEXT_LINE = _utf8_code("\u0085")
NO_BREAK_SPACE = _utf8_code("\u00a0")
OGHAM_SPACE_MARK = _utf8_code("\u1680")
EN_QUAD = _utf8_code("\u2000")  # U+2000 ... U+200A are spaces
HAIR_SPACE = _utf8_code("\u200a")
LINE_SEPARATOR = _utf8_code("\u2028")
PARAGRAPH_SEPARATOR = _utf8_code("\u2029")
NARROW_NO_BREAK_SPACE = _utf8_code("\u202f")
MEDIUM_MATHEMATICAL_SPACE = _utf8_code("\u205f")
IDEOGRAPHIC_SPACE = _utf8_code("\u3000")


def _bytes(text: str) -> np.ndarray:
    """The UTF-8 bytes of ``text`` as a ``uint8`` array (module constants: numba freezes them into the kernels)."""
    return np.frombuffer(text.encode(), np.uint8).copy()


# Tags.
_THINK_OPEN = _bytes("<think>")
_THINK_CLOSE = _bytes("</think>")
_ANSWER_OPEN = _bytes("<answer>")
_ANSWER_CLOSE = _bytes("</answer>")

# Keys read inside {...}, compared case-insensitively with '_', '-' and spaces dropped. Other keys whose value
# holds boxes name the boxes' category ({"cat": [[...], ...]}).
KEY_CLASSES: dict[int, tuple[str, ...]] = {
    KEY_BOX: ("position", "bbox2d", "bbox", "box", "box2d", "boundingbox", "bndbox", "coordinates", "coords",
              "coordinate", "pos", "xyxy", "rect", "region"),
    KEY_CONF: ("confidence", "conf", "score", "prob", "probability", "confidencescore"),
    KEY_LABEL: ("label", "category", "class", "name", "categoryname", "classname", "object", "objectname", "type",
                "tag", "labelname", "objecttype"),
    KEY_CONTAINER: ("objects", "detections", "results", "answer", "predictions", "items", "boxes", "bboxes",
                    "output", "data", "result", "instances"),
}
# The keyword table: keywords sorted by first byte, _KW_FIRST[c]:_KW_FIRST[c + 1] are those starting with byte c
# (one entry per byte value and an end).
_KEYWORDS = sorted((k, c) for c, ks in KEY_CLASSES.items() for k in ks)
_KW_BYTES = _bytes("".join(k for k, _ in _KEYWORDS))
_KW_OFFSETS = np.cumsum([0] + [len(k) for k, _ in _KEYWORDS]).astype(np.int64)
_KW_CLASS = np.array([c for _, c in _KEYWORDS], np.int64)
_KW_FIRST = np.searchsorted(np.array([ord(k[0]) for k, _ in _KEYWORDS]), np.arange(256 + 1)).astype(np.int64)

# Words.
_NAN = _bytes("nan")
_INF = _bytes("inf")
_INFINITY = _bytes("infinity")
_NO_OBJECT = _bytes("noobject")  # "no" and "object" may be apart: "no object", "No_Objects"
NO_LEN = len("no")
_NONE = _bytes("none")
WORD_OTHER = 0  # what _nonfinite_word says
WORD_INF = 1
WORD_NAN = 2
SAYS_OTHER = 0  # what _says_no_objects says
SAYS_NO_OBJECTS = 1
SAYS_NOTHING = 2

# Special tokens <|...|>: Qwen2-VL's <|object_ref_start|> and <|object_ref_end|> are told from the others by the
# length of their name and its letter after "object_ref_".
SPECIAL_OPEN_LEN = len("<|")
SPECIAL_CLOSE_LEN = len("|>")
MAX_SPECIAL_TOKEN = 64  # bytes searched for the closing "|>"
REF_KIND_AT = len("object_ref_")
REF_START_LEN = len("object_ref_start")
REF_START_KIND = ord("s")
REF_END_LEN = len("object_ref_end")
REF_END_KIND = ord("e")

# Numbers.
MAX_MANTISSA_DIGITS = 18  # significant digits accumulated: the int64 mantissa never overflows
MAX_EXACT_MANTISSA = 2**53
MAX_EXACT_POW10 = 22
MAX_EXPONENT = 100000  # exponents are read up to this; beyond, every number over- or underflows all the same
UNDERFLOW_MAG = -400  # a number below 10**UNDERFLOW_MAG is 0.0
_POW10 = np.array([10.0**k for k in range(MAX_EXACT_POW10 + 1)])
# Decimal digits of 2**1024 - 2**970, the smallest number that float() rounds to infinity (it lies halfway
# between the largest double and 2**1024, and ties round to the even 2**1024).
_OVERFLOW_DIGITS = _bytes(str(2**1024 - 2**970)) - BYTE_0
OVERFLOW_MAG = len(_OVERFLOW_DIGITS)  # numbers of this magnitude (10**308 ... 10**309) may overflow
_MAX_FINITE = 1.7976931348623157e308

# Scratch columns (see the table in the module docstring).
LI_KIND = 0
LI_KEY_S = 1
LI_KEY_E = 2
LI_KEYC = 3
LI_N = 4
LI_PURE = 5
LI_SLOW = 6
LI_NONFIN = 7
LI_NCHILD = 8
LI_SP = 9  # N_SPAN columns
LI_OB_HAS = 17
LI_OB_SLOW = 18
LI_OB_KLAB_S = 19
LI_OB_KLAB_E = 20
LI_OB_CONF_S = 21
LI_OB_CONF_E = 22
LI_OB_CONF_SLOW = 23
LI_OB_LAB_S = 24
LI_OB_LAB_E = 25
LI_OB_SP = 26  # N_SPAN columns
N_LI = 34
LF_V = 0  # BOX_LEN columns
LF_OB = 4  # BOX_LEN columns
LF_OB_CONF = 8
N_LF = 9
TF_CONF = BOX_LEN  # after the coordinates X1 ... Y2
N_TF = BOX_LEN + 1
TI_SP = 0  # N_SPAN columns
TI_CONF_S = 8
TI_CONF_E = 9
TI_LAB_S = 10
TI_LAB_E = 11
TI_SLOW = 12
N_TI = 13
PT_X = 0
PT_Y = 1
PT_SLOW = 2
PT_NONFIN = 3
PT_SP = 4  # 2 * POINT_LEN columns
N_PT = 8


@njit(**JIT_OPTIONS)
def _is_space(c):
    return c == BYTE_SPACE or (BYTE_TAB <= c <= BYTE_CR) or (BYTE_FS <= c <= BYTE_US)


@njit(**JIT_OPTIONS)
def _space_len(buf, i, end):
    """Byte length of the Unicode whitespace character (Python's ``str.isspace``) at ``i``, or 0."""
    c = buf[i]
    if c < NON_ASCII:
        return 1 if _is_space(c) else 0
    if i + 1 >= end:
        return 0
    two = (np.int64(c) << 8) | buf[i + 1]
    if two == NEXT_LINE or two == NO_BREAK_SPACE:
        return 2
    if i + 2 >= end:
        return 0
    three = (two << 8) | buf[i + 2]
    if (three == OGHAM_SPACE_MARK or EN_QUAD <= three <= HAIR_SPACE or three == LINE_SEPARATOR
            or three == PARAGRAPH_SEPARATOR or three == NARROW_NO_BREAK_SPACE or three == MEDIUM_MATHEMATICAL_SPACE
            or three == IDEOGRAPHIC_SPACE):
        return 3
    return 0


@njit(**JIT_OPTIONS)
def _starts_with(buf, i, end, pat):
    n = pat.shape[0]
    if i + n > end:
        return False
    for k in range(n):
        if buf[i + k] != pat[k]:
            return False
    return True


@njit(**JIT_OPTIONS)
def _find(buf, i, end, pat):
    """First index >= i where ``pat`` starts (before ``end``), or -1."""
    n = pat.shape[0]
    first = pat[0]
    last = end - n
    while i <= last:
        if buf[i] == first:
            ok = True
            for k in range(1, n):
                if buf[i + k] != pat[k]:
                    ok = False
                    break
            if ok:
                return i
        i += 1
    return -1


@njit(**JIT_OPTIONS)
def _format_ok(buf, s, e):
    """``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)`` on bytes."""
    if not _starts_with(buf, s, e, _THINK_OPEN):
        return False
    tail = e - _ANSWER_CLOSE.shape[0]
    if tail < s or not _starts_with(buf, tail, e, _ANSWER_CLOSE):
        return False
    i = s + _THINK_OPEN.shape[0]
    while True:
        i = _find(buf, i, e, _THINK_CLOSE)
        if i < 0:
            return False
        j = i + _THINK_CLOSE.shape[0]
        while j < e:
            w = _space_len(buf, j, e)
            if w == 0:
                break
            j += w
        if _starts_with(buf, j, e, _ANSWER_OPEN) and j + _ANSWER_OPEN.shape[0] <= tail:
            return True
        i += 1


@njit(**JIT_OPTIONS)
def _lower(c):
    if BYTE_UPPER_A <= c <= BYTE_UPPER_Z:
        return c + CASE_OFFSET
    return c


@njit(**JIT_OPTIONS)
def _is_key_filler(c):
    """The bytes keys are compared without: '_', '-' and spaces."""
    return c == BYTE_UNDERSCORE or c == BYTE_MINUS or c == BYTE_SPACE


@njit(**JIT_OPTIONS)
def _key_class(buf, ks, ke):
    """Class of the key ``buf[ks:ke]`` in :data:`KEY_CLASSES` (KEY_OTHER when none): compared
    ASCII-case-insensitively with '_', '-' and spaces dropped."""
    f = ks
    while f < ke and _is_key_filler(buf[f]):
        f += 1
    if f == ke:
        return KEY_OTHER
    c = _lower(buf[f])
    for k in range(_KW_FIRST[c], _KW_FIRST[c + 1]):
        a = _KW_OFFSETS[k]
        b = _KW_OFFSETS[k + 1]
        i = ks
        while True:
            while i < ke and _is_key_filler(buf[i]):
                i += 1
            if i == ke or a == b:
                break
            if _lower(buf[i]) != _KW_BYTES[a]:
                break
            i += 1
            a += 1
        if i == ke and a == b:
            return _KW_CLASS[k]
    return KEY_OTHER


@njit(**JIT_OPTIONS)
def _overflows(buf, i, j, exp):
    """True when the decimal number ``buf[i:j]`` (digits and at most one dot, no sign or exponent) times
    ``10**exp`` is at least :data:`_OVERFLOW_DIGITS`, i.e. when ``float`` of it is infinite.

    Only called for numbers whose magnitude is between 1e308 and 1e309."""
    nd = _OVERFLOW_DIGITS.shape[0]
    # decimal exponent: the number is 0.d1d2d3... * 10**point
    point = 0
    seen_dot = False
    started = False
    for k in range(i, j):
        c = buf[k]
        if c == BYTE_DOT:
            seen_dot = True
        elif not started and c == BYTE_0:
            if seen_dot:
                point -= 1
        else:
            started = True
            if not seen_dot:
                point += 1
    if not started:
        return False
    point += exp
    if point != nd:
        return point > nd
    n = 0
    started = False
    for k in range(i, j):
        c = buf[k]
        if c == BYTE_DOT or (not started and c == BYTE_0):
            continue
        started = True
        d = c - BYTE_0
        if n < nd:
            if d != _OVERFLOW_DIGITS[n]:
                return d > _OVERFLOW_DIGITS[n]
        elif d != 0:
            return True
        n += 1
    # a prefix of the threshold (or the threshold itself)
    if n < nd:
        for k in range(n, nd):
            if _OVERFLOW_DIGITS[k] != 0:
                return False
    return True


@njit(**JIT_OPTIONS)
def _parse_number(buf, i, end):
    """Parse a number at ``i``. Returns (next_index, value, exact, found).

    ``exact`` False means ``value`` only approximates ``float(buf[i:next_index])`` (it is finite exactly when
    that is) and the caller must have Python re-read the span.
    """
    j = i
    neg = False
    if j < end and (buf[j] == BYTE_MINUS or buf[j] == BYTE_PLUS):
        neg = buf[j] == BYTE_MINUS
        j += 1
    ds = j  # start of the digits
    mant = 0
    ndig = 0
    exact = True
    exp10 = 0
    seen = False
    while j < end and BYTE_0 <= buf[j] <= BYTE_9:
        seen = True
        if mant == 0 and buf[j] == BYTE_0:
            j += 1
            continue
        if ndig < MAX_MANTISSA_DIGITS:
            mant = mant * 10 + (buf[j] - BYTE_0)
            ndig += 1
        else:
            exact = False
            exp10 += 1
        j += 1
    if j < end and buf[j] == BYTE_DOT:
        k = j + 1
        frac_seen = False
        while k < end and BYTE_0 <= buf[k] <= BYTE_9:
            frac_seen = True
            if mant == 0 and buf[k] == BYTE_0:
                exp10 -= 1
            elif ndig < MAX_MANTISSA_DIGITS:
                mant = mant * 10 + (buf[k] - BYTE_0)
                ndig += 1
                exp10 -= 1
            else:
                exact = False
            k += 1
        if seen or frac_seen:
            seen = True
            j = k
    if not seen:
        return i, 0.0, True, False
    de = j  # end of the digits
    ev = 0
    if j < end and _lower(buf[j]) == BYTE_LOWER_E:
        k = j + 1
        eneg = False
        if k < end and (buf[k] == BYTE_MINUS or buf[k] == BYTE_PLUS):
            eneg = buf[k] == BYTE_MINUS
            k += 1
        if k < end and BYTE_0 <= buf[k] <= BYTE_9:
            while k < end and BYTE_0 <= buf[k] <= BYTE_9:
                if ev < MAX_EXPONENT:
                    ev = ev * 10 + (buf[k] - BYTE_0)
                k += 1
            if eneg:
                ev = -ev
            exp10 += ev
            j = k
    if mant == 0:
        value = 0.0
    elif exact and mant <= MAX_EXACT_MANTISSA and -MAX_EXACT_POW10 <= exp10 <= MAX_EXACT_POW10:
        if exp10 >= 0:
            value = float(mant) * _POW10[exp10]
        else:
            value = float(mant) / _POW10[-exp10]
    else:
        exact = False
        mag = ndig + exp10  # 10**(mag-1) <= |value| < 10**mag
        if mag > OVERFLOW_MAG:
            value = np.inf
        elif mag == OVERFLOW_MAG:
            value = np.inf if _overflows(buf, ds, de, ev) else _MAX_FINITE
        elif mag < UNDERFLOW_MAG:
            value = 0.0
        else:
            value = float(mant) * 10.0**exp10
    if neg:
        value = -value
    return j, value, exact, True


@njit(**JIT_OPTIONS)
def _word_end(buf, i, end):
    j = i
    while j < end:
        c = buf[j]
        if ((BYTE_UPPER_A <= c <= BYTE_UPPER_Z) or (BYTE_LOWER_A <= c <= BYTE_LOWER_Z) or (BYTE_0 <= c <= BYTE_9)
                or c == BYTE_UNDERSCORE):
            j += 1
        else:
            break
    return j


@njit(**JIT_OPTIONS)
def _equals_lower(buf, i, j, word):
    """``buf[i:j]``, ASCII-lowercased, is ``word``."""
    if j - i != word.shape[0]:
        return False
    for k in range(word.shape[0]):
        if _lower(buf[i + k]) != word[k]:
            return False
    return True


@njit(**JIT_OPTIONS)
def _nonfinite_word(buf, i, j):
    """WORD_NAN / WORD_INF for the words nan / inf, infinity (any case); WORD_OTHER otherwise."""
    if _equals_lower(buf, i, j, _NAN):
        return WORD_NAN
    if _equals_lower(buf, i, j, _INF) or _equals_lower(buf, i, j, _INFINITY):
        return WORD_INF
    return WORD_OTHER


@njit(**JIT_OPTIONS)
def _skip_space(buf, i, end):
    while i < end:
        w = _space_len(buf, i, end)
        if w == 0:
            break
        i += w
    return i


@njit(**JIT_OPTIONS)
def _string_end(buf, i, end, q):
    """Index of the closing quote of the string opened at ``i`` (quote char ``q``), or ``end``.

    A quote only closes the string when followed (after spaces) by ``: , } ] )`` or the end, so apostrophes
    inside single-quoted strings ("men's shoe") survive. Backslash escapes are skipped.
    """
    j = i + 1
    while j < end:
        c = buf[j]
        if c == BYTE_BACKSLASH:
            j += 2
            continue
        if c == q:
            k = _skip_space(buf, j + 1, end)
            if k >= end:
                return j
            d = buf[k]
            if (d == BYTE_COLON or d == BYTE_COMMA or d == BYTE_RBRACE or d == BYTE_RBRACKET or d == BYTE_RPAREN
                    or d == BYTE_BACKSLASH):
                return j
            if (d == BYTE_DQUOTE or d == BYTE_SQUOTE) and k > j + 1:
                return j
        j += 1
    return end


@njit(**JIT_OPTIONS)
def _says_no_objects(buf, s, e):
    """SAYS_NO_OBJECTS when the text says there is nothing to detect ('no object(s)' in any case, or just 'none'),
    SAYS_NOTHING when it holds no letter, digit or dot at all (``[]``, ``{}``), else SAYS_OTHER."""
    n_letters = 0
    l0 = 0
    l1 = 0
    l2 = 0
    l3 = 0
    i = s
    while i < e:
        c = _lower(buf[i])
        if c == _NO_OBJECT[0] and i + 1 < e and _lower(buf[i + 1]) == _NO_OBJECT[1]:
            j = i + NO_LEN
            while j < e and _is_key_filler(buf[j]):
                j += 1
            k = NO_LEN
            while k < _NO_OBJECT.shape[0] and j < e and _lower(buf[j]) == _NO_OBJECT[k]:
                j += 1
                k += 1
            if k == _NO_OBJECT.shape[0]:
                return SAYS_NO_OBJECTS
        if (BYTE_LOWER_A <= c <= BYTE_LOWER_Z) or (BYTE_0 <= c <= BYTE_9) or c >= NON_ASCII or c == BYTE_DOT:
            if n_letters == 0:
                l0 = c
            elif n_letters == 1:
                l1 = c
            elif n_letters == 2:
                l2 = c
            elif n_letters == 3:
                l3 = c
            n_letters += 1
        i += 1
    if n_letters == 0:
        return SAYS_NOTHING
    if (n_letters == _NONE.shape[0] and l0 == _NONE[0] and l1 == _NONE[1] and l2 == _NONE[2]
            and l3 == _NONE[3]):
        return SAYS_NO_OBJECTS
    return SAYS_OTHER


@njit(**JIT_OPTIONS)
def _has_bracket(buf, s, e):
    for i in range(s, e):
        c = buf[i]
        if c == BYTE_LBRACKET or c == BYTE_LBRACE:
            return True
    return False


@njit(**JIT_OPTIONS)
def _answer_region(buf, s, e, require_tag):
    """Select the answer text of one completion.

    Answer blocks are searched after the first ``</think>`` (the whole text when there is none). The last
    complete ``<answer>...</answer>`` block counts; when none is complete, the text after the last
    ``<answer>`` (a truncated generation). Without any ``<answer>`` tag and ``require_tag`` False, the text
    after ``</think>`` counts (the whole text without ``</think>``, but nothing when a ``<think>`` was never
    closed: that text is all reasoning). Returns (start, end, closed, found).
    """
    t = _find(buf, s, e, _THINK_CLOSE)
    base = s if t < 0 else t + _THINK_CLOSE.shape[0]
    best_s = -1
    best_e = -1
    open_s = -1
    q = -2  # cached position of the next </answer>, -1 once none is left; -2: not searched yet
    i = base
    while True:
        p = _find(buf, i, e, _ANSWER_OPEN)
        if p < 0:
            break
        cs = p + _ANSWER_OPEN.shape[0]
        if q != -1 and q < cs:
            q = _find(buf, cs, e, _ANSWER_CLOSE)
        if q >= 0:
            best_s = cs
            best_e = q
        else:
            open_s = cs
        i = p + 1
    if best_s >= 0:
        return best_s, best_e, True, True
    if open_s >= 0:
        return open_s, e, False, True
    if require_tag:
        return 0, 0, False, False
    if t < 0 and _find(buf, s, e, _THINK_OPEN) >= 0:
        return e, e, False, True
    return base, e, True, True


@njit(**JIT_OPTIONS)
def _reset_level(LI, LF, d, kind):
    for t in range(N_LI):
        LI[d, t] = -1
    LI[d, LI_KIND] = kind
    LI[d, LI_KEYC] = KEY_NONE
    LI[d, LI_N] = 0
    LI[d, LI_PURE] = 1
    LI[d, LI_SLOW] = 0
    LI[d, LI_NONFIN] = 0
    LI[d, LI_NCHILD] = 0
    LI[d, LI_OB_HAS] = 0
    LI[d, LI_OB_SLOW] = 0
    LI[d, LI_OB_CONF_SLOW] = 0
    LF[d, LF_OB_CONF] = np.nan


@njit(**JIT_OPTIONS)
def _add_number(LI, LF, d, v, i, j, exact):
    k = LI[d, LI_N]
    if k < BOX_LEN:
        LF[d, LF_V + k] = v
        LI[d, LI_SP + 2 * k] = i
        LI[d, LI_SP + 2 * k + 1] = j
    if not exact:
        LI[d, LI_SLOW] = 1
    if not np.isfinite(v):
        LI[d, LI_NONFIN] = 1
    LI[d, LI_N] = k + 1


@njit(**JIT_OPTIONS)
def _emit(found, nb, TF, TI):
    """Write the staged box (TF: coordinates + confidence, TI: spans, label, slow) at row ``nb`` of ``found``
    (ScanBoxes); past its capacity the box is only counted."""
    boxes, conf, lab_s, lab_e, spans, slow = found
    if nb < boxes.shape[0]:
        for t in range(BOX_LEN):
            boxes[nb, t] = TF[t]
            spans[nb, t, 0] = TI[TI_SP + 2 * t]
            spans[nb, t, 1] = TI[TI_SP + 2 * t + 1]
        conf[nb] = TF[TF_CONF]
        spans[nb, SPAN_CONF, 0] = TI[TI_CONF_S]
        spans[nb, SPAN_CONF, 1] = TI[TI_CONF_E]
        lab_s[nb] = TI[TI_LAB_S]
        lab_e[nb] = TI[TI_LAB_E]
        slow[nb] = TI[TI_SLOW] != 0
    return nb + 1


@njit(**JIT_OPTIONS)
def _stage_list(LI, LF, d, TF, TI):
    """Stage the box of the list at level ``d`` (its first numbers), without confidence or label."""
    for t in range(BOX_LEN):
        TF[t] = LF[d, LF_V + t]
    for t in range(N_SPAN):
        TI[TI_SP + t] = LI[d, LI_SP + t]
    TF[TF_CONF] = np.nan
    TI[TI_CONF_S] = -1
    TI[TI_CONF_E] = -1
    TI[TI_LAB_S] = -1
    TI[TI_LAB_E] = -1
    TI[TI_SLOW] = LI[d, LI_SLOW]


@njit(**JIT_OPTIONS)
def _stage_object(LI, LF, d, TF, TI):
    """Stage the pending box of the object at level ``d``, with the object's confidence and label."""
    for t in range(BOX_LEN):
        TF[t] = LF[d, LF_OB + t]
    for t in range(N_SPAN):
        TI[TI_SP + t] = LI[d, LI_OB_SP + t]
    TF[TF_CONF] = LF[d, LF_OB_CONF]
    TI[TI_CONF_S] = LI[d, LI_OB_CONF_S]
    TI[TI_CONF_E] = LI[d, LI_OB_CONF_E]
    TI[TI_SLOW] = 1 if (LI[d, LI_OB_SLOW] != 0 or LI[d, LI_OB_CONF_SLOW] != 0) else 0
    if LI[d, LI_OB_LAB_S] >= 0:
        TI[TI_LAB_S] = LI[d, LI_OB_LAB_S]
        TI[TI_LAB_E] = LI[d, LI_OB_LAB_E]
    else:
        TI[TI_LAB_S] = LI[d, LI_OB_KLAB_S]
        TI[TI_LAB_E] = LI[d, LI_OB_KLAB_E]


@njit(**JIT_OPTIONS)
def _label_from_keys(LI, d, TI, ref_s, ref_e):
    """Label for a box without one: the nearest enclosing key naming a category, else a Qwen2-VL
    ``<|object_ref_start|>...<|object_ref_end|>`` reference."""
    if TI[TI_LAB_S] >= 0:
        return
    while d >= OUTSIDE:
        if LI[d, LI_KEYC] == KEY_OTHER:
            TI[TI_LAB_S] = LI[d, LI_KEY_S]
            TI[TI_LAB_E] = LI[d, LI_KEY_E]
            return
        d -= 1
    TI[TI_LAB_S] = ref_s
    TI[TI_LAB_E] = ref_e


@njit(**JIT_OPTIONS)
def _box_owner(LI, d):
    """The object level a box closing at level ``d`` belongs to (waiting for its confidence), or -1.

    A list that is the direct value of a key inside ``{...}`` belongs to that object; through single-child
    list wrappers (``'Position': [[x1, y1, x2, y2]]``) only when the key names a box field.
    """
    p = d - 1
    if p <= OUTSIDE:
        return -1
    if LI[p, LI_KIND] == LEVEL_OBJECT:
        return p if LI[p, LI_KEYC] != KEY_CONTAINER else -1
    while p > OUTSIDE and LI[p, LI_KIND] == LEVEL_LIST and LI[p, LI_N] == 0 and LI[p, LI_NCHILD] == 1:
        p -= 1
    if p > OUTSIDE and LI[p, LI_KIND] == LEVEL_OBJECT and LI[p, LI_KEYC] == KEY_BOX:
        return p
    return -1


@njit(**JIT_OPTIONS)
def _flush_run0(scratch, closed, found, nb, ref_s, ref_e):
    """End the current run of bare numbers outside any bracket: four of them are a box."""
    LI, LF, TF, TI, _, counts = scratch
    n = LI[OUTSIDE, LI_N]
    if LI[OUTSIDE, LI_PURE] != 0 and n == BOX_LEN:
        if LI[OUTSIDE, LI_NONFIN] != 0:
            counts[C_NON_FINITE] += 1
        elif not closed:
            counts[C_TRUNCATED] += 1
        else:
            _stage_list(LI, LF, OUTSIDE, TF, TI)
            _label_from_keys(LI, OUTSIDE, TI, ref_s, ref_e)
            nb = _emit(found, nb, TF, TI)
    elif LI[OUTSIDE, LI_PURE] != 0 and n > POINT_LEN:
        counts[C_WRONG_ARITY] += 1
    LI[OUTSIDE, LI_N] = 0
    LI[OUTSIDE, LI_PURE] = 1
    LI[OUTSIDE, LI_SLOW] = 0
    LI[OUTSIDE, LI_NONFIN] = 0
    return nb


@njit(**JIT_OPTIONS)
def _set_conf(LI, LF, d, v, a, b, exact):
    """Record the confidence of the object at level ``d``; a non-finite one counts as none."""
    if np.isfinite(v):
        LF[d, LF_OB_CONF] = v
        LI[d, LI_OB_CONF_S] = a
        LI[d, LI_OB_CONF_E] = b
        LI[d, LI_OB_CONF_SLOW] = 0 if exact else 1
    else:
        LF[d, LF_OB_CONF] = np.nan
        LI[d, LI_OB_CONF_S] = -1
        LI[d, LI_OB_CONF_E] = -1
        LI[d, LI_OB_CONF_SLOW] = 0


@njit(**JIT_OPTIONS)
def _emit_pending(LI, LF, d, TF, TI, found, nb, ref_s, ref_e):
    """Emit the box waiting in the object at level ``d`` now (with the confidence and label seen so far)."""
    _stage_object(LI, LF, d, TF, TI)
    _label_from_keys(LI, d - 1, TI, ref_s, ref_e)
    nb = _emit(found, nb, TF, TI)
    LI[d, LI_OB_HAS] = 0
    LI[d, LI_OB_KLAB_S] = -1
    LI[d, LI_OB_KLAB_E] = -1
    return nb


@njit(**JIT_OPTIONS)
def _set_key(LI, LF, d, ks, ke, keyc, TF, TI, found, nb, ref_s, ref_e):
    """A key ``buf[ks:ke]`` of class ``keyc`` opens a value at level ``d``. A new category key in an object
    holding a box under the previous category ({"cat": [...], "dog": ...}) completes that box first."""
    if keyc == KEY_OTHER and LI[d, LI_KIND] == LEVEL_OBJECT and LI[d, LI_OB_HAS] != 0 and (
            LI[d, LI_OB_KLAB_S] >= 0):
        nb = _emit_pending(LI, LF, d, TF, TI, found, nb, ref_s, ref_e)
    LI[d, LI_KEY_S] = ks
    LI[d, LI_KEY_E] = ke
    LI[d, LI_KEYC] = keyc
    return nb


@njit(**JIT_OPTIONS)
def _close_levels(d, top, pt_pending, scratch, found, nb, ref_s, ref_e):
    """Close the levels ``top`` down to ``d`` (a closer, or the end of a closed answer).

    Returns (nb, pt_pending)."""
    LI, LF, TF, TI, PT, counts = scratch
    while top >= d:
        kind = LI[top, LI_KIND]
        staged = False
        if kind == LEVEL_OBJECT:
            if LI[top, LI_OB_HAS] != 0:
                _stage_object(LI, LF, top, TF, TI)
                staged = True
        elif LI[top, LI_PURE] != 0 and LI[top, LI_N] > 0:
            n = LI[top, LI_N]
            if n == BOX_LEN:
                if LI[top, LI_NONFIN] != 0:
                    counts[C_NON_FINITE] += 1
                else:
                    _stage_list(LI, LF, top, TF, TI)
                    staged = True
            elif n == POINT_LEN and kind == LEVEL_PAREN:
                if pt_pending:
                    pt_pending = False
                    if LI[top, LI_NONFIN] != 0 or PT[PT_NONFIN] != 0:
                        counts[C_NON_FINITE] += 1
                    else:
                        # the box is the waiting point (x1, y1) and this one, (x2, y2)
                        _stage_list(LI, LF, top, TF, TI)
                        TF[X2] = TF[X1]
                        TF[Y2] = TF[Y1]
                        for t in range(2 * POINT_LEN):
                            TI[TI_SP + 2 * X2 + t] = TI[TI_SP + t]
                        TF[X1] = PT[PT_X]
                        TF[Y1] = PT[PT_Y]
                        for t in range(2 * POINT_LEN):
                            TI[TI_SP + t] = np.int64(PT[PT_SP + t])
                        if PT[PT_SLOW] != 0:
                            TI[TI_SLOW] = 1
                        staged = True
                else:
                    pt_pending = True
                    PT[PT_X] = LF[top, LF_V + X1]
                    PT[PT_Y] = LF[top, LF_V + Y1]
                    PT[PT_SLOW] = LI[top, LI_SLOW]
                    PT[PT_NONFIN] = LI[top, LI_NONFIN]
                    for t in range(2 * POINT_LEN):
                        PT[PT_SP + t] = LI[top, LI_SP + t]
            elif n == POINT_LEN:
                counts[C_POINTS] += 1
            else:
                counts[C_WRONG_ARITY] += 1
        if staged:
            owner = -1 if kind == LEVEL_OBJECT else _box_owner(LI, top)
            if owner >= 0 and LI[owner, LI_OB_HAS] != 0 and (
                    LI[owner, LI_KEYC] == KEY_OTHER or LI[owner, LI_OB_KLAB_S] >= 0):
                # a dict keyed by category holding one box per key ({"cat": [...], "bbox": [...]}): the box
                # waiting in the object is complete, emit it and keep the new one
                for t in range(N_TF):
                    TF[N_TF + t] = TF[t]
                for t in range(N_TI):
                    TI[N_TI + t] = TI[t]
                nb = _emit_pending(LI, LF, owner, TF, TI, found, nb, ref_s, ref_e)
                for t in range(N_TF):
                    TF[t] = TF[N_TF + t]
                for t in range(N_TI):
                    TI[t] = TI[N_TI + t]
            if owner >= 0:
                if LI[owner, LI_OB_HAS] == 0:
                    LI[owner, LI_OB_HAS] = 1
                    for t in range(BOX_LEN):
                        LF[owner, LF_OB + t] = TF[t]
                    for t in range(N_SPAN):
                        LI[owner, LI_OB_SP + t] = TI[TI_SP + t]
                    LI[owner, LI_OB_SLOW] = TI[TI_SLOW]
                    if LI[owner, LI_KEYC] == KEY_OTHER:
                        LI[owner, LI_OB_KLAB_S] = LI[owner, LI_KEY_S]
                        LI[owner, LI_OB_KLAB_E] = LI[owner, LI_KEY_E]
                # a second box under a box field of the same object is ignored: the object holds one
            else:
                _label_from_keys(LI, top - 1, TI, ref_s, ref_e)
                nb = _emit(found, nb, TF, TI)
        top -= 1
    return nb, pt_pending


@njit(**JIT_OPTIONS)
def _scan_one(buf, s, e, closed, scratch, found, nb):
    """Extract the boxes of the answer text ``buf[s:e]`` into ``found`` (ScanBoxes) from row ``nb``.

    ``scratch.counts`` (zeroed by the caller) receives the answer's counts (C_*). Returns the row after the last
    box; past the arrays' capacity the boxes are counted but not written (the caller grows and rescans).
    """
    LI, LF, TF, TI, _, counts = scratch
    top = OUTSIDE
    _reset_level(LI, LF, OUTSIDE, LEVEL_NONE)
    # loop variables passed to kernels start typed (bool, int64), not as literals: see "Compiled once"
    pt_pending = np.False_  # a parenthesised point (x1,y1) waiting for its (x2,y2); PT holds it
    ref_s = np.int64(-1)
    ref_e = np.int64(-1)
    ref_open = np.int64(-1)
    i = s
    while i < e:
        c = buf[i]
        w = _space_len(buf, i, e)
        if w > 0:
            if c == BYTE_LF and top == OUTSIDE and LI[OUTSIDE, LI_N] == BOX_LEN:
                # bare boxes one per line ("1,2,3,4\n5,6,7,8"): a line break ends a run of four numbers
                nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
            i += w
            continue
        # ---- numbers
        if (BYTE_0 <= c <= BYTE_9) or ((c == BYTE_MINUS or c == BYTE_PLUS or c == BYTE_DOT) and i + 1 < e and (
                BYTE_0 <= buf[i + 1] <= BYTE_9 or (buf[i + 1] == BYTE_DOT and i + 2 < e and
                                                   BYTE_0 <= buf[i + 2] <= BYTE_9))):
            j, v, exact, is_number = _parse_number(buf, i, e)
            if not is_number:
                i += 1
                continue
            if LI[top, LI_KIND] == LEVEL_OBJECT:
                if LI[top, LI_KEYC] == KEY_CONF:
                    _set_conf(LI, LF, top, v, i, j, exact)
            else:
                _add_number(LI, LF, top, v, i, j, exact)
            i = j
            continue
        # ---- words: unquoted keys, nan / inf, prose
        is_sign = c == BYTE_MINUS or c == BYTE_PLUS
        if ((BYTE_UPPER_A <= c <= BYTE_UPPER_Z) or (BYTE_LOWER_A <= c <= BYTE_LOWER_Z) or c == BYTE_UNDERSCORE
                or (is_sign and i + 1 < e and (_lower(buf[i + 1]) == _INF[0] or _lower(buf[i + 1]) == _NAN[0]))):
            ws = i + 1 if is_sign else i
            j = _word_end(buf, ws, e)
            nf = _nonfinite_word(buf, ws, j)
            k2 = _skip_space(buf, j, e)
            if nf == WORD_OTHER and k2 < e and buf[k2] == BYTE_COLON:
                if top == OUTSIDE:
                    nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
                keyc = _key_class(buf, ws, j)
                nb = _set_key(LI, LF, top, ws, j, keyc, TF, TI, found, nb, ref_s, ref_e)
                i = k2 + 1
                continue
            if nf != WORD_OTHER:
                v = np.nan if nf == WORD_NAN else (-np.inf if c == BYTE_MINUS else np.inf)
                if LI[top, LI_KIND] == LEVEL_OBJECT:
                    if LI[top, LI_KEYC] == KEY_CONF:
                        _set_conf(LI, LF, top, v, i, j, np.True_)
                else:
                    _add_number(LI, LF, top, v, i, j, np.True_)
            else:
                if top == OUTSIDE:
                    nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
                else:
                    LI[top, LI_PURE] = 0
                pt_pending = False
            i = j
            continue
        # ---- strings
        if c == BYTE_SQUOTE or c == BYTE_DQUOTE:
            j = _string_end(buf, i, e, c)
            cs = i + 1
            ce = j
            nxt = j + 1 if j < e else e
            k2 = _skip_space(buf, nxt, e)
            if top == OUTSIDE:
                nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
            if k2 < e and buf[k2] == BYTE_COLON:
                keyc = _key_class(buf, cs, ce)
                nb = _set_key(LI, LF, top, cs, ce, keyc, TF, TI, found, nb, ref_s, ref_e)
                i = k2 + 1
                continue
            if LI[top, LI_KIND] == LEVEL_OBJECT:
                if LI[top, LI_KEYC] == KEY_LABEL:
                    LI[top, LI_OB_LAB_S] = cs
                    LI[top, LI_OB_LAB_E] = ce
                elif LI[top, LI_KEYC] == KEY_CONF:
                    a = _skip_space(buf, cs, ce)
                    jj, v, exact, is_number = _parse_number(buf, a, ce)
                    if is_number and _skip_space(buf, jj, ce) == ce:
                        _set_conf(LI, LF, top, v, a, jj, exact)
            elif top > OUTSIDE:
                LI[top, LI_PURE] = 0
            pt_pending = False
            i = nxt
            continue
        # ---- LaTeX escapes (\{ \} \[ \]): drop the backslash
        if c == BYTE_BACKSLASH:
            i += 1
            continue
        # ---- special tokens <|...|>
        if c == BYTE_LT and i + 1 < e and buf[i + 1] == BYTE_PIPE:
            name = i + SPECIAL_OPEN_LEN
            j = name
            lim = min(e, i + MAX_SPECIAL_TOKEN)
            while j + 1 < lim and not (buf[j] == BYTE_PIPE and buf[j + 1] == BYTE_GT):
                j += 1
            if j + 1 < lim:
                n = j - name
                # <|object_ref_start|> ... <|object_ref_end|> names the next box (Qwen2-VL grounding)
                if n == REF_START_LEN and buf[name + REF_KIND_AT] == REF_START_KIND:
                    ref_open = j + SPECIAL_CLOSE_LEN
                elif n == REF_END_LEN and buf[name + REF_KIND_AT] == REF_END_KIND and ref_open >= 0:
                    ref_s = ref_open
                    ref_e = i
                    ref_open = -1
                i = j + SPECIAL_CLOSE_LEN
                continue
        # ---- openers
        if c == BYTE_LBRACKET or c == BYTE_LBRACE or c == BYTE_LPAREN:
            if top == OUTSIDE:
                nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
            elif LI[top, LI_KIND] != LEVEL_OBJECT:
                LI[top, LI_PURE] = 0
            LI[top, LI_NCHILD] += 1
            if top == MAX_DEPTH:
                counts[C_TOO_DEEP] = 1
                break
            top += 1
            _reset_level(LI, LF, top, LEVEL_LIST if c == BYTE_LBRACKET else (
                LEVEL_OBJECT if c == BYTE_LBRACE else LEVEL_PAREN))
            if c != BYTE_LPAREN:
                pt_pending = False
            i += 1
            continue
        # ---- closers: close down to the matching opener; a stray closer is ignored
        if c == BYTE_RBRACKET or c == BYTE_RBRACE or c == BYTE_RPAREN:
            want = LEVEL_LIST if c == BYTE_RBRACKET else (LEVEL_OBJECT if c == BYTE_RBRACE else LEVEL_PAREN)
            d = top
            while d > OUTSIDE and LI[d, LI_KIND] != want:
                d -= 1
            if d > OUTSIDE:
                nb, pt_pending = _close_levels(d, top, pt_pending, scratch, found, nb, ref_s, ref_e)
                top = d - 1
            i += 1
            continue
        # ---- separators and anything else
        if c == BYTE_COMMA or c == BYTE_COLON:
            i += 1
            continue
        if top == OUTSIDE:
            nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
        else:
            LI[top, LI_PURE] = 0
        if c != BYTE_DOT:
            pt_pending = False
        i += 1

    # ---- end of the answer text
    if counts[C_TOO_DEEP] == 0 and top > OUTSIDE:
        if closed:
            # </answer> came with brackets still open: the model forgot them, read as if they were closed
            nb, pt_pending = _close_levels(OUTSIDE + 1, top, pt_pending, scratch, found, nb, ref_s, ref_e)
        else:
            # the generation was cut: the item being written (the innermost open level, or an object holding a
            # box waiting for its closing brace) is lost and counted once
            kind = LI[top, LI_KIND]
            cut = kind == LEVEL_OBJECT
            if LI[top, LI_PURE] != 0 and (LI[top, LI_N] > 0 or LI[top, LI_NCHILD] == 0):
                cut = True  # a box or point being written, or an item just opened
                if kind == LEVEL_PAREN:
                    pt_pending = False  # its first point belongs to the box that was cut
            for d in range(OUTSIDE + 1, top):
                if LI[d, LI_KIND] == LEVEL_OBJECT and LI[d, LI_OB_HAS] != 0:
                    cut = True
            if cut:
                counts[C_TRUNCATED] += 1
        top = OUTSIDE
    nb = _flush_run0(scratch, closed, found, nb, ref_s, ref_e)
    if pt_pending:
        counts[C_POINTS] += 1
    return nb


class ScanRows(NamedTuple):
    """Per-row outputs of :func:`scan_into` (B rows; the table in the module docstring)."""

    format_ok: np.ndarray
    answer_start: np.ndarray
    answer_end: np.ndarray
    answer_closed: np.ndarray
    status: np.ndarray
    dropped: np.ndarray
    offsets: np.ndarray

    @classmethod
    def allocate(cls, n: int) -> ScanRows:
        return cls(np.zeros(n, np.bool_), np.empty(n, np.int64), np.empty(n, np.int64), np.zeros(n, np.bool_),
                   np.zeros(n, np.int8), np.zeros((n, N_DROPPED), np.int64), np.zeros(n + 1, np.int64))


class ScanBoxes(NamedTuple):
    """Per-box outputs of :func:`scan_into` (N boxes of capacity; the table in the module docstring)."""

    boxes: np.ndarray
    confidences: np.ndarray
    label_start: np.ndarray
    label_end: np.ndarray
    spans: np.ndarray
    slow: np.ndarray

    @classmethod
    def allocate(cls, capacity: int) -> ScanBoxes:
        return cls(np.empty((capacity, BOX_LEN), np.float64), np.empty(capacity, np.float64),
                   np.empty(capacity, np.int64), np.empty(capacity, np.int64),
                   np.empty((capacity, BOX_LEN + 1, 2), np.int64), np.empty(capacity, np.bool_))

    def grown(self, capacity: int, keep: int) -> ScanBoxes:
        """Arrays of a larger ``capacity`` holding the first ``keep`` boxes."""
        grown = ScanBoxes.allocate(capacity)
        for old, new in zip(self, grown):
            new[:keep] = old[:keep]
        return grown

    def head(self, n: int) -> ScanBoxes:
        """The first ``n`` boxes (views)."""
        return ScanBoxes._make([a[:n] for a in self])


class Scratch(NamedTuple):
    """Scratch arrays of :func:`scan_into` (the table in the module docstring), reusable between scans."""

    level_ints: np.ndarray
    level_floats: np.ndarray
    box_floats: np.ndarray
    box_ints: np.ndarray
    point: np.ndarray
    counts: np.ndarray

    @classmethod
    def allocate(cls) -> Scratch:
        return cls(np.empty((MAX_DEPTH + 1, N_LI), np.int64), np.empty((MAX_DEPTH + 1, N_LF), np.float64),
                   np.empty(2 * N_TF, np.float64), np.empty(2 * N_TI, np.int64), np.empty(N_PT, np.float64),
                   np.empty(N_C, np.int64))


@njit(**JIT_OPTIONS)
def _shapes_ok(nrows, rows, found, scratch):
    """The arrays are large enough for ``nrows`` rows and the capacity of ``found`` (no kernel checks bounds)."""
    format_ok, answer_start, answer_end, answer_closed, status, dropped, offsets = rows
    boxes, conf, lab_s, lab_e, spans, slow = found
    LI, LF, TF, TI, PT, counts = scratch
    for n in (format_ok.shape[0], answer_start.shape[0], answer_end.shape[0], answer_closed.shape[0],
              status.shape[0], dropped.shape[0]):
        if n < nrows:
            return False
    if offsets.shape[0] < nrows + 1 or dropped.shape[1] < N_DROPPED or boxes.shape[1] < BOX_LEN:
        return False
    cap = boxes.shape[0]
    for n in (conf.shape[0], lab_s.shape[0], lab_e.shape[0], spans.shape[0], slow.shape[0]):
        if n < cap:
            return False
    if spans.shape[1] < BOX_LEN + 1 or spans.shape[2] < 2:
        return False
    if LI.shape[0] < MAX_DEPTH + 1 or LI.shape[1] < N_LI or LF.shape[0] < MAX_DEPTH + 1 or LF.shape[1] < N_LF:
        return False
    return TF.shape[0] >= 2 * N_TF and TI.shape[0] >= 2 * N_TI and PT.shape[0] >= N_PT and counts.shape[0] >= N_C


@njit(**JIT_OPTIONS)
def scan_into(buf, starts, ends, require_tag, row0, rows, found, scratch):
    """Scan the completions ``buf[starts[r]:ends[r]]`` for rows ``r >= row0`` into caller-owned arrays.

    ``rows``, ``found`` and ``scratch`` are a :class:`ScanRows`, :class:`ScanBoxes` and :class:`Scratch` (tabled
    in the module docstring) as plain tuples, ``tuple(rows)``: numba's dispatcher types a plain tuple of arrays in
    C, a named tuple in Python (1.5 us more a call); the kernels unpack them in field order.
    ``offsets[row0]`` must hold the number of boxes of the rows before ``row0``.

    Returns the number of rows done: ``len(starts)``, or the first row whose boxes did not fit, in which
    case ``offsets[r]`` holds the boxes before it and ``offsets[r + 1]`` the capacity needed to fit it; -1
    when an array is too small (nothing is written then).
    """
    format_ok, answer_start, answer_end, answer_closed, status, dropped, offsets = rows
    boxes = found[0]
    counts = scratch[-1]
    nrows = starts.shape[0]
    cap = boxes.shape[0]
    if not _shapes_ok(nrows, rows, found, scratch) or not 0 <= row0 <= nrows:
        return -1
    nb = offsets[row0]
    for r in range(row0, nrows):
        s = starts[r]
        e = ends[r]
        if s < 0 or s > e or e > buf.shape[0]:
            return -1
        offsets[r] = nb
        answer_start[r] = -1
        answer_end[r] = -1
        answer_closed[r] = False
        for t in range(N_DROPPED):
            dropped[r, t] = 0
        format_ok[r] = _format_ok(buf, s, e)
        rs, re_, closed, has_answer = _answer_region(buf, s, e, require_tag)
        offsets[r + 1] = nb
        if not has_answer:
            status[r] = NO_ANSWER_TAG
            continue
        answer_start[r] = rs
        answer_end[r] = re_
        answer_closed[r] = closed
        if _skip_space(buf, rs, re_) == re_:
            status[r] = EMPTY_ANSWER
            continue
        for t in range(N_C):
            counts[t] = 0
        end_nb = _scan_one(buf, rs, re_, closed, scratch, found, nb)
        offsets[r + 1] = end_nb
        if end_nb > cap:
            return r
        for t in range(N_DROPPED):
            dropped[r, t] = counts[t]
        found_boxes = end_nb - nb
        nb = end_nb
        if found_boxes > 0:
            status[r] = OK
        elif counts[C_TOO_DEEP] > 0:
            status[r] = TOO_DEEP
        elif counts[C_NON_FINITE] > 0:
            status[r] = NON_FINITE
        elif counts[C_TRUNCATED] > 0:
            status[r] = TRUNCATED
        elif counts[C_POINTS] > 0:
            status[r] = POINTS_NOT_BOXES
        elif counts[C_WRONG_ARITY] > 0:
            status[r] = WRONG_ARITY
        else:
            said = _says_no_objects(buf, rs, re_)
            if said == SAYS_NO_OBJECTS or (said == SAYS_NOTHING and _has_bracket(buf, rs, re_)):
                status[r] = NO_OBJECTS
            else:
                status[r] = UNPARSEABLE
    return nrows


# ---- points: a second, separate pass over the answer spans (only rewards that read points run it)

# Slots of the point arrays of scan_points_into (Q points of capacity):
#   offsets   (B + 1,)               int64    row r owns points offsets[r]:offsets[r + 1]
#   points    (Q, POINT_LEN)         float64  X, Y
#   spans     (Q, POINT_LEN, 2)      int64    (start, end) of each number
#   slow      (Q,)                   bool     a number of the point needs Python's float (re-read from spans)
PT_NONE = np.int64(-1)  # no paren point just before (what the last emitted point was, for the box rule)
PT_PAREN_OPEN = np.int64(1)  # the last item was a paren point that may still pair into a box
PT_PAREN_USED = np.int64(2)  # the last item was a paren point that completed a box


@njit(**JIT_OPTIONS)
def _read_pair(buf, i, end, closer, points, spans, slow, nq):
    """Read ``x, y`` then ``closer`` from ``i`` (just after an opener); write it at row ``nq`` when it fits.

    Returns (index after the closer or -1 when no pair is there, whether the pair is finite)."""
    j = _skip_space(buf, i, end)
    j2, x, exact_x, found = _parse_number(buf, j, end)
    if not found:
        return -1, False
    k = _skip_space(buf, j2, end)
    if k >= end or buf[k] != BYTE_COMMA:
        return -1, False
    k = _skip_space(buf, k + 1, end)
    k2, y, exact_y, found = _parse_number(buf, k, end)
    if not found:
        return -1, False
    m = _skip_space(buf, k2, end)
    if m >= end or buf[m] != closer:
        return -1, False
    finite = np.isfinite(x) and np.isfinite(y)
    if finite and nq < points.shape[0]:
        points[nq, X1] = x
        points[nq, Y1] = y
        spans[nq, X1, 0] = j
        spans[nq, X1, 1] = j2
        spans[nq, Y1, 0] = k
        spans[nq, Y1, 1] = k2
        slow[nq] = not (exact_x and exact_y)
    return m + 1, finite


@njit(**JIT_OPTIONS)
def _points_one(buf, s, e, points, spans, slow, nq):
    """The points of the answer ``buf[s:e]`` from row ``nq``: every ``[x, y]`` and ``(x, y)`` (what the box scan
    counts as points), except two parenthesised points side by side, which are a Qwen2-VL box. Returns the row
    after the last point (past the capacity the points are counted, not written)."""
    last = PT_NONE
    i = s
    while i < e:
        c = buf[i]
        if c == BYTE_LBRACKET or c == BYTE_LPAREN:
            closer = BYTE_RBRACKET if c == BYTE_LBRACKET else BYTE_RPAREN
            j, finite = _read_pair(buf, i + 1, e, closer, points, spans, slow, nq)
            if j < 0:
                last = PT_NONE
                i += 1
                continue
            if c == BYTE_LPAREN and last == PT_PAREN_OPEN:
                nq -= 1  # (x1, y1), (x2, y2): the two points are one box
                last = PT_PAREN_USED
            elif finite:
                nq += 1
                last = PT_PAREN_OPEN if c == BYTE_LPAREN else PT_NONE
            else:
                last = PT_NONE
            i = j
            continue
        if not (c == BYTE_COMMA or c == BYTE_DOT or _space_len(buf, i, e) > 0):
            last = PT_NONE  # as the box scan: only separators keep a paren point waiting for its pair
        i += 1
    return nq


@njit(**JIT_OPTIONS)
def scan_points_into(buf, starts, ends, row0, offsets, points, spans, slow):
    """Read the points of the answer spans ``buf[starts[r]:ends[r]]`` (``starts[r] < 0``: no answer) for rows
    ``r >= row0`` into caller-owned arrays (slots above). ``offsets[row0]`` must hold the points before ``row0``.

    Returns the number of rows done: ``len(starts)``, or the first row whose points did not fit (``offsets[r + 1]``
    then holds the capacity needed); -1 when an array is too small or a span is out of the buffer."""
    nrows = starts.shape[0]
    cap = points.shape[0]
    if (ends.shape[0] < nrows or offsets.shape[0] < nrows + 1 or points.shape[1] < POINT_LEN
            or spans.shape[0] < cap or spans.shape[1] < POINT_LEN or spans.shape[2] < 2 or slow.shape[0] < cap
            or not 0 <= row0 <= nrows):
        return -1
    nq = offsets[row0]
    for r in range(row0, nrows):
        s = starts[r]
        e = ends[r]
        offsets[r + 1] = nq
        if s < 0:
            continue
        if s > e or e > buf.shape[0]:
            return -1
        end_nq = _points_one(buf, s, e, points, spans, slow, nq)
        offsets[r + 1] = end_nq
        if end_nq > cap:
            return r
        nq = end_nq
    return nrows


class ScanPoints(NamedTuple):
    """Outputs of :func:`scan_points_into` (B rows, Q points of capacity)."""

    offsets: np.ndarray
    points: np.ndarray
    spans: np.ndarray
    slow: np.ndarray

    @classmethod
    def allocate(cls, n: int, capacity: int) -> ScanPoints:
        return cls(np.zeros(n + 1, np.int64), np.empty((capacity, POINT_LEN), np.float64),
                   np.empty((capacity, POINT_LEN, 2), np.int64), np.empty(capacity, np.bool_))

    def grown(self, capacity: int, keep: int) -> ScanPoints:
        """Point arrays of a larger ``capacity`` holding the first ``keep`` points (the same offsets)."""
        grown = ScanPoints.allocate(len(self.offsets) - 1, capacity)
        grown.offsets[:] = self.offsets
        for old, new in zip(self[1:], grown[1:]):
            new[:keep] = old[:keep]
        return grown
