"""Make image-reward 1.5 import and run with the libraries qualitylab installs.

image-reward 1.5 (the package behind ``import ImageReward``) was written for transformers
4.x and timm 0.6.13. :func:`import_imagereward` imports it with these fixes, applied once:

- transformers 5 moved ``apply_chunking_to_forward`` and ``prune_linear_layer`` from
  ``transformers.modeling_utils`` to ``transformers.pytorch_utils`` and removed
  ``find_pruneable_heads_and_indices``; BLIP's ``med.py`` imports all three from
  ``modeling_utils``. The moved names are provided there from their new home; the removed
  one, used only to prune attention heads (ImageReward never does), raises
  NotImplementedError.
- transformers 5 dropped ``get_head_mask`` and ``invert_attention_mask`` from
  ``PreTrainedModel``; ``med.py``'s ``BertModel`` calls both in every forward. They are
  given back to that class with transformers 4's meaning for what ImageReward passes: no
  head mask, and a 0/1 cross-attention mask turned into an additive one.
- transformers 5 builds a model's shared state (tied weights, load hints) in
  ``post_init()``, and ``init_weights()`` needs that state; ``med.py``'s models only call
  ``init_weights()``. Their ``init_weights()`` now runs ``post_init()`` first, which
  initialises the weights as before.
- transformers 5 renamed the tokenizers' ``additional_special_tokens_ids`` to
  ``extra_special_tokens_ids``; BLIP's ``init_tokenizer`` reads the old name. The tokenizer
  class of :func:`bert_tokenizer_from` answers to it.
- timm 1.x: ``vit.py`` imports from ``timm.models.{hub,registry,layers,helpers}``, which timm
  1.x keeps as deprecated aliases of the same objects (``PatchEmbed`` takes the same
  arguments and computes the same patch embedding); nothing needs changing (tested).
- Importing the package prints deprecation warnings (openai ``clip`` imports setuptools'
  ``pkg_resources``; the timm aliases), and two of its modules change process-wide state:
  ``blip.py`` calls ``warnings.filterwarnings("ignore")`` and ``blip_pretrain.py`` sets
  transformers' logging to errors only. The import runs inside ``warnings.catch_warnings``
  with those specific warnings filtered; afterwards the filters the package's dependencies
  installed are kept but not blip.py's blanket one, and transformers' logging level is
  restored.

BLIP also loads its tokenizer by the hard-coded name ``bert-base-uncased`` (a download);
:func:`bert_tokenizer_from` makes that call read a local directory instead.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PACKAGE = "ImageReward"
BERT_NAME = "bert-base-uncased"

# The deprecation warnings importing image-reward 1.5 triggers, as (message regex, category).
_IMPORT_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    (r"pkg_resources is deprecated as an API", UserWarning),
    (r"Importing from timm\.models\.(hub|registry|layers|helpers) is deprecated", FutureWarning),
)
# The filter blip.py installs: ignore every warning.
_BLANKET_IGNORE = ("ignore", None, Warning, None, 0)


def find_pruneable_heads_and_indices(*args: Any, **kwargs: Any) -> Any:
    """Removed in transformers 5 and only needed to prune attention heads, which ImageReward
    never does: always raises NotImplementedError."""
    raise NotImplementedError(
        "find_pruneable_heads_and_indices was removed in transformers 5; pruning the attention "
        "heads of image-reward's BLIP text encoder is not supported"
    )


def get_head_mask(self: Any, head_mask: torch.Tensor | None, num_hidden_layers: int) -> list:
    """No head mask for each of the ``num_hidden_layers`` layers (what transformers 4 gave
    for ``head_mask=None``); NotImplementedError for a real head mask."""
    if head_mask is not None:
        raise NotImplementedError(
            "head masks were removed in transformers 5 and are not supported for image-reward's "
            "BLIP text encoder"
        )
    return [None] * num_hidden_layers


def invert_attention_mask(self: Any, mask: torch.Tensor) -> torch.Tensor:
    """The additive attention mask of a 0/1 ``mask`` [batch, keys] or [batch, queries, keys]:
    0 where attention is allowed, the dtype's most negative value where it is not."""
    import torch

    expanded = mask[:, None, None, :] if mask.dim() == 2 else mask[:, None, :, :]
    expanded = expanded.to(self.dtype)
    return (1.0 - expanded) * torch.finfo(self.dtype).min


