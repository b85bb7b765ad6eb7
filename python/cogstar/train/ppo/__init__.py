"""cogstar's own PPO with a critic (TRL no longer has one).

``config`` (:class:`~cogstar.train.ppo.config.PPOConfig`, no torch), ``core`` (the math:
GAE, whitening, the clipped losses), ``rollout`` and ``vllm_engine`` (sampling engines),
``critic``, ``distributed`` (precision and launches) and ``trainer`` (:func:`run_ppo`).
Importing this package imports nothing heavy; its modules import torch.
"""
