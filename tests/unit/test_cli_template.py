"""berth's Go-template subset: what Docker format strings use renders like Go's text/template
over decoded JSON; anything outside the subset is a clear error, never silent garbage."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.errors import TemplateError
from berth.cli.template import Template
from berth.cli.tfuncs import HEADER_FUNCTIONS, go_str

NETWORK: dict[str, Any] = {
    "Name": "front",
    "Id": "4f1c2d",
    "IPAM": {
        "Driver": "default",
        "Options": None,
        "Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}, {"Subnet": "fd00::/64"}],
    },
    "Options": {"com.docker.network.bridge.name": "br-front", "mtu": "1500"},
    "Labels": {},
    "Internal": False,
    "EnableIPv6": True,
}
CONTAINER: dict[str, Any] = {
    "Id": "8dfafdbc3a40",
    "Name": "/web",
    "State": {"Running": True, "ExitCode": 0, "Pid": 4242},
    "NetworkSettings": {
        "IPAddress": "",
        "Networks": {"front": {"IPAddress": "10.1.0.2", "Aliases": ["w", "web"]}},
    },
}


def render(src: str, data: Any = NETWORK) -> str:
    return Template(src).render(data)


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("{{.Name}}", "front"),
        ("id={{.Id}}!", "id=4f1c2d!"),
        ("{{.IPAM.Driver}}", "default"),
        ("{{range .IPAM.Config}}{{.Subnet}} {{end}}", "10.1.0.0/24 fd00::/64 "),
        ('{{index .Options "com.docker.network.bridge.name"}}', "br-front"),
        ('{{index .IPAM.Config 1 "Subnet"}}', "fd00::/64"),
        (
            "{{json .IPAM.Config}}",
            '[{"Subnet":"10.1.0.0/24","Gateway":"10.1.0.1"},{"Subnet":"fd00::/64"}]',
        ),
        ("{{json .Name}}", '"front"'),
        ("{{json .Missing}}", "null"),
        ("{{if .Internal}}internal{{else}}external{{end}}", "external"),
        ("{{if .EnableIPv6}}v6{{end}}", "v6"),
        ("{{if .Labels}}labelled{{else}}none{{end}}", "none"),
        ('{{if eq .Name "back"}}B{{else if eq .Name "front"}}F{{else}}?{{end}}', "F"),
        ("{{with .IPAM}}{{.Driver}}{{end}}", "default"),
        ("{{with .Labels}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Labels}}x{{else}}no labels{{end}}", "no labels"),
        ("{{range .Options}}{{.}},{{end}}", "br-front,1500,"),  # map values in key order
        ("{{.Name | upper}}", "FRONT"),
        ("{{upper .Name | lower}}", "front"),
        ("{{(index .IPAM.Config 0).Gateway}}", "10.1.0.1"),
        ("{{len .IPAM.Config}}", "2"),
        ('{{join (split "a,b,c" ",") "-"}}', "a-b-c"),
        ("{{title .Name}}", "Front"),
        ("[{{pad .Name 1 2}}]", "[ front  ]"),
        ("{{truncate .Id 3}}", "4f1"),
        ("{{$.Name}} {{$}}", "front " + go_str(NETWORK)),
        ("{{- .Name -}}  \n", "front"),
        ("  {{- .Name}}", "front"),
        ("a{{/* a comment */}}b", "ab"),
        ("{{not .Internal}} {{and .Name .Id}} {{or .Labels .Name}}", "true 4f1c2d front"),
        ('{{print "a" "b"}} {{print 1 2}} {{println .Name}}', "ab 1 2 front\n"),
        ("{{ne .Name `x`}} {{lt 1 2}} {{ge 1 2}}", "true true false"),
        ("{{true}} {{false}} {{3}} {{1.5}}", "true false 3 1.5"),
    ],
)
def test_network_templates(src: str, expected: str) -> None:
    assert render(src) == expected


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("{{.Id}}", "8dfafdbc3a40"),
        ("{{.NetworkSettings.IPAddress}}", ""),
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.1.0.2"),
        (
            "{{json .NetworkSettings.Networks}}",
            '{"front":{"IPAddress":"10.1.0.2","Aliases":["w","web"]}}',
        ),
        ("{{.State.Pid}} {{.State.Running}}", "4242 true"),
        ('{{(index .NetworkSettings.Networks "front").Aliases}}', "[w web]"),
    ],
)
def test_container_inspect_templates(src: str, expected: str) -> None:
    assert render(src, CONTAINER) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "<no value>"),
        ({"b": 1, "a": None}, "map[a:<nil> b:1]"),
        ([1, "x", True, None], "[1 x true <nil>]"),
        (8080.0, "8080"),
        (0.25, "0.25"),
        (1e21, "1e+21"),
        ({}, "map[]"),
    ],
)
def test_values_print_like_go(value: Any, expected: str) -> None:
    assert go_str(value) == expected


def test_missing_keys_print_no_value() -> None:
    assert render("{{.Nope}}|{{.Nope.Deeper}}|{{index .Options `nope`}}") == (
        "<no value>|<no value>|<no value>"
    )


class Row:
    def template_field(self, name: str) -> Any:
        return {"ID": lambda: "abc", "Label": lambda key: f"label:{key}"}.get(name)

    def template_json(self) -> dict[str, str]:
        return {"ID": "abc", "Tag": "<&>"}


def test_row_contexts_methods_and_json() -> None:
    assert Template('{{.ID}} {{.Label "k"}}').render(Row()) == "abc label:k"
    assert Template("{{json .}}").render(Row()) == '{"ID":"abc","Tag":"\\u003c\\u0026\\u003e"}'
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        Template("{{.Nope}}").render(Row())


def test_header_functions_leave_the_column_name() -> None:
    header = {"Name": "NAME"}
    assert Template("{{upper .Name}} {{json .Name}}", HEADER_FUNCTIONS).render(header) == (
        "NAME NAME"
    )


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("{{range $k, $v := .Options}}{{end}}", "variables"),
        ("{{$x := .Name}}", "variables"),
        ('{{printf "%s" .Name}}', "'printf' is not supported"),
        ('{{define "x"}}{{end}}', "'define' is not supported"),
        ('{{template "x"}}', "'template' is not supported"),
        ("{{nosuch .Name}}", 'function "nosuch" not defined'),
        ("{{.Name", "unclosed action"),
        ("{{if .Name}}x", "missing {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{(.Name}}", "unclosed left paren"),
        ("{{.Name)}}", "unexpected ')'"),
        ("{{if}}x{{end}}", "missing value for if"),
        ("{{ | upper}}", "missing command"),
        ("{{.Name #}}", "unexpected"),
        ("{{.IPAM.Config.Subnet}}", "can't evaluate field Subnet"),
        ("{{range .Name}}{{end}}", "range can't iterate over front"),
        ("{{index .IPAM.Config 5}}", "index out of range"),
        ("{{len .Internal}}", "len of type bool"),
        ("{{.Name 1}}", "not a method"),
        ("{{lt .Name 1}}", "incompatible types"),
    ],
)
def test_errors_are_clear(src: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        render(src)
    assert str(exc.value).startswith("template parsing error: ")
