"""Carat's production settings with one more URL: the issue's reference point for the earn
(see views.py). Used only by `bench/run.py`, for a second gunicorn beside Carat's."""

from loyalty.settings import *  # noqa: F403

ROOT_URLCONF = "naive.urls"
