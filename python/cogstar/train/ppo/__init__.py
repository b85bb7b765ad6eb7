"""cogstar's own PPO with a critic (TRL no longer has one): the math in :mod:`cogstar.train.ppo.core`.

Importing this package imports torch; ``import cogstar`` does not import it.
"""

from cogstar.train.ppo.core import (
    entropy_from_logits,
    explained_variance,
    gae,
    last_token_index,
    masked_mean,
    masked_var,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)

__all__ = [
    "entropy_from_logits",
    "explained_variance",
    "gae",
    "last_token_index",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "policy_loss",
    "token_rewards",
    "value_loss",
]
