"""Gateway auth: the first admin, login, tokens (issue, refresh, logout,
expiry, forgery, other algorithms), lockout per account and per client
address and their expiry, and answers that do not reveal accounts.

Against the real gateway and PostgreSQL; the other services are
stand-ins (test_gateway_support.py)."""
import json
import os
import re
import statistics
import subprocess
import time

from conftest import binary, psql, start_daemon
from test_gateway_support import (ADMIN, PASSWORD, SECRET, api,
                                  b64url_json, claims_of, gw, gw_env,
                                  is_error, make_token, reset_accounts,
                                  standins, start_gateway, unb64url)

assert gw and standins  # fixtures, used by name

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
DENIED = {"error": "invalid_credentials",
          "detail": "invalid username or password, or the account is "
                    "locked or disabled"}


def now():
    return int(time.time())


def good_claims(user_id, name="x", role="admin", ver=0, **kw):
    c = {"iss": "btc-watcher", "sub": str(user_id), "name": name,
         "role": role, "jti": os.urandom(16).hex(), "ver": ver,
         "iat": now() - 5, "exp": now() + 3600}
    c.update(kw)
    return c


# ---- start-up ----

def test_refuses_to_start_without_a_secret(confdir, env):
    e = {**os.environ, **gw_env(env)}
    e["BTCW_JWT_SECRET"] = ""
    out = subprocess.run([binary("gateway"), "--config", str(confdir)],
                         capture_output=True, text=True, env=e, timeout=60)
    assert out.returncode == 100, out
    assert "BTCW_JWT_SECRET" in out.stderr
    assert "built-in" in out.stderr


def test_no_default_account(spawn, confdir, env, pg_dsn, standins):
    start_gateway(spawn, confdir, env, pg_dsn, admin=None)
    port = confdir.ports["gateway"]["http"]
    for user, pw in (("admin", "admin"), ("admin", "password"),
                     ("root", "root")):
        r = api(port, "POST", LOGIN, {"username": user, "password": pw})
        assert r.status == 401 and r.body == DENIED
    assert psql(pg_dsn, "SELECT count(*) FROM users") == "0"


def test_first_admin_from_environment_once(spawn, confdir, env, pg_dsn,
                                           standins):
    proc = start_gateway(spawn, confdir, env, pg_dsn)
    port = confdir.ports["gateway"]["http"]
    r = api(port, "POST", LOGIN, {"username": ADMIN[0],
                                  "password": ADMIN[1]})
    assert r.status == 200, r
    assert proc.stop() == 0
    # a second start with other values creates nothing
    e = gw_env(env, ("second-admin", "An0ther!pass"))
    start_daemon(spawn, "gateway", confdir, e)
    r = api(port, "POST", LOGIN, {"username": "second-admin",
                                  "password": "An0ther!pass"})
    assert r.status == 401
    assert psql(pg_dsn, "SELECT string_agg(username || ':' || role, ',') "
                "FROM users") == f"{ADMIN[0]}:admin"
    h = psql(pg_dsn, "SELECT password_hash FROM users")
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_weak_first_admin_password_refused(confdir, env, pg_dsn):
    reset_accounts(pg_dsn)
    e = {**os.environ, **gw_env(env, ("admin1", "tiny7"))}
    out = subprocess.run([binary("gateway"), "--config", str(confdir)],
                         capture_output=True, text=True, env=e, timeout=60)
    text = out.stdout + out.stderr
    assert out.returncode == 100, text
    assert "at least 8 characters" in text
    assert "tiny7" not in text


def test_create_admin_command(confdir, env, pg_dsn):
    reset_accounts(pg_dsn)
    e = {**os.environ, **gw_env(env, None)}

    def create(user, stdin):
        return subprocess.run([binary("gateway"), "--create-admin", user,
                               "--config", str(confdir)], input=stdin,
                              capture_output=True, text=True, env=e,
                              timeout=60)

    out = create("ops-admin", "Str0ng!pass\n")
    assert out.returncode == 0, out
    assert "created admin account 'ops-admin'" in out.stderr
    assert "Str0ng!pass" not in out.stderr + out.stdout
    assert psql(pg_dsn, "SELECT role FROM users WHERE username = "
                "'ops-admin'") == "admin"
    out = create("OPS-ADMIN", "Str0ng!pass\n")
    assert out.returncode == 100 and "exists already" in out.stderr
    out = create("weak-admin", "weakpassword\n")
    assert out.returncode == 100 and "special character" in out.stderr
    out = create("no-pw", "")
    assert out.returncode == 100 and "no password" in out.stderr
    out = create("x", "Str0ng!pass\n")
    assert out.returncode == 100 and "not valid" in out.stderr


