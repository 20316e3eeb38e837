"""Gateway accounts (admins only): create, list, get, change role, reset
password, disable, enable; the policy; the last admin is protected; a
role change, a password reset or disabling ends the account's tokens."""
from test_gateway_support import (ADMIN, PASSWORD, gw, is_error, standins)

assert gw and standins  # fixtures, used by name

USERS = "/api/v1/users"


def uid(gw, name):
    return int(gw.sql(f"SELECT id FROM users WHERE username = '{name}'"))


def test_create_list_get(gw):
    u = gw.make_user("alice", "trader")
    assert u["username"] == "alice" and u["role"] == "trader"
    assert u["disabled"] is False and u["locked"] is False
    assert set(u) >= {"id", "created_at", "updated_at", "last_login_at",
                      "password_changed_at", "failed_logins"}
    assert u["created_at"].endswith("Z")
    for name in ("bob", "carol"):
        gw.make_user(name, "viewer")
    r = gw.api("GET", f"{USERS}?limit=2", role="admin")
    assert r.status == 200 and r.body["has_more"] is True
    names = [x["username"] for x in r.body["users"]]
    assert names == [ADMIN[0], "trader1"]
    last = r.body["users"][-1]["id"]
    r = gw.api("GET", f"{USERS}?after_id={last}&limit=1000", role="admin")
    assert [x["username"] for x in r.body["users"]] == [
        "viewer1", "alice", "bob", "carol"]
    assert r.body["has_more"] is False
    r = gw.api("GET", f"{USERS}/{u['id']}", role="admin")
    assert r.status == 200 and r.body["username"] == "alice"
    assert "$argon2" not in r.text
    is_error(gw.api("GET", f"{USERS}/999999", role="admin"), 404,
             "not_found")
    b = is_error(gw.api("GET", f"{USERS}/abc", role="admin"), 422)
    assert b["detail"].startswith("id:")
    is_error(gw.api("GET", f"{USERS}?limit=0", role="admin"), 422)
    assert gw.token("alice", PASSWORD)


def test_create_refusals(gw):
    def create(body):
        return gw.api("POST", USERS, body, role="admin")

    ok = {"username": "dave", "password": PASSWORD, "role": "viewer"}
    cases = [
        (dict(ok, username="Viewer1"), 409, "taken"),
        (dict(ok, username="x"), 422, "username:"),
        (dict(ok, username="bad name"), 422, "username:"),
        (dict(ok, password="short!"), 422, "password: password must be "
                                           "at least 8"),
        (dict(ok, password="longenough1"), 422, "special character"),
        (dict(ok, password="dave"), 422, "password:"),
        (dict(ok, role="root"), 422, "role: must be one of admin, trader, "
                                     "viewer"),
        ({"username": "dave", "role": "viewer"}, 422,
         "password: is required"),
        (dict(ok, extra=1), 422, "extra: is not a known field"),
        (dict(ok, role=3), 422, "role: must be a string"),
    ]
    for body, status, words in cases:
        b = is_error(create(body), status)
        assert words in b["detail"], (body, b)
    assert gw.sql("SELECT count(*) FROM users WHERE lower(username) = "
                  "'dave'") == "0"
    assert create(ok).status == 201


def test_role_change_ends_tokens(gw):
    t = gw.token("trader1", PASSWORD)
    tid = uid(gw, "trader1")
    r = gw.api("PUT", f"{USERS}/{tid}/role", {"role": "viewer"},
               role="admin")
    assert r.status == 200 and r.body["role"] == "viewer"
    is_error(gw.api("GET", "/api/v1/auth/me", token=t), 401)
    t = gw.token("trader1", PASSWORD)
    is_error(gw.api("POST", "/api/v1/strategies/1/start", token=t), 403,
             "forbidden")
    # the same role again changes nothing and keeps the tokens
    r = gw.api("PUT", f"{USERS}/{tid}/role", {"role": "viewer"},
               role="admin")
    assert r.status == 200
    assert gw.api("GET", "/api/v1/auth/me", token=t).status == 200
    is_error(gw.api("PUT", f"{USERS}/{tid}/role", {"role": "boss"},
                    role="admin"), 422)
    is_error(gw.api("PUT", f"{USERS}/999999/role", {"role": "viewer"},
                    role="admin"), 404)


