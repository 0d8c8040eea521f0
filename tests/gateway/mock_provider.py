"""The llmock process behind the gateway in the SDK clients' tests, driven through its control
API, and the clients' one assertion."""

import httpx


def check(condition, what):
    if not condition:
        raise AssertionError(what)


class Mock:
    """One llmock process: what it says next, and what it was sent."""

    def __init__(self, url):
        self.url = url

    def script(self, *behaviors):
        r = httpx.post(f"{self.url}/_llmock/scenario", json={"behaviors": list(behaviors)})
        r.raise_for_status()

    def clear(self):
        httpx.delete(f"{self.url}/_llmock/scenario").raise_for_status()

    def requests(self):
        return httpx.get(f"{self.url}/_llmock/requests").json()["requests"]

    def last_body(self):
        return self.requests()[-1]["body"]
