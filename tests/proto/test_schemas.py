"""The message contract in proto/ is consistent with itself.

Run: /usr/bin/python3 -m pytest -q tests/proto

- every schema is a valid draft 2020-12 schema, with the $id its path
  implies, and every $ref (relative) resolves;
- objects we own are closed (additionalProperties false, required listed);
- every sample in proto/samples/valid is a valid wire message whose
  params / result / data validate against the method's or topic's schema;
- every sample in proto/samples/invalid fails against the schema named in
  proto/samples/invalid/index.json, and only there (the envelope around a
  bad params / result / data is itself fine);
- the names in proto/btcw_proto.h, the schema files, the samples and
  proto/README.md agree, and the header compiles.
"""

import datetime
import json
import pathlib
import re
import shutil
import subprocess

import pytest
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
SCHEMAS = PROTO / "schemas"
VALID = PROTO / "samples" / "valid"
INVALID = PROTO / "samples" / "invalid"
HEADER = PROTO / "btcw_proto.h"
README = PROTO / "README.md"
BASE = "https://btc-watcher.example/proto/schemas/"
SERVICES = ["supervisor", "gateway", "ingest", "monitor", "notifier",
            "backup"]
# x in the 71x1 / 71x2 / 71x9 port plan
PORT_DIGIT = {s: i for i, s in enumerate(SERVICES)}


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _rel(path):
    return path.relative_to(SCHEMAS).as_posix()


SCHEMA_FILES = sorted(SCHEMAS.rglob("*.schema.json"))
ALL = {_rel(p): _load(p) for p in SCHEMA_FILES}
STORE = {s["$id"]: s for s in ALL.values() if "$id" in s}

# jsonschema 4.10 has no date-time checker without rfc3339-validator;
# use the standard library instead (the schemas also pin the shape with
# a pattern, so this only adds calendar checks such as month 13).
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def validator(rel):
    schema = ALL[rel]
    resolver = RefResolver.from_schema(schema, store=STORE)
    return Draft202012Validator(schema, resolver=resolver,
                                format_checker=FORMATS)


def errors(rel, instance):
    return [e.message for e in validator(rel).iter_errors(instance)]


def _walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def _header():
    text = HEADER.read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    defs = dict(re.findall(r'^#define\s+(BTCW_\w+)\s+"([^"]*)"\s*$', text,
                           re.M))
    return defs


HDR = _header()
H_METHODS = {v: k for k, v in HDR.items() if k.startswith("BTCW_METHOD_")}
H_TOPICS = {v: k for k, v in HDR.items() if k.startswith("BTCW_TOPIC_")}
H_ERRORS = {v: k for k, v in HDR.items() if k.startswith("BTCW_ERR_")}
S_METHODS = {_rel(p)[len("methods/"):].rsplit(".", 3)[0]
             for p in SCHEMA_FILES if _rel(p).startswith("methods/")}
S_TOPICS = {_rel(p)[len("topics/"):-len(".schema.json")]
            for p in SCHEMA_FILES if _rel(p).startswith("topics/")}


# ------------------------------------------------------------------ schemas

def test_schema_files_exist():
    assert len(ALL) > 20
    for rel in ("envelope/request.schema.json",
                "envelope/reply.schema.json",
                "envelope/event.schema.json",
                "common/error.schema.json"):
        assert rel in ALL, rel


@pytest.mark.parametrize("rel", sorted(ALL))
def test_schema_is_valid(rel):
    schema = ALL[rel]
    assert schema.get("$schema") == \
        "https://json-schema.org/draft/2020-12/schema"
    assert schema.get("$id") == BASE + rel, "$id must match the file path"
    assert schema.get("title"), "every schema has a title"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("rel", sorted(ALL))
def test_refs_are_relative_and_resolve(rel):
    schema = ALL[rel]
    resolver = RefResolver.from_schema(schema, store=STORE)
    refs = [n["$ref"] for _, n in _walk(schema)
            if isinstance(n, dict) and isinstance(n.get("$ref"), str)]
    for ref in refs:
        assert "://" not in ref, f"{ref}: use a relative URI"
        url, resolved = resolver.resolve(ref)
        assert isinstance(resolved, dict), f"{ref} -> {url}"
        assert url.split("#")[0] in STORE, f"{ref} -> {url}: no such file"


@pytest.mark.parametrize("rel", sorted(ALL))
def test_objects_are_closed(rel):
    for path, node in _walk(ALL[rel]):
        if not (isinstance(node, dict) and node.get("type") == "object"
                and "properties" in node):
            continue
        where = f"{rel} at {'/'.join(map(str, path)) or '(root)'}"
        assert node.get("additionalProperties") is False, where
        assert "required" in node, where
        for r in node["required"]:
            assert r in node["properties"], f"{where}: required {r}?"


