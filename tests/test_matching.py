"""Tests for vreward.matching against plain-Python references (greedy loop, brute force)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_geometry import ref_giou, ref_iou
from vreward.matching import (
    MatchResult,
    dedup_keep,
    match_batch,
    paired_best,
    paired_best_giou,
    paired_best_iou,
)

SETTINGS = settings(max_examples=200, deadline=None)


# ---------------------------------------------------------------------------------------------
# references (IoU / GIoU duplicated from test_geometry so this module stands alone)
# ---------------------------------------------------------------------------------------------


def pair_iou(p, g, pl, gl, use_labels):
    if use_labels and pl != -1 and gl != -1 and pl != gl:
        return 0.0
    return ref_iou(g, p)


def ref_greedy_one(preds, scores, gts, thr, plabels, glabels, use_labels, active):
    """The Visual-RFT loop; returns list of (local gt index or -1, iou) per prediction."""
    out = [(-1, 0.0)] * len(preds)
    key = [(-math.inf if math.isnan(s) else s) for s in scores]
    order = sorted((i for i in range(len(preds)) if active[i]), key=lambda i: key[i], reverse=True)
    matched: set[int] = set()
    for i in order:
        best, j_best = 0.0, -1
        for j, g in enumerate(gts):
            if j not in matched:
                iou = pair_iou(preds[i], g, plabels[i], glabels[j], use_labels)
                if iou > best:
                    best, j_best = iou, j
        if j_best >= 0 and best > thr:
            out[i] = (j_best, best)
            matched.add(j_best)
    return out


def ref_optimal_total(preds, gts, thr, plabels, glabels, use_labels, active):
    """Brute-force max total IoU of a one-to-one matching using only pairs with IoU > thr, > 0."""
    rows = [i for i in range(len(preds)) if active[i]]
    w = [
        [
            (v if (v > 0 and v > thr) else 0.0)
            for v in (pair_iou(preds[i], g, plabels[i], glabels[j], use_labels) for j, g in enumerate(gts))
        ]
        for i in rows
    ]
    best = 0.0
    n, m = len(rows), len(gts)
    if n == 0 or m == 0:
        return 0.0
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            best = max(best, sum(w[i][c] for i, c in enumerate(cols)))
    else:
        for rs in itertools.permutations(range(n), m):
            best = max(best, sum(w[r][c] for c, r in enumerate(rs)))
    return best


# ---------------------------------------------------------------------------------------------
# batch strategy
# ---------------------------------------------------------------------------------------------

gcoord = st.integers(0, 8).map(float)
odd = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 0.5])
coord = st.one_of(gcoord, gcoord, gcoord, gcoord, gcoord, gcoord, odd)
box = st.tuples(coord, coord, coord, coord)


@st.composite
def good_box(draw):
    x1 = draw(st.integers(0, 8))
    y1 = draw(st.integers(0, 8))
    return (float(x1), float(y1), float(x1 + draw(st.integers(1, 5))), float(y1 + draw(st.integers(1, 5))))


any_box = st.one_of(good_box(), good_box(), good_box(), box)
score = st.one_of(
    st.sampled_from([0.5, 1.0]),  # frequent ties
    st.sampled_from([0.0, 0.25, math.nan, -math.inf]),
    st.floats(0, 1),
)
label = st.sampled_from([-1, 0, 1, 2])


@st.composite
def batches(draw, max_preds: int = 8, max_gts: int = 5, allow_big: bool = False):
    n_comp = draw(st.integers(0, 5))
    comps = []
    for _ in range(n_comp):
        hi = max_preds
        if allow_big and draw(st.integers(0, 3)) == 0:
            hi = 40  # exercises the merge-sort path (> 16 candidates)
        npred = draw(st.integers(0, hi))
        ngt = draw(st.integers(0, max_gts))
        gts = [draw(any_box) for _ in range(ngt)]
        preds = []
        for k in range(npred):
            kind = draw(st.integers(0, 5))
            if kind == 0 and k > 0:  # exact duplicate of an earlier prediction
                preds.append(preds[draw(st.integers(0, k - 1))])
            elif kind in (1, 2) and gts:  # near-copy of a GT, so that matches are common
                g = list(gts[draw(st.integers(0, len(gts) - 1))])
                g[draw(st.integers(0, 3))] += draw(st.sampled_from([0.0, 0.5, 1.0, -1.0]))
                preds.append(tuple(g))
            else:
                preds.append(draw(any_box))
        comps.append(
            dict(
                preds=preds,
                scores=[draw(score) for _ in range(npred)],
                plabels=[draw(label) for _ in range(npred)],
                active=[draw(st.integers(0, 5)) > 0 for _ in range(npred)],
                gts=gts,
                glabels=[draw(label) for _ in range(ngt)],
            )
        )
    thr = draw(st.sampled_from([0.5, 0.0, 0.3, 1 / 7, 0.75, 1.0, -0.5]))
    use_labels = draw(st.booleans())
    return comps, thr, use_labels


def flatten(comps):
    po = np.zeros(len(comps) + 1, dtype=np.int64)
    go = np.zeros(len(comps) + 1, dtype=np.int64)
    for i, c in enumerate(comps):
        po[i + 1] = po[i] + len(c["preds"])
        go[i + 1] = go[i] + len(c["gts"])
    pb = np.array([p for c in comps for p in c["preds"]], dtype=np.float64).reshape(-1, 4)
    gb = np.array([g for c in comps for g in c["gts"]], dtype=np.float64).reshape(-1, 4)
    scores = np.array([s for c in comps for s in c["scores"]], dtype=np.float64)
    pl = np.array([v for c in comps for v in c["plabels"]], dtype=np.int64)
    gl = np.array([v for c in comps for v in c["glabels"]], dtype=np.int64)
    act = np.array([v for c in comps for v in c["active"]], dtype=bool)
    return pb, scores, po, gb, go, pl, gl, act


def run(comps, thr, use_labels, method):
    pb, scores, po, gb, go, pl, gl, act = flatten(comps)
    kw = dict(pred_labels=pl, gt_labels=gl) if use_labels else {}
    return match_batch(pb, scores, po, gb, go, threshold=thr, method=method, active=act, **kw), po, go


def check_structure(res, comps, po, go, thr, use_labels):
    """One-to-one within the completion, IoU > thr and > 0 and equal to the pair IoU, labels ok."""
    assert res.gt_index.dtype == np.int64 and res.iou.dtype == np.float64
    for i, c in enumerate(comps):
        gi = res.gt_index[po[i] : po[i + 1]]
        iou = res.iou[po[i] : po[i + 1]]
        matched = gi[gi >= 0]
        assert len(set(matched.tolist())) == len(matched)
        assert np.all((matched >= go[i]) & (matched < go[i + 1]))
        for k, g in enumerate(gi.tolist()):
            if g < 0:
                assert iou[k] == 0.0
                continue
            assert c["active"][k]
            j = g - go[i]
            assert iou[k] == ref_iou(c["gts"][j], c["preds"][k])
            assert iou[k] > thr and iou[k] > 0
            if use_labels:
                pl, gl = c["plabels"][k], c["glabels"][j]
                assert pl == -1 or gl == -1 or pl == gl


# ---------------------------------------------------------------------------------------------
# greedy
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(batches(allow_big=True))
def test_greedy_matches_reference_loop(batch):
    comps, thr, use_labels = batch
    res, po, go = run(comps, thr, use_labels, "greedy")
    assert isinstance(res, MatchResult)
    for i, c in enumerate(comps):
        want = ref_greedy_one(
            c["preds"], c["scores"], c["gts"], thr, c["plabels"], c["glabels"], use_labels, c["active"]
        )
        want_gt = [go[i] + j if j >= 0 else -1 for j, _ in want]
        assert res.gt_index[po[i] : po[i + 1]].tolist() == want_gt
        assert res.iou[po[i] : po[i + 1]].tolist() == [v for _, v in want]
    check_structure(res, comps, po, go, thr, use_labels)


def test_greedy_visits_by_descending_score_stable_on_ties():
    gt = [[0, 0, 10, 10]]
    preds = np.array([[0, 0, 10, 9], [0, 0, 10, 9], [0, 0, 10, 8]], dtype=np.float64)
    po, go = [0, 3], [0, 1]
    # highest score (last row, lower IoU) is visited first and takes the only GT
    r = match_batch(preds, [0.2, 0.2, 0.9], po, gt, go)
    assert r.gt_index.tolist() == [-1, -1, 0] and r.iou[2] == 0.8
    # equal scores: the first in original order wins
    r = match_batch(preds, [0.5, 0.5, 0.5], po, gt, go)
    assert r.gt_index.tolist() == [0, -1, -1] and r.iou[0] == 0.9
    # NaN scores sort last (as -inf), stably with -inf
    r = match_batch(preds, [math.nan, -math.inf, -1e300], po, gt, go)
    assert r.gt_index.tolist() == [-1, -1, 0]
    r = match_batch(preds, [math.nan, -math.inf, math.nan], po, gt, go)
    assert r.gt_index.tolist() == [0, -1, -1]


def test_greedy_tied_scores_keep_original_order_with_several_gts():
    gts = np.array([[0, 0, 10, 10], [0, 0, 10, 8]], dtype=np.float64)
    preds = np.array([[0, 0, 10, 9], [0, 0, 10, 9], [0, 0, 10, 9]], dtype=np.float64)
    # all tied: row 0 visits first and takes the best GT (IoU 0.9 vs 8/9), row 1 the other one
    r = match_batch(preds, [0.5, 0.5, 0.5], [0, 3], gts, [0, 2])
    assert r.gt_index.tolist() == [0, 1, -1]
    r = match_batch(preds, [0.1, 0.5, 0.5], [0, 3], gts, [0, 2])
    assert r.gt_index.tolist() == [-1, 0, 1]
    # same with > 16 candidates (merge-sort path)
    many = np.repeat(preds[:1], 20, axis=0)
    scores = np.full(20, 0.5)
    scores[[3, 7]] = 0.25
    r = match_batch(many, scores, [0, 20], gts, [0, 2])
    assert r.gt_index[:2].tolist() == [0, 1] and np.all(r.gt_index[2:] == -1)


def test_greedy_takes_best_free_gt_first_on_ties():
    gts = np.array([[0, 0, 4, 4], [0, 0, 4, 4], [0, 0, 2, 2]], dtype=np.float64)
    preds = np.array([[0, 0, 4, 4], [0, 0, 4, 4], [0, 0, 4, 4]], dtype=np.float64)
    r = match_batch(preds, [3.0, 2.0, 1.0], [0, 3], gts, [0, 3], threshold=0.2)
    assert r.gt_index.tolist() == [0, 1, 2]
    assert r.iou.tolist() == [1.0, 1.0, 0.25]


def test_threshold_is_strict():
    gt = np.array([[0, 0, 2, 1]], dtype=np.float64)
    pred = np.array([[0, 0, 1, 1]], dtype=np.float64)  # IoU exactly 0.5
    for method in ("greedy", "hungarian"):
        assert match_batch(pred, [1.0], [0, 1], gt, [0, 1], threshold=0.5, method=method).gt_index[0] == -1
        r = match_batch(pred, [1.0], [0, 1], gt, [0, 1], threshold=0.4999, method=method)
        assert r.gt_index[0] == 0 and r.iou[0] == 0.5
        # an IoU of 0 never matches, even with a negative threshold
        far = np.array([[5, 5, 6, 6]], dtype=np.float64)
        assert match_batch(far, [1.0], [0, 1], gt, [0, 1], threshold=-1.0, method=method).gt_index[0] == -1


# ---------------------------------------------------------------------------------------------
# hungarian
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(batches(max_preds=5, max_gts=4))
def test_hungarian_is_optimal_and_beats_greedy(batch):
    comps, thr, use_labels = batch
    hung, po, go = run(comps, thr, use_labels, "hungarian")
    greedy, _, _ = run(comps, thr, use_labels, "greedy")
    check_structure(hung, comps, po, go, thr, use_labels)
    for i, c in enumerate(comps):
        total_h = float(hung.iou[po[i] : po[i + 1]].sum())
        total_g = float(greedy.iou[po[i] : po[i + 1]].sum())
        best = ref_optimal_total(
            c["preds"], c["gts"], thr, c["plabels"], c["glabels"], use_labels, c["active"]
        )
        assert total_h == pytest.approx(best, abs=1e-9)
        assert total_h >= total_g - 1e-9


def test_hungarian_beats_greedy_on_conflict():
    # 1-D overlaps (height 1): greedy gives p0->g0 (0.905) + p1->g1 (0.583) = 1.488,
    # the optimum is p0->g1 (0.739) + p1->g0 (0.9) = 1.639.
    gts = np.array([[0, 0, 10, 1], [2, 0, 12, 1]], dtype=np.float64)
    preds = np.array([[0.5, 0, 10.5, 1], [0, 0, 9, 1]], dtype=np.float64)
    g = match_batch(preds, [0.9, 0.1], [0, 2], gts, [0, 2], threshold=0.5)
    h = match_batch(preds, [0.9, 0.1], [0, 2], gts, [0, 2], threshold=0.5, method="hungarian")
    assert g.gt_index.tolist() == [0, 1]
    assert h.gt_index.tolist() == [1, 0]
    assert h.iou.sum() > g.iou.sum() + 0.1
    np.testing.assert_allclose(h.iou, [8.5 / 11.5, 0.9])


def test_hungarian_uses_solver_for_many_conflicting_completions():
    rng = np.random.default_rng(1)
    comps = []
    for _ in range(30):
        gts = [tuple(map(float, (x, 0, x + 10, 1))) for x in rng.integers(0, 6, 3)]
        preds = [tuple(map(float, (x, 0, x + 10, 1))) for x in rng.integers(0, 6, 4)]
        comps.append(
            dict(preds=preds, scores=list(rng.random(4)), plabels=[-1] * 4, active=[True] * 4,
                 gts=gts, glabels=[-1] * 3)
        )  # fmt: skip
    res, po, go = run(comps, 0.3, False, "hungarian")
    check_structure(res, comps, po, go, 0.3, False)
    for i, c in enumerate(comps):
        best = ref_optimal_total(c["preds"], c["gts"], 0.3, [-1] * 4, [-1] * 3, False, [True] * 4)
        assert res.iou[po[i] : po[i + 1]].sum() == pytest.approx(best, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# labels, active, edge cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_label_aware_matching(method):
    gts = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=np.float64)
    preds = gts.copy()
    kw = dict(method=method)
    r = match_batch(preds, [1, 1], [0, 2], gts, [0, 2], pred_labels=[1, 2], gt_labels=[2, 2], **kw)
    assert r.gt_index.tolist() == [-1, 1]
    r = match_batch(preds, [1, 1], [0, 2], gts, [0, 2], pred_labels=[-1, 3], gt_labels=[2, -1], **kw)
    assert r.gt_index.tolist() == [0, 1]  # -1 matches anything
    r = match_batch(preds, [1, 1], [0, 2], gts, [0, 2], **kw)
    assert r.gt_index.tolist() == [0, 1]


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_inactive_predictions_never_match(method):
    gts = np.array([[0, 0, 10, 10]], dtype=np.float64)
    preds = np.array([[0, 0, 10, 10], [0, 0, 10, 9]], dtype=np.float64)
    r = match_batch(preds, [1.0, 0.5], [0, 2], gts, [0, 1], method=method, active=np.array([False, True]))
    assert r.gt_index.tolist() == [-1, 0] and r.iou.tolist() == [0.0, 0.9]


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_empty_batches_and_groups(method):
    r = match_batch(np.zeros((0, 4)), [], [0], np.zeros((0, 4)), [0], method=method)
    assert r.gt_index.shape == (0,) and r.iou.shape == (0,)
    # completion 0: preds but no GT; 1: GT but no preds; 2: both; 3: nothing
    preds = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 6, 6]], dtype=np.float64)
    gts = np.array([[0, 0, 1, 1], [5, 5, 6, 6]], dtype=np.float64)
    r = match_batch(preds, [1, 1, 1], [0, 2, 2, 3, 3], gts, [0, 0, 1, 2, 2], method=method)
    assert r.gt_index.tolist() == [-1, -1, 1] and r.iou.tolist() == [0.0, 0.0, 1.0]
    # no GT at all in the batch
    r = match_batch(preds, [1, 1, 1], [0, 3], np.zeros((0, 4)), [0, 0], method=method)
    assert r.gt_index.tolist() == [-1, -1, -1]


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_non_finite_boxes_never_match(method):
    gts = np.array([[0, 0, 1e308, 1e308], [0, 0, np.nan, 1], [0, 0, 1, 1]], dtype=np.float64)
    preds = np.array([[0, 0, 1e308, 1e308], [0, 0, np.inf, 1], [0, 0, np.nan, 1], [0, 0, 1, 1]])
    r = match_batch(preds, [4, 3, 2, 1], [0, 4], gts, [0, 3], threshold=0.0, method=method)
    assert r.gt_index.tolist() == [-1, -1, -1, 2]


def test_large_groups_use_merge_sort_and_match_reference():
    rng = np.random.default_rng(7)
    n, m = 300, 40
    preds = np.floor(rng.uniform(0, 20, (n, 2)))
    preds = np.hstack([preds, preds + rng.integers(1, 6, (n, 2))])
    gts = np.floor(rng.uniform(0, 20, (m, 2)))
    gts = np.hstack([gts, gts + rng.integers(1, 6, (m, 2))])
    scores = rng.integers(0, 10, n).astype(np.float64)  # many ties
    r = match_batch(preds, scores, [0, n], gts, [0, m], threshold=0.3)
    want = ref_greedy_one(
        preds.tolist(), scores.tolist(), gts.tolist(), 0.3, [-1] * n, [-1] * m, False, [True] * n
    )
    assert r.gt_index.tolist() == [j for j, _ in want]
    assert r.iou.tolist() == [v for _, v in want]


def test_match_result_is_frozen():
    r = match_batch([[0, 0, 1, 1]], [1.0], [0, 1], [[0, 0, 1, 1]], [0, 1])
    assert r.matched.tolist() == [True]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.iou = np.zeros(1)  # type: ignore[misc]


def test_match_batch_validation():
    b = np.zeros((2, 4))
    ok = dict(pred_boxes=b, pred_scores=[1, 1], pred_offsets=[0, 2], gt_boxes=b, gt_offsets=[0, 2])

    def call(**kw):
        args = {**ok, **kw}
        return match_batch(
            args.pop("pred_boxes"), args.pop("pred_scores"), args.pop("pred_offsets"),
            args.pop("gt_boxes"), args.pop("gt_offsets"), **args,
        )  # fmt: skip

    assert call().gt_index.shape == (2,)
    with pytest.raises(ValueError, match="method"):
        call(method="hungry")
    with pytest.raises(ValueError, match=r"`pred_boxes` must have shape \(N, 4\)"):
        call(pred_boxes=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"`pred_offsets\[0\]` must be 0"):
        call(pred_offsets=[1, 2])
    with pytest.raises(ValueError, match=r"`pred_offsets\[-1\]` must equal"):
        call(pred_offsets=[0, 1])
    with pytest.raises(ValueError, match="non-decreasing"):
        call(pred_offsets=[0, 3, 2])
    with pytest.raises(ValueError, match="integer dtype"):
        call(gt_offsets=[0.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        call(gt_offsets=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`pred_scores` must have shape \(2,\)"):
        call(pred_scores=[1.0])
    with pytest.raises(ValueError, match="both"):
        call(pred_labels=[0, 0])
    with pytest.raises(ValueError, match="`gt_labels` must have an integer dtype"):
        call(pred_labels=[0, 0], gt_labels=[0.5, 1.0])
    with pytest.raises(ValueError, match="`active` must have dtype bool"):
        call(active=[1, 0])
    with pytest.raises(ValueError, match="NaN"):
        call(threshold=math.nan)
    with pytest.raises(ValueError, match="B \\+ 1"):
        call(pred_offsets=np.zeros((0,), dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# dedup
# ---------------------------------------------------------------------------------------------


def ref_dedup(comps_preds):
    keep = []
    for preds in comps_preds:
        for k, p in enumerate(preds):
            keep.append(
                not any(all(float(u) == float(v) for u, v in zip(p, q, strict=True)) for q in preds[:k])
            )
    return keep


dedup_coord = st.sampled_from([0.0, -0.0, 1.0, 2.0, math.nan, math.inf, -math.inf])
dedup_groups = st.lists(
    st.lists(st.tuples(dedup_coord, dedup_coord, dedup_coord, dedup_coord), max_size=45), max_size=4
)


@SETTINGS
@given(dedup_groups)
def test_dedup_matches_reference(groups):
    po = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
    pb = np.array([b for g in groups for b in g], dtype=np.float64).reshape(-1, 4)
    keep = dedup_keep(pb, po)
    assert keep.dtype == np.bool_ and keep.shape == (pb.shape[0],)
    assert keep.tolist() == ref_dedup(groups)


def test_dedup_edge_cases():
    nan = math.nan
    boxes = np.array(
        [[0, 0, 1, 1], [0.0, -0.0, 1, 1], [nan, 0, 1, 1], [nan, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
    )
    # completion 0: rows 0..4 ; completion 1: row 5 duplicate of nothing in its own completion
    assert dedup_keep(boxes, [0, 5, 6]).tolist() == [True, False, True, True, False, True]
    # duplicates across completions are kept
    assert dedup_keep(boxes[[0, 4]], [0, 1, 2]).tolist() == [True, True]
    assert dedup_keep(np.zeros((0, 4)), [0]).shape == (0,)
    with pytest.raises(ValueError, match="pred_offsets"):
        dedup_keep(boxes, [0, 5])


def test_dedup_large_group_first_occurrence():
    rng = np.random.default_rng(3)
    boxes = rng.integers(0, 12, (100_000, 4)).astype(np.float64)
    keep = dedup_keep(boxes, [0, 50_000, 100_000])
    for lo, hi in ((0, 50_000), (50_000, 100_000)):
        _, first = np.unique(boxes[lo:hi], axis=0, return_index=True)
        want = np.zeros(hi - lo, dtype=bool)
        want[first] = True
        np.testing.assert_array_equal(keep[lo:hi], want)


# ---------------------------------------------------------------------------------------------
# paired best (grounding)
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(batches(max_preds=1, max_gts=4))
def test_paired_best_matches_reference(batch):
    comps, _, _ = batch
    b = len(comps)
    pred = np.zeros((b, 4))
    has = np.zeros(b, dtype=bool)
    for i, c in enumerate(comps):
        if c["preds"]:
            pred[i] = c["preds"][0]
            has[i] = True
    _, _, _, gb, go, *_ = flatten(comps)
    best_iou, best_giou = paired_best(pred, has, gb, go)
    np.testing.assert_array_equal(paired_best_iou(pred, has, gb, go), best_iou)
    np.testing.assert_array_equal(paired_best_giou(pred, has, gb, go), best_giou)
    for i, c in enumerate(comps):
        if not has[i] or not c["gts"]:
            assert math.isnan(best_iou[i]) and math.isnan(best_giou[i])
            continue
        assert best_iou[i] == max(ref_iou(pred[i], g) for g in c["gts"])
        assert best_giou[i] == max(ref_giou(pred[i], g) for g in c["gts"])


def test_paired_best_edge_cases():
    pred = np.array([[0, 0, 2, 2], [np.nan] * 4, [0, 0, 0, 1], [0, 0, 2, 2]], dtype=np.float64)
    has = np.array([True, False, True, True])
    gts = np.array([[10, 10, 11, 11], [1, 1, 3, 3], [0, 0, 1, 1], [5, 5, 6, 6]], dtype=np.float64)
    go = [0, 2, 3, 4, 4]
    iou, giou = paired_best(pred, has, gts, go)
    assert iou[0] == 1 / 7 and giou[0] == pytest.approx(1 / 7 - 2 / 9)
    assert math.isnan(iou[1]) and math.isnan(giou[1])  # no prediction
    assert iou[2] == 0.0 and giou[2] == -1.0  # degenerate prediction
    assert math.isnan(iou[3]) and math.isnan(giou[3])  # no GT
    assert paired_best(np.zeros((0, 4)), np.zeros(0, bool), np.zeros((0, 4)), [0])[0].shape == (0,)
    with pytest.raises(ValueError, match="B \\+ 1"):
        paired_best(pred, has, gts, [0, 4])
    with pytest.raises(ValueError, match="`has_pred` must have dtype bool"):
        paired_best(pred, [1, 0, 1, 1], gts, go)
