"""Docker's network request bodies -> berth models: NetworkCreateRequest -> NetworkSpec, and
EndpointSettings (network connect, container create) -> runtime EndpointSettings.

Everything is validated before any change; fields Docker has but berth does not implement are
a 400 naming the field when given a non-default value, never silently dropped.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import TypeVar

from berth.api.errors import BadRequest, Unsupported
from berth.api.requests import Fields
from berth.model.errors import InvalidParameter
from berth.model.ids import validate_name
from berth.model.mac import validate_mac
from berth.model.network import IpamConfig, IpamPoolConfig, NetworkSpec, parse_pool_config
from berth.model.options import parse_bool
from berth.runtime.api import EndpointSettings
from berth.runtime.syntax import parse_link

ENABLE_IPV4 = "com.docker.network.enable_ipv4"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
SCOPES = ("local", "global", "swarm")
A = TypeVar("A", IPv4Address, IPv6Address)

# EndpointSettings fields that are operational data (what inspect shows): clients echo them
# back empty, and Docker ignores them on input.
ENDPOINT_OUTPUT_FIELDS = (
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
)


def parse_network_create(body: Fields) -> NetworkSpec:
    name = body.required_text("Name")
    body.opt_flag("CheckDuplicate")  # names are always unique (Docker >= 25 ignores it too)
    driver = body.opt_text("Driver") or "bridge"
    scope = body.opt_text("Scope") or None
    if scope is not None and scope not in SCOPES:
        raise BadRequest(f"invalid Scope {scope!r}: expected one of {', '.join(SCOPES)}")
    internal = body.flag("Internal")
    attachable = body.flag("Attachable")
    if body.flag("Ingress"):
        raise Unsupported("Ingress", "ingress networks belong to swarm mode")
    if body.flag("ConfigOnly"):
        raise Unsupported("ConfigOnly", "configuration-only networks")
    config_from = body.obj("ConfigFrom")
    if config_from is not None:
        source = config_from.text("Network")
        config_from.done()
        if source:
            raise Unsupported("ConfigFrom", "networks created from a configuration-only network")
    enable_v4 = body.opt_flag("EnableIPv4")
    enable_v6 = body.opt_flag("EnableIPv6")
    options = body.mapping("Options")
    labels = body.mapping("Labels")
    ipam = parse_ipam(body.obj("IPAM"))
    body.done()
    # the generic enable_ipv4/6 options decide when the fields are absent (Docker's rule)
    v4_option, v6_option = options.pop(ENABLE_IPV4, None), options.pop(ENABLE_IPV6, None)
    if enable_v4 is None and v4_option is not None:
        enable_v4 = parse_bool(ENABLE_IPV4, v4_option)
    if enable_v6 is None and v6_option is not None:
        enable_v6 = parse_bool(ENABLE_IPV6, v6_option)
    if enable_v4 is False:
        raise Unsupported("EnableIPv4=false", "every berth network has IPv4")
    return NetworkSpec(
        name=name,
        driver=driver,
        ipam=ipam,
        options=options,
        labels=labels,
        internal=internal,
        attachable=attachable,
        enable_ipv6=bool(enable_v6),
        scope=scope,  # type: ignore[arg-type]  # checked against SCOPES above
    )


def parse_ipam(fields: Fields | None) -> IpamConfig:
    if fields is None:
        return IpamConfig()
    driver = fields.opt_text("Driver") or "default"
    options = fields.mapping("Options")
    pools = tuple(_pool(item) for item in fields.obj_list("Config"))
    fields.done()
    return IpamConfig(driver=driver, options=options, config=pools)


def _pool(item: Fields) -> IpamPoolConfig:
    subnet = item.opt_text("Subnet") or None
    ip_range = item.opt_text("IPRange") or None
    gateway = item.opt_text("Gateway") or None
    aux = item.mapping("AuxiliaryAddresses")
    item.done()
    where = item.name("").rstrip(".")
    try:
        return parse_pool_config(subnet, ip_range, gateway, aux)
    except InvalidParameter as err:
        raise BadRequest(f"{where}: {err}") from None


def _address(fields: Fields, key: str, kind: type[A]) -> A | None:
    value = fields.opt_text(key) or None
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        family = 4 if kind is IPv4Address else 6
        raise BadRequest(f"{fields.name(key)}: {value!r} is not an IPv{family} address") from None


def parse_endpoint_settings(fields: Fields | None) -> EndpointSettings:
    """Docker's EndpointSettings as sent on connect (EndpointConfig) or create
    (NetworkingConfig.EndpointsConfig.<network>)."""
    if fields is None:
        return EndpointSettings()
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    ipam = fields.obj("IPAMConfig")
    if ipam is not None:
        ipv4 = _address(ipam, "IPv4Address", IPv4Address)
        ipv6 = _address(ipam, "IPv6Address", IPv6Address)
        if ipam.strings("LinkLocalIPs"):
            raise Unsupported(ipam.name("LinkLocalIPs"))
        ipam.done()
    mac = fields.opt_text("MacAddress") or None
    if mac is not None:
        try:
            mac = validate_mac(mac)
        except InvalidParameter as err:
            raise BadRequest(f"{fields.name('MacAddress')}: {err}") from None
    aliases, links = fields.strings("Aliases"), fields.strings("Links")
    try:
        for alias in aliases:
            validate_name("alias", alias)
    except InvalidParameter as err:
        raise BadRequest(f"{fields.name('Aliases')}: {err}") from None
    try:
        for link in links:
            parse_link(link)
    except InvalidParameter as err:
        raise BadRequest(f"{fields.name('Links')}: {err}") from None
    settings = EndpointSettings(
        aliases=aliases,
        ipv4=ipv4,
        ipv6=ipv6,
        links=links,
        mac=mac,
        gw_priority=fields.number("GwPriority"),
        driver_opts=fields.mapping("DriverOpts"),
    )
    fields.ignore(*ENDPOINT_OUTPUT_FIELDS)
    fields.done()
    return settings
