"""The ``--params`` file of ``splicecheck trace``: splice parameters given instead of inferred.

Format (JSON; every key but ``connections[].client_leg.peer`` is optional)::

    {
      "splicecheck-trace-params": 1,
      "proxy": ["198.18.0.1", "2001:db8:0:1::1"],
      "defaults": {"strip_style": "nop", "client_leg": {"timestamps": false}, "server_leg": {}},
      "connections": [
        {
          "client_leg": {"peer": "198.18.0.2:40000", "local": "198.18.0.1:1080",
                         "splice_irs": 1000001, "splice_iss": 1342177281,
                         "timestamps": true, "lastrecv_ts": 100, "lastsent_ts": 16777216,
                         "sack": true, "peer_wscale": 7, "local_wscale": 0, "peer_mss": 1460},
          "server_leg": {"peer": "198.19.0.2:80", "local": "198.19.0.1:50000", "...": "..."},
          "strip_style": "nop"
        }
      ]
    }

A connection entry mirrors the reference model's :class:`~splicecheck.reference.relay.SpliceState`: leg
C (``client_leg``) faces the client, leg D (``server_leg``) the server; ``peer`` is the end host and
``local`` the proxy's socket on that leg (``"addr:port"``, IPv6 as ``"[addr]:port"``); the other keys
are :class:`~splicecheck.reference.relay.Leg`'s fields, with its meaning and its limits. An entry
applies to every connection whose client endpoint is ``client_leg.peer`` (and, if given, whose proxy
endpoint on the client leg is ``client_leg.local``); ``server_leg.peer``/``local``, if given, pin which
server-leg connection it is paired with instead of the pairing heuristics. A field an entry leaves
out comes from ``defaults``, and a field neither gives is inferred from the capture as usual, so a
file may say as little as "this proxy strips timestamps" or as much as every constant of every splice.

``proxy`` lists the proxy's own addresses, like ``--proxy`` (both are used). Keys starting with ``_``
and ``notes`` are ignored: ``splicecheck trace --dump-params FILE`` writes the parameters it used in
this format, with a ``notes`` list per connection saying where each came from, ready to be edited
and passed back with ``--params``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...reference.relay import Endpoint, Leg, SpliceState, StripStyle
from .capture import TraceError

FORMAT_KEY = "splicecheck-trace-params"
FORMAT_VERSION = 1
#: Leg fields a params file may set, with their kind
LEG_FIELDS: dict[str, str] = {
    "splice_irs": "u32", "splice_iss": "u32", "timestamps": "bool", "lastrecv_ts": "u32", "lastsent_ts": "u32",
    "sack": "bool", "peer_wscale": "wscale", "local_wscale": "wscale", "peer_mss": "mss",
}


class ParamsError(TraceError):
    """The params file cannot be used; the message says where in it and why."""


def parse_endpoint(text: str, where: str = "endpoint", path: Path | str | None = None) -> Endpoint:
    """``"198.18.0.2:40000"`` or ``"[2001:db8::1]:80"`` → an :class:`Endpoint`."""
    if not isinstance(text, str):
        raise ParamsError(f"{where}: expected \"addr:port\", got {text!r}", path)
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        if not sep:
            raise ValueError("no port")
        return Endpoint(ipaddress.ip_address(host).packed, int(port))
    except ValueError as exc:
        raise ParamsError(f"{where}: {text!r} is not addr:port ({exc})", path) from None


def endpoint_text(ep: Endpoint) -> str:
    addr = ep.addr
    if len(addr) == 4:  # the common case, without an ipaddress object (several per connection)
        return f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}:{ep.port}"
    a = ipaddress.ip_address(addr)
    return f"[{a}]:{ep.port}" if a.version == 6 else f"{a}:{ep.port}"


def parse_address(text: str, where: str = "proxy", path: Path | str | None = None) -> bytes:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        raise ParamsError(f"{where}: {text!r} is not an IP address", path) from None


@dataclass(frozen=True, slots=True)
class LegParams:
    """What a params file says about one leg: the endpoints and the Leg fields it sets."""

    peer: Endpoint | None = None
    local: Endpoint | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    def merged(self, under: LegParams) -> LegParams:
        """These values over ``under``'s."""
        return LegParams(self.peer or under.peer, self.local or under.local, {**under.values, **self.values})


@dataclass(frozen=True, slots=True)
class ConnParams:
    client_leg: LegParams = field(default_factory=LegParams)
    server_leg: LegParams = field(default_factory=LegParams)
    strip_style: StripStyle | None = None

    def merged(self, under: ConnParams) -> ConnParams:
        return ConnParams(self.client_leg.merged(under.client_leg), self.server_leg.merged(under.server_leg),
                          self.strip_style or under.strip_style)


@dataclass(frozen=True, slots=True)
class Params:
    proxy: frozenset[bytes] = frozenset()
    defaults: ConnParams = field(default_factory=ConnParams)
    connections: tuple[ConnParams, ...] = ()

    def lookup(self, client: Endpoint, proxy_c: Endpoint | None) -> ConnParams:
        """The entry for a connection (over the defaults); the defaults alone when no entry matches."""
        for c in self.connections:
            leg = c.client_leg
            if leg.peer == client and (leg.local is None or proxy_c is None or leg.local == proxy_c):
                return c.merged(self.defaults)
        return self.defaults

    def pinned(self, client: Endpoint) -> ConnParams | None:
        """The entry naming ``client`` if it also names the server-leg connection."""
        for c in self.connections:
            if c.client_leg.peer == client and c.server_leg.peer is not None:
                return c
        return None