# ---- tokens ----

def test_login_token_me(gw):
    r = gw.login(*ADMIN)
    assert r.status == 200, r
    assert set(r.body) == {"access_token", "token_type", "expires_in"}
    assert r.body["token_type"] == "bearer"
    assert r.body["expires_in"] == 24 * 3600
    assert r.headers["cache-control"] == "no-store"
    tok = r.body["access_token"]
    head = json.loads(unb64url(tok.split(".")[0]))
    assert head["alg"] == "HS256"
    c = claims_of(tok)
    assert c["exp"] - c["iat"] == 24 * 3600
    assert c["role"] == "admin" and c["name"] == ADMIN[0]
    assert re.fullmatch(r"[0-9a-f]{32}", c["jti"])
    me = gw.api("GET", ME, token=tok)
    assert me.status == 200
    assert me.body["username"] == ADMIN[0] and me.body["role"] == "admin"
    assert "password_hash" not in me.text and "$argon2" not in me.text
    # usernames are case-insensitive
    assert gw.login(ADMIN[0].upper(), ADMIN[1]).status == 200


def test_refresh_and_logout(gw):
    t1 = gw.token("viewer1", PASSWORD)
    r = gw.api("POST", "/api/v1/auth/refresh", token=t1)
    assert r.status == 200, r
    t2 = r.body["access_token"]
    assert claims_of(t2)["jti"] != claims_of(t1)["jti"]
    is_error(gw.api("GET", ME, token=t1), 401, "unauthorized")
    assert gw.api("GET", ME, token=t2).status == 200
    r = gw.api("POST", "/api/v1/auth/logout", token=t2)
    assert r.status == 204 and r.text == ""
    b = is_error(gw.api("GET", ME, token=t2), 401, "unauthorized")
    assert "revoked" in b["detail"]
    assert gw.sql("SELECT count(*) FROM revoked_tokens") == "2"
    # everywhere: every token of the account stops working
    a, b2 = gw.token("viewer1", PASSWORD), gw.token("viewer1", PASSWORD)
    assert gw.api("POST", "/api/v1/auth/logout?all=true",
                  token=a).status == 204
    is_error(gw.api("GET", ME, token=b2), 401)
    is_error(gw.api("POST", "/api/v1/auth/logout?all=maybe",
                    token=gw.token("viewer1", PASSWORD)), 422, "invalid")


def test_bad_tokens_are_refused(gw):
    uid = int(gw.sql("SELECT id FROM users WHERE username = 'viewer1'"))
    good = make_token(good_claims(uid, "viewer1", "viewer"))
    assert gw.api("GET", ME, token=good).status == 200
    cases = {
        "none": make_token(good_claims(uid), alg="none", key=None),
        "none-signed": make_token(good_claims(uid),
                                  header={"alg": "none"}),
        "HS512": make_token(good_claims(uid), alg="HS512"),
        "HS384": make_token(good_claims(uid), alg="HS384"),
        "kid": make_token(good_claims(uid),
                          header={"alg": "HS256", "kid": "x"}),
        "wrong-key": make_token(good_claims(uid), key="k" * 40),
        "expired": make_token(good_claims(uid, exp=now() - 1)),
        "future-iat": make_token(good_claims(uid, iat=now() + 600)),
        "unknown-user": make_token(good_claims(999999)),
        "old-version": make_token(good_claims(uid, ver=7)),
        "no-jti": make_token({k: v for k, v in good_claims(uid).items()
                              if k != "jti"}),
        "other-issuer": make_token(good_claims(uid, iss="someone")),
        "garbage": "not-a-token",
        "empty-sig": good.rsplit(".", 1)[0] + ".",
    }
    # the viewer's real signature over a payload that says admin
    parts = good.split(".")
    forged = dict(claims_of(good), role="admin", sub="1")
    cases["forged-payload"] = ".".join([parts[0], b64url_json(forged),
                                        parts[2]])
    for name, tok in cases.items():
        r = gw.api("GET", ME, token=tok)
        b = is_error(r, 401, "unauthorized")
        assert r.headers.get("www-authenticate") == "Bearer", name
        if name == "expired":
            assert "expired" in b["detail"]
        if name.startswith("none") or name in ("HS512", "HS384"):
            assert "HS256" in b["detail"] or "alg" in b["detail"], b
    for h in ({}, {"Authorization": "Basic dXNlcjpwYXNz"},
              {"Authorization": "Bearer"}, {"Authorization": "Bearer  "}):
        r = api(gw.port, "GET", ME, headers=h)
        is_error(r, 401, "unauthorized")


