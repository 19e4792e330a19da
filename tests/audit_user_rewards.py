"""User rewards for the audit's module:function tests (a hackable one and a sound one)."""

from vreward.rewards.classification import answer_text  # noqa: F401 - what a user's reward would use


def contains_either_way(completions, solution, **kwargs):
    """The paper's classification rule, written the way users write it."""
    out = []
    for c, s in zip(completions, solution):
        a = (answer_text(c) or "").strip().lower().replace(" ", "")
        t = s.replace("<answer>", "").replace("</answer>", "").strip().lower().replace(" ", "")
        out.append(1.0 if a and (a in t or t in a) else 0.0)
    return out
