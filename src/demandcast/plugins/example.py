"""An example plug-in forecaster, and the contract a business unit's class must meet.

A catalog.yml entry names a plug-in by import path::

    - name: DampedSeasonalAverage
      model: demandcast.plugins.example:DampedSeasonalAverage
      kwargs: {damping: 0.5}
      season: optional          # inject season_length=<var season_length>
      tags: {family: plugin}

The class must follow StatsForecast's model interface:

- ``__init__(**kwargs)``: the entry's kwargs, plus ``season_length`` when the
  entry says ``season: optional`` or ``required``.
- ``alias``: an attribute; the catalog sets it to the entry's name.
- ``new()``: a fresh, unfitted copy (subclassing
  ``statsforecast.models._TS`` provides it, and ``__repr__``).
- ``forecast(y, h, X=None, X_future=None, level=None, fitted=False)``: ``y``
  is a 1-d float array of history (oldest first, no NaN); returns a dict with
  ``"mean"``, a float array of length ``h``. Only when the entry says
  ``intervals: native`` is ``level`` passed, and then ``"lo-<level>"`` and
  ``"hi-<level>"`` arrays are expected; otherwise the forecast step calibrates
  conformal intervals from the backtest errors.
- ``fit(y, X=None)`` returning self and ``predict(h, X=None, level=None)``,
  as in StatsForecast (the engine itself calls ``forecast``).
- Picklable (it runs in worker processes) and deterministic. It may raise on a
  series it cannot handle: the engine records status 'failed' with the message
  for that series and candidate, and carries on.

The backtest scores a plug-in exactly like a built-in candidate, it appears on
the leaderboard, and selection may choose it.
"""

from __future__ import annotations

import numpy as np
from statsforecast.models import _TS


class DampedSeasonalAverage(_TS):
    """The average of the same period in past seasons, shrunk towards the level.

    forecast[t+k] = (1 - damping) * mean(last `window_size` periods)
                    + damping * mean(y at t+k-season_length, t+k-2*season_length, ...)

    The level window defaults to one full season, so it carries no seasonal
    bias. Cheap and robust for seasonal demand too noisy for one season to be
    trusted (seasonal naive) and too seasonal for a flat average. With less
    than one season of history it is the window average.
    """

    def __init__(
        self,
        season_length: int,
        window_size: int | None = None,
        damping: float = 0.5,
        alias: str = "DampedSeasonalAverage",
    ):
        window_size = season_length if window_size is None else window_size
        if season_length < 1 or window_size < 1:
            raise ValueError("season_length and window_size must be >= 1")
        if not 0.0 <= damping <= 1.0:
            raise ValueError("damping must be in [0, 1]")
        self.season_length = season_length
        self.window_size = window_size
        self.damping = damping
        self.alias = alias
        self.prediction_intervals = None

    def _mean(self, y: np.ndarray, h: int) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if y.size == 0:
            raise ValueError("empty history")
        level = y[-self.window_size :].mean()
        m = self.season_length
        if m < 2 or y.size < m:
            return np.full(h, level)
        # the same period of each past season (a horizon longer than a season wraps)
        steps = np.arange(1, h + 1)
        last = y.size - 1 + steps - m * ((steps - 1) // m + 1)
        idx = last[None, :] - m * np.arange(y.size // m)[:, None]
        seasonal = np.nanmean(np.where(idx >= 0, y[np.clip(idx, 0, None)], np.nan), axis=0)
        return (1.0 - self.damping) * level + self.damping * seasonal

    def fit(self, y: np.ndarray, X: np.ndarray | None = None) -> DampedSeasonalAverage:
        self.y_ = np.asarray(y, dtype=float)
        return self

    def predict(self, h: int, X: np.ndarray | None = None, level: list | None = None) -> dict:
        return {"mean": self._mean(self.y_, h)}

    def forecast(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ) -> dict:
        return {"mean": self._mean(y, h)}
