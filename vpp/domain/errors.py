"""Domain errors (each names the offending field and rule) and the range checks that raise them."""

from __future__ import annotations

import math


class DomainError(ValueError):
    """Base of every error raised by `vpp.domain`; a `ValueError`, so generic handlers see a 4xx."""


class InvalidParameterError(DomainError):
    """A parameter breaks a physical or logical rule.

    `field` is the parameter name, `rule` a short machine name (e.g. "non_negative",
    "soc_order", "efficiency_range", "unknown_field", "required") and `detail` the human
    complaint. `str(err)` reads "<field> <detail> (rule: <rule>)", so it always begins with
    the field name, e.g. "soc_min must not exceed soc_max (rule: soc_order)".
    """

    def __init__(self, field: str, rule: str, detail: str) -> None:
        self.field = field
        self.rule = rule
        self.detail = detail
        super().__init__(f"{field} {detail} (rule: {rule})")

    @property
    def message(self) -> str:
        """The human sentence without the rule, e.g. "soc_min must not exceed soc_max"."""
        return f"{self.field} {self.detail}"


class NaiveDatetimeError(InvalidParameterError):
    """A naive datetime was given where an aware instant is required (rule "timezone_aware")."""

    def __init__(self, field: str = "timestamp") -> None:
        super().__init__(
            field, "timezone_aware", "must be timezone-aware (e.g. 2026-11-25T08:00:00+08:00)"
        )


def check_number(field: str, value: object, *, allow_infinite: bool = False) -> float:
    """Return `value` as a float; reject non-numbers and bools ("type"), NaN and ±inf ("finite").

    With `allow_infinite`, ±inf is accepted (NaN never is).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(field, "type", f"must be a number, got {value!r}")
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_infinite):
        raise InvalidParameterError(field, "finite", f"must be a finite number, got {value!r}")
    return number


def check_range(
    field: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    rule: str,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return `value` as a finite float within the interval low..high, else raise under `rule`.

    `low_open` / `high_open` exclude the end points, e.g. (0, 1] for an efficiency.
    """
    number = check_number(field, value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        if math.isinf(high):
            bound = f"{'>' if low_open else '>='} {low:g}"
        elif math.isinf(low):
            bound = f"{'<' if high_open else '<='} {high:g}"
        else:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            bound = f"in {left}{low:g}, {high:g}{right}"
        raise InvalidParameterError(field, rule, f"must be {bound}, got {number:g}")
    return number
