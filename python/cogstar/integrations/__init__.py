"""Drop-ins for other RL stacks: the Countdown reward as each framework calls it.

* :mod:`cogstar.integrations.verl`: ``compute_score`` (and a batched form) for verl's reward
  managers, and verl's Parquet data layout;
* :mod:`cogstar.integrations.trl`: a reward function for TRL's GRPO-style trainers, standard
  or conversational, that logs accuracy and the outcomes through TRL's hooks;
* :mod:`cogstar.integrations.openrlhf`: ``reward_func`` for OpenRLHF's ``--remote_rm_url``
  functions, and the HTTP reward server behind ``cogstar serve-reward``.

Every one scores the completion alone (:func:`cogstar.score_completions`): the reward of the
standard prompt + completion, without searching the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cogstar.errors import ArgumentError

__all__ = ["completion_text"]


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    """The text of a completion: a string as it is; a conversational completion (a list of
    ``{"role", "content"}`` messages, as TRL and chat templates give it) as the content of
    its assistant messages, joined."""
    if isinstance(completion, str):
        return completion
    parts: list[str] = []
    for message in _messages(completion):
        if message.get("role", "assistant") == "assistant":
            content = message.get("content", "")
            parts.append(content if isinstance(content, str) else _content_text(content))
    return "".join(parts)


def _messages(completion: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for message in completion:
        if not isinstance(message, Mapping):
            raise ArgumentError(
                f"a conversational completion is a list of messages (dicts with 'role' and "
                f"'content'); got an item of type {type(message).__name__}"
            )
        yield message


def _content_text(content: Iterable[Any]) -> str:
    """Multimodal content (``[{"type": "text", "text": ...}, ...]``): its text parts."""
    return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
