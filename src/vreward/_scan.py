"""One-pass byte scanner: finds the format, the answer block and the boxes of every completion of a batch.

All completions of a batch are UTF-8 encoded into one ``uint8`` buffer; :func:`scan_batch` walks it once, with
no Python objects inside the loop. The grammar it reads is documented in ``docs/parsing.md``; in short it is a
tolerant JSON / Python-literal reader that only keeps what it can turn into boxes:

* number lists of length 4 (``[x1, y1, x2, y2]``, at any nesting depth) are boxes;
* ``(x1,y1),(x2,y2)`` (two parenthesised points next to each other) is a box;
* a box that is the value of a key inside ``{...}`` takes that object's confidence and label fields;
* a box inside a list that is the value of an unknown key (``{"cat": [[...], ...]}``) takes the key as label;
* bare ``x1,y1,x2,y2`` outside any bracket is a box.

Numbers are converted exactly (Clinger's fast path: at most 2**53 mantissa and a power of ten up to 22); any
other number is flagged ``slow`` and re-parsed by Python's ``float`` from its byte span, so the result always
equals ``float(text)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
_TWO53 = 2**53


@njit(cache=True, inline="always")
def _is_space(c):
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


@njit(cache=True)
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


@njit(cache=True)
def _starts_with(buf, i, end, pat):
    n = pat.shape[0]
    if i + n > end:
        return False
    for k in range(n):
        if buf[i + k] != pat[k]:
            return False
    return True


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _lower(c):
    if 65 <= c <= 90:
        return c + 32
    return c


@njit(cache=True)
def _key_class(buf, ks, ke, kw_bytes, kw_offsets, kw_class):
    """Class of the key ``buf[ks:ke]``: compared ASCII-case-insensitively with '_', '-' and spaces dropped."""
    for k in range(kw_offsets.shape[0] - 1):
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


@njit(cache=True)
def _parse_number(buf, i, end):
    """Parse a number at ``i``. Returns (next_index, value, exact, found)."""
    j = i
    neg = False
    if j < end and (buf[j] == 45 or buf[j] == 43):
        neg = buf[j] == 45
        j += 1
    mant = 0
    ndig = 0
    exact = True
    exp10 = 0
    seen = False
    while j < end and 48 <= buf[j] <= 57:
        seen = True
        if mant == 0 and buf[j] == 48:
            j += 1
            continue
        if ndig < 19:
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
            elif ndig < 19:
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
    if j < end and (buf[j] == 101 or buf[j] == 69):
        k = j + 1
        eneg = False
        if k < end and (buf[k] == 45 or buf[k] == 43):
            eneg = buf[k] == 45
            k += 1
        if k < end and 48 <= buf[k] <= 57:
            ev = 0
            while k < end and 48 <= buf[k] <= 57:
                if ev < 100000:
                    ev = ev * 10 + (buf[k] - 48)
                k += 1
            exp10 += -ev if eneg else ev
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
        if exp10 > 400:
            value = np.inf
        elif exp10 < -400:
            value = 0.0
        else:
            value = float(mant) * 10.0**exp10
    if neg:
        value = -value
    return j, value, exact, True


@njit(cache=True)
def _word_end(buf, i, end):
    j = i
    while j < end:
        c = buf[j]
        if (65 <= c <= 90) or (97 <= c <= 122) or (48 <= c <= 57) or c == 95:
            j += 1
        else:
            break
    return j


@njit(cache=True)
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
        pat = "infinity"
        for k in range(8):
            if _lower(buf[i + k]) != ord(pat[k]):
                return 0
        return 1
    return 0


@njit(cache=True)
def _skip_space(buf, i, end):
    while i < end:
        w = _space_len(buf, i, end)
        if w == 0:
            break
        i += w
    return i


@njit(cache=True)
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


@njit(cache=True)
def _says_no_objects(buf, s, e):
    """1 when the text says there is nothing to detect ('no object(s)' in any case, or just 'none'),
    2 when it holds no letter, digit or dot at all (``[]``, ``{}``), else 0."""
    pat = "noobject"
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
            while k < 8 and j < e and _lower(buf[j]) == ord(pat[k]):
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


@njit(cache=True)
def _has_bracket(buf, s, e):
    for i in range(s, e):
        c = buf[i]
        if c == 91 or c == 123:
            return True
    return False


@njit(cache=True)
def _answer_region(buf, s, e, require_tag, think_close, answer_open, answer_close):
    """Select the answer text of one completion.

    Answer blocks are searched after the first ``</think>`` (the whole text when there is none). The last
    complete ``<answer>...</answer>`` block counts; when none is complete, the text after the last
    ``<answer>`` (a truncated generation). Without any ``<answer>`` tag and ``require_tag`` False, the text
    after ``</think>`` counts. Returns (start, end, closed, found).
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _scan_one(buf, s, e, closed, kw_bytes, kw_offsets, kw_class, LI, LF, TF, TI, PT,
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
                    LF[top, F_OB_CONF] = v
                    LI[top, I_OB_CONF_S] = i
                    LI[top, I_OB_CONF_E] = j
                    LI[top, I_OB_CONF_SLOW] = 0 if exact else 1
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
                LI[top, I_KEY_S] = ws
                LI[top, I_KEY_E] = j
                LI[top, I_KEYC] = _key_class(buf, ws, j, kw_bytes, kw_offsets, kw_class)
                i = k2 + 1
                continue
            if nf != 0:
                v = np.nan if nf == 2 else (-np.inf if c == 45 else np.inf)
                if LI[top, I_KIND] == LEVEL_OBJECT:
                    if LI[top, I_KEYC] == KEY_CONF:
                        LF[top, F_OB_CONF] = np.nan
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
                LI[top, I_KEY_S] = cs
                LI[top, I_KEY_E] = ce
                LI[top, I_KEYC] = _key_class(buf, cs, ce, kw_bytes, kw_offsets, kw_class)
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
                        LF[top, F_OB_CONF] = v
                        LI[top, I_OB_CONF_S] = a
                        LI[top, I_OB_CONF_E] = jj
                        LI[top, I_OB_CONF_SLOW] = 0 if exact else 1
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
                            # a second box in the same object is ignored: the object holds one
                        else:
                            _label_from_keys(LI, top - 1, TI, ref_s, ref_e)
                            nb = _emit(boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI)
                    top -= 1
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

    # ---- end of the answer text: what is still open was cut off (or, with </answer>, left unclosed)
    while top > 0:
        if LI[top, I_KIND] == LEVEL_OBJECT and LI[top, I_OB_HAS] != 0:
            if closed:
                _stage_object(LI, LF, top, TF, TI)
                _label_from_keys(LI, top - 1, TI, ref_s, ref_e)
                nb = _emit(boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI)
            else:
                counts[3] += 1
        elif LI[top, I_KIND] != LEVEL_OBJECT and LI[top, I_PURE] != 0 and LI[top, I_N] == 4:
            counts[3] += 1
        top -= 1
    nb = _flush_run0(LI, LF, counts, closed, boxes, conf, lab_s, lab_e, spans, slow, nb, TF, TI, ref_s, ref_e)
    if pt_pending:
        counts[1] += 1
    return nb


@njit(cache=True)
def scan_batch(buf, starts, ends, require_tag, kw_bytes, kw_offsets, kw_class,
               think_open, think_close, answer_open, answer_close):
    """Scan every completion ``buf[starts[r]:ends[r]]`` of a batch.

    Returns per-row arrays (format_ok, answer_start, answer_end, answer_closed, status, counts (B, 5),
    box_offsets (B+1,)) and per-box arrays (boxes (N, 4), conf (N,) with NaN for none, label_start,
    label_end (N,) with -1 for none, spans (N, 5, 2) byte spans of the 4 coordinates and the confidence,
    slow (N,) True where a number needs Python's exact ``float``).
    """
    nrows = starts.shape[0]
    fmt = np.zeros(nrows, np.bool_)
    a_s = np.full(nrows, -1, np.int64)
    a_e = np.full(nrows, -1, np.int64)
    a_closed = np.zeros(nrows, np.bool_)
    status = np.zeros(nrows, np.int8)
    row_counts = np.zeros((nrows, 5), np.int64)
    offsets = np.zeros(nrows + 1, np.int64)
    cap = max(16, 4 * nrows)
    boxes = np.empty((cap, 4), np.float64)
    conf = np.empty(cap, np.float64)
    lab_s = np.empty(cap, np.int64)
    lab_e = np.empty(cap, np.int64)
    spans = np.empty((cap, 5, 2), np.int64)
    slow = np.empty(cap, np.bool_)
    LI = np.empty((MAX_DEPTH + 1, N_I), np.int64)
    LF = np.empty((MAX_DEPTH + 1, N_F), np.float64)
    TF = np.empty(5, np.float64)
    TI = np.empty(N_T, np.int64)
    PT = np.zeros(10, np.float64)
    counts = np.zeros(5, np.int64)
    nb = 0
    for r in range(nrows):
        s = starts[r]
        e = ends[r]
        fmt[r] = format_ok(buf, s, e, think_open, think_close, answer_open, answer_close)
        rs, re_, closed, found = _answer_region(buf, s, e, require_tag, think_close, answer_open, answer_close)
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
        while True:
            counts[:] = 0
            end_nb = _scan_one(buf, rs, re_, closed, kw_bytes, kw_offsets, kw_class, LI, LF, TF, TI, PT,
                               boxes, conf, lab_s, lab_e, spans, slow, nb, counts)
            if end_nb <= cap:
                break
            new_cap = max(2 * cap, end_nb + 16)
            boxes2 = np.empty((new_cap, 4), np.float64)
            boxes2[:nb] = boxes[:nb]
            boxes = boxes2
            conf2 = np.empty(new_cap, np.float64)
            conf2[:nb] = conf[:nb]
            conf = conf2
            ls2 = np.empty(new_cap, np.int64)
            ls2[:nb] = lab_s[:nb]
            lab_s = ls2
            le2 = np.empty(new_cap, np.int64)
            le2[:nb] = lab_e[:nb]
            lab_e = le2
            sp2 = np.empty((new_cap, 5, 2), np.int64)
            sp2[:nb] = spans[:nb]
            spans = sp2
            sl2 = np.empty(new_cap, np.bool_)
            sl2[:nb] = slow[:nb]
            slow = sl2
            cap = new_cap
        for t in range(5):
            row_counts[r, t] = counts[t]
        found_boxes = end_nb - nb
        nb = end_nb
        offsets[r + 1] = nb
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
    return (fmt, a_s, a_e, a_closed, status, row_counts, offsets,
            boxes[:nb].copy(), conf[:nb].copy(), lab_s[:nb].copy(), lab_e[:nb].copy(),
            spans[:nb].copy(), slow[:nb].copy())