def test_password_change(gw):
    tok = gw.token("viewer1", PASSWORD)
    path = "/api/v1/auth/password"
    b = is_error(gw.api("PUT", path, {"current_password": "nope!nope",
                                      "new_password": "N3w!password"},
                        token=tok), 422, "invalid")
    assert "current_password" in b["detail"]
    b = is_error(gw.api("PUT", path, {"current_password": PASSWORD,
                                      "new_password": "short"},
                        token=tok), 422, "invalid")
    assert b["detail"].startswith("new_password:")
    b = is_error(gw.api("PUT", path, {"current_password": PASSWORD},
                        token=tok), 422)
    assert "new_password: is required" == b["detail"]
    r = gw.api("PUT", path, {"current_password": PASSWORD,
                             "new_password": "N3w!password"}, token=tok)
    assert r.status == 200, r
    is_error(gw.api("GET", ME, token=tok), 401)
    assert gw.api("GET", ME, token=r.body["access_token"]).status == 200
    assert gw.login("viewer1", PASSWORD).status == 401
    assert gw.login("viewer1", "N3w!password").status == 200


# ---- failed logins ----

def timed_login(gw, user, pw, addr):
    t = time.monotonic()
    r = gw.login(user, pw, headers={"X-Real-IP": addr})
    return r, time.monotonic() - t


def test_failures_look_the_same(gw):
    gw.make_user("gone-user", "viewer")
    uid = gw.sql("SELECT id FROM users WHERE username = 'gone-user'")
    assert gw.api("POST", f"/api/v1/users/{uid}/disable",
                  role="admin").status == 200
    gw.sql("UPDATE users SET locked_until = now() + interval '1 hour' "
           "WHERE username = 'trader1'")
    unknown, wrong = [], []
    for i in range(3):
        for user, pw, bucket in (("no-such-user", PASSWORD, unknown),
                                 ("viewer1", "Wrong!pass1", wrong)):
            r, dt = timed_login(gw, user, pw, f"10.1.{i}.{len(bucket)}")
            assert r.status == 401 and r.body == DENIED, r
            bucket.append(dt)
        for user in ("gone-user", "trader1"):  # disabled, locked
            r, _ = timed_login(gw, user, PASSWORD, f"10.2.{i}.1")
            assert r.status == 401 and r.body == DENIED, r
    # unknown users cost an argon2 verification too
    mu, mw = statistics.median(unknown), statistics.median(wrong)
    assert mu > 0.4 * mw and mw > 0.4 * mu, (unknown, wrong)
    is_error(gw.login("viewer1", None), 422, "invalid")
    is_error(api(gw.port, "POST", LOGIN, raw=b"{bad json"), 400,
             "bad_request")


