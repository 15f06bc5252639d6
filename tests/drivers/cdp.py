#!/usr/bin/python3
"""A small DevTools-protocol client for the browser tests: drives a headless Chromium that the
test started with --remote-debugging-port=0 --user-data-dir=DIR.

    cdp.py DIR open URL           opens a tab on URL; prints its target id
    cdp.py DIR eval ID EXPR       evaluates EXPR in the tab; prints the value as JSON
    cdp.py DIR wait ID EXPR SEC   evaluates EXPR until it is true, at most SEC seconds;
                                  exit 1 (printing the last value) when it never was
    cdp.py DIR shot ID FILE       a PNG screenshot of the tab into FILE
    cdp.py DIR heap ID            collects garbage, then prints the tab's JS heap in use and
                                  its DOM node count: "HEAP_BYTES NODES"
    cdp.py DIR close ID           closes the tab

Exit status 2 on a usage error or when the browser cannot be reached.
"""
import base64
import json
import sys
import time
import urllib.request

import websocket


def fail(why, code=2):
    print("cdp.py: " + why, file=sys.stderr)
    sys.exit(code)


def browser_port(user_dir):
    """The port Chromium wrote to DIR/DevToolsActivePort (waits up to 30 s for it)."""
    deadline = time.time() + 30
    while True:
        try:
            with open(user_dir + "/DevToolsActivePort") as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            if time.time() > deadline:
                fail("no DevToolsActivePort in " + user_dir)
            time.sleep(0.05)


def http(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    with urllib.request.urlopen(req, timeout=10) as rsp:
        text = rsp.read().decode()
    try:
        return json.loads(text)
    except ValueError:
        return text


class Tab:
    def __init__(self, port, target):
        pages = [t for t in http(port, "/json/list") if t.get("id") == target]
        if not pages:
            fail("no tab " + target)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    fail("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})

    def evaluate(self, expr, threw=None):
        """The value of expr; when it throws, exit 1 saying so, or (threw given) call it with
        the exception's text and return None."""
        result = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            if threw is None:
                fail("the page threw: %s" % text, 1)
            threw(text)
            return None
        return result.get("result", {}).get("value")


def main(argv):
    if len(argv) < 3:
        fail(__doc__.strip())
    user_dir, cmd = argv[1], argv[2]
    port = browser_port(user_dir)
    if cmd == "open" and len(argv) == 4:
        target = http(port, "/json/new?" + argv[3], method="PUT")
        print(target["id"])
        return 0
    if len(argv) < 4:
        fail(__doc__.strip())
    tab = Tab(port, argv[3])
    if cmd == "eval" and len(argv) == 5:
        print(json.dumps(tab.evaluate(argv[4])))
    elif cmd == "wait" and len(argv) == 6:
        deadline = time.time() + float(argv[5])
        last_error = []  # the page may not have loaded yet: a throw is "not yet"
        while True:
            value = tab.evaluate(argv[4], threw=last_error.append)
            if value is True:
                return 0
            if time.time() > deadline:
                print(json.dumps(value) if not last_error else "threw: " + last_error[-1])
                return 1
            time.sleep(0.1)
    elif cmd == "shot" and len(argv) == 5:
        shot = tab.call("Page.captureScreenshot", format="png")
        with open(argv[4], "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    elif cmd == "heap" and len(argv) == 4:
        tab.call("HeapProfiler.enable")
        tab.call("HeapProfiler.collectGarbage")
        tab.call("Performance.enable")
        metrics = {m["name"]: m["value"] for m in tab.call("Performance.getMetrics")["metrics"]}
        print("%d %d" % (metrics.get("JSHeapUsedSize", -1), metrics.get("Nodes", -1)))
    elif cmd == "close" and len(argv) == 4:
        http(port, "/json/close/" + argv[3])
    else:
        fail(__doc__.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
