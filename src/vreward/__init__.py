"""vreward: exact, fast and explainable verifiable rewards for visual reinforcement fine-tuning."""

from vreward.parsing import Box, ParsedBatch, ParsedCompletion, parse_completion, parse_completions
from vreward.reasons import ParseReason, ZeroReason

__version__ = "0.1.0"