def _init_weights_after_post_init(self: Any) -> None:
    from transformers import PreTrainedModel

    # post_init() computes the state init_weights() needs, then calls init_weights() again.
    if hasattr(self, "all_tied_weights_keys"):
        PreTrainedModel.init_weights(self)
    else:
        self.post_init()


def _provide_moved_transformers_names() -> None:
    from transformers import modeling_utils, pytorch_utils

    provided: dict[str, Callable[..., Any]] = {
        "apply_chunking_to_forward": pytorch_utils.apply_chunking_to_forward,
        "prune_linear_layer": pytorch_utils.prune_linear_layer,
        "find_pruneable_heads_and_indices": find_pruneable_heads_and_indices,
    }
    for name, function in provided.items():
        if not hasattr(modeling_utils, name):
            setattr(modeling_utils, name, function)


def _import_quietly() -> ModuleType:
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    try:
        with warnings.catch_warnings():
            for message, category in _IMPORT_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            before = list(warnings.filters)
            package = importlib.import_module(PACKAGE)
            added = [f for f in warnings.filters if f not in before and f != _BLANKET_IGNORE]
    finally:
        transformers_logging.set_verbosity(verbosity)
    # Keep the filters that the package's dependencies (urllib3, requests, ...) install when
    # they are imported; only blip.py's blanket filter is dropped.
    for action, message, category, module, lineno in reversed(added):
        pattern = message.pattern if message else ""
        warnings.filterwarnings(action, pattern, category, module.pattern if module else "", lineno)
    return package


def _patch_text_encoder() -> None:
    from ImageReward.models.BLIP import med

    med.BertPreTrainedModel.init_weights = _init_weights_after_post_init
    for name, method in (
        ("get_head_mask", get_head_mask),
        ("invert_attention_mask", invert_attention_mask),
    ):
        if not hasattr(med.BertModel, name):
            setattr(med.BertModel, name, method)


def import_imagereward() -> ModuleType:
    """The ``ImageReward`` package, imported quietly and made to work with transformers 5
    (see the module docstring). Safe to call any number of times."""
    _provide_moved_transformers_names()
    package = _import_quietly()
    _patch_text_encoder()
    return package


@contextmanager
def bert_tokenizer_from(directory: Path) -> Iterator[None]:
    """While active, image-reward's ``BertTokenizer.from_pretrained("bert-base-uncased")``
    reads the tokenizer files in ``directory`` (never the network), and the tokenizer it
    returns also answers to transformers 4's ``additional_special_tokens_ids``."""
    import_imagereward()
    from ImageReward.models.BLIP import blip
    from transformers import BertTokenizer

    class LocalBertTokenizer(BertTokenizer):
        """BERT's tokenizer read from a local copy of ``bert-base-uncased``."""

        @classmethod
        def from_pretrained(cls, name: str, *args: Any, **kwargs: Any) -> LocalBertTokenizer:
            """The tokenizer in ``directory``; ValueError for a name other than BERT's."""
            if name != BERT_NAME:
                raise ValueError(f"only {BERT_NAME!r} is read from {directory}, not {name!r}")
            return super().from_pretrained(str(directory), local_files_only=True)

        @property
        def additional_special_tokens_ids(self) -> list[int]:
            """The ids of the extra special tokens (transformers 4's name)."""
            return self.extra_special_tokens_ids

    hard_coded = blip.BertTokenizer
    blip.BertTokenizer = LocalBertTokenizer
    try:
        yield
    finally:
        blip.BertTokenizer = hard_coded
