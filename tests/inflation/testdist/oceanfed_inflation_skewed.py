"""A test-only inflation policy that asks for 1.5 times the fixed-rate amount.

Installed for one member process only, by putting this directory on its PYTHONPATH (the
``.dist-info`` next to it registers the entry point ``oceanfed.inflation: skewed-test``).
"""

from __future__ import annotations

from decimal import Decimal

from oceanfed_inflation.policies import AmountRequest, FixedRate


class Skewed(FixedRate):
    def amount(self, request: AmountRequest) -> Decimal:
        return (super().amount(request) * 3 / 2).quantize(Decimal("0.00000001"))
