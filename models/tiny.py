"""A tiny Qwen2-architecture checkpoint with random weights, built offline in seconds.

It is a real Hugging Face checkpoint (config, safetensors weights, a byte-level BPE tokenizer with a
ChatML chat template, a generation config), so every engine that loads checkpoints loads it the way it
loads a real model. Its answers are noise: it exists for tests, benchmarks and ``tiered-router serve
--demo``, never for users. The build is deterministic for a given seed and cached in the directory
passed in; a finished build is marked by its manifest, so a half-written one is never reused.
"""

import json
import shutil
import tempfile
from pathlib import Path

TINY_MODEL_NAME = "tiny-random-qwen2-demo"
_VERSION = 1
_MANIFEST = "tiny-manifest.json"

# ChatML, as Qwen2 uses; <think>/</think> are ordinary added tokens so they survive decoding and the
# reasoning split can be exercised.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]

_CORPUS = """
A router answers every request at the cheapest tier that can answer it well.
Commands are matched by pattern and answered without a model.
The micro model classifies the request: its intent, its complexity and how sure it is.
The light model answers short questions and says how good it thinks its answer is.
Hard questions go to the frontier pool, which picks a provider by cost, quality and budget.
What is the capital of France? Paris is the capital of France.
How many days are in a week? There are seven days in a week.
Summarise what Ray Serve does in one sentence. It serves models and Python code behind HTTP.
Count to five: one, two, three, four, five.
Translate hello into Spanish: hola. Translate thank you into German: danke.
Write a haiku about autumn leaves falling on a quiet river at dusk.
Explain why the sky is blue: sunlight scatters off the molecules of the air.
def add(a, b): return a + b  # numbers, code, JSON {"intent": "question", "confidence": 0.9}
0 1 2 3 4 5 6 7 8 9 10 100 1000 - + * / = ( ) [ ] { } : ; , . ! ? ' "
"""


def build_tiny_checkpoint(cache_dir: str | Path, *, seed: int = 0) -> Path:
    """Return the checkpoint directory under ``cache_dir``, building it first if it is not there."""
    target = Path(cache_dir) / f"{TINY_MODEL_NAME}-v{_VERSION}-seed{seed}"
    if (target / _MANIFEST).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=target.parent))
    try:
        _write_checkpoint(staging, seed)
        (staging / _MANIFEST).write_text(json.dumps({"name": TINY_MODEL_NAME, "version": _VERSION, "seed": seed,
                                                      "note": "random weights: answers are noise"}))
        staging.chmod(0o755)  # mkdtemp makes it private; Ray workers of other users may read the cache
        try:
            staging.rename(target)
        except OSError:
            if not (target / _MANIFEST).is_file():  # not another process finishing first: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_checkpoint(folder: Path, seed: int) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE, model_max_length=4096,
    )
    tokenizer.add_tokens(THINK_TOKENS)
    tokenizer.save_pretrained(folder)

    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096, tie_word_embeddings=False,
        eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None,
    )
    # head_dim 64: the smallest that every vLLM attention backend (FlashAttention 2/3, FlashInfer) accepts.
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    # Random weights favour lone bytes that decode to broken UTF-8 and control characters. Zeroing the output
    # rows of every token that is not a readable ASCII word leaves their logit at 0 while about half of
    # the rest score above it, so greedy decoding emits readable noise (and never EOS: answers run to
    # max_tokens, which keeps benchmark lengths fixed).
    readable = [i for i in range(len(tokenizer)) if _readable(tokenizer.decode([i]))]
    silenced = torch.ones(len(tokenizer), dtype=torch.bool)
    silenced[readable] = False
    with torch.no_grad():
        model.lm_head.weight[silenced] = 0.0
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False)
    model.save_pretrained(folder)


def _readable(text: str) -> bool:
    return (text.isascii() and text.strip().isalnum()) or text in (" ", ".", ",", "?", "!")


def _train_tokenizer():  # -> tokenizers.Tokenizer
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, min_frequency=1, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    # Repeated lines give the trainer frequencies to merge on; the order is fixed, so the result is too.
    lines = [line for line in _CORPUS.strip().splitlines() for _ in range(3)]
    tokenizer.train_from_iterator(lines, trainer=trainer)
    return tokenizer
