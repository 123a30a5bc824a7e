"""Test and benchmark doubles that speak real protocols on loopback; imported by ``tests/``
and ``bench/`` alike, never by the app."""
