"""KRX designations for the demo market (see `dataprep.demo`): 관리종목 (administrative) drawn
with the universe, 정리매매 (liquidation) over a distress delisting's last LIQUIDATION_DAYS
sessions, and 투자경고 (warning) / 투자주의 (caution) spells after 5-day run-ups, as
stock_status rows. Pure numpy/polars."""

from __future__ import annotations

import numpy as np
import polars as pl

from dataprep.tables import STATUS_SCHEMA

LIQUIDATION_DAYS = 7  # 정리매매: the last sessions before a distress delisting
WARNING_RUN_UP, CAUTION_RUN_UP = 0.6, 0.4  # 5-day gains after which KRX designates
WARNING_DAYS, CAUTION_DAYS, MAX_SPELL = 10, 2, 12  # sessions after the last trigger; cap


def administrative(
    rng: np.random.Generator,
    *,
    dying: np.ndarray,
    survivors: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    n_days: int,
) -> np.ndarray:
    """관리종목 [k, 3] (stock, first and last session; -1: in force at the end): 80 % of the
    `dying` from 1-6 months before their delisting to it; a few `survivors`, for 3-12
    months from a random session, lifted (or not yet)."""
    doomed = rng.choice(dying, int(np.ceil(0.8 * len(dying))), replace=False)
    lifted = rng.choice(survivors, min(round(0.3 * len(doomed)), len(survivors)), replace=False)
    lifted_start = rng.integers(0, max(1, n_days - 40), len(lifted))
    lifted_end = lifted_start + rng.integers(60, 250, len(lifted))
    doomed_start = np.maximum(last[doomed] - rng.integers(21, 127, len(doomed)), first[doomed])
    return np.column_stack([
        np.concatenate([doomed, lifted]),
        np.concatenate([doomed_start, lifted_start]),
        np.concatenate([last[doomed], np.where(lifted_end < n_days - 1, lifted_end, -1)]),
    ])


def status_rows(
    *,
    codes: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    liquidating: np.ndarray,
    administrative_spells: np.ndarray,
    days: np.ndarray,
    close: np.ndarray,
) -> pl.DataFrame:
    """stock_status rows, sorted by (code, status, start_date), of the stocks `codes` with rows
    on sessions `first`..`last` and closes `close` [n_days + 1, n] (row 0: the day before):
    the 관리종목 `administrative_spells` (from `administrative`), 정리매매 over the last
    LIQUIDATION_DAYS sessions of the `liquidating`; 투자경고 from the session after a 5-day
    gain of WARNING_RUN_UP until WARNING_DAYS after the last such gain, 투자주의 likewise
    (CAUTION_RUN_UP, CAUTION_DAYS) outside warnings; spells at most MAX_SPELL sessions; end
    -1 (NULL): still in force."""
    n_days = len(days)
    run_up = np.zeros((n_days, len(codes)))
    run_up[5:] = close[6:] / close[1:-5] - 1  # day t against day t-5
    t = np.arange(n_days)[:, None]
    run_up[(t < first + 5) | (t > last)] = 0.0  # five visible sessions back
    warning = _spells(run_up >= WARNING_RUN_UP, window=WARNING_DAYS, last=last)
    caution = _outside(
        _spells(run_up >= CAUTION_RUN_UP, window=CAUTION_DAYS, last=last), warning, n_days
    )
    dying = np.flatnonzero(liquidating)
    liquidation = np.column_stack(
        [dying, np.maximum(last[dying] - LIQUIDATION_DAYS + 1, first[dying]), last[dying]]
    )
    parts = [(administrative_spells, "administrative"), (warning, "warning"),
             (caution, "caution"), (liquidation, "liquidation")]
    spells = np.concatenate([p for p, _ in parts])
    open_ended = spells[:, 2] < 0
    return pl.DataFrame(
        {
            "code": codes[spells[:, 0]],
            "status": np.repeat([s for _, s in parts], [len(p) for p, _ in parts]),
            "start_date": days[spells[:, 1]],
            "end_date": np.where(open_ended, np.datetime64("NaT", "D"),
                                 days[np.where(open_ended, 0, spells[:, 2])]),
        },
        schema=STATUS_SCHEMA,
    ).sort("code", "status", "start_date")


def _spells(trigger: np.ndarray, *, window: int, last: np.ndarray) -> np.ndarray:
    """[k, 3] (stock, first, last session; -1 = in force at the end) of the designations that
    the trigger days [n_days, n] start the next session and `window` triggerless sessions
    end; triggers closer than `window` extend one spell; at most MAX_SPELL sessions."""
    n_days = trigger.shape[0]
    day, stock = np.nonzero(trigger.T)[::-1]  # sorted by (stock, day)
    fresh = np.ones(len(day), dtype=bool)
    fresh[1:] = (stock[1:] != stock[:-1]) | (day[1:] - day[:-1] > window)
    final = np.append(fresh[1:], True)[: len(day)]
    begin, spell_stock = day[fresh] + 1, stock[fresh]
    end = np.minimum(day[final] + window, begin + MAX_SPELL - 1)
    keep = begin <= last[spell_stock]
    end = np.where(end > n_days - 1, -1, np.minimum(end, last[spell_stock]))
    end = np.where((end < 0) & (last[spell_stock] < n_days - 1), last[spell_stock], end)
    return np.column_stack([spell_stock, begin, end])[keep]


def _outside(spells: np.ndarray, other: np.ndarray, n_days: int) -> np.ndarray:
    """`spells` cut short where a spell of `other` (same stock) begins, dropped inside one."""
    if len(other) == 0:
        return spells
    span = n_days + 1
    begins = other[:, 0] * span + other[:, 1]  # sorted: other is by (stock, first)
    ends = other[:, 0] * span + np.where(other[:, 2] < 0, n_days - 1, other[:, 2])
    key = spells[:, 0] * span + spells[:, 1]
    at = np.searchsorted(begins, key, side="right")
    inside = (at > 0) & (ends[np.maximum(at - 1, 0)] >= key)
    nxt = np.append(begins, np.iinfo(np.int64).max)[at]
    stop = spells[:, 0] * span + np.where(spells[:, 2] < 0, n_days - 1, spells[:, 2])
    cut = nxt <= stop  # then nxt > key: the cut spell keeps its first session
    out = spells.copy()
    out[cut, 2] = nxt[cut] - 1 - spells[cut, 0] * span
    return out[~inside]
