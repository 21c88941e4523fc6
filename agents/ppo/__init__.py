"""Recurrent PPO with any memory core (work in progress: GAE so far)."""
