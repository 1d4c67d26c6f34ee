"""Great Expectations Data Docs that render offline.

GX 1.x pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from public CDNs,
and GX has no option to serve them locally (its custom views cannot override the page
templates). `OfflineDataDocsAction` is a GX custom Action, listed in every checkpoint after
`UpdateDataDocsAction`: it copies the exact asset versions those templates name (vendored
from npm by scripts/vendor_data_docs.sh into vendor/data_docs) into the site and points each
page at them. It fails loudly if a page still names an off-site asset (a GX upgrade changed
its templates), so no page is published that phones out.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from great_expectations.checkpoint import UpdateDataDocsAction, ValidationAction

VENDOR = Path(__file__).resolve().parent / "vendor" / "data_docs"

# CDN URL -> file under <site>/static/vendor/: exactly what GX 1.24's templates reference
_MAP = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "js/popper.min.js"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "js/bootstrap.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "css/bootstrap.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "js/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "css/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "js/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "css/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "css/bootstrap-table-filter-control.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "css/fontawesome-all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "css/bootstrap-prefers-dark.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "js/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "js/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "js/vega-embed.min.js",
}
# the GX logo (with a ?d=...&dataContextId=... query) -> the copy GX ships in static/images
_LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[\w.-]+\.png"
    r"(\?[^\"')\s]*)?"
)
_ASSET = re.compile(
    r"""<(?:script|link|img|source)\b[^>]*?\b(?:src|href|srcset)\s*=\s*["'](?:https?:)?//"""
    r"""[^"']+["']|url\(\s*['"]?(?:https?:)?//[^)]+\)"""
)
_SRI = re.compile(r"""\s+(integrity|crossorigin)="[^"]*"|\s+crossorigin(?=[\s>])""")
_MARK = "<!-- demandcast: offline assets -->"


def make_offline(site: str | os.PathLike) -> int:
    """Rewrite every page of a Data Docs site not yet rewritten; returns how many changed."""
    site = Path(site)
    vendor = site / "static" / "vendor"
    versions = (VENDOR / "VERSIONS").read_text()
    if not (vendor / "VERSIONS").is_file() or (vendor / "VERSIONS").read_text() != versions:
        shutil.copytree(VENDOR, vendor, dirs_exist_ok=True)
    changed = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if _MARK in text:
            continue
        up = os.path.relpath(site, page.parent).replace(os.sep, "/")
        for url, local in _MAP.items():
            text = text.replace(f'"{url}"', f'"{up}/static/vendor/{local}"')
        text = _LOGO.sub(f"{up}/static/images/logo-long.png", text)
        text = _SRI.sub("", text)  # SRI and CORS attributes block file:// loads in Chromium
        left = [m.group(0) for m in _ASSET.finditer(text)]
        if left:
            raise RuntimeError(f"{page}: external assets not vendored: {left}")
        page.write_text(text.replace("<head>", "<head>" + _MARK, 1), encoding="utf-8")
        changed += 1
    return changed


class OfflineDataDocsAction(ValidationAction):
    """After UpdateDataDocsAction: make the pages of the named local sites offline. The site
    root is found from the file:// URL of each page UpdateDataDocsAction reports."""

    type: Literal["offline_data_docs"] = "offline_data_docs"
    site_names: list[str] = []

    def run(self, checkpoint_result, action_context=None) -> dict:
        roots = set()
        results = action_context.filter_results(UpdateDataDocsAction) if action_context else []
        for result in results:
            for pages in result.values():  # {validation result id: {site: url}}
                for site, url in pages.items():
                    if self.site_names and site not in self.site_names:
                        continue
                    if url and url.startswith("file://"):
                        page = Path(unquote(url[len("file://") :]))
                        roots.add(next(p for p in page.parents if (p / "index.html").exists()))
        return {str(root): make_offline(root) for root in roots}
