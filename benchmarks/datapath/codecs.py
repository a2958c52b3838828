"""How the Redis modes store a window's prepared data, and how a backtest gets it back.

- Pickle records (the older design, as written): `zlib.compress(pickle.dumps({'prices':
  records, 'factors': records}))`. A record is a dict per row, as a query over the joined
  tables answers it: prices `code, name, market, sector, date, close, tradable` per listed
  stock-day (the two index levels travel as price rows with market "INDEX"), factors
  `code, date` and the 54 factor columns. Reading rebuilds the frame (`pl.from_dicts`)
  and the dense arrays the engine takes.
- Arrow IPC (the best Redis variant we could write): two IPC streams in one blob, buffers
  compressed with LZ4 or Zstd. Stream one holds the per-cell arrays (close, tradable) with
  the small per-stock and per-day arrays as schema metadata; stream two holds every factor
  value as ONE float32 column in the panel's [factor, day, stock] order, so reading it is a
  decompression into a buffer that numpy views without a copy.
Both give back the FactorPanel the engine takes, equal to the one they were made from.
"""

from __future__ import annotations

import json
import pickle
import struct
import zlib
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from dataprep.panel import FactorPanel

INDEX_MARKET = "INDEX"
PRICE_KEYS = ("code", "name", "market", "sector", "date", "close", "tradable")
ARROW_CODECS = ("lz4", "zstd")


# -- pickle records ----------------------------------------------------------------------


def panel_records(panel: FactorPanel) -> dict[str, list[dict[str, Any]]]:
    """{'prices': records, 'factors': records} for every listed stock-day, by code, date."""
    stock, day = np.nonzero(~np.isnan(panel.close).T)  # by code, then date
    dates = [d.item() for d in panel.dates.astype("datetime64[D]")]
    codes, names = panel.codes.tolist(), panel.names.tolist()
    market, sector = panel.market.tolist(), panel.sector.tolist()
    row_codes = [codes[s] for s in stock.tolist()]
    row_dates = [dates[d] for d in day.tolist()]
    close = panel.close[day, stock].tolist()
    tradable = panel.tradable[day, stock].tolist()
    prices = [
        dict(zip(PRICE_KEYS, row, strict=True))
        for row in zip(
            row_codes,
            [names[s] for s in stock.tolist()],
            [market[s] for s in stock.tolist()],
            [sector[s] for s in stock.tolist()],
            row_dates,
            close,
            tradable,
            strict=True,
        )
    ]
    for index, levels in panel.benchmarks.items():
        prices += [
            dict(zip(PRICE_KEYS, (index, index, INDEX_MARKET, None, d, float(v), True),
                     strict=True))
            for d, v in zip(dates, levels.tolist(), strict=True)
        ]
    factor_keys = ("code", "date", *panel.factor_names)
    columns = [panel.values[f][day, stock].tolist() for f in range(len(panel.factor_names))]
    factors = [
        dict(zip(factor_keys, row, strict=True))
        for row in zip(row_codes, row_dates, *columns, strict=True)
    ]
    return {"prices": prices, "factors": factors}


def encode_pickle(panel: FactorPanel) -> tuple[bytes, int]:
    """(zlib(pickle(records)), pickled bytes before compression)."""
    pickled = pickle.dumps(panel_records(panel), protocol=pickle.HIGHEST_PROTOCOL)
    return zlib.compress(pickled), len(pickled)


def decode_pickle(blob: bytes, *, version: str) -> FactorPanel:
    """What a worker of the older design did with the blob: decompress, unpickle, rebuild."""
    data = pickle.loads(zlib.decompress(blob))
    prices = pl.from_dicts(
        data.pop("prices"),
        schema={"code": pl.String, "name": pl.String, "market": pl.String,
                "sector": pl.String, "date": pl.Date, "close": pl.Float64,
                "tradable": pl.Boolean},
    )
    factor_rows = data.pop("factors")
    factor_names = tuple(k for k in factor_rows[0] if k not in ("code", "date"))
    factors = pl.from_dicts(
        factor_rows,
        schema={"code": pl.String, "date": pl.Date, **dict.fromkeys(factor_names, pl.Float64)},
    )
    del factor_rows
    return frames_to_panel(prices, factors, factor_names=factor_names, version=version)


