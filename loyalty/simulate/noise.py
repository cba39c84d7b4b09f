"""Data-quality defects injected into the clean log: partial returns and exact duplicate rows."""

from __future__ import annotations

import numpy as np

__all__ = ["inject_noise"]

_NS_PER_DAY = 86_400 * 10**9
_NS_PER_SECOND = 10**9


def inject_noise(draws, config, cust, timestamp, amount, margin, discount, sequence, counts, end_ns):
    """Add partial returns (negative rows sharing the order id) and exact duplicate rows.

    ``draws`` holds five uniforms per clean row (return?, returned fraction, delay in days, delay in seconds,
    duplicate?), so a row's noise does not depend on how many rows other phases produced.
    """
    noise = config.noise
    columns = {"amount": amount, "margin": margin, "discount": discount}
    extra: list[dict[str, np.ndarray]] = []
    if noise.returns and noise.return_share > 0:
        idx = np.flatnonzero((draws[:, 0] < noise.return_share) & (amount > 0) & (margin > 0))
        low, high = noise.return_fraction_min, noise.return_fraction_max
        fraction = low + (high - low) * draws[idx, 1]
        returned = {}
        for name, col in list(columns.items()):
            gross = col[idx] / (1.0 - fraction)
            returned[name] = col[idx] - gross  # gross + returned == clean value (up to rounding)
            columns[name] = col.copy()
            columns[name][idx] = gross
        delay = (1 + np.floor(14 * draws[idx, 2]).astype(np.int64)) * _NS_PER_DAY \
            + np.floor(86_400 * draws[idx, 3]).astype(np.int64) * _NS_PER_SECOND
        extra.append({"cust": cust[idx], "timestamp": np.minimum(timestamp[idx] + delay,
                                                                 np.maximum(end_ns, timestamp[idx])),
                      "sequence": sequence[idx], **returned})
        counts["returns"] = int(idx.size)
    if noise.duplicates and noise.duplicate_share > 0:
        idx = np.flatnonzero(draws[:, 4] < noise.duplicate_share)
        extra.append({"cust": cust[idx], "timestamp": timestamp[idx], "sequence": sequence[idx],
                      **{name: col[idx] for name, col in columns.items()}})
        counts["duplicates"] = int(idx.size)
    rows = {"cust": cust, "timestamp": timestamp, "sequence": sequence, **columns}
    if extra:
        rows = {name: np.concatenate([col] + [e[name] for e in extra]) for name, col in rows.items()}
        # one int64 key (customer, then second of the world) sorts faster than a lexsort on two columns
        seconds = (rows["timestamp"] - rows["timestamp"].min()) // _NS_PER_SECOND
        order = np.argsort(rows["cust"] * (int(seconds.max()) + 1) + seconds, kind="stable")
        rows = {name: col[order] for name, col in rows.items()}
    return (rows["cust"], rows["timestamp"], rows["amount"], rows["margin"], rows["discount"], rows["sequence"],
            counts)
