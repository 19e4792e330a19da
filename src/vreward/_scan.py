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
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Compile options of every kernel here: no exceptions (numpy error model), no numba runtime (no allocation, no
# reference counting), cached on disk.
JIT_OPTIONS = {"cache": True, "error_model": "numpy", "_nrt": False}

# Reason codes (mirrored by vreward.reasons.ParseReason).
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

# Key classes (the keyword table is built in vreward.parsing).
KEY_NONE = 0
KEY_OTHER = 1
KEY_BOX = 2
KEY_CONF = 3
KEY_LABEL = 4
KEY_CONTAINER = 5

LEVEL_LIST = 1
LEVEL_OBJECT = 2
LEVEL_PAREN = 3

MAX_DEPTH = 64

_POW10 = np.array([10.0**k for k in range(23)])
_INFINITY = np.frombuffer(b"infinity", np.uint8).copy()
_NOOBJECT = np.frombuffer(b"noobject", np.uint8).copy()
_TWO53 = 2**53


@njit(**JIT_OPTIONS)
def _is_space(c):
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


@njit(**JIT_OPTIONS)
def _space_len(buf, i, end):
    """Byte length of the Unicode whitespace character (Python's ``str.isspace``) at ``i``, or 0."""
    c = buf[i]
    if c < 128:
        return 1 if _is_space(c) else 0
    if c == 0xC2 and i + 1 < end:
        d = buf[i + 1]
        return 2 if (d == 0x85 or d == 0xA0) else 0
    if i + 2 >= end:
        return 0
    d = buf[i + 1]
    e = buf[i + 2]
    if c == 0xE1:
        return 3 if (d == 0x9A and e == 0x80) else 0
    if c == 0xE2:
        if d == 0x80 and (0x80 <= e <= 0x8A or e == 0xA8 or e == 0xA9 or e == 0xAF):
            return 3
        if d == 0x81 and e == 0x9F:
            return 3
        return 0
    if c == 0xE3:
        return 3 if (d == 0x80 and e == 0x80) else 0
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
def format_ok(buf, s, e, think_open, think_close, answer_open, answer_close):
    """``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)`` on bytes."""
    if not _starts_with(buf, s, e, think_open):
        return False
    tail = e - answer_close.shape[0]
    if tail < s or not _starts_with(buf, tail, e, answer_close):
        return False
    i = s + think_open.shape[0]
    while True:
        i = _find(buf, i, e, think_close)
        if i < 0:
            return False
        j = i + think_close.shape[0]
        while j < e:
            w = _space_len(buf, j, e)
            if w == 0:
                break
            j += w
        if _starts_with(buf, j, e, answer_open) and j + answer_open.shape[0] <= tail:
            return True
        i += 1


@njit(**JIT_OPTIONS)
def _lower(c):
    if 65 <= c <= 90:
        return c + 32
    return c


@njit(**JIT_OPTIONS)
def _key_class(buf, ks, ke, kw_bytes, kw_offsets, kw_class, kw_first):
    """Class of the key ``buf[ks:ke]``: compared ASCII-case-insensitively with '_', '-' and spaces dropped.

    Keywords are sorted by first letter; ``kw_first[c]:kw_first[c + 1]`` are those starting with byte ``c``.
    """
    f = ks
    while f < ke and (buf[f] == 95 or buf[f] == 45 or buf[f] == 32):
        f += 1
    if f == ke:
        return KEY_OTHER
    c = _lower(buf[f])
    for k in range(kw_first[c], kw_first[c + 1]):
        a = kw_offsets[k]
        b = kw_offsets[k + 1]
        i = ks
        while True:
            while i < ke and (buf[i] == 95 or buf[i] == 45 or buf[i] == 32):
                i += 1
            if i == ke or a == b:
                break
            if _lower(buf[i]) != kw_bytes[a]:
                break
            i += 1
            a += 1
        if i == ke and a == b:
            return kw_class[k]
    return KEY_OTHER


# Decimal digits of 2**1024 - 2**970, the smallest number that float() rounds to infinity (it lies halfway
# between the largest double and 2**1024, and ties round to the even 2**1024).
_OVERFLOW_DIGITS = np.frombuffer(str(2**1024 - 2**970).encode(), np.uint8) - 48
_MAX_FINITE = 1.7976931348623157e308


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
        if c == 46:
            seen_dot = True
        elif not started and c == 48:
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
        if c == 46 or (not started and c == 48):
            continue
        started = True
        d = c - 48
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
    if j < end and (buf[j] == 45 or buf[j] == 43):
        neg = buf[j] == 45
        j += 1
    ds = j  # start of the digits
    mant = 0
    ndig = 0
    exact = True
    exp10 = 0
    seen = False
    # at most 18 significant digits are accumulated, so the int64 mantissa never overflows
    while j < end and 48 <= buf[j] <= 57:
        seen = True
        if mant == 0 and buf[j] == 48:
            j += 1
            continue
        if ndig < 18:
            mant = mant * 10 + (buf[j] - 48)
            ndig += 1
        else:
            exact = False
            exp10 += 1
        j += 1
    if j < end and buf[j] == 46:
        k = j + 1
        frac_seen = False
        while k < end and 48 <= buf[k] <= 57:
            frac_seen = True
            if mant == 0 and buf[k] == 48:
                exp10 -= 1
            elif ndig < 18:
                mant = mant * 10 + (buf[k] - 48)
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
    if j < end and (buf[j] == 101 or buf[j] == 69):
        k = j + 1
        eneg = False
        if k < end and (buf[k] == 45 or buf[k] == 43):
            eneg = buf[k] == 45
            k += 1
        if k < end and 48 <= buf[k] <= 57:
            while k < end and 48 <= buf[k] <= 57:
                if ev < 100000:
                    ev = ev * 10 + (buf[k] - 48)
                k += 1
            if eneg:
                ev = -ev
            exp10 += ev
            j = k
    if mant == 0:
        value = 0.0
    elif exact and mant <= _TWO53 and -22 <= exp10 <= 22:
        if exp10 >= 0:
            value = float(mant) * _POW10[exp10]
        else:
            value = float(mant) / _POW10[-exp10]
    else:
        exact = False
        mag = ndig + exp10  # 10**(mag-1) <= |value| < 10**mag
        if mag > 309:
            value = np.inf
        elif mag == 309:
            value = np.inf if _overflows(buf, ds, de, ev) else _MAX_FINITE
        elif mag < -400:
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
        if (65 <= c <= 90) or (97 <= c <= 122) or (48 <= c <= 57) or c == 95:
            j += 1
        else:
            break
    return j


@njit(**JIT_OPTIONS)
def _nonfinite_word(buf, i, j):
    """+1 / -1 / nan code for the words nan, inf, infinity (any case); 0 otherwise."""
    n = j - i
    if n == 3:
        a = _lower(buf[i])
        b = _lower(buf[i + 1])
        c = _lower(buf[i + 2])
        if a == 110 and b == 97 and c == 110:
            return 2
        if a == 105 and b == 110 and c == 102:
            return 1
    if n == 8:
        for k in range(8):
            if _lower(buf[i + k]) != _INFINITY[k]:
                return 0
        return 1
    return 0


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
        if c == 92:
            j += 2
            continue
        if c == q:
            k = _skip_space(buf, j + 1, end)
            if k >= end:
                return j
            d = buf[k]
            if d == 58 or d == 44 or d == 125 or d == 93 or d == 41 or d == 92:
                return j
            if (d == 34 or d == 39) and k > j + 1:
                return j
        j += 1
    return end


@njit(**JIT_OPTIONS)
def _says_no_objects(buf, s, e):
    """1 when the text says there is nothing to detect ('no object(s)' in any case, or just 'none'),
    2 when it holds no letter, digit or dot at all (``[]``, ``{}``), else 0."""
    n_letters = 0
    l0 = 0
    l1 = 0
    l2 = 0
    l3 = 0
    i = s
    while i < e:
        c = _lower(buf[i])
        if c == 110 and i + 1 < e and _lower(buf[i + 1]) == 111:
            j = i + 2
            while j < e and (buf[j] == 32 or buf[j] == 95 or buf[j] == 45):
                j += 1
            k = 2
            while k < 8 and j < e and _lower(buf[j]) == _NOOBJECT[k]:
                j += 1
                k += 1
            if k == 8:
                return 1
        if (97 <= c <= 122) or (48 <= c <= 57) or c >= 128 or c == 46:
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
        return 2
    if n_letters == 4 and l0 == 110 and l1 == 111 and l2 == 110 and l3 == 101:
        return 1
    return 0


@njit(**JIT_OPTIONS)
def _has_bracket(buf, s, e):
    for i in range(s, e):
        c = buf[i]
        if c == 91 or c == 123:
            return True
    return False


@njit(**JIT_OPTIONS)
def _answer_region(buf, s, e, require_tag, think_open, think_close, answer_open, answer_close):
    """Select the answer text of one completion.

    Answer blocks are searched after the first ``</think>`` (the whole text when there is none). The last
    complete ``<answer>...</answer>`` block counts; when none is complete, the text after the last
    ``<answer>`` (a truncated generation). Without any ``<answer>`` tag and ``require_tag`` False, the text
    after ``</think>`` counts (the whole text without ``</think>``, but nothing when a ``<think>`` was never
    closed: that text is all reasoning). Returns (start, end, closed, found).
    """
    t = _find(buf, s, e, think_close)
    base = s if t < 0 else t + think_close.shape[0]
    best_s = -1
    best_e = -1
    open_s = -1
    q = -2  # cached position of the next </answer>; -1 once none is left
    i = base
    while True:
        p = _find(buf, i, e, answer_open)
        if p < 0:
            break
        cs = p + answer_open.shape[0]
        if q != -1 and q < cs:
            q = _find(buf, cs, e, answer_close)
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
    if t < 0 and _find(buf, s, e, think_open) >= 0:
        return e, e, False, True
    return base, e, True, True


# Per-level scratch columns: integers (LI) and floats (LF).
I_KIND = 0
I_KEY_S = 1
I_KEY_E = 2
I_KEYC = 3
I_N = 4
I_PURE = 5
I_SLOW = 6
I_NONFIN = 7
I_NCHILD = 8
I_SP = 9  # 8 columns: start/end of the 4 numbers
I_OB_HAS = 17
I_OB_SLOW = 18
I_OB_KLAB_S = 19
I_OB_KLAB_E = 20
I_OB_CONF_S = 21
I_OB_CONF_E = 22
I_OB_CONF_SLOW = 23
I_OB_LAB_S = 24
I_OB_LAB_E = 25
I_OB_SP = 26  # 8 columns
N_I = 34
F_V = 0  # 4 columns: the first 4 numbers of a list
F_OB = 4  # 4 columns: the pending box of an object
F_OB_CONF = 8
N_F = 9

# Box staging (TI): 8 coordinate spans, confidence span, label span, slow flag.
T_CONF_S = 8
T_CONF_E = 9
T_LAB_S = 10
T_LAB_E = 11
T_SLOW = 12
N_T = 13


@njit(**JIT_OPTIONS)
def _reset_level(LI, LF, d, kind):
    for t in range(N_I):
        LI[d, t] = -1
    LI[d, I_KIND] = kind
    LI[d, I_KEYC] = KEY_NONE
    LI[d, I_N] = 0
    LI[d, I_PURE] = 1
    LI[d, I_SLOW] = 0
    LI[d, I_NONFIN] = 0
    LI[d, I_NCHILD] = 0
    LI[d, I_OB_HAS] = 0
    LI[d, I_OB_SLOW] = 0
    LI[d, I_OB_CONF_SLOW] = 0
    LF[d, F_OB_CONF] = np.nan


@njit(**JIT_OPTIONS)
def _add_number(LI, LF, d, v, i, j, exact):
    k = LI[d, I_N]
    if k < 4:
        LF[d, F_V + k] = v
        LI[d, I_SP + 2 * k] = i
        LI[d, I_SP + 2 * k + 1] = j
    if not exact:
        LI[d, I_SLOW] = 1
    if not np.isfinite(v):
        LI[d, I_NONFIN] = 1
    LI[d, I_N] = k + 1


@njit(**JIT_OPTIONS)
def _emit(boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI):
    """Write the staged box (TF: 4 coordinates + confidence, TI: spans, label, slow) at row ``nb``."""
    if nb < boxes.shape[0]:
        for t in range(4):
            boxes[nb, t] = TF[t]
            spans[nb, t, 0] = TI[2 * t]
            spans[nb, t, 1] = TI[2 * t + 1]
        conf[nb] = TF[4]
        spans[nb, 4, 0] = TI[T_CONF_S]
        spans[nb, 4, 1] = TI[T_CONF_E]
        lab_s[nb] = TI[T_LAB_S]
        lab_e[nb] = TI[T_LAB_E]
        slow[nb] = TI[T_SLOW] != 0
    return nb + 1


@njit(**JIT_OPTIONS)
def _stage_list(LI, LF, d, TF, TI):
    for t in range(4):
        TF[t] = LF[d, F_V + t]
    for t in range(8):
        TI[t] = LI[d, I_SP + t]
    TF[4] = np.nan
    TI[T_CONF_S] = -1
    TI[T_CONF_E] = -1
    TI[T_LAB_S] = -1
    TI[T_LAB_E] = -1
    TI[T_SLOW] = LI[d, I_SLOW]


@njit(**JIT_OPTIONS)
def _stage_object(LI, LF, d, TF, TI):
    for t in range(4):
        TF[t] = LF[d, F_OB + t]
    for t in range(8):
        TI[t] = LI[d, I_OB_SP + t]
    TF[4] = LF[d, F_OB_CONF]
    TI[T_CONF_S] = LI[d, I_OB_CONF_S]
    TI[T_CONF_E] = LI[d, I_OB_CONF_E]
    TI[T_SLOW] = 1 if (LI[d, I_OB_SLOW] != 0 or LI[d, I_OB_CONF_SLOW] != 0) else 0
    if LI[d, I_OB_LAB_S] >= 0:
        TI[T_LAB_S] = LI[d, I_OB_LAB_S]
        TI[T_LAB_E] = LI[d, I_OB_LAB_E]
    else:
        TI[T_LAB_S] = LI[d, I_OB_KLAB_S]
        TI[T_LAB_E] = LI[d, I_OB_KLAB_E]


@njit(**JIT_OPTIONS)
def _label_from_keys(LI, d, TI, ref_s, ref_e):
    """Label for a box without one: the nearest enclosing key naming a category, else a Qwen2-VL
    ``<|object_ref_start|>...<|object_ref_end|>`` reference."""
    if TI[T_LAB_S] >= 0:
        return
    while d >= 0:
        if LI[d, I_KEYC] == KEY_OTHER:
            TI[T_LAB_S] = LI[d, I_KEY_S]
            TI[T_LAB_E] = LI[d, I_KEY_E]
            return
        d -= 1
    TI[T_LAB_S] = ref_s
    TI[T_LAB_E] = ref_e


@njit(**JIT_OPTIONS)
def _box_owner(LI, d):
    """The object level a box closing at level ``d`` belongs to (waiting for its confidence), or -1.

    A list that is the direct value of a key inside ``{...}`` belongs to that object; through single-child
    list wrappers (``'Position': [[x1, y1, x2, y2]]``) only when the key names a box field.
    """
    p = d - 1
    if p < 1:
        return -1
    if LI[p, I_KIND] == LEVEL_OBJECT:
        return p if LI[p, I_KEYC] != KEY_CONTAINER else -1
    while p >= 1 and LI[p, I_KIND] == LEVEL_LIST and LI[p, I_N] == 0 and LI[p, I_NCHILD] == 1:
        p -= 1
    if p >= 1 and LI[p, I_KIND] == LEVEL_OBJECT and LI[p, I_KEYC] == KEY_BOX:
        return p
    return -1


@njit(**JIT_OPTIONS)
def _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI, ref_s, ref_e):
    """End the current run of bare numbers outside any bracket: four of them are a box."""
    n = LI[0, I_N]
    if LI[0, I_PURE] != 0 and n == 4:
        if LI[0, I_NONFIN] != 0:
            counts[2] += 1
        elif not closed:
            counts[3] += 1
        else:
            _stage_list(LI, LF, 0, TF, TI)
            _label_from_keys(LI, 0, TI, ref_s, ref_e)
            nb = _emit(boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI)
    elif LI[0, I_PURE] != 0 and n >= 3:
        counts[0] += 1
    LI[0, I_N] = 0
    LI[0, I_PURE] = 1
    LI[0, I_SLOW] = 0
    LI[0, I_NONFIN] = 0
    return nb


