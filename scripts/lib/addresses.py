"""The daemons' addresses as bash assignments for scripts/stack.

Reads what `<daemon> --check-config` prints (the effective configuration
as JSON) on stdin; prints ADMIN[name]=port, RPC[name]=url,
EVENTS[name]=url, HTTP[name]=port and GATEWAY_URL=url lines.
"""
import json
import shlex
import sys

services = json.load(sys.stdin)["services"]
for name, svc in services.items():
    if not isinstance(svc, dict) or "admin_port" not in svc:
        continue  # the bus settings
    print(f"ADMIN[{name}]={int(svc['admin_port'])}")
    print(f"RPC[{name}]={shlex.quote(svc['rpc'])}")
    print(f"EVENTS[{name}]={shlex.quote(svc['events'])}")
    if "http_port" in svc:
        print(f"HTTP[{name}]={int(svc['http_port'])}")
print(f"GATEWAY_URL={shlex.quote(services['gateway']['http_url'])}")
