"""Green electricity certificates (GEC, 绿证) from monthly renewable energy: whole MWh only.

The arithmetic lives in `vpp.green.core.certificates` (the park's energy-carbon ledger uses
it too); the green-power rule packs import it from here.
"""

from __future__ import annotations

from vpp.green.core.certificates import KWH_PER_CERTIFICATE, CertificateMonth, certificates_for

__all__ = ["KWH_PER_CERTIFICATE", "CertificateMonth", "certificates_for"]
