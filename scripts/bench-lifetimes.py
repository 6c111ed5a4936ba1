#!/usr/bin/env python3
"""Runs the `lifetimes` package on the summary `concierge bench analytics --export-summary F`
wrote, times its fit and scoring the way Concierge's figure is taken (BG/NBD fit, Gamma-Gamma fit
on repeat buyers, then P(alive), expected purchases over the horizon and 12-month CLV for every
customer), and compares estimates and time with Concierge's (read from F.json).

Usage (a venv with `pip install lifetimes`, not part of the test suite):
    concierge bench analytics --customers 1000000 --no-store --export-summary /tmp/s.csv
    python3 scripts/bench-lifetimes.py /tmp/s.csv
"""
import json
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter


def main(path):
    ours = json.load(open(path + ".json"))
    df = pd.read_csv(path)
    scoring = ours["scoring"]
    freq = "W" if ours["time_unit"] == "week" else "D"

    t0 = time.perf_counter()
    bgf = BetaGeoFitter(penalizer_coef=0.0)
    bgf.fit(df["frequency"], df["recency"], df["T"])
    t1 = time.perf_counter()
    repeat = df[df["frequency"] > 0]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])
    t2 = time.perf_counter()
    alive = bgf.conditional_probability_alive(df["frequency"], df["recency"], df["T"])
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(
        scoring["horizon"], df["frequency"], df["recency"], df["T"]
    )
    spend = ggf.conditional_expected_average_profit(df["frequency"], df["monetary_value"])
    clv = ggf.customer_lifetime_value(
        bgf,
        df["frequency"],
        df["recency"],
        df["T"],
        df["monetary_value"],
        time=scoring["clv_months"],
        discount_rate=scoring["monthly_discount_rate"],
        freq=freq,
    )
    t3 = time.perf_counter()

    lt = {
        "fit_bgnbd": (t1 - t0) * 1000,
        "fit_gamma_gamma": (t2 - t1) * 1000,
        "score": (t3 - t2) * 1000,
        "fit_and_score": (t3 - t0) * 1000,
    }
    print(f"{len(df)} customers, {int((df['frequency'] > 0).sum())} repeat buyers, unit {ours['time_unit']}")
    print(f"{'stage':<16}{'lifetimes ms':>14}{'concierge ms':>14}{'ratio':>9}")
    for k in ["fit_bgnbd", "fit_gamma_gamma", "score", "fit_and_score"]:
        c = ours["timings_ms"][k]
        print(f"{k:<16}{lt[k]:>14.1f}{c:>14.1f}{lt[k] / c if c > 0 else float('inf'):>8.1f}x")

    print("\nestimate          lifetimes        concierge      rel. diff")
    worst = 0.0
    pairs = [("r", bgf.params_["r"], ours["bgnbd"]["r"]),
             ("alpha", bgf.params_["alpha"], ours["bgnbd"]["alpha"]),
             ("a", bgf.params_["a"], ours["bgnbd"]["a"]),
             ("b", bgf.params_["b"], ours["bgnbd"]["b"]),
             ("p", ggf.params_["p"], ours["gamma_gamma"]["p"]),
             ("q", ggf.params_["q"], ours["gamma_gamma"]["q"]),
             ("v", ggf.params_["v"], ours["gamma_gamma"]["v"]),
             ("mean P(alive)", alive.mean(), ours["mean_prob_alive"]),
             ("mean E[purch.]", expected.mean(), ours["mean_expected_purchases"]),
             ("total CLV", clv.sum(), ours["total_clv"])]
    for name, a, b in pairs:
        rel = abs(a - b) / max(abs(a), 1e-12)
        worst = max(worst, rel)
        print(f"{name:<16}{a:>15.6g}{b:>17.6g}{rel:>14.2e}")
    print(f"\nlargest relative difference {worst:.2e}; fit + scoring "
          f"{lt['fit_and_score'] / ours['timings_ms']['fit_and_score']:.1f}x faster than lifetimes")


if __name__ == "__main__":
    main(sys.argv[1])
