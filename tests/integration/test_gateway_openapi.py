"""proto/openapi.yaml describes exactly the routes the gateway serves.

The gateway prints its route table (`gateway --print-routes`: METHOD
PATTERN ROLES); the YAML is read by the small reader below (python3-yaml
is not installed, and the document keeps to a plain subset on purpose:
block mappings and sequences, flow lists of scalars, quoted or plain
scalars). The two must list the same (method, path, roles).
"""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, binary

OPENAPI = os.path.join(ROOT, "proto", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch")


# ---- a YAML subset reader ----

class YamlError(ValueError):
    pass


def _scalar(s):
    if s.startswith("'"):
        if not s.endswith("'") or len(s) < 2:
            raise YamlError(f"unterminated quote: {s}")
        return s[1:-1].replace("''", "'")
    if s.startswith('"'):
        return json.loads(s)
    if s in ("true", "false"):
        return s == "true"
    if s in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if re.fullmatch(r"-?\d+\.\d+", s):
        return float(s)
    if s[0] in "&*!|>%@`{" or " #" in s:
        raise YamlError(f"outside the subset: {s}")
    return s


def _split_flow(s):
    items, cur, quote = [], "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            items.append(cur.strip())
            cur = ""
        elif ch in "[]{}":
            raise YamlError(f"nested flow collection: {s}")
        else:
            cur += ch
    if cur.strip():
        items.append(cur.strip())
    return items


def _value(s):
    if s.startswith("["):
        if not s.endswith("]"):
            raise YamlError(f"unterminated flow list: {s}")
        return [_scalar(x) for x in _split_flow(s[1:-1])]
    if s == "{}":
        return {}
    return _scalar(s)


def _split_key(s):
    if s[0] in "'\"":
        end = s.index(s[0], 1)
        key, rest = _scalar(s[:end + 1]), s[end + 1:]
        if not rest.startswith(":"):
            raise YamlError(f"expected ':' after key: {s}")
        return str(key), rest[1:].strip()
    if s.endswith(":"):
        return s[:-1], ""
    if ": " not in s:
        raise YamlError(f"not a mapping entry: {s}")
    key, rest = s.split(": ", 1)
    return key, rest.strip()


def _block(lines, i, ind):
    if lines[i][1] == "-" or lines[i][1].startswith("- "):
        return _seq(lines, i, ind)
    return _map(lines, i, ind)


def _map(lines, i, ind):
    out = {}
    while i < len(lines) and lines[i][0] == ind and \
            not lines[i][1].startswith("- "):
        key, rest = _split_key(lines[i][1])
        i += 1
        if key in out:
            raise YamlError(f"duplicate key {key}")
        if rest:
            out[key] = _value(rest)
        elif i < len(lines) and (lines[i][0] > ind or (
                lines[i][0] == ind and lines[i][1].startswith("- "))):
            i, out[key] = _block(lines, i, lines[i][0])
        else:
            out[key] = None
    if i < len(lines) and lines[i][0] > ind:
        raise YamlError(f"bad indentation at {lines[i][1]}")
    return i, out


def _seq(lines, i, ind):
    out = []
    while i < len(lines) and lines[i][0] == ind and \
            lines[i][1].startswith("- "):
        content = lines[i][1][2:].strip()
        if re.match(r"^('[^']*'|[^'\"\[{ ][^:]*):( |$)", content):
            # "- key: value" starts a mapping at the content's column
            lines[i] = (ind + 2, content)
            i, item = _map(lines, i, ind + 2)
        else:
            item, i = _value(content), i + 1
        out.append(item)
    return i, out


def read_yaml(text):
    lines = []
    for raw in text.splitlines():
        s = raw.rstrip()
        if not s.strip() or s.lstrip().startswith("#"):
            continue
        if "\t" in s:
            raise YamlError("tab in the document")
        lines.append((len(s) - len(s.lstrip(" ")), s.strip()))
    i, doc = _block(lines, 0, lines[0][0])
    if i != len(lines):
        raise YamlError(f"trailing content at {lines[i][1]}")
    return doc


# ---- the checks ----

@pytest.fixture(scope="module")
def doc():
    with open(OPENAPI) as f:
        return read_yaml(f.read())


def served_routes():
    out = subprocess.run([binary("gateway"), "--print-routes"],
                         capture_output=True, text=True, check=True)
    routes = set()
    for line in out.stdout.splitlines():
        method, path, roles = line.split(" ")
        routes.add((method, path, roles))
    return routes


def documented_routes(doc):
    routes = set()
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                roles = ",".join(item[method]["x-roles"])
                routes.add((method.upper(), path, roles))
    return routes


def test_every_served_route_is_documented_and_back(doc):
    served, documented = served_routes(), documented_routes(doc)
    assert len(served) > 40
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_public_routes_have_no_security_and_others_do(doc):
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            public = op["x-roles"] == ["public"]
            assert (op.get("security") == []) == public, (method, path)
            codes = set(op["responses"])
            if public:
                assert "403" not in codes, (method, path)
            else:
                assert {"401", "403"} <= codes, (method, path)
            assert any(c.startswith("2") for c in codes), (method, path)


def _refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v)
            else:
                _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)
    return out


def test_every_reference_resolves(doc):
    for ref in _refs(doc, []):
        if ref.startswith("#/"):
            node = doc
            for part in ref[2:].split("/"):
                node = node[part]
            continue
        path = ref.split("#")[0]
        full = os.path.join(ROOT, "proto", path)
        assert os.path.isfile(full), ref
        if "#" in ref:
            with open(full) as f:
                node = json.load(f)
            for part in ref.split("#")[1].strip("/").split("/"):
                node = node[part]


def test_operations_and_path_parameters(doc):
    ids = []
    params = doc["components"]["parameters"]
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            ids.append(op["operationId"])
            declared = set()
            for p in op.get("parameters", []):
                d = params[p["$ref"].rsplit("/", 1)[1]]
                if d["in"] == "path":
                    assert d["required"] is True
                    declared.add(d["name"])
            assert declared == in_path, (method, path)
    assert len(ids) == len(set(ids))


def test_reader_agrees_with_a_real_yaml_parser(doc):
    """When yq (a real YAML parser) happens to be installed, it must read
    the document the same way as the subset reader."""
    yq = shutil.which("yq")
    if not yq:
        pytest.skip("yq not installed")
    out = subprocess.run([yq, ".", OPENAPI], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"yq cannot run here: {out.stderr.strip()[:200]}")
    assert json.loads(out.stdout) == doc


def test_reader_refuses_what_it_does_not_know():
    for bad in ("a: &x 1\n", "a:\n  - [1, [2]]\n", "a: 1\na: 2\n",
                "a:\n    b: 1\n  c: 2\n", "a: |\n  text\n"):
        with pytest.raises((YamlError, ValueError)):
            read_yaml(bad)
    assert read_yaml("a:\n  - x: 1\n    y: [p, 'q r']\n  - z\n") == {
        "a": [{"x": 1, "y": ["p", "q r"]}, "z"]}
