"""Adapters that plug vreward's rewards into RL trainers other than TRL (docs/trainers/).

* :mod:`vreward.adapters.verl` -- verl's custom reward function: ``compute_score_async`` for the reward loop
  (verl 0.7+; rows awaited together are scored together), ``compute_score`` per sample, ``compute_score_batch``
  for the pre-0.7 ``batch`` manager.
* :mod:`vreward.adapters.easyr1` -- EasyR1's batch reward function ``compute_score(reward_inputs, ...)``
  returning ``overall`` / ``format`` / ``accuracy`` (EasyR1 v0.3.1+).
* :mod:`vreward.adapters.openrlhf` -- OpenRLHF's remote reward protocol (served by ``vreward.server``).
* :mod:`vreward.adapters.swift` -- ms-swift ORM / AsyncORM plugins (``--external_plugins``).

Shared parts: :mod:`~vreward.adapters.rows` (task, size and frames of a row; rewards built once),
:mod:`~vreward.adapters.chat` (end-of-turn tokens, vision placeholders, assistant turns) and
:mod:`~vreward.adapters.loading` (files loaded by path use the package's objects, so they pickle).
TRL needs no adapter: vreward's rewards follow TRL's reward-function signature (docs/trainers/trl.md).
Trainers that load files by path find them with ``python -c "import vreward.adapters.verl as m; print(m.__file__)"``.
"""