@njit(**JIT_OPTIONS)
def _set_conf(LI, LF, d, v, a, b, exact):
    """Record the confidence of the object at level ``d``; a non-finite one counts as none."""
    if np.isfinite(v):
        LF[d, F_OB_CONF] = v
        LI[d, I_OB_CONF_S] = a
        LI[d, I_OB_CONF_E] = b
        LI[d, I_OB_CONF_SLOW] = 0 if exact else 1
    else:
        LF[d, F_OB_CONF] = np.nan
        LI[d, I_OB_CONF_S] = -1
        LI[d, I_OB_CONF_E] = -1
        LI[d, I_OB_CONF_SLOW] = 0


@njit(**JIT_OPTIONS)
def _emit_pending(LI, LF, d, TF, TI, boxes, conf, lab_s, lab_e, spans, slow, nb, ref_s, ref_e):
    """Emit the box waiting in the object at level ``d`` now (with the confidence and label seen so far)."""
    _stage_object(LI, LF, d, TF, TI)
    _label_from_keys(LI, d - 1, TI, ref_s, ref_e)
    nb = _emit(boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI)
    LI[d, I_OB_HAS] = 0
    LI[d, I_OB_KLAB_S] = -1
    LI[d, I_OB_KLAB_E] = -1
    return nb


