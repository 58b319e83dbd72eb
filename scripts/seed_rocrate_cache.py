"""Put JSON-LD documents into rocrate-validator's HTTP cache, so that `rocrate-validator
validate --offline --cache-path CACHE` resolves them without the network.

    python scripts/seed_rocrate_cache.py CACHE URL=FILE [URL=FILE ...]

Run with the validator's own Python (it has requests-cache): the entries are written by a
CachedSession with the settings the validator opens its cache with (utils/http.py of
roc-validator 0.13), each response served from FILE instead of fetched.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from requests.adapters import BaseAdapter, HTTPAdapter
from requests_cache import CachedSession
from urllib3 import HTTPResponse


class Files(BaseAdapter):
    """A transport that answers each known URL with a local file's bytes."""

    def __init__(self, files: dict[str, Path]):
        super().__init__()
        self.files = files

    def send(self, request, **kwargs):
        data = self.files[request.url].read_bytes()
        raw = HTTPResponse(body=io.BytesIO(data), status=200, preload_content=False,
                           headers={"Content-Type": "application/ld+json"},
                           request_url=request.url)
        return HTTPAdapter().build_response(request, raw)

    def close(self):
        pass


def main(argv: list[str]) -> int:
    cache, pairs = argv[0], argv[1:]
    files = {url: Path(path) for url, path in (p.split("=", 1) for p in pairs)}
    session = CachedSession(cache_name=cache, expire_after=-1, backend="sqlite",
                            allowable_methods=("GET",), allowable_codes=(200, 302, 404))
    session.mount("https://", Files(files))
    session.mount("http://", Files(files))
    for url in files:
        r = session.get(url, headers={"Accept": "application/ld+json, application/json"})
        if r.status_code != 200 or not r.content:
            print(f"seed: {url}: status {r.status_code}", file=sys.stderr)
            return 1
        print(f"seed: {url} ({len(r.content):,} bytes) -> {cache}.sqlite")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
