"""Turn NeMo Gym rollouts into training data for NeMo RL, VeRL, OpenRLHF and TRL.

The package behind the training-integration guide: every code block on the site is
included from here or from ``scripts/``, and tested.
"""

__version__ = "0.1.0"