@njit(**JIT_OPTIONS)
def _set_key(LI, LF, d, ks, ke, keyc, TF, TI, boxes, conf, lab_s, lab_e, spans, slow, nb, ref_s, ref_e):
    """A key ``buf[ks:ke]`` of class ``keyc`` opens a value at level ``d``. A new category key in an object
    holding a box under the previous category ({"cat": [...], "dog": ...}) completes that box first."""
    if keyc == KEY_OTHER and LI[d, I_KIND] == LEVEL_OBJECT and LI[d, I_OB_HAS] != 0 and (
            LI[d, I_OB_KLAB_S] >= 0):
        nb = _emit_pending(LI, LF, d, TF, TI, boxes, conf, lab_s, lab_e, spans, slow, nb, ref_s, ref_e)
    LI[d, I_KEY_S] = ks
    LI[d, I_KEY_E] = ke
    LI[d, I_KEYC] = keyc
    return nb


@njit(**JIT_OPTIONS)
def _close_levels(d, top, pt_pending, LI, LF, TF, TI, PT, counts, boxes, conf, lab_s, lab_e, spans, slow, nb,
                  ref_s, ref_e):
    """Close the levels ``top`` down to ``d`` (a closer, or the end of a closed answer).

    Returns (nb, pt_pending)."""
    while top >= d:
        kind = LI[top, I_KIND]
        staged = False
        if kind == LEVEL_OBJECT:
            if LI[top, I_OB_HAS] != 0:
                _stage_object(LI, LF, top, TF, TI)
                staged = True
        elif LI[top, I_PURE] != 0 and LI[top, I_N] > 0:
            n = LI[top, I_N]
            if n == 4:
                if LI[top, I_NONFIN] != 0:
                    counts[2] += 1
                else:
                    _stage_list(LI, LF, top, TF, TI)
                    staged = True
            elif n == 2 and kind == LEVEL_PAREN:
                if pt_pending:
                    pt_pending = False
                    if LI[top, I_NONFIN] != 0 or PT[5] != 0:
                        counts[2] += 1
                    else:
                        _stage_list(LI, LF, top, TF, TI)
                        TF[2] = TF[0]
                        TF[3] = TF[1]
                        for t in range(4):
                            TI[4 + t] = TI[t]
                        TF[0] = PT[0]
                        TF[1] = PT[1]
                        for t in range(4):
                            TI[t] = np.int64(PT[6 + t])
                        if PT[4] != 0:
                            TI[T_SLOW] = 1
                        staged = True
                else:
                    pt_pending = True
                    PT[0] = LF[top, F_V]
                    PT[1] = LF[top, F_V + 1]
                    PT[4] = LI[top, I_SLOW]
                    PT[5] = LI[top, I_NONFIN]
                    for t in range(4):
                        PT[6 + t] = LI[top, I_SP + t]
            elif n == 2:
                counts[1] += 1
            else:
                counts[0] += 1
        if staged:
            owner = -1 if kind == LEVEL_OBJECT else _box_owner(LI, top)
            if owner >= 0 and LI[owner, I_OB_HAS] != 0 and (
                    LI[owner, I_KEYC] == KEY_OTHER or LI[owner, I_OB_KLAB_S] >= 0):
                # a dict keyed by category holding one box per key ({"cat": [...], "bbox": [...]}): the box
                # waiting in the object is complete, emit it and keep the new one
                for t in range(5):
                    TF[8 + t] = TF[t]
                for t in range(N_T):
                    TI[N_T + t] = TI[t]
                nb = _emit_pending(LI, LF, owner, TF, TI, boxes, conf, lab_s, lab_e, spans, slow, nb, ref_s,
                                   ref_e)
                for t in range(5):
                    TF[t] = TF[8 + t]
                for t in range(N_T):
                    TI[t] = TI[N_T + t]
            if owner >= 0:
                if LI[owner, I_OB_HAS] == 0:
                    LI[owner, I_OB_HAS] = 1
                    for t in range(4):
                        LF[owner, F_OB + t] = TF[t]
                    for t in range(8):
                        LI[owner, I_OB_SP + t] = TI[t]
                    LI[owner, I_OB_SLOW] = TI[T_SLOW]
                    if LI[owner, I_KEYC] == KEY_OTHER:
                        LI[owner, I_OB_KLAB_S] = LI[owner, I_KEY_S]
                        LI[owner, I_OB_KLAB_E] = LI[owner, I_KEY_E]
                # a second box under a box field of the same object is ignored: the object holds one
            else:
                _label_from_keys(LI, top - 1, TI, ref_s, ref_e)
                nb = _emit(boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI)
        top -= 1
    return nb, pt_pending