@pytest.mark.parametrize("rel", sorted(ALL))
def test_field_names_are_snake_case(rel):
    snake = re.compile(r"^[a-z][a-z0-9_]*$|^P[0-2]$")
    for path, node in _walk(ALL[rel]):
        if isinstance(node, dict) and isinstance(node.get("properties"),
                                                 dict):
            for name in node["properties"]:
                assert snake.match(name), f"{rel}: field {name!r}"


def test_error_codes_documented():
    codes = ALL["common/error.schema.json"]["$defs"]["code"]["enum"]
    for c in ("bad_request", "too_large", "unknown_method", "timeout",
              "unavailable", "cancelled", "internal", "not_found",
              "invalid", "conflict", "forbidden", "limit_reached"):
        assert c in codes
    assert set(codes) == set(H_ERRORS), "btcw_proto.h vs error schema"
    readme = README.read_text(encoding="utf-8")
    for c in codes:
        assert f"`{c}`" in readme, f"error code {c} not in README"


# ------------------------------------------------------------------ names

def test_method_names_follow_the_scheme():
    pat = re.compile(r"^(%s)\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
                     % "|".join(SERVICES))
    for m in S_METHODS | set(H_METHODS):
        assert pat.match(m), f"{m}: want <service>.<noun>.<verb>"
    for svc in SERVICES:
        assert f"{svc}.config.show" in S_METHODS
        assert f"{svc}.config.reload" in S_METHODS


def test_header_matches_schemas():
    assert set(H_METHODS) == S_METHODS, (
        f"only in header: {sorted(set(H_METHODS) - S_METHODS)}; "
        f"only schemas: {sorted(S_METHODS - set(H_METHODS))}")
    assert set(H_TOPICS) == S_TOPICS, (
        f"only in header: {sorted(set(H_TOPICS) - S_TOPICS)}; "
        f"only schemas: {sorted(S_TOPICS - set(H_TOPICS))}")
    for t in ("signal.new", "route.update", "strategy.state",
              "alert.raised", "system.status"):
        assert t in S_TOPICS, f"SPEC topic {t} missing"


def test_header_macro_names():
    for value, macro in H_METHODS.items():
        assert macro == "BTCW_METHOD_" + value.upper().replace(".", "_")
    for value, macro in H_TOPICS.items():
        assert macro == "BTCW_TOPIC_" + value.upper().replace(".", "_")
    for value, macro in H_ERRORS.items():
        assert macro == "BTCW_ERR_" + value.upper()


def test_every_method_has_params_and_result():
    for m in sorted(S_METHODS):
        for part in ("params", "result"):
            assert f"methods/{m}.{part}.schema.json" in ALL, f"{m} {part}"
    stray = [r for r in ALL if r.startswith("methods/")
             and not re.search(r"\.(params|result)\.schema\.json$", r)]
    assert not stray


def test_header_addresses_follow_the_port_plan():
    for svc, x in PORT_DIGIT.items():
        up = svc.upper()
        assert HDR[f"BTCW_ADDR_{up}_RPC"] == f"tcp://127.0.0.1:71{x}1"
        assert HDR[f"BTCW_ADDR_{up}_EVENTS"] == f"tcp://127.0.0.1:71{x}2"
        assert HDR[f"BTCW_ADDR_{up}_ADMIN"] == f"127.0.0.1:71{x}9"
    assert HDR["BTCW_ADDR_GATEWAY_HTTP"] == "127.0.0.1:7110"
    assert HDR["BTCW_ADDR_INGEST_WEBHOOK"] == "127.0.0.1:7120"


def test_header_alert_kinds_match_schema():
    kinds = ALL["topics/alert.raised.schema.json"]["properties"]["kind"]
    h = {v for k, v in HDR.items() if k.startswith("BTCW_ALERT_")}
    assert h == set(kinds["enum"])
    resolved = ALL["topics/alert.resolved.schema.json"]["properties"]
    assert set(resolved["kind"]["enum"]) == set(kinds["enum"])


def test_readme_names_everything():
    readme = README.read_text(encoding="utf-8")
    for m in sorted(S_METHODS):
        assert f"`{m}`" in readme, f"method {m} not in README"
    for t in sorted(S_TOPICS):
        assert f"`{t}`" in readme, f"topic {t} not in README"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")
