"""Register maps shipped with the adapter, by the name a binding can use instead of a map."""

from __future__ import annotations

from adapters.modbus.registers import Access, DataType, RegisterMap, RegisterPoint

SUNSPEC_STORAGE_BASE = 40_000
"""Where SunSpec devices start their register space ("SunS" marker at 40000)."""

SUNSPEC_STORAGE = RegisterMap(
    # SunSpec 701 (DER AC measurement) W: int16 with W_SF = 1, so one count is 10 W
    # (scale 0.01 kW). SunSpec DER models use the generator convention (+ = exporting,
    # i.e. discharging), hence sign -1 for net load.
    power_kw=RegisterPoint(
        address=SUNSPEC_STORAGE_BASE + 100,
        type=DataType.INT16,
        scale=0.01,
        sign=-1,
        sunspec_na=True,
    ),
    # SunSpec 802 (battery) SoC: uint16 percent with SoC_SF = -1 (0.1 %), as a 0-1 fraction.
    soc=RegisterPoint(
        address=SUNSPEC_STORAGE_BASE + 101,
        type=DataType.UINT16,
        scale=0.001,
        sunspec_na=True,
    ),
    # SunSpec 802 ChaSt (charge status) enum16.
    status=RegisterPoint(address=SUNSPEC_STORAGE_BASE + 102, type=DataType.UINT16),
    status_names={
        1: "off",
        2: "empty",
        3: "discharging",
        4: "charging",
        5: "full",
        6: "holding",
        7: "testing",
    },
    # SunSpec 704 (DER AC controls) WSet: int32 active-power setpoint in W (W_SF = 0), same
    # generator convention as W, so sign -1; read back after every write.
    setpoint_kw=RegisterPoint(
        address=SUNSPEC_STORAGE_BASE + 110,
        type=DataType.INT32,
        scale=0.001,
        sign=-1,
        access=Access.READ_WRITE,
    ),
    # SunSpec 704 WSetRvrtTms: uint32 seconds. When it runs out the device reverts WSet to
    # its own default (WSetRvrt), so a command's expiry reaches the device: the adapter
    # writes ceil(expires_at - now) here before every setpoint.
    revert_timeout_s=RegisterPoint(
        address=SUNSPEC_STORAGE_BASE + 112,
        type=DataType.UINT32,
        access=Access.READ_WRITE,
    ),
    # SunSpec 704 WSetEna: enum16, 1 = the WSet setpoint is in force (and starts the timer).
    setpoint_enable=RegisterPoint(
        address=SUNSPEC_STORAGE_BASE + 114,
        type=DataType.UINT16,
        access=Access.READ_WRITE,
    ),
)
"""A storage inverter (PCS + battery) laid out after the SunSpec storage models.

Points and conventions follow SunSpec 701 (W), 802 (SoC, ChaSt) and 704 (WSet,
WSetRvrtTms, WSetEna); the scale factors are fixed here (a device whose *_SF registers
differ needs its own map), and the addresses are those of one contiguous layout (40100..40114)
rather than discovered by walking the SunSpec model headers.
"""

SHIPPED_MAPS: dict[str, RegisterMap] = {"sunspec-storage": SUNSPEC_STORAGE}
"""Maps a binding can name in ``register_map`` instead of spelling one out."""
