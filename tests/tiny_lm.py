"""Tiny, download-free language models for tests.

No model can be downloaded on this project's machines, so tests that exercise training code build their own:
a byte-level BPE tokenizer trained on the fly with ``tokenizers`` (carrying Qwen's chat special tokens and a
ChatML chat template) and a randomly initialised two-layer ``Qwen2ForCausalLM``. Both are saved to a folder,
so the result loads like any Hub checkpoint with ``from_pretrained``.

Requires the ``train`` extra (torch, transformers, tokenizers); import it only from tests that
``pytest.importorskip`` those.
"""

from __future__ import annotations

from pathlib import Path

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

# ChatML, as used by Qwen2 / Qwen2.5-VL (without the default system prompt).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# A small corpus in the style of Visual-RFT prompts and answers, so the BPE merges are not arbitrary.
_CORPUS = [
    "Detect all objects belonging to the category 'cat' in the image, and provide the bounding boxes.",
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.",
    "<think>There is a cat on the sofa and a dog on the floor.</think>",
    "<answer>[{'Position': [10, 20, 300, 400], 'Confidence': 0.9}]</answer>",
    "<answer>[{'Position': [254, 1, 638, 393], 'Confidence': 1}, {'Position': [5, 6, 70, 80], "
    "'Confidence': 0.5}]</answer>",
    "No Objects",
    "The quick brown fox jumps over the lazy dog. 0123456789 {}[]():,.'\"",
    "Locate the person riding the bike and give the box as [x1, y1, x2, y2].",
]


def build_tiny_tokenizer(vocab_size: int = 400):
    """A ``PreTrainedTokenizerFast`` with a byte-level BPE vocabulary of at most ``vocab_size`` tokens.

    Every byte is in the alphabet, so any text round-trips. ``<|endoftext|>`` pads, ``<|im_end|>`` ends a turn
    (the eos token), and ``chat_template`` is ChatML.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        model_max_length=512,
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_qwen2(tokenizer, seed: int = 0):
    """A randomly initialised ``Qwen2ForCausalLM`` (~40k parameters) sized to ``tokenizer``, in float32."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
    )
    return model


def save_tiny_qwen2(path: str | Path, vocab_size: int = 400, seed: int = 0) -> Path:
    """Build the tiny tokenizer and model and save both to ``path``; returns ``path``.

    ``AutoTokenizer.from_pretrained(path)`` and ``AutoModelForCausalLM.from_pretrained(path)`` load them back.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(vocab_size)
    model = build_tiny_qwen2(tokenizer, seed)
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path