@njit(**JIT_OPTIONS)
def _scan_one(buf, s, e, closed, kw_bytes, kw_offsets, kw_class, kw_first, LI, LF, TF, TI, PT,
              boxes, conf, lab_s, lab_e, spans, slow, nb, counts):
    """Extract the boxes of the answer text ``buf[s:e]`` into the output arrays from row ``nb``.

    ``counts`` receives [wrong_arity, points, non_finite, truncated, too_deep]. Returns the row after the last
    box; past the arrays' capacity the boxes are counted but not written (the caller grows and rescans).
    """
    top = 0
    _reset_level(LI, LF, 0, 0)
    pt_pending = False  # a parenthesised point (x1,y1) waiting for its (x2,y2); PT holds it
    ref_s = -1
    ref_e = -1
    ref_open = -1
    i = s
    while i < e:
        c = buf[i]
        w = _space_len(buf, i, e)
        if w > 0:
            if c == 10 and top == 0 and LI[0, I_N] == 4:
                # bare boxes one per line ("1,2,3,4\n5,6,7,8"): a line break ends a run of four numbers
                nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb,
                                 TF, TI, ref_s, ref_e)
            i += w
            continue
        # ---- numbers
        if (48 <= c <= 57) or ((c == 45 or c == 43 or c == 46) and i + 1 < e and (
                48 <= buf[i + 1] <= 57 or (buf[i + 1] == 46 and i + 2 < e and 48 <= buf[i + 2] <= 57))):
            j, v, exact, found = _parse_number(buf, i, e)
            if not found:
                i += 1
                continue
            if LI[top, I_KIND] == LEVEL_OBJECT:
                if LI[top, I_KEYC] == KEY_CONF:
                    _set_conf(LI, LF, top, v, i, j, exact)
            else:
                _add_number(LI, LF, top, v, i, j, exact)
            i = j
            continue
        # ---- words: unquoted keys, nan / inf, prose
        is_sign = c == 45 or c == 43
        if (65 <= c <= 90) or (97 <= c <= 122) or c == 95 or (is_sign and i + 1 < e and (
                buf[i + 1] == 105 or buf[i + 1] == 73 or buf[i + 1] == 110 or buf[i + 1] == 78)):
            ws = i + 1 if is_sign else i
            j = _word_end(buf, ws, e)
            nf = _nonfinite_word(buf, ws, j)
            k2 = _skip_space(buf, j, e)
            if nf == 0 and k2 < e and buf[k2] == 58:
                if top == 0:
                    nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb,
                                     TF, TI, ref_s, ref_e)
                keyc = _key_class(buf, ws, j, kw_bytes, kw_offsets, kw_class, kw_first)
                nb = _set_key(LI, LF, top, ws, j, keyc, TF, TI, boxes, conf, lab_s, lab_e, spans, slow, nb,
                              ref_s, ref_e)
                i = k2 + 1
                continue
            if nf != 0:
                v = np.nan if nf == 2 else (-np.inf if c == 45 else np.inf)
                if LI[top, I_KIND] == LEVEL_OBJECT:
                    if LI[top, I_KEYC] == KEY_CONF:
                        _set_conf(LI, LF, top, v, i, j, True)
                else:
                    _add_number(LI, LF, top, v, i, j, True)
            else:
                if top == 0:
                    nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb,
                                     TF, TI, ref_s, ref_e)
                else:
                    LI[top, I_PURE] = 0
                pt_pending = False
            i = j
            continue
        # ---- strings
        if c == 39 or c == 34:
            j = _string_end(buf, i, e, c)
            cs = i + 1
            ce = j
            nxt = j + 1 if j < e else e
            k2 = _skip_space(buf, nxt, e)
            if top == 0:
                nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb,
                                 TF, TI, ref_s, ref_e)
            if k2 < e and buf[k2] == 58:
                keyc = _key_class(buf, cs, ce, kw_bytes, kw_offsets, kw_class, kw_first)
                nb = _set_key(LI, LF, top, cs, ce, keyc, TF, TI, boxes, conf, lab_s, lab_e, spans, slow, nb,
                              ref_s, ref_e)
                i = k2 + 1
                continue
            if LI[top, I_KIND] == LEVEL_OBJECT:
                if LI[top, I_KEYC] == KEY_LABEL:
                    LI[top, I_OB_LAB_S] = cs
                    LI[top, I_OB_LAB_E] = ce
                elif LI[top, I_KEYC] == KEY_CONF:
                    a = _skip_space(buf, cs, ce)
                    jj, v, exact, found = _parse_number(buf, a, ce)
                    if found and _skip_space(buf, jj, ce) == ce:
                        _set_conf(LI, LF, top, v, a, jj, exact)
            elif top > 0:
                LI[top, I_PURE] = 0
            pt_pending = False
            i = nxt
            continue
        # ---- LaTeX escapes (\{ \} \[ \]): drop the backslash
        if c == 92:
            i += 1
            continue
        # ---- special tokens <|...|>
        if c == 60 and i + 1 < e and buf[i + 1] == 124:
            j = i + 2
            lim = min(e, i + 64)
            while j + 1 < lim and not (buf[j] == 124 and buf[j + 1] == 62):
                j += 1
            if j + 1 < lim:
                n = j - (i + 2)
                # <|object_ref_start|> ... <|object_ref_end|> names the next box (Qwen2-VL grounding)
                if n == 16 and buf[i + 13] == 115:
                    ref_open = j + 2
                elif n == 14 and buf[i + 13] == 101 and ref_open >= 0:
                    ref_s = ref_open
                    ref_e = i
                    ref_open = -1
                i = j + 2
                continue
        # ---- openers
        if c == 91 or c == 123 or c == 40:
            if top == 0:
                nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb,
                                 TF, TI, ref_s, ref_e)
            elif LI[top, I_KIND] != LEVEL_OBJECT:
                LI[top, I_PURE] = 0
            LI[top, I_NCHILD] += 1
            if top == MAX_DEPTH:
                counts[4] = 1
                break
            top += 1
            _reset_level(LI, LF, top, LEVEL_LIST if c == 91 else (LEVEL_OBJECT if c == 123 else LEVEL_PAREN))
            if c != 40:
                pt_pending = False
            i += 1
            continue
        # ---- closers: close down to the matching opener; a stray closer is ignored
        if c == 93 or c == 125 or c == 41:
            want = LEVEL_LIST if c == 93 else (LEVEL_OBJECT if c == 125 else LEVEL_PAREN)
            d = top
            while d > 0 and LI[d, I_KIND] != want:
                d -= 1
            if d > 0:
                nb, pt_pending = _close_levels(d, top, pt_pending, LI, LF, TF, TI, PT, counts, boxes, conf,
                                               lab_s, lab_e, spans, slow, nb, ref_s, ref_e)
                top = d - 1
            i += 1
            continue
        # ---- separators and anything else
        if c == 44 or c == 58:
            i += 1
            continue
        if top == 0:
            nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb,
                             TF, TI, ref_s, ref_e)
        else:
            LI[top, I_PURE] = 0
        if c != 46:
            pt_pending = False
        i += 1

    # ---- end of the answer text
    if counts[4] == 0 and top > 0:
        if closed:
            # </answer> came with brackets still open: the model forgot them, read as if they were closed
            nb, pt_pending = _close_levels(1, top, pt_pending, LI, LF, TF, TI, PT, counts, boxes, conf,
                                           lab_s, lab_e, spans, slow, nb, ref_s, ref_e)
        else:
            # the generation was cut: the item being written (the innermost open level, or an object holding a
            # box waiting for its closing brace) is lost and counted once
            kind = LI[top, I_KIND]
            cut = kind == LEVEL_OBJECT
            if LI[top, I_PURE] != 0 and (LI[top, I_N] > 0 or LI[top, I_NCHILD] == 0):
                cut = True  # a box or point being written, or an item just opened
                if kind == LEVEL_PAREN:
                    pt_pending = False  # its first point belongs to the box that was cut
            for d in range(1, top):
                if LI[d, I_KIND] == LEVEL_OBJECT and LI[d, I_OB_HAS] != 0:
                    cut = True
            if cut:
                counts[3] += 1
        top = 0
    nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI, ref_s, ref_e)
    if pt_pending:
        counts[1] += 1
    return nb


