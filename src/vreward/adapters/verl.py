"""vreward rewards as a verl custom reward function (docs/trainers/verl.md).

verl loads this module (``reward.custom_reward_function.path``: ``pkg://vreward.adapters.verl`` or this file's
path) and calls the function named by ``reward.custom_reward_function.name`` with the ``reward_kwargs`` of that
config added as keywords:

* ``compute_score_async`` -- verl's reward loop (0.7+: the ``naive``, ``dapo``, ``gdpo`` and ``rate_limited``
  managers await it once per sample from concurrent tasks): the rows awaited together are scored together
  (:class:`vreward.batching.RowBatcher`), so a row costs about what it costs in a batch::

      await compute_score_async(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs) -> dict

* ``compute_score`` -- the same, synchronous, one sample per call (the ``remote`` manager, which refuses async
  functions, and the pre-0.7 ``naive`` / ``dapo`` / ``prime`` managers; ``as_float=true`` for ``prime``, which
  reads a number)::

      compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs) -> dict | float

* ``compute_score_batch`` -- the pre-0.7 ``batch`` manager (removed from verl's reward loop)::

      compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **reward_kwargs) -> list[dict]

The result is verl's dict form: ``{"score": total, "iou_reward": ..., ..., "bad_ground_truth": 0.0 | 1.0}``.
verl puts ``score`` on the last response token and logs every other key as reward extra info (averaged), so the
dict holds numbers only; ``bad_ground_truth`` is 1.0 on rows whose ground truth cannot be read.

Task of a row: ``extra_info["task"]``, else the ``task`` reward kwarg, else guessed from ``data_source``
(:data:`~vreward.adapters.rows.DATA_SOURCE_TASKS`). Image size (pixel frames): ``extra_info`` ``width`` and
``height``, or ``image_size``. Coordinate frames: ``extra_info`` ``coords`` / ``solution_coords``, else the reward
kwargs of the same names; model family (how answers are read, and the model's frame): ``extra_info["family"]``,
else the ``family`` reward kwarg. Other reward kwargs: ``weights`` (``{"format": 0.5}``), ``options`` (per reward
name, ``{"iou": {"threshold": 0.75}}``), ``preset`` (``"visual_rft"``: the paper's definitions), ``all_keys``
(every row gets every reward's key, 0.0 where the reward is not part of the row's task: verl needs the same keys
on every row of a mixed-task batch), ``as_float`` (plain totals) and, for ``compute_score_async``,
``batch_window_ms`` (how long the first row of a batch waits for others).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vreward.adapters.loading import use_package_objects
from vreward.adapters.rows import DATA_SOURCE_TASKS, row_value, scored_row, task_of, task_reward
from vreward.batching import Row, RowBatcher, RowScore, score_rows
from vreward.registry import REWARDS

__all__ = ["DATA_SOURCE_TASKS", "compute_score", "compute_score_async", "compute_score_batch", "task_of",
           "task_reward"]

# The score keys of every reward, for ``all_keys``.
ALL_REWARD_NAMES = tuple(spec.default_name for spec in REWARDS.values())
# verl's reward loop decodes each response on a thread pool before awaiting the reward, so the rows of a batch
# arrive spread over milliseconds: the first waits this long for the others.
DEFAULT_BATCH_WINDOW_MS = 2.0
_BATCHERS: dict[float, RowBatcher] = {}


def compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                  extra_info: Mapping[str, Any] | None = None, *, as_float: bool = False,
                  all_keys: bool = False, **kwargs: Any) -> dict[str, float] | float:
    """verl's per-sample reward function: ``{"score": total, "<reward name>": score, ...}`` (or the total)."""
    row = _row(data_source, solution_str, ground_truth, extra_info, **kwargs)
    return _result(score_rows([row])[0], all_keys, as_float)


async def compute_score_async(data_source: Any, solution_str: str, ground_truth: Any,
                              extra_info: Mapping[str, Any] | None = None, *, as_float: bool = False,
                              all_keys: bool = False, batch_window_ms: float = DEFAULT_BATCH_WINDOW_MS,
                              **kwargs: Any) -> dict[str, float] | float:
    """verl's reward-loop reward function: ``compute_score``, scored together with the rows awaited meanwhile."""
    row = _row(data_source, solution_str, ground_truth, extra_info, **kwargs)
    window = float(batch_window_ms)
    batcher = _BATCHERS.get(window)
    if batcher is None:
        batcher = _BATCHERS.setdefault(window, RowBatcher(window_s=window / 1000.0))
    return _result(await batcher.score(row), all_keys, as_float)


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None] | None = None, *, all_keys: bool = False,
                        as_float: bool = False, **kwargs: Any) -> list[dict[str, float]] | list[float]:
    """verl's batch reward function: one ``score_all`` call per group of rows with the same task and frames."""
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n:
        raise ValueError(f"{len(data_sources)} data_sources, {n} solution_strs and {len(ground_truths)} "
                         "ground_truths: verl passes one of each per sample")
    infos: list[Mapping[str, Any] | None] = [None] * n if extra_infos is None else list(extra_infos)
    if len(infos) != n:
        raise ValueError(f"{len(infos)} extra_infos for {n} samples")
    rows = [_row(s, c, g, i, **kwargs) for s, c, g, i in zip(data_sources, solution_strs, ground_truths, infos)]
    return [_result(score, all_keys, as_float) for score in score_rows(rows)]  # type: ignore[return-value]


def _row(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None, *,
         task: str | None = None, weights: Mapping[str, float] | None = None,
         options: Mapping[str, Mapping[str, Any]] | None = None, coords: str | None = None,
         solution_coords: str | None = None, preset: str = "default", family: str | None = None, **_: Any) -> Row:
    """The row verl passes, with its reward (verl adds keywords of its own, e.g. ``reward_router_address``)."""
    info = extra_info if isinstance(extra_info, Mapping) else None
    reward = task_reward(task_of(data_source, info, task), weights, options, row_value(info, "coords", coords),
                         row_value(info, "solution_coords", solution_coords), preset,
                         row_value(info, "family", family))
    return scored_row(reward, solution_str, ground_truth, info)


def _result(score: RowScore, all_keys: bool, as_float: bool) -> dict[str, float] | float:
    if as_float:
        return score.total
    row = dict.fromkeys(ALL_REWARD_NAMES, 0.0) if all_keys else {}
    row.update(score.scores)
    return {"score": score.total, **row, "bad_ground_truth": float(score.bad_ground_truth)}


use_package_objects(globals(), "vreward.adapters.verl")