def frames_to_panel(
    prices: pl.DataFrame, factors: pl.DataFrame, *, factor_names: tuple[str, ...], version: str
) -> FactorPanel:
    """Dense [day, stock] arrays from long frames (NaN / untradable where no row)."""
    indexes = prices.filter(pl.col("market") == INDEX_MARKET)
    stocks = prices.filter(pl.col("market") != INDEX_MARKET)
    dates = indexes["date"].unique().sort() if indexes.height else stocks["date"].unique().sort()
    attributes = stocks.group_by("code").agg(pl.first("name", "market", "sector")).sort("code")
    codes = attributes["code"]
    n_days, n_stocks = dates.len(), codes.len()

    def cells(frame: pl.DataFrame) -> np.ndarray:
        day = np.searchsorted(dates.to_numpy(), frame["date"].to_numpy())
        sid = np.searchsorted(codes.to_numpy(), frame["code"].to_numpy())
        return day * n_stocks + sid

    where = cells(stocks)
    flat_close = np.full(n_days * n_stocks, np.nan)
    flat_close[where] = stocks["close"].to_numpy()
    tradable = np.zeros(n_days * n_stocks, dtype=bool)
    tradable[where] = stocks["tradable"].to_numpy()
    values = np.full((len(factor_names), n_days * n_stocks), np.nan, dtype=np.float32)
    where = cells(factors)
    for f, name in enumerate(factor_names):
        values[f, where] = factors[name].to_numpy()
    close = flat_close.reshape(n_days, n_stocks)
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1.0
    benchmarks = {
        str(name): group.sort("date")["close"].to_numpy()
        for (name,), group in indexes.group_by("code")
    }
    return FactorPanel(
        version=version,
        dates=dates.to_numpy().astype("datetime64[D]"),
        codes=codes.to_numpy().astype(str),
        names=attributes["name"].to_numpy().astype(str),
        market=attributes["market"].to_numpy().astype(str),
        sector=attributes["sector"].to_numpy().astype(str),
        factor_names=factor_names,
        values=values.reshape(len(factor_names), n_days, n_stocks),
        close=close,
        returns=returns,
        tradable=tradable.reshape(n_days, n_stocks),
        benchmarks=benchmarks,
    )


# -- Arrow IPC ----------------------------------------------------------------------------


def encode_arrow(panel: FactorPanel, *, codec: str) -> tuple[bytes, int]:
    """(blob, uncompressed bytes): [len of stream one][stream one][stream two]."""
    if codec not in ARROW_CODECS:
        raise ValueError(f"Got {codec!r} for the Arrow codec: expected one of {ARROW_CODECS}")
    meta = {
        "version": panel.version,
        "dates": [str(d) for d in panel.dates.astype("datetime64[D]")],
        "codes": panel.codes.tolist(),
        "names": panel.names.tolist(),
        "market": panel.market.tolist(),
        "sector": panel.sector.tolist(),
        "factor_names": list(panel.factor_names),
        "benchmarks": {k: v.tolist() for k, v in panel.benchmarks.items()},
    }
    cells = pa.table(
        {"close": panel.close.ravel(), "tradable": panel.tradable.ravel()},
        metadata={"qbt": json.dumps(meta)},
    )
    values = pa.table({"values": np.ascontiguousarray(panel.values).ravel()})
    first, second = (_ipc(table, codec=codec) for table in (cells, values))
    raw = cells.nbytes + values.nbytes
    return struct.pack("<Q", len(first)) + first + second, raw


def _ipc(table: pa.Table, *, codec: str) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=codec)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=table.num_rows)  # one batch: one buffer
    return sink.getvalue().to_pybytes()


def decode_arrow(blob: bytes) -> FactorPanel:
    """Decompress the two streams; numpy views the decompressed buffers (no further copy)."""
    buffer = pa.py_buffer(blob)
    (length,) = struct.unpack_from("<Q", blob, 0)
    cells = pa.ipc.open_stream(buffer.slice(8, length)).read_all()
    values = pa.ipc.open_stream(buffer.slice(8 + length)).read_all()
    meta = json.loads(cells.schema.metadata[b"qbt"])
    n_days, n_stocks = len(meta["dates"]), len(meta["codes"])
    close = _column(cells, "close").reshape(n_days, n_stocks)
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1.0
    return FactorPanel(
        version=meta["version"],
        dates=np.array(meta["dates"], dtype="datetime64[D]"),
        codes=np.array(meta["codes"]),
        names=np.array(meta["names"]),
        market=np.array(meta["market"]),
        sector=np.array(meta["sector"]),
        factor_names=tuple(meta["factor_names"]),
        values=_column(values, "values").reshape(len(meta["factor_names"]), n_days, n_stocks),
        close=close,
        returns=returns,
        tradable=_column(cells, "tradable").reshape(n_days, n_stocks),
        benchmarks={k: np.asarray(v, dtype=np.float64) for k, v in meta["benchmarks"].items()},
    )


def _column(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    chunk = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return chunk.to_numpy(zero_copy_only=False)