# Sizes of the scratch arrays of scan_into (LI, LF, TF, TI, PT, counts).
SCRATCH_SHAPES = ((MAX_DEPTH + 1, N_I), (MAX_DEPTH + 1, N_F), (16,), (2 * N_T,), (10,), (5,))


@njit(**JIT_OPTIONS)
def _shapes_ok(nrows, cap, ends, fmt, a_s, a_e, a_closed, status, row_counts, offsets, boxes, conf, lab_s,
               lab_e, spans, slow, LI, LF, TF, TI, PT, counts):
    """The arrays are large enough for ``nrows`` rows and ``cap`` boxes (no kernel checks bounds)."""
    for n in (ends.shape[0], fmt.shape[0], a_s.shape[0], a_e.shape[0], a_closed.shape[0], status.shape[0],
              row_counts.shape[0]):
        if n < nrows:
            return False
    if offsets.shape[0] < nrows + 1 or row_counts.shape[1] < 5 or boxes.shape[1] < 4:
        return False
    for n in (conf.shape[0], lab_s.shape[0], lab_e.shape[0], spans.shape[0], slow.shape[0]):
        if n < cap:
            return False
    if spans.shape[1] < 5 or spans.shape[2] < 2:
        return False
    if LI.shape[0] < MAX_DEPTH + 1 or LI.shape[1] < N_I or LF.shape[0] < MAX_DEPTH + 1 or LF.shape[1] < N_F:
        return False
    return TF.shape[0] >= 16 and TI.shape[0] >= 2 * N_T and PT.shape[0] >= 10 and counts.shape[0] >= 5


