"""Words for experiment decisions: a one-line reason with the numbers, and a paragraph a marketer understands.

Why: every decision that moves money carries its reason and an explanation (DESIGN.md, "Deciding and acting"). The
reader is a marketer, so the paragraph says what was compared, by how much, how sure we are and what to do, and
glosses the one statistical idea it needs (an interval that stays valid however often the test is checked).
"""

from __future__ import annotations

import math

from optimizer_pipeline.lib.decisions.srm import CHECKS

#: Metric -> (short name, plain description).
METRIC_WORDS: dict[str, tuple[str, str]] = {
    "ctr": ("CTR", "click-through rate (clicks per impression)"),
    "cvr": ("CVR", "conversion rate (conversions per click)"),
    "cpa": ("CPA", "cost per acquisition (spend per conversion)"),
    "roas": ("ROAS", "return on ad spend (revenue per unit of spend)"),
    "revenue_per_impression": ("revenue per impression", "revenue per impression"),
}
SURE = (
    "This range stays valid however often the test is checked (a repeated confidence interval), so checking every "
    "few hours does not inflate the risk of a false call"
)


def pct(x: float) -> str:
    """Signed percentage, one decimal; infinite ends as words."""
    if not math.isfinite(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x:+.1%}"


def interval(low: float, high: float) -> str:
    """``[low, high]`` as signed percentages (a lift of -100 % is the lowest possible)."""
    return f"{pct(low)} to {pct(high)}"


def value(metric: str, x: float) -> str:
    """A metric value in its usual unit."""
    if not math.isfinite(x):
        return "n/a"
    if metric in ("ctr", "cvr"):
        return f"{x:.2%}"
    if metric == "roas":
        return f"{x:.2f}x"
    if metric == "revenue_per_impression":
        return f"{x:.4f}"
    return f"{x:.2f}"


def short(metric: str) -> str:
    """Short metric name (CTR, CPA, ...)."""
    return METRIC_WORDS[metric][0]


def direction(higher_is_better: bool) -> str:
    """Which way is better, in words."""
    return "higher is better" if higher_is_better else "lower is better"


def insufficient(exp_id: str, missing: str) -> tuple[str, str]:
    """Not enough data: say what is missing."""
    reason = f"not enough data yet: {missing}"
    text = (
        f"Test '{exp_id}' has not collected enough data to be judged fairly: {missing}. Nothing is decided and none "
        "of the test's error budget is used. Keep it running; it is checked again at the next scheduled look."
    )
    return reason, text


def srm(message: str, p_seq: float) -> tuple[str, str]:
    """Sample-ratio mismatch: what it means and what to check."""
    first = message.split(". Results")[0]
    reason = f"traffic split does not match the plan: {first.removeprefix('Sample-ratio mismatch: ')}"
    text = (
        f"{first}. The ads were meant to share the traffic as planned, but they did not; the chance of a gap this "
        f"large from luck alone is at most {max(p_seq, 1e-12):.2g}. When the split drifts, the people who saw each "
        "ad are no longer comparable, so a difference in results could come from who saw the ad rather than the "
        f"ad itself. Every result of this test is blocked: {CHECKS}. The block is permanent for this test (the "
        "check keeps the strongest evidence seen so far); fix the cause and start a new test."
    )
    return reason, text


def guardrail(
    variant: str, metric: str, change: float, low: float, high: float, tolerance: float, higher: bool, alpha: float
) -> tuple[str, str]:
    """A guardrail shown to be degraded beyond its tolerance."""
    limit = pct(-tolerance if higher else tolerance)
    reason = (
        f"guardrail {short(metric)} breached by '{variant}': {pct(change)} (interval {interval(low, high)}), "
        f"tolerated at most {limit}"
    )
    text = (
        f"'{variant}' was allowed to change {METRIC_WORDS[metric][1]} by at most {limit} against the control "
        f"({direction(higher)}). It changed it by {pct(change)}, and the whole range of plausible changes "
        f"({interval(low, high)}) is beyond that limit, with {1 - alpha:.0%} confidence. {SURE}. Do not roll "
        f"'{variant}' out, whatever its main result; the decision is kept on later checks."
    )
    return reason, text


