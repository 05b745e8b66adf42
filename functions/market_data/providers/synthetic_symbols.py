"""What the synthetic provider knows about each symbol of the default universe.

Approximate real figures, good enough to make the generated history look like
the market (they are not market data): split-adjusted closing levels on a few
dates (`LEVEL_DATES`), daily volatility, typical value traded a day, late
listings (coins launched after 2015), the real stock splits since 2015, and
cash dividend schedules with approximately the amounts paid. A symbol missing
here still gets a deterministic history, from levels derived from its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from market_data.corporate_actions import Dividend, Split

# The levels below are closes near these days, in today's (split-adjusted) shares.
LEVEL_DATES = (
    date(2015, 1, 2),
    date(2020, 1, 2),
    date(2021, 1, 4),
    date(2022, 1, 3),
    date(2023, 1, 3),
    date(2024, 1, 2),
    date(2025, 1, 2),
    date(2026, 1, 2),
    date(2026, 12, 1),
)
# The March 2020 sell-off: stocks and ETFs bottomed on the 23rd, crypto on the 12th.
EQUITY_CRASH_DAY = date(2020, 3, 23)
CRYPTO_CRASH_DAY = date(2020, 3, 12)

# Average value of one trade, USD: what turns traded value into a trade count.
TRADE_VALUE = {"stock": 11_000.0, "etf": 22_000.0, "crypto": 1_500.0}

_: None = None  # not trading yet on that date


@dataclass(frozen=True, slots=True)
class Profile:
    levels: tuple[float | None, ...]  # split-adjusted close near each of LEVEL_DATES
    volatility: float  # standard deviation of daily log returns
    dollar_volume: float = 0.0  # typical value traded a day, USD (0: an index, no volume)
    crash: float = 1.0  # close on the crash day as a share of the January 2020 level
    listed: tuple[date, float] | None = None  # first trading day and its price
    anchors: tuple[tuple[date, float], ...] = ()  # more (day, level) points (VIX spikes)


PROFILES: dict[str, Profile] = {
    # Stocks --------------------------------------------------------------------
    "AAPL": Profile((27, 75, 130, 180, 125, 185, 245, 270, 280), 0.018, 11e9, 0.76),
    "MSFT": Profile((46.8, 160, 220, 335, 240, 370, 420, 480, 500), 0.016, 8e9, 0.85),
    "GOOGL": Profile((26.5, 68, 87, 145, 89, 139, 190, 315, 300), 0.019, 5e9, 0.77),
    "AMZN": Profile((15.4, 94, 160, 168, 85, 150, 220, 230, 240), 0.021, 8e9, 0.88),
    "META": Profile((78, 208, 270, 338, 125, 345, 600, 650, 680), 0.026, 8e9, 0.70),
    "NVDA": Profile((0.5, 5.9, 13, 30, 14.5, 48, 138, 185, 190), 0.031, 30e9, 0.82),
    "TSLA": Profile((14.6, 28, 243, 400, 108, 248, 410, 440, 420), 0.036, 25e9, 0.55),
    "AMD": Profile((2.7, 49, 92, 145, 64, 138, 122, 215, 220), 0.031, 7e9, 0.80),
    "NFLX": Profile((4.9, 33, 54, 60, 29.5, 47, 89, 110, 115), 0.025, 3e9, 0.92),
    "BRK.B": Profile((150, 226, 232, 300, 308, 357, 455, 500, 510), 0.011, 1.5e9, 0.71),
    "JPM": Profile((62, 140, 128, 160, 135, 170, 240, 310, 320), 0.016, 2.5e9, 0.58),
    "V": Profile((65.5, 190, 218, 217, 208, 260, 316, 350, 360), 0.014, 2e9, 0.70),
    "XOM": Profile((92, 70, 41, 61, 110, 100, 107, 115, 118), 0.018, 2e9, 0.45),
    "PG": Profile((91, 125, 139, 164, 152, 147, 168, 150, 152), 0.011, 1.2e9, 0.80),
    "KO": Profile((42, 55, 54, 59, 63, 59, 62, 70, 72), 0.010, 1e9, 0.68),
    "PEP": Profile((94, 137, 148, 174, 181, 170, 152, 145, 150), 0.011, 1e9, 0.80),
    "COST": Profile((142, 294, 377, 568, 456, 660, 916, 920, 950), 0.013, 1.8e9, 0.95),
    "INTC": Profile((36, 60, 50, 52, 26.5, 50, 20, 37, 38), 0.025, 2e9, 0.72),
    "BA": Profile((130, 330, 214, 201, 190, 260, 177, 215, 220), 0.025, 2e9, 0.28),
    "DIS": Profile((94, 145, 181, 155, 87, 90, 111, 112, 115), 0.017, 1.2e9, 0.58),
    # ETFs ----------------------------------------------------------------------
    "SPY": Profile((205, 322, 373, 477, 383, 472, 585, 640, 650), 0.011, 30e9, 0.69),
    "QQQ": Profile((103, 214, 310, 400, 267, 400, 515, 600, 610), 0.014, 17e9, 0.78),
    "DIA": Profile((178, 285, 305, 363, 331, 376, 425, 480, 490), 0.010, 1e9, 0.66),
    "IWM": Profile((119, 166, 197, 222, 175, 200, 222, 245, 250), 0.015, 5e9, 0.60),
    "TLT": Profile((127, 136, 163, 148, 100, 98, 87, 88, 90), 0.010, 2.5e9, 1.12),
    "XLK": Profile((41, 93, 131, 174, 125, 195, 235, 290, 295), 0.015, 1.5e9, 0.78),
    "XLF": Profile((24.7, 31, 30, 39, 34, 37, 48, 54, 55), 0.013, 1.6e9, 0.60),
    "EEM": Profile((39, 45, 53, 49, 39, 40, 42, 53, 54), 0.012, 1.5e9, 0.70),
    "ARKK": Profile((20, 50, 128, 93, 30, 52, 57, 80, 78), 0.025, 0.8e9, 0.62),
    "GLD": Profile((114, 143, 179, 169, 170, 190, 240, 390, 400), 0.009, 2e9, 0.99),
    "SLV": Profile((15.5, 16.5, 24, 21, 22, 21, 26, 46, 48), 0.018, 0.8e9, 0.72),
    "XLE": Profile((80, 60, 39, 56, 88, 84, 86, 88, 90), 0.018, 1.2e9, 0.46),
    "XLV": Profile((68, 102, 113, 137, 136, 137, 138, 150, 152), 0.010, 1e9, 0.78),
    "XLI": Profile((56, 82, 88, 104, 98, 113, 133, 150, 152), 0.012, 0.9e9, 0.62),
    "XLP": Profile((48, 63, 67, 77, 75, 73, 79, 79, 80), 0.008, 0.8e9, 0.80),
    "XLY": Profile((72, 126, 164, 204, 130, 180, 225, 235, 240), 0.014, 0.7e9, 0.70),
    "XLRE": Profile(
        (_, 39, 36, 46, 37, 41, 41, 41, 42), 0.013, 0.3e9, 0.65, (date(2015, 10, 8), 30.5)
    ),
    "XLU": Profile((47, 65, 63, 71, 70, 63, 75, 85, 86), 0.011, 0.9e9, 0.70),
    "SCHB": Profile((8.2, 12.9, 15.1, 19.3, 15.1, 19, 23.5, 26, 26.5), 0.011, 0.2e9, 0.68),
    # Indices ---------------------------------------------------------------------
    "VIX": Profile(
        (17.8, 13.8, 22.7, 17.2, 21.7, 12.5, 17.9, 16, 16.5),
        0.065,
        anchors=(
            (date(2020, 2, 19), 14.4),
            (date(2020, 3, 16), 76),
            (date(2020, 4, 14), 38),
            (date(2020, 6, 1), 28),
            (date(2020, 10, 30), 38),
            (date(2021, 6, 1), 17),
            (date(2022, 3, 7), 33),
            (date(2022, 6, 16), 32),
            (date(2022, 10, 12), 33),
            (date(2023, 6, 1), 15),
            (date(2024, 8, 5), 38),
            (date(2024, 9, 3), 20),
            (date(2025, 4, 8), 52),
            (date(2025, 5, 15), 18),
        ),
    ),
    # Crypto (calendar days; the value traded is what Polygon's feed aggregates) ----------
    "BTC-USD": Profile(
        (315, 7200, 29000, 47000, 16600, 44000, 94000, 95000, 90000), 0.030, 1.5e9, 0.68
    ),
    "ETH-USD": Profile(
        (_, 130, 730, 3700, 1200, 2350, 3350, 3100, 3000),
        0.038,
        0.8e9,
        0.85,
        (date(2015, 8, 7), 2.8),
    ),
    "BNB-USD": Profile(
        (_, 13.7, 37.7, 520, 246, 313, 700, 880, 850), 0.035, 0.1e9, 0.70, (date(2017, 7, 25), 0.11)
    ),
    "SOL-USD": Profile(
        (_, _, 1.5, 170, 10, 100, 190, 130, 140), 0.050, 0.3e9, listed=(date(2020, 4, 10), 0.95)
    ),
    "XRP-USD": Profile((0.024, 0.19, 0.22, 0.83, 0.34, 0.62, 2.4, 2.1, 2.0), 0.045, 0.3e9, 0.75),
    "ADA-USD": Profile(
        (_, 0.033, 0.18, 1.37, 0.25, 0.6, 0.85, 0.4, 0.42),
        0.045,
        0.1e9,
        0.70,
        (date(2017, 10, 1), 0.025),
    ),
    "AVAX-USD": Profile(
        (_, _, 3.6, 110, 11, 38, 37, 14, 15), 0.052, 0.06e9, listed=(date(2020, 9, 22), 4.5)
    ),
    "DOT-USD": Profile(
        (_, _, 9.5, 27, 4.4, 8.4, 6.8, 2.5, 2.6), 0.047, 0.05e9, listed=(date(2020, 8, 19), 2.9)
    ),
    "MATIC-USD": Profile(
        (_, 0.015, 0.018, 2.5, 0.76, 0.98, 0.45, 0.15, 0.15),
        0.052,
        0.03e9,
        0.70,
        (date(2019, 4, 26), 0.004),
    ),
    "ATOM-USD": Profile(
        (_, 4.0, 5.9, 30, 9.6, 10.5, 6.5, 2.4, 2.5), 0.047, 0.03e9, 0.70, (date(2019, 3, 14), 7.0)
    ),
    "DOGE-USD": Profile(
        (0.00021, 0.002, 0.0056, 0.17, 0.07, 0.09, 0.33, 0.15, 0.15), 0.055, 0.2e9, 0.75
    ),
    "SHIB-USD": Profile(
        (_, _, _, 0.000033, 0.0000082, 0.0000105, 0.000021, 0.0000085, 0.0000088),
        0.060,
        0.05e9,
        listed=(date(2021, 5, 10), 0.000013),
    ),
    "LINK-USD": Profile(
        (_, 1.8, 13, 20, 5.6, 15, 21, 13, 13.5), 0.048, 0.06e9, 0.70, (date(2017, 9, 20), 0.19)
    ),
    "AAVE-USD": Profile(
        (_, _, 90, 270, 52, 108, 320, 180, 185), 0.052, 0.03e9, listed=(date(2020, 10, 2), 50)
    ),
    "UNI-USD": Profile(
        (_, _, 5, 17, 5.3, 7.5, 13.5, 5.8, 6), 0.050, 0.03e9, listed=(date(2020, 9, 17), 3.5)
    ),
    "OP-USD": Profile(
        (_, _, _, _, 0.9, 3.6, 1.9, 0.32, 0.33), 0.055, 0.02e9, listed=(date(2022, 5, 31), 1.4)
    ),
    "ARB-USD": Profile(
        (_, _, _, _, _, 1.8, 0.75, 0.21, 0.22), 0.055, 0.03e9, listed=(date(2023, 3, 23), 1.25)
    ),
    "INJ-USD": Profile(
        (_, _, 2.8, 5, 1.3, 38, 23, 5.5, 5.6), 0.058, 0.02e9, listed=(date(2020, 10, 21), 1.8)
    ),
    "LTC-USD": Profile((2.7, 42, 125, 147, 70, 73, 103, 80, 82), 0.038, 0.1e9, 0.80),
    "NEAR-USD": Profile(
        (_, _, 1.3, 16, 1.3, 3.6, 5.2, 1.7, 1.8), 0.052, 0.03e9, listed=(date(2020, 10, 13), 1.0)
    ),
}

# Real splits since 2015 of the symbols above (a 4-for-1 split is split_from=1, split_to=4).
SPLITS: dict[str, tuple[Split, ...]] = {
    "AAPL": (Split(date(2020, 8, 31), 1, 4),),
    "AMZN": (Split(date(2022, 6, 6), 1, 20),),
    "GOOGL": (Split(date(2022, 7, 18), 1, 20),),
    "NFLX": (Split(date(2015, 7, 15), 1, 7), Split(date(2025, 11, 17), 1, 10)),
    "NVDA": (Split(date(2021, 7, 20), 1, 4), Split(date(2024, 6, 10), 1, 10)),
    "TSLA": (Split(date(2020, 8, 31), 1, 5), Split(date(2022, 8, 25), 1, 3)),
    "V": (Split(date(2015, 3, 19), 1, 4),),
}


@dataclass(frozen=True, slots=True)
class DividendPlan:
    """A payer's regular cash dividends (and its special ones, listed as paid).

    Ex-dates fall on the first session on or after each (month, day) of
    `ex_days`; the amount per share is the last of `amounts` dated on or before
    the ex-date (0 while the dividend is suspended), as paid at the time
    (before later splits). ETFs give `yearly_yield` instead: each distribution
    is its share of the approximate price level at the start of the year.
    """

    ex_days: tuple[tuple[int, int], ...]
    amounts: tuple[tuple[date, float], ...] = ()
    declared_days_before: int = 28  # declaration to ex-date
    paid_days_after: int = 14  # record date to pay date
    yearly_yield: float = 0.0
    specials: tuple[Dividend, ...] = ()


def _quarters(first_month: int, day: int) -> tuple[tuple[int, int], ...]:
    return tuple((first_month + 3 * q, day) for q in range(4))


def _monthly(day: int) -> tuple[tuple[int, int], ...]:
    return tuple((month, day) for month in range(1, 13))


_SPDR = _quarters(3, 18)  # Select Sector SPDRs: around the third Friday of the quarter's last month

DIVIDENDS: dict[str, DividendPlan] = {
    "AAPL": DividendPlan(
        _quarters(2, 8),
        (
            (date(2015, 1, 1), 0.47),
            (date(2015, 5, 1), 0.52),
            (date(2016, 5, 1), 0.57),
            (date(2017, 5, 1), 0.63),
            (date(2018, 5, 1), 0.73),
            (date(2019, 5, 1), 0.77),
            (date(2020, 5, 1), 0.82),
            (date(2020, 8, 31), 0.205),
            (date(2021, 5, 1), 0.22),
            (date(2022, 5, 1), 0.23),
            (date(2023, 5, 1), 0.24),
            (date(2024, 5, 1), 0.25),
            (date(2025, 5, 1), 0.26),
            (date(2026, 5, 1), 0.27),
        ),
        declared_days_before=9,
        paid_days_after=4,
    ),
    "MSFT": DividendPlan(
        _quarters(2, 18),
        (
            (date(2015, 1, 1), 0.31),
            (date(2015, 11, 1), 0.36),
            (date(2016, 11, 1), 0.39),
            (date(2017, 11, 1), 0.42),
            (date(2018, 11, 1), 0.46),
            (date(2019, 11, 1), 0.51),
            (date(2020, 11, 1), 0.56),
            (date(2021, 11, 1), 0.62),
            (date(2022, 11, 1), 0.68),
            (date(2023, 11, 1), 0.75),
            (date(2024, 11, 1), 0.83),
            (date(2025, 11, 1), 0.91),
        ),
        declared_days_before=35,
        paid_days_after=24,
    ),
    "GOOGL": DividendPlan(
        _quarters(3, 9),
        (
            (date(2015, 1, 1), 0.0),
            (date(2024, 6, 1), 0.20),
            (date(2025, 6, 1), 0.21),
            (date(2026, 6, 1), 0.22),
        ),
        declared_days_before=40,
        paid_days_after=6,
    ),
    "META": DividendPlan(
        _quarters(3, 15),
        (
            (date(2015, 1, 1), 0.0),
            (date(2024, 3, 1), 0.50),
            (date(2025, 3, 1), 0.525),
            (date(2026, 3, 1), 0.55),
        ),
        declared_days_before=40,
        paid_days_after=10,
    ),
    "NVDA": DividendPlan(
        _quarters(3, 6),
        (
            (date(2015, 1, 1), 0.085),
            (date(2015, 5, 1), 0.0975),
            (date(2016, 5, 1), 0.115),
            (date(2016, 11, 1), 0.14),
            (date(2017, 11, 1), 0.15),
            (date(2018, 11, 1), 0.16),
            (date(2021, 7, 20), 0.04),
            (date(2024, 6, 10), 0.01),
        ),
        declared_days_before=14,
        paid_days_after=20,
    ),
    "JPM": DividendPlan(
        _quarters(1, 5),
        (
            (date(2015, 1, 1), 0.40),
            (date(2015, 7, 1), 0.44),
            (date(2016, 7, 1), 0.48),
            (date(2017, 7, 1), 0.56),
            (date(2018, 7, 1), 0.80),
            (date(2019, 7, 1), 0.90),
            (date(2021, 10, 1), 1.00),
            (date(2023, 10, 1), 1.05),
            (date(2024, 4, 1), 1.15),
            (date(2024, 10, 1), 1.25),
            (date(2025, 4, 1), 1.40),
            (date(2025, 10, 1), 1.50),
        ),
        declared_days_before=20,
        paid_days_after=25,
    ),
    "V": DividendPlan(
        _quarters(2, 10),
        (
            (date(2015, 1, 1), 0.48),
            (date(2015, 3, 19), 0.12),
            (date(2015, 11, 1), 0.14),
            (date(2016, 11, 1), 0.165),
            (date(2017, 11, 1), 0.195),
            (date(2018, 11, 1), 0.25),
            (date(2019, 11, 1), 0.30),
            (date(2020, 11, 1), 0.32),
            (date(2021, 11, 1), 0.375),
            (date(2022, 11, 1), 0.45),
            (date(2023, 11, 1), 0.52),
            (date(2024, 11, 1), 0.59),
            (date(2025, 11, 1), 0.67),
        ),
        declared_days_before=18,
        paid_days_after=21,
    ),
    "XOM": DividendPlan(
        _quarters(2, 10),
        (
            (date(2015, 1, 1), 0.69),
            (date(2015, 5, 1), 0.73),
            (date(2016, 5, 1), 0.75),
            (date(2017, 5, 1), 0.77),
            (date(2018, 5, 1), 0.82),
            (date(2019, 5, 1), 0.87),
            (date(2021, 11, 1), 0.88),
            (date(2022, 11, 1), 0.91),
            (date(2023, 11, 1), 0.95),
            (date(2024, 11, 1), 0.99),
            (date(2025, 11, 1), 1.03),
        ),
        declared_days_before=14,
        paid_days_after=28,
    ),
    "PG": DividendPlan(
        _quarters(1, 20),
        (
            (date(2015, 1, 1), 0.6436),
            (date(2015, 4, 1), 0.6629),
            (date(2016, 4, 1), 0.6695),
            (date(2017, 4, 1), 0.6896),
            (date(2018, 4, 1), 0.7172),
            (date(2019, 4, 1), 0.7459),
            (date(2020, 4, 1), 0.7907),
            (date(2021, 4, 1), 0.8698),
            (date(2022, 4, 1), 0.9133),
            (date(2023, 4, 1), 0.9407),
            (date(2024, 4, 1), 1.0065),
            (date(2025, 4, 1), 1.0568),
            (date(2026, 4, 1), 1.10),
        ),
        declared_days_before=12,
        paid_days_after=25,
    ),
    "KO": DividendPlan(
        ((3, 13), (6, 13), (9, 14), (11, 29)),
        (
            (date(2015, 1, 1), 0.33),
            (date(2016, 3, 1), 0.35),
            (date(2017, 3, 1), 0.37),
            (date(2018, 3, 1), 0.39),
            (date(2019, 3, 1), 0.40),
            (date(2020, 3, 1), 0.41),
            (date(2021, 3, 1), 0.42),
            (date(2022, 3, 1), 0.44),
            (date(2023, 3, 1), 0.46),
            (date(2024, 3, 1), 0.485),
            (date(2025, 3, 1), 0.51),
            (date(2026, 3, 1), 0.53),
        ),
        declared_days_before=30,
        paid_days_after=16,
    ),
    "PEP": DividendPlan(
        _quarters(3, 5),
        (
            (date(2015, 1, 1), 0.655),
            (date(2015, 6, 1), 0.7025),
            (date(2016, 6, 1), 0.7525),
            (date(2017, 6, 1), 0.805),
            (date(2018, 6, 1), 0.9275),
            (date(2019, 6, 1), 0.955),
            (date(2020, 6, 1), 1.0225),
            (date(2021, 6, 1), 1.075),
            (date(2022, 6, 1), 1.15),
            (date(2023, 6, 1), 1.265),
            (date(2024, 6, 1), 1.355),
            (date(2025, 6, 1), 1.4225),
            (date(2026, 6, 1), 1.49),
        ),
        declared_days_before=25,
        paid_days_after=25,
    ),
    "COST": DividendPlan(
        ((2, 6), (4, 25), (7, 27), (10, 27)),
        (
            (date(2015, 1, 1), 0.355),
            (date(2015, 5, 1), 0.40),
            (date(2016, 5, 1), 0.45),
            (date(2017, 5, 1), 0.50),
            (date(2018, 5, 1), 0.57),
            (date(2019, 5, 1), 0.65),
            (date(2020, 5, 1), 0.70),
            (date(2021, 5, 1), 0.79),
            (date(2022, 5, 1), 0.90),
            (date(2023, 5, 1), 1.02),
            (date(2024, 5, 1), 1.16),
            (date(2025, 5, 1), 1.30),
            (date(2026, 5, 1), 1.47),
        ),
        declared_days_before=14,
        paid_days_after=10,
        specials=(
            Dividend(
                date(2015, 2, 4),
                5.0,
                declaration_date=date(2015, 1, 30),
                record_date=date(2015, 2, 6),
                pay_date=date(2015, 2, 27),
                dividend_type="SC",
                frequency=0,
            ),
            Dividend(
                date(2017, 5, 8),
                7.0,
                declaration_date=date(2017, 4, 26),
                record_date=date(2017, 5, 10),
                pay_date=date(2017, 5, 26),
                dividend_type="SC",
                frequency=0,
            ),
            Dividend(
                date(2020, 12, 1),
                10.0,
                declaration_date=date(2020, 11, 16),
                record_date=date(2020, 12, 2),
                pay_date=date(2020, 12, 11),
                dividend_type="SC",
                frequency=0,
            ),
            Dividend(
                date(2023, 12, 27),
                15.0,
                declaration_date=date(2023, 12, 14),
                record_date=date(2023, 12, 28),
                pay_date=date(2024, 1, 12),
                dividend_type="SC",
                frequency=0,
            ),
        ),
    ),
    "INTC": DividendPlan(
        _quarters(2, 6),
        (
            (date(2015, 1, 1), 0.24),
            (date(2016, 1, 1), 0.26),
            (date(2017, 1, 1), 0.2725),
            (date(2018, 1, 1), 0.30),
            (date(2019, 1, 1), 0.315),
            (date(2020, 1, 1), 0.33),
            (date(2021, 1, 1), 0.3475),
            (date(2022, 1, 1), 0.365),
            (date(2023, 5, 1), 0.125),
            (date(2024, 11, 1), 0.0),
        ),
        declared_days_before=14,
        paid_days_after=25,
    ),
    "DIS": DividendPlan(
        ((7, 8), (12, 10)),
        (
            (date(2015, 1, 1), 0.66),
            (date(2015, 7, 1), 0.71),
            (date(2016, 12, 1), 0.78),
            (date(2017, 7, 1), 0.78),
            (date(2017, 12, 1), 0.84),
            (date(2018, 12, 1), 0.88),
            (date(2020, 6, 1), 0.0),
            (date(2023, 12, 1), 0.30),
            (date(2024, 7, 1), 0.45),
            (date(2024, 12, 1), 0.50),
            (date(2025, 12, 1), 0.75),
        ),
        declared_days_before=30,
        paid_days_after=30,
    ),
    "BA": DividendPlan(
        _quarters(2, 12),
        (
            (date(2015, 1, 1), 0.91),
            (date(2016, 1, 1), 1.09),
            (date(2017, 1, 1), 1.42),
            (date(2018, 1, 1), 1.71),
            (date(2019, 1, 1), 2.055),
            (date(2020, 3, 1), 0.0),
        ),
        declared_days_before=60,
        paid_days_after=20,
    ),
    # ETFs: distributions as a yield on the level ------------------------------------------
    "SPY": DividendPlan(
        _quarters(3, 17), yearly_yield=0.016, declared_days_before=1, paid_days_after=40
    ),
    "QQQ": DividendPlan(
        _quarters(3, 20), yearly_yield=0.006, declared_days_before=3, paid_days_after=7
    ),
    "DIA": DividendPlan(
        _monthly(16), yearly_yield=0.017, declared_days_before=1, paid_days_after=25
    ),
    "IWM": DividendPlan(
        _quarters(3, 10), yearly_yield=0.012, declared_days_before=1, paid_days_after=5
    ),
    "TLT": DividendPlan(_monthly(1), yearly_yield=0.035, declared_days_before=1, paid_days_after=5),
    "XLK": DividendPlan(_SPDR, yearly_yield=0.007, declared_days_before=1, paid_days_after=5),
    "XLF": DividendPlan(_SPDR, yearly_yield=0.018, declared_days_before=1, paid_days_after=5),
    "XLE": DividendPlan(_SPDR, yearly_yield=0.035, declared_days_before=1, paid_days_after=5),
    "XLV": DividendPlan(_SPDR, yearly_yield=0.015, declared_days_before=1, paid_days_after=5),
    "XLI": DividendPlan(_SPDR, yearly_yield=0.015, declared_days_before=1, paid_days_after=5),
    "XLP": DividendPlan(_SPDR, yearly_yield=0.026, declared_days_before=1, paid_days_after=5),
    "XLY": DividendPlan(_SPDR, yearly_yield=0.008, declared_days_before=1, paid_days_after=5),
    "XLRE": DividendPlan(_SPDR, yearly_yield=0.033, declared_days_before=1, paid_days_after=5),
    "XLU": DividendPlan(_SPDR, yearly_yield=0.030, declared_days_before=1, paid_days_after=5),
    "EEM": DividendPlan(
        ((6, 8), (12, 10)), yearly_yield=0.02, declared_days_before=1, paid_days_after=5
    ),
    "SCHB": DividendPlan(
        _quarters(3, 22), yearly_yield=0.013, declared_days_before=7, paid_days_after=4
    ),
}