@njit(**JIT_OPTIONS)
def scan_into(buf, starts, ends, require_tag, kw_bytes, kw_offsets, kw_class, kw_first, think_open, think_close,
              answer_open, answer_close, row0, fmt, a_s, a_e, a_closed, status, row_counts, offsets,
              boxes, conf, lab_s, lab_e, spans, slow, LI, LF, TF, TI, PT, counts):
    """Scan the completions ``buf[starts[r]:ends[r]]`` for rows ``r >= row0`` into caller-owned arrays.

    Per row: ``fmt`` (format_ok), ``a_s``/``a_e`` answer span (-1 for none), ``a_closed``, ``status`` (reason
    code), ``row_counts`` (B, 5) dropped counts, ``offsets`` (B+1,) box offsets (``offsets[row0]`` must hold
    the number of boxes of the rows before ``row0``). Per box (capacity ``boxes.shape[0]``): ``boxes``
    (N, 4), ``conf`` (NaN for none), ``lab_s``/``lab_e`` label span (-1 for none), ``spans`` (N, 5, 2) byte
    spans of the 4 coordinates and the confidence, ``slow`` (True where a number needs Python's exact
    ``float``). Scratch: ``LI``, ``TI``, ``counts`` int64, ``LF``, ``TF``, ``PT`` float64, of the sizes in
    :data:`SCRATCH_SHAPES`.

    Returns the number of rows done: ``len(starts)``, or the first row whose boxes did not fit, in which
    case ``offsets[r]`` holds the boxes before it and ``offsets[r + 1]`` the capacity needed to fit it; -1
    when an array is too small (nothing is written then).
    """
    nrows = starts.shape[0]
    cap = boxes.shape[0]
    if not _shapes_ok(nrows, cap, ends, fmt, a_s, a_e, a_closed, status, row_counts, offsets, boxes, conf,
                      lab_s, lab_e, spans, slow, LI, LF, TF, TI, PT, counts) or not 0 <= row0 <= nrows:
        return -1
    nb = offsets[row0]
    for r in range(row0, nrows):
        s = starts[r]
        e = ends[r]
        if s < 0 or s > e or e > buf.shape[0]:
            return -1
        offsets[r] = nb
        a_s[r] = -1
        a_e[r] = -1
        a_closed[r] = False
        for t in range(5):
            row_counts[r, t] = 0
        fmt[r] = format_ok(buf, s, e, think_open, think_close, answer_open, answer_close)
        rs, re_, closed, found = _answer_region(buf, s, e, require_tag, think_open, think_close, answer_open,
                                                answer_close)
        offsets[r + 1] = nb
        if not found:
            status[r] = NO_ANSWER_TAG
            continue
        a_s[r] = rs
        a_e[r] = re_
        a_closed[r] = closed
        if _skip_space(buf, rs, re_) == re_:
            status[r] = EMPTY_ANSWER
            continue
        for t in range(5):
            counts[t] = 0
        end_nb = _scan_one(buf, rs, re_, closed, kw_bytes, kw_offsets, kw_class, kw_first, LI, LF, TF, TI, PT,
                           boxes, conf, lab_s, lab_e, spans, slow, nb, counts)
        offsets[r + 1] = end_nb
        if end_nb > cap:
            return r
        for t in range(5):
            row_counts[r, t] = counts[t]
        found_boxes = end_nb - nb
        nb = end_nb
        if found_boxes > 0:
            status[r] = OK
        elif counts[4] > 0:
            status[r] = TOO_DEEP
        elif counts[2] > 0:
            status[r] = NON_FINITE
        elif counts[3] > 0:
            status[r] = TRUNCATED
        elif counts[1] > 0:
            status[r] = POINTS_NOT_BOXES
        elif counts[0] > 0:
            status[r] = WRONG_ARITY
        else:
            said = _says_no_objects(buf, rs, re_)
            if said == 1 or (said == 2 and _has_bracket(buf, rs, re_)):
                status[r] = NO_OBJECTS
            else:
                status[r] = UNPARSEABLE
    return nrows