def _check_value(name: str, kind: str, v: Any, where: str, path: Path | str | None) -> Any:
    ok = {
        "u32": isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF_FFFF,
        "bool": isinstance(v, bool),
        "wscale": v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 14),
        "mss": isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 0xFFFF,
    }[kind]
    if not ok:
        want = {"u32": "an integer 0..4294967295", "bool": "true or false", "wscale": "null or an integer 0..14",
                "mss": "an integer 1..65535"}[kind]
        raise ParamsError(f"{where}.{name}: must be {want}, not {v!r}", path)
    return v


def _leg(obj: Any, where: str, path: Path | str | None) -> LegParams:
    if obj is None:
        return LegParams()
    if not isinstance(obj, dict):
        raise ParamsError(f"{where}: must be an object", path)
    values: dict[str, Any] = {}
    for k, v in obj.items():
        if k in ("peer", "local") or k.startswith("_"):
            continue
        if k not in LEG_FIELDS:
            raise ParamsError(f"{where}: unknown key {k!r} (known: peer, local, {', '.join(LEG_FIELDS)})", path)
        values[k] = _check_value(k, LEG_FIELDS[k], v, where, path)
    peer = parse_endpoint(obj["peer"], f"{where}.peer", path) if obj.get("peer") is not None else None
    local = parse_endpoint(obj["local"], f"{where}.local", path) if obj.get("local") is not None else None
    if peer is not None and local is not None and len(peer.addr) != len(local.addr):
        raise ParamsError(f"{where}: peer and local are of different address families", path)
    return LegParams(peer, local, values)


def _conn(obj: Any, where: str, path: Path | str | None) -> ConnParams:
    if not isinstance(obj, dict):
        raise ParamsError(f"{where}: must be an object", path)
    unknown = sorted(k for k in obj if k not in ("client_leg", "server_leg", "strip_style", "notes")
                     and not k.startswith("_"))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {', '.join(unknown)}", path)
    style = obj.get("strip_style")
    if style is not None and style not in ("nop", "remove"):
        raise ParamsError(f"{where}.strip_style: must be \"nop\" or \"remove\", not {style!r}", path)
    return ConnParams(_leg(obj.get("client_leg"), f"{where}.client_leg", path),
                      _leg(obj.get("server_leg"), f"{where}.server_leg", path),
                      StripStyle(style) if style is not None else None)


def parse_params(obj: Any, path: Path | str | None = None) -> Params:
    if not isinstance(obj, dict):
        raise ParamsError("the params file must hold a JSON object", path)
    version = obj.get(FORMAT_KEY, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ParamsError(f"{FORMAT_KEY} {version!r}: this splicecheck reads version {FORMAT_VERSION}", path)
    unknown = sorted(k for k in obj if k not in (FORMAT_KEY, "proxy", "defaults", "connections")
                     and not k.startswith("_"))
    if unknown:
        raise ParamsError(f"unknown top-level key(s) {', '.join(unknown)}", path)
    proxy = obj.get("proxy", [])
    if not isinstance(proxy, list):
        raise ParamsError("proxy: must be a list of addresses", path)
    conns = obj.get("connections", [])
    if not isinstance(conns, list):
        raise ParamsError("connections: must be a list", path)
    parsed = []
    for i, c in enumerate(conns):
        cp = _conn(c, f"connections[{i}]", path)
        if cp.client_leg.peer is None:
            raise ParamsError(f"connections[{i}].client_leg.peer: required (the client endpoint)", path)
        parsed.append(cp)
    defaults = _conn(obj.get("defaults", {}), "defaults", path)
    return Params(frozenset(parse_address(a, f"proxy[{i}]", path) for i, a in enumerate(proxy)), defaults,
                  tuple(parsed))


def load_params(path: Path | str) -> Params:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError("no such params file", p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"cannot read: {exc}", p) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamsError(f"not JSON: {exc}", p) from None
    return parse_params(obj, p)


def leg_values(leg: Leg) -> dict[str, Any]:
    return {k: getattr(leg, k) for k in LEG_FIELDS}


def state_entry(state: SpliceState, notes: list[str] | None = None) -> dict[str, Any]:
    """A connection entry of the params format for ``state`` (what ``--dump-params`` writes)."""
    def leg(lg: Leg) -> dict[str, Any]:
        return {"peer": endpoint_text(lg.peer), "local": endpoint_text(lg.local), **leg_values(lg)}

    entry: dict[str, Any] = {"client_leg": leg(state.client), "server_leg": leg(state.server),
                             "strip_style": state.strip_style.value}
    if notes:
        entry["notes"] = notes
    return entry


class ParamsDump:
    """Writes a params file one connection at a time (a capture may hold millions of them)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("w", encoding="utf-8")
        self._f.write('{"' + FORMAT_KEY + '": ' + str(FORMAT_VERSION) + ', "connections": [')
        self._n = 0

    def add(self, state: SpliceState, notes: list[str] | None = None) -> None:
        self._f.write(("," if self._n else "") + "\n  " + json.dumps(state_entry(state, notes)))
        self._n += 1

    def close(self) -> None:
        if not self._f.closed:
            self._f.write("\n]}\n")
            self._f.close()