def test_header_compiles():
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]
    subprocess.run(["gcc", *flags, "-x", "c", str(HEADER)], check=True)
    # and inside a translation unit that uses it, twice included
    src = ('#include "btcw_proto.h"\n#include "btcw_proto.h"\n'
           "const char *f(void);\n"
           "const char *f(void) { return BTCW_METHOD_SUPERVISOR_"
           "CAPACITY_GET BTCW_SUBSCRIPTION(BTCW_TOPIC_SIGNAL_NEW); }\n")
    subprocess.run(["gcc", *flags, "-Wmissing-prototypes", "-I",
                    str(PROTO), "-x", "c", "-"], input=src.encode(),
                   check=True)


# ------------------------------------------------------------------ samples

def _sample_target(stem):
    """Map a valid sample's file stem to (kind, name)."""
    base = stem.split("--")[0]
    for kind in ("params", "result", "event", "error"):
        if base.endswith("." + kind):
            return kind, base[: -len(kind) - 1]
    raise AssertionError(f"{stem}: name must end in .params, .result, "
                         ".event or .error (then optional --variant)")


VALID_FILES = sorted(VALID.glob("*.json"))


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.stem)
def test_valid_sample(path):
    msg = _load(path)
    kind, name = _sample_target(path.stem)
    if kind == "params":
        assert not errors("envelope/request.schema.json", msg)
        assert msg["method"] == name
        assert not errors(f"methods/{name}.params.schema.json",
                          msg["params"])
    elif kind == "result":
        assert not errors("envelope/reply.schema.json", msg)
        assert msg["ok"] is True
        assert not errors(f"methods/{name}.result.schema.json",
                          msg["result"])
    elif kind == "error":
        assert not errors("envelope/reply.schema.json", msg)
        assert msg["ok"] is False
        assert path.stem.split("--")[1] == msg["error"]["code"]
        if name != "envelope":
            assert name in S_METHODS, f"{name}: no such method"
    else:
        assert not errors("envelope/event.schema.json", msg)
        assert msg["topic"] == name
        assert not errors(f"topics/{name}.schema.json", msg["data"])


def test_samples_cover_every_method_and_topic():
    got = {}
    for p in VALID_FILES:
        kind, name = _sample_target(p.stem)
        got.setdefault(kind, set()).add(name)
    for m in sorted(S_METHODS):
        assert m in got.get("params", set()), f"no params sample for {m}"
        assert m in got.get("result", set()), f"no result sample for {m}"
    for t in sorted(S_TOPICS):
        assert t in got.get("event", set()), f"no event sample for {t}"


def test_request_ids_pair_with_replies():
    """A method's params and result samples share the request id."""
    by = {}
    for p in VALID_FILES:
        kind, name = _sample_target(p.stem)
        if kind in ("params", "result"):
            by.setdefault((name, p.stem.partition("--")[2]), {})[kind] = \
                _load(p)["id"]
    for (name, variant), ids in by.items():
        if len(ids) == 2:
            assert ids["params"] == ids["result"], (name, variant)


INDEX = _load(INVALID / "index.json")
INVALID_FILES = sorted(p for p in INVALID.glob("*.json")
                       if p.name != "index.json")


def test_invalid_index_complete():
    assert len(INVALID_FILES) >= 40
    names = {p.name for p in INVALID_FILES}
    assert names == set(INDEX), (
        f"unindexed: {sorted(names - set(INDEX))}; "
        f"missing: {sorted(set(INDEX) - names)}")
    for name, entry in INDEX.items():
        assert set(entry) == {"schema", "why"}, name
        assert entry["schema"] in ALL, f"{name}: no schema {entry['schema']}"


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_sample(path):
    msg = _load(path)
    target = INDEX[path.name]["schema"]
    why = INDEX[path.name]["why"]
    if target.startswith("envelope/"):
        assert errors(target, msg), f"should fail {target}: {why}"
        return
    m = re.match(r"^(methods|topics)/(.+?)(?:\.(params|result))?"
                 r"\.schema\.json$", target)
    assert m, target
    area, name, part = m.groups()
    if area == "topics":
        env, member, key = "envelope/event.schema.json", "data", "topic"
    elif part == "params":
        env, member, key = "envelope/request.schema.json", "params", \
            "method"
    else:
        env, member, key = "envelope/reply.schema.json", "result", None
    # a near miss: the envelope is fine, only the inner part is wrong
    assert not errors(env, msg), f"{path.name}: envelope should be valid"
    if key:
        assert msg[key] == name
    assert errors(target, msg[member]), f"should fail {target}: {why}"
