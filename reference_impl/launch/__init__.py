"""Launching NeMo RL, VeRL and OpenRLHF: configs, checks and the exact commands."""
