"""Tests of the fake Rocket.Chat server (botkit.testing)."""