def test_reset_password_unlocks_and_ends_tokens(gw):
    t = gw.token("viewer1", PASSWORD)
    vid = uid(gw, "viewer1")
    gw.sql("UPDATE users SET failed_logins = 5, locked_until = now() + "
           "interval '30 minutes' WHERE username = 'viewer1'")
    b = is_error(gw.api("PUT", f"{USERS}/{vid}/password",
                        {"password": "weak"}, role="admin"), 422)
    assert b["detail"].startswith("password:")
    r = gw.api("PUT", f"{USERS}/{vid}/password",
               {"password": "Res3t!pass"}, role="admin")
    assert r.status == 200 and r.body["locked"] is False
    is_error(gw.api("GET", "/api/v1/auth/me", token=t), 401)
    assert gw.login("viewer1", PASSWORD).status == 401
    assert gw.login("viewer1", "Res3t!pass").status == 200


def test_disable_enable(gw):
    t = gw.token("viewer1", PASSWORD)
    vid = uid(gw, "viewer1")
    r = gw.api("POST", f"{USERS}/{vid}/disable", role="admin")
    assert r.status == 200 and r.body["disabled"] is True
    is_error(gw.api("GET", "/api/v1/auth/me", token=t), 401)
    assert gw.login("viewer1", PASSWORD).status == 401
    r = gw.api("POST", f"{USERS}/{vid}/enable", role="admin")
    assert r.status == 200 and r.body["disabled"] is False
    assert gw.login("viewer1", PASSWORD).status == 200
    is_error(gw.api("POST", f"{USERS}/999999/enable", role="admin"), 404)


def test_last_admin_is_protected(gw):
    aid = uid(gw, ADMIN[0])
    b = is_error(gw.api("POST", f"{USERS}/{aid}/disable", role="admin"),
                 409, "conflict")
    assert "own account" in b["detail"]
    b = is_error(gw.api("PUT", f"{USERS}/{aid}/role", {"role": "viewer"},
                        role="admin"), 409, "conflict")
    assert "last enabled admin" in b["detail"]
    # with a second admin, the first may step down
    gw.make_user("admin2", "admin")
    t2 = gw.token("admin2", PASSWORD)
    r = gw.api("PUT", f"{USERS}/{aid}/role", {"role": "viewer"}, token=t2)
    assert r.status == 200 and r.body["role"] == "viewer"
    # and now admin2 is the last one
    b = is_error(gw.api("PUT", f"{USERS}/{uid(gw, 'admin2')}/role",
                        {"role": "trader"}, token=t2), 409)


def test_only_admins_manage_accounts(gw):
    vid = uid(gw, "viewer1")
    calls = [("GET", USERS, None), ("POST", USERS, {"username": "zed",
                                                     "password": PASSWORD,
                                                     "role": "admin"}),
             ("GET", f"{USERS}/{vid}", None),
             ("PUT", f"{USERS}/{vid}/role", {"role": "admin"}),
             ("PUT", f"{USERS}/{vid}/password", {"password": PASSWORD}),
             ("POST", f"{USERS}/{vid}/disable", None),
             ("POST", f"{USERS}/{vid}/enable", None)]
    for role in ("trader", "viewer"):
        for method, path, body in calls:
            is_error(gw.api(method, path, body, role=role), 403,
                     "forbidden")
    assert gw.sql("SELECT role FROM users WHERE id = %d" % vid) == "viewer"
    assert gw.sql("SELECT count(*) FROM users WHERE username = 'zed'") \
        == "0"
