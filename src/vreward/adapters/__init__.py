"""Adapters that plug vreward's rewards into RL trainers other than TRL.

* :mod:`vreward.adapters.verl` -- verl's ``custom_reward_function``: ``compute_score(data_source, solution_str,
  ground_truth, extra_info=None, **kwargs)`` per sample and ``compute_score_batch(data_sources, solution_strs,
  ground_truths, extra_infos, **kwargs)`` for ``reward_model.reward_manager=batch`` (docs/trainers/verl.md).
* :mod:`vreward.adapters.easyr1` -- EasyR1's batch reward function ``compute_score(reward_inputs, ...)``
  returning ``overall`` / ``format`` / ``accuracy`` (docs/trainers/easyr1.md).
* :mod:`vreward.adapters.openrlhf` -- OpenRLHF's remote reward model (served by ``vreward.server``).

TRL needs no adapter: vreward's rewards follow TRL's reward-function signature (docs/trainers/trl.md).
Trainers load the verl and EasyR1 modules by file path; find it with
``python -c "import vreward.adapters.verl as m; print(m.__file__)"``.
"""