def promote(
    winner: str,
    control: str,
    metric: str,
    lift: float,
    low: float,
    high: float,
    min_lift: float,
    v_value: float,
    c_value: float,
    alpha: float,
    n_variants: int,
) -> tuple[str, str]:
    """A variant beats the control by at least the minimum lift."""
    reason = (
        f"'{winner}' beats '{control}' on {short(metric)} by {pct(lift)} (interval {interval(low, high)}, beyond "
        f"the minimum {min_lift:.1%})"
    )
    shared = (
        f" With {n_variants} variants against one control, the error risk is shared out (Holm's method), so the "
        f"chance of any false winner stays below {alpha:.0%}."
        if n_variants > 1
        else ""
    )
    text = (
        f"We compared the {METRIC_WORDS[metric][1]} of '{winner}' ({value(metric, v_value)}) with the control "
        f"'{control}' ({value(metric, c_value)}). '{winner}' is better by {pct(lift)}, and the range of plausible "
        f"lifts, {interval(low, high)}, lies entirely beyond the smallest change worth acting on ({min_lift:.1%}). "
        f"{SURE}.{shared} Recommendation: roll out '{winner}' and end the test."
    )
    return reason, text


def control_wins(
    loser: str, control: str, metric: str, lift: float, low: float, high: float, alpha: float
) -> tuple[str, str]:
    """Every variant is worse than the control."""
    reason = f"'{loser}' is worse than '{control}' on {short(metric)} by {pct(lift)} (interval {interval(low, high)})"
    text = (
        f"We compared the {METRIC_WORDS[metric][1]} of '{loser}' with the control '{control}'. '{loser}' is worse "
        f"({pct(lift)}), and the whole range of plausible changes ({interval(low, high)}) is on the bad side, with "
        f"{1 - alpha:.0%} confidence. {SURE}. Recommendation: keep '{control}' and end the test."
    )
    return reason, text


def no_difference(metric: str, min_lift: float, spans: str, horizon: bool, days: int) -> tuple[str, str]:
    """Equivalence (all intervals inside +- the minimum) or the planned horizon reached without a winner."""
    if horizon:
        what = f"a lift of at least {min_lift:.1%}" if min_lift > 0 else "a significant difference"
        reason = f"planned {days} days reached without {what} on {short(metric)} ({spans})"
        text = (
            f"The test ran its whole planned duration ({days} days) and no variant proved better on "
            f"{METRIC_WORDS[metric][1]} ({spans}). A smaller difference may exist, but the test was not sized to "
            "find it. Recommendation: keep the control (or the cheaper option) and end the test."
        )
    else:
        reason = f"no variant differs from control by {min_lift:.1%} or more on {short(metric)} ({spans})"
        text = (
            f"On {METRIC_WORDS[metric][1]}, every variant is within {min_lift:.1%} of the control ({spans}): any "
            f"difference that remains is smaller than the smallest change worth acting on. {SURE}. Recommendation: "
            "end the test and keep whichever version is cheaper or simpler to run; the control is the safe default."
        )
    return reason, text


def undecided(metric: str, spans: str, why: str) -> tuple[str, str]:
    """Keep running: the intervals still include both answers."""
    reason = f"not decided yet: {why} on {short(metric)} ({spans})"
    text = (
        f"The data do not decide yet on {METRIC_WORDS[metric][1]}: {why} ({spans}). The ranges narrow as data "
        "arrive. Keep the test running and do not act on the current difference."
    )
    return reason, text


def kept(look_index: int, decided_at: str, reason: str, explanation: str) -> tuple[str, str]:
    """A recorded decision repeated at a later look."""
    return (
        f"decided at look {look_index} on {decided_at}: {reason}",
        f"{explanation} (Decided at check {look_index} on {decided_at}; later data have not contradicted it.)",
    )


def reversed_(old: str, decided_at: str, why: str, reason: str, explanation: str) -> tuple[str, str]:
    """A recorded decision that later data contradict."""
    return (
        f"reversed: {why}; {reason}",
        f"This replaces the earlier decision '{old}' of {decided_at}, because {why}. {explanation}",
    )


def on_pipeline_value(reason: str, explanation: str, money: list[str], context: str) -> tuple[str, str]:
    """A service business's look: say which money metrics are on pipeline value, and add the arms' blended scores."""
    if money:
        names = " and ".join(dict.fromkeys(short(m) for m in money))
        reason = f"{reason} ({names} on pipeline value)"
        explanation = (
            f"{explanation} {names} here {'is' if len(set(money)) == 1 else 'are'} on pipeline value, not observed "
            "revenue: each lead counts at the furthest funnel stage it has reached (its chance of closing x the deal "
            "value, discounted for the days still to wait), because this client's sales close days after the click."
        )
    return reason, f"{explanation} {context}"