def subscribe_alerts(confdir):
    """nngcat on the gateway's events socket, printing alert.raised."""
    port = confdir.ports["gateway"]["events"]
    p = subprocess.Popen(["nngcat", "--sub", "--dial",
                          f"tcp://127.0.0.1:{port}", "--subscribe",
                          "alert.raised ", "--quoted", "--count", "1",
                          "--recv-timeout", "15"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.0)  # pub/sub: be connected before the event
    return p


def alerts_of(p):
    out, _ = p.communicate(timeout=30)
    events = []
    for line in out.splitlines():
        line = line.strip().strip('"').encode().decode("unicode_escape")
        if line.startswith("alert.raised "):
            events.append(json.loads(line.split(" ", 1)[1])["data"])
    return events


def test_account_lockout_and_its_end(gw):
    sub = subscribe_alerts(gw.confdir)
    for i in range(5):  # five addresses: only the account counts to 5
        r, _ = timed_login(gw, "trader1", "Wrong!pass1", f"10.3.0.{i}")
        assert r.status == 401 and r.body == DENIED
    assert gw.sql("SELECT failed_logins, locked_until > now() + interval "
                  "'29 minutes' FROM users WHERE username = 'trader1'") \
        == "5|t"
    r, _ = timed_login(gw, "trader1", PASSWORD, "10.3.1.1")
    assert r.status == 401 and r.body == DENIED  # right password, locked
    # the trader's existing token keeps working (a lockout stops logins)
    assert gw.api("GET", ME, role="trader").status == 200
    alerts = alerts_of(sub)
    mine = [a for a in alerts if a["details"]["scope"] == "account"]
    assert mine and mine[0]["kind"] == "login_lockout", alerts
    assert mine[0]["priority"] == "P1" and mine[0]["source"] == "gateway"
    assert "trader1" in mine[0]["dedup_key"]
    assert PASSWORD not in json.dumps(alerts)
    m = gw.metrics()
    assert 'btcw_gateway_lockouts_total{scope="account"} 1' in m
    assert 'btcw_gateway_logins_total{result="failure"} 6' in m
    # the lockout ends (its time moved into the past, as 30 min would)
    gw.sql("UPDATE users SET locked_until = now() - interval '1 second' "
           "WHERE username = 'trader1'")
    r, _ = timed_login(gw, "trader1", PASSWORD, "10.3.1.2")
    assert r.status == 200, r
    assert gw.sql("SELECT failed_logins, locked_until IS NULL FROM users "
                  "WHERE username = 'trader1'") == "0|t"
    # after an ended lock, one failure does not lock again
    timed_login(gw, "trader1", "Wrong!pass1", "10.3.1.3")
    assert timed_login(gw, "trader1", PASSWORD, "10.3.1.4")[0].status == 200


def test_address_throttle_and_its_end(gw):
    addr = "10.4.4.4"
    for i in range(5):  # different (unknown) accounts, one address
        r, _ = timed_login(gw, f"nobody{i}", "Wrong!pass1", addr)
        assert r.status == 401 and r.body == DENIED
    r, _ = timed_login(gw, ADMIN[0], ADMIN[1], addr)
    b = is_error(r, 429, "too_many_attempts")
    retry = int(r.headers["retry-after"])
    assert 1700 < retry <= 1800, retry
    assert str(retry) in b["detail"]
    # other addresses are not affected, nor is the account
    assert timed_login(gw, ADMIN[0], ADMIN[1], "10.4.4.5")[0].status == 200
    assert 'btcw_gateway_lockouts_total{scope="address"} 1' in gw.metrics()
    assert 'btcw_gateway_logins_total{result="throttled"} 1' in gw.metrics()
    gw.sql("UPDATE login_throttle SET locked_until = now() - interval "
           "'1 second', window_started_at = now() - interval '31 minutes' "
           f"WHERE client_addr = '{addr}'")
    assert timed_login(gw, ADMIN[0], ADMIN[1], addr)[0].status == 200
    # X-Real-IP that is not an address is ignored (the peer counts)
    r, _ = timed_login(gw, "nobody", "Wrong!pass1", "not-an-ip")
    assert r.status == 401
    assert gw.sql("SELECT count(*) FROM login_throttle WHERE client_addr "
                  "= '127.0.0.1'") == "1"


def test_secrets_stay_out_of_the_log(gw):
    gw.login(ADMIN[0], "Wr0ng!secret-guess")
    text = gw.proc.output()
    assert SECRET not in text
    assert ADMIN[1] not in text
    assert "Wr0ng!secret-guess" not in text
    assert gw.tokens["admin"] not in text


def test_every_role_uses_the_auth_routes(gw):
    for role, user in (("admin", ADMIN[0]), ("trader", "trader1"),
                       ("viewer", "viewer1")):
        pw = ADMIN[1] if role == "admin" else PASSWORD
        t = gw.token(user, pw)
        me = gw.api("GET", ME, token=t)
        assert me.status == 200 and me.body["role"] == role
        r = gw.api("POST", "/api/v1/auth/refresh", token=t)
        assert r.status == 200 and claims_of(
            r.body["access_token"])["role"] == role
        t = r.body["access_token"]
        r = gw.api("PUT", "/api/v1/auth/password",
                   {"current_password": pw, "new_password": pw + "2"},
                   token=t)
        assert r.status == 200, r
        t = r.body["access_token"]
        assert gw.api("POST", "/api/v1/auth/logout", token=t).status == 204
        is_error(gw.api("GET", ME, token=t), 401)
